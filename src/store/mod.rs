//! The filesystem layer: Swift names onto files and directories under a
//! device path, metadata in xattrs, atomic object writes, sorted listings.
//! Nothing here knows about HTTP.

pub mod container;
pub mod expiry;
pub mod listing;
pub mod meta;
pub mod mime;
pub mod name;
pub mod object;
pub mod pickle;
pub mod seen;
pub mod sidecar;
pub mod versions;
pub mod xattr;

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use name::Limits;

/// Everything that can go wrong in the store, by what the caller must do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("there was a conflict when trying to complete your request: not empty")]
    NotEmpty,
    #[error("{0}")]
    BadName(String),
    #[error("storage device {0} is not mounted")]
    NotMounted(String),
    #[error("no space left on the storage device")]
    NoSpace,
    #[error("the ETag given does not match the MD5 of the data")]
    EtagMismatch,
    #[error("invalid X-Storage-Policy {0:?}")]
    UnknownPolicy(String),
    #[error("the data was shorter than announced")]
    Truncated,
    #[error(transparent)]
    Io(io::Error),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::NoSpace,
            _ => Error::Io(e),
        }
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        io::Error::from(e).into()
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A storage policy: a named device path.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub index: usize,
    pub device: PathBuf,
    pub mount_check: bool,
    pub default: bool,
}

/// Tunables of the on-disk layout.
#[derive(Debug, Clone)]
pub struct Options {
    pub file_mode: u32,
    pub dir_mode: u32,
    /// Largest xattr value written per metadata chunk.
    pub xattr_chunk: usize,
    /// Fsync the directory after renaming an object into it.
    pub fsync_dir: bool,
    /// Reads with fresh metadata may run on the caller's (async) thread.
    pub quick_reads: bool,
    /// How long a container's counted usage is reused (writes through this
    /// node drop it at once).
    pub usage_ttl: std::time::Duration,
    /// Owner (uid, gid) of the files and directories of an account.
    pub owners: std::collections::HashMap<String, (u32, u32)>,
    pub limits: Limits,
}

/// The store: policies and how to lay objects out on their devices.
#[derive(Debug)]
pub struct Store {
    pub policies: Vec<Policy>,
    pub opts: Options,
    /// Container object counts and bytes, so HEADs need not walk each time.
    pub usage: container::UsageCache,
    /// Objects' ctimes as last validated by this node.
    pub seen: seen::Seen,
}

/// A container resolved to its device.
#[derive(Debug, Clone)]
pub struct ContainerLoc {
    pub policy: usize,
    pub dir: PathBuf,
}

impl ContainerLoc {
    /// The account the container belongs to (its parent directory's name).
    pub fn account(&self) -> &str {
        let mut p = self.dir.parent();
        // A hidden versions container sits one level deeper.
        if p.and_then(|p| p.file_name())
            .is_some_and(|n| n == versions::HIDDEN)
        {
            p = p.and_then(|p| p.parent());
        }
        p.and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("")
    }
}

impl Store {
    pub fn new(policies: Vec<Policy>, opts: Options) -> Self {
        let usage = container::UsageCache::new(opts.usage_ttl);
        Store {
            policies,
            opts,
            usage,
            seen: Default::default(),
        }
    }

    /// The default policy.
    pub fn default_policy(&self) -> &Policy {
        self.policies
            .iter()
            .find(|p| p.default)
            .unwrap_or(&self.policies[0])
    }

    /// Looks a policy up by name (case-insensitive, as Swift).
    pub fn policy_by_name(&self, name: &str) -> Result<&Policy> {
        self.policies
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownPolicy(name.to_string()))
    }

    /// Fails with `NotMounted` when the policy wants a mount point and its
    /// device path is not one (so nothing is written under a bare directory).
    pub fn check_mounted(&self, p: &Policy) -> Result<()> {
        if !p.mount_check {
            return Ok(());
        }
        if is_mount_point(&p.device) {
            Ok(())
        } else {
            Err(Error::NotMounted(p.name.clone()))
        }
    }

    /// The configured owner of `account`'s files, if any.
    pub fn owner_of(&self, account: &str) -> Option<(u32, u32)> {
        self.opts.owners.get(account).copied()
    }

    /// Makes one directory with the configured mode (and owner, for
    /// `account`); `Ok(false)` when it already exists.
    pub fn make_dir(&self, path: &Path, account: &str) -> io::Result<bool> {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new()
            .mode(self.opts.dir_mode)
            .create(path)
        {
            Ok(()) => {
                if let Some((uid, gid)) = self.owner_of(account) {
                    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Path of an account directory on a policy's device.
    pub fn account_dir(&self, p: &Policy, account: &str) -> PathBuf {
        p.device.join(account)
    }

    /// Finds the device holding a container: the default policy first.
    pub fn find_container(&self, account: &str, container: &str) -> Result<ContainerLoc> {
        let default = self.default_policy().index;
        let order = std::iter::once(default).chain(
            self.policies
                .iter()
                .map(|p| p.index)
                .filter(|i| *i != default),
        );
        let mut last_err = Error::NotFound;
        for i in order {
            let p = &self.policies[i];
            if let Err(e) = self.check_mounted(p) {
                last_err = e;
                continue;
            }
            let dir = p.device.join(account).join(container);
            match std::fs::metadata(&dir) {
                Ok(m) if m.is_dir() => return Ok(ContainerLoc { policy: i, dir }),
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(last_err)
    }
}

/// ENOENT or ENOTDIR: the path does not name anything.
pub fn is_not_found(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// True when `path` is the root of a mounted filesystem.
pub fn is_mount_point(path: &Path) -> bool {
    let (Ok(me), Ok(parent)) = (std::fs::metadata(path), std::fs::metadata(path.join(".."))) else {
        return false;
    };
    me.dev() != parent.dev() || me.ino() == parent.ino()
}
