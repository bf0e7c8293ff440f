//! A device's health for `/healthcheck?deep`: its root opens (and is a
//! mount point, with `mount_check`), and a small file can be written,
//! synced and removed in `<device>/.sofgate/health/`, through the same
//! anchored, symlink-refusing calls as every other write.

use std::io::Write;

use super::name::temp_name;
use super::{Policy, Result, Store};

/// Where probe files are written, beneath [`super::name::STATE_DIR`].
const HEALTH_DIR: &str = "health";

/// Probes policy `p`'s device: `Ok` when it is mounted and writable. May
/// block as long as the filesystem does (callers bound the wait).
pub fn probe(store: &Store, p: &Policy) -> Result<()> {
    let root = store.root(p)?;
    let dir = store.state_dir(&root, [HEALTH_DIR])?;
    // Named as a temp file: if the process dies here, the sweep removes it.
    let name = temp_name("probe");
    let written = dir
        .create_file(&name, store.opts.file_mode)
        .and_then(|mut f| {
            f.write_all(b"sofgate health probe\n")?;
            f.sync_all()
        });
    let removed = dir.unlink(&name);
    written?;
    Ok(removed?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_leaves_nothing_behind_and_fails_on_a_missing_device() {
        let t = tempfile::tempdir().unwrap();
        let store = crate::store::testing::store(t.path());
        probe(&store, &store.policies[0]).unwrap();
        let left: Vec<_> = std::fs::read_dir(t.path().join(".sofgate/health"))
            .unwrap()
            .collect();
        assert!(left.is_empty());
        let mut gone = store.policies[0].clone();
        gone.device = t.path().join("missing");
        assert!(probe(&store, &gone).is_err());
    }
}
