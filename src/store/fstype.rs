//! What kind of filesystem a device is on: a network (or FUSE) filesystem,
//! where every call waits for a round trip, or a local one.

use std::path::Path;

/// `statfs` magic numbers of filesystems whose calls wait on a network or
/// a user-space server: FUSE (GlusterFS, CephFS-fuse, testfs), NFS, CephFS,
/// GPFS, SMB/CIFS, Lustre, 9p, AFS.
const REMOTE: [i64; 10] = [
    0x6573_5546, // FUSE
    0x6969,      // NFS
    0x00c3_6400, // Ceph
    0x4750_4653, // GPFS
    0xff53_4d42, // CIFS
    0xfe53_4d42, // SMB2
    0x0bd0_0bd0, // Lustre
    0x0102_1997, // v9fs
    0x5346_414f, // AFS
    0x6b41_4653, // kAFS
];

/// Is `path` on a network or FUSE filesystem? `false` when unknown.
pub fn is_remote(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| REMOTE.contains(&s.filesystem_type().0))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_and_tmp_are_not_remote() {
        assert!(!is_remote(Path::new("/proc")));
        assert!(!is_remote(Path::new("/nonexistent/path")));
    }
}
