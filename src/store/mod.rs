//! The filesystem layer: Swift names onto files and directories under a
//! device path, metadata in xattrs, atomic object writes, sorted listings.
//! Nothing here knows about HTTP.
//!
//! Every filesystem call is made relative to a directory fd opened beneath
//! the device ([`beneath`]): a container is located once per request
//! ([`Store::locate`]) and its objects are looked up beneath it, so nothing
//! planted in the tree (symlinks, mounts, `..` in a name) can lead outside.

pub mod audit;
pub mod beneath;
pub mod container;
pub mod expiry;
pub mod fstype;
pub mod hasher;
pub mod listing;
pub mod meta;
pub mod mime;
pub mod name;
mod newest;
pub mod object;
pub mod parts;
pub mod pickle;
pub mod probe;
pub mod seen;
pub mod sidecar;
pub mod stats;
mod tombstone;
pub mod versions;
pub mod walk;
pub mod write;
pub mod xattr;

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub use beneath::{Dir, Follow};
pub use name::{Limits, ObjPath};

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
    /// The object at the name began later than this write
    /// ([`Options::newest_wins`]): the write is dropped.
    #[error("a newer write of the object exists")]
    Superseded,
    /// A DELETE found the object newer than itself (it began after the
    /// DELETE arrived): the object stays.
    #[error("the object is newer than the delete")]
    Newer,
    /// A create-only write found the name taken ([`write::Writer::no_replace`]).
    #[error("the object exists")]
    Exists,
    /// A conditional write ([`write::Writer::only_if`]) found the object
    /// at the name not as its condition requires (`absent`: nothing there).
    #[error("the object does not meet the write's condition")]
    NotMatched { absent: bool },
    #[error(transparent)]
    Io(io::Error),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::NoSpace,
            // A lookup the anchor refused (a symlink on the way, a mount,
            // an escape) found nothing sofgate may serve.
            Some(libc::ELOOP) | Some(libc::EXDEV) => Error::NotFound,
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
    /// Set once the device has refused `renameat2(RENAME_NOREPLACE)`
    /// (GlusterFS's FUSE client): create-only renames then go by `link(2)`
    /// at once instead of asking again, one round trip less per new object.
    pub no_rename_noreplace: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The device's tombstone directory, kept open a short while.
    pub tomb_area: std::sync::Arc<tombstone::Area>,
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
    /// An object is replaced only by a write that began after it.
    pub newest_wins: bool,
    /// With `newest_wins`, a DELETE removes only an object older than
    /// itself and leaves a tombstone kept this long, so a write older
    /// than the DELETE does not bring the object back; zero: neither.
    pub tombstone_life: std::time::Duration,
    /// Reads with fresh metadata may run on the caller's (async) thread.
    pub quick_reads: bool,
    /// How long a container's counted usage is reused (writes through this
    /// node drop it at once).
    pub usage_ttl: std::time::Duration,
    /// Owner (uid, gid) of the files and directories of an account.
    pub owners: std::collections::HashMap<String, (u32, u32)>,
    pub limits: Limits,
    /// What a POSIX symlink in a container is.
    pub posix_symlinks: Symlinks,
    /// How much hashing one listing page may do inline.
    pub listing_hash: HashBudget,
}

/// `[storage] listing_hash_budget_bytes` / `_ms`: the most file data one
/// listing page reads, and the most time it spends, hashing files whose
/// metadata is missing or stale. Past it, rows show no hash and the files
/// go to the background [`hasher`].
#[derive(Debug, Clone, Copy)]
pub struct HashBudget {
    pub bytes: u64,
    pub time: std::time::Duration,
}

impl HashBudget {
    /// No limit (internal listings: large-object segments, versions).
    pub const UNLIMITED: HashBudget = HashBudget {
        bytes: u64::MAX,
        time: std::time::Duration::MAX,
    };

    /// The budget of one page, starting now.
    pub fn start(&self) -> Budget {
        Budget {
            bytes: self.bytes,
            until: std::time::Instant::now().checked_add(self.time),
        }
    }
}

/// What is left of one page's [`HashBudget`].
#[derive(Debug)]
pub struct Budget {
    bytes: u64,
    until: Option<std::time::Instant>,
}

impl Budget {
    /// A budget with nothing left (empty files are still hashed).
    pub fn spent() -> Budget {
        Budget {
            bytes: 0,
            until: None,
        }
    }

    /// May a file of `len` bytes be hashed now? Takes its bytes if so. An
    /// empty file costs no read and is always allowed.
    pub fn take(&mut self, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        let in_time = self.until.is_none_or(|t| std::time::Instant::now() < t);
        if !in_time || len > self.bytes {
            return false;
        }
        self.bytes -= len;
        true
    }
}

/// `[storage] posix_symlinks`: what a POSIX symlink made on the mount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symlinks {
    /// No object: 404, never listed, descended or counted.
    #[default]
    Ignore,
    /// Served, read only, as its target when its whole resolution stays
    /// inside its own container (needs `openat2`); any other as `Ignore`.
    WithinContainer,
}

/// The store: policies and how to lay objects out on their devices.
#[derive(Debug)]
pub struct Store {
    pub policies: Vec<Policy>,
    pub opts: Options,
    /// Container object counts and bytes, so HEADs need not walk each time.
    pub usage: container::UsageCache,
    /// Objects' ctimes as last validated by this node.
    pub seen: std::sync::Arc<seen::Seen>,
    /// Counters of the background work (sweeps, hashing, scrub), for
    /// logs and metrics.
    pub stats: std::sync::Arc<stats::Stats>,
    /// Hashes, in the background, the files listings met without fresh
    /// metadata.
    pub hasher: hasher::Hasher,
}

/// A container's identity: `<device>/<account>/<container>` as text, for
/// cache keys and messages. It is no path: all I/O goes through the
/// container's open [`Dir`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocKey(String);

impl std::fmt::Display for LocKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A container located on its device and opened: the anchor of every
/// lookup of its objects.
#[derive(Debug, Clone)]
pub struct ContainerLoc {
    pub policy: usize,
    pub key: LocKey,
    /// The account it belongs to.
    pub account: String,
    /// Its name (`.sofgate-versions/<container>` for a hidden versions
    /// container, `.sofgate-uploads/<container>` for an upload area).
    pub name: String,
    /// The device root (for the container's own sidecar, the account's
    /// versions containers, the expiry queue).
    pub root: Dir,
    /// The container's directory.
    pub dir: Dir,
    /// How reads follow POSIX symlinks in it.
    pub links: Follow,
}

impl ContainerLoc {
    /// The account the container belongs to.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Where the container directory's own sidecar is: beside it, in its
    /// parent directory beneath the device.
    pub fn place(&self) -> (String, &str) {
        match self.name.rsplit_once('/') {
            Some((hidden, leaf)) => (format!("{}/{hidden}", self.account), leaf),
            None => (self.account.clone(), self.name.as_str()),
        }
    }

    /// True for a hidden versions container or an upload area.
    pub fn is_hidden(&self) -> bool {
        self.name.contains('/')
    }
}

impl Store {
    pub fn new(policies: Vec<Policy>, opts: Options) -> Self {
        let usage = container::UsageCache::new(opts.usage_ttl);
        let seen = std::sync::Arc::new(seen::Seen::default());
        let stats = std::sync::Arc::new(stats::Stats::default());
        let hasher = hasher::Hasher::new(seen.clone(), stats.clone(), opts.xattr_chunk);
        Store {
            policies,
            opts,
            usage,
            seen,
            stats,
            hasher,
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

    /// The configured owner of `account`'s files, if any.
    pub fn owner_of(&self, account: &str) -> Option<(u32, u32)> {
        self.opts.owners.get(account).copied()
    }

    /// Makes (as needed) and opens `<device>/.sofgate/<parts…>` beneath the
    /// device root `root`: sofgate's own state, never an account.
    pub fn state_dir<'a>(
        &self,
        root: &Dir,
        parts: impl IntoIterator<Item = &'a str>,
    ) -> io::Result<Dir> {
        let mut d = root.clone();
        for p in std::iter::once(name::STATE_DIR).chain(parts) {
            d.mkdir(p, self.opts.dir_mode)?;
            d = d.open_dir(p)?;
        }
        Ok(d)
    }

    /// Makes one directory `name` in `parent` with the configured mode (and
    /// owner, for `account`); `Ok(false)` when the name exists already.
    pub fn make_dir_in(&self, parent: &Dir, name: &str, account: &str) -> io::Result<bool> {
        let made = parent.mkdir(name, self.opts.dir_mode)?;
        if made {
            if let Some((uid, gid)) = self.owner_of(account) {
                parent.chown_at(name, uid, gid)?;
            }
        }
        Ok(made)
    }

    /// Opens a policy's device root, checking the mount (on the open root:
    /// the stat that check makes also gives the lookups' device).
    pub fn root(&self, p: &Policy) -> Result<Dir> {
        let not_mounted = || Error::NotMounted(p.name.clone());
        let root = match Dir::open_root(&p.device) {
            Ok(d) => d,
            Err(e) if is_not_found(&e) && p.mount_check => return Err(not_mounted()),
            Err(e) if is_not_found(&e) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        };
        if !p.mount_check {
            return Ok(root);
        }
        let (Ok(me), Ok(parent)) = (root.stat(), std::fs::metadata(p.device.join(".."))) else {
            return Err(not_mounted());
        };
        if me.dev() != parent.dev() || me.ino() == parent.ino() {
            Ok(root.with_dev(me.dev()))
        } else {
            Err(not_mounted())
        }
    }

    /// How reads follow POSIX symlinks, by `[storage] posix_symlinks`.
    pub fn links(&self) -> Follow {
        match self.opts.posix_symlinks {
            Symlinks::WithinContainer if beneath::uses_openat2() => Follow::Beneath,
            _ => Follow::Never,
        }
    }

    /// Opens `container` of `account` on policy `p` (`NotFound` when it is
    /// not there). `container` may be a hidden versions container's name.
    pub fn open_container(
        &self,
        p: &Policy,
        account: &str,
        container: &str,
    ) -> Result<ContainerLoc> {
        let root = self.root(p)?;
        self.open_container_in(p, root, account, container)
    }

    fn open_container_in(
        &self,
        p: &Policy,
        root: Dir,
        account: &str,
        container: &str,
    ) -> Result<ContainerLoc> {
        let l = &self.opts.limits;
        name::check_account(account, l)?;
        let inner = container
            .strip_prefix(name::VERSIONS_DIR)
            .or_else(|| container.strip_prefix(name::UPLOADS_DIR));
        match inner {
            Some(inner) => match inner.strip_prefix('/') {
                Some(c) => name::check_container(c, l)?,
                None => name::check_container(container, l)?,
            },
            None => name::check_container(container, l)?,
        }
        let dir = match root.open_dir(&format!("{account}/{container}")) {
            Ok(d) => d,
            Err(e) if is_not_found(&e) || beneath::is_refused(&e) => return Err(Error::NotFound),
            Err(e) => return Err(e.into()),
        };
        Ok(ContainerLoc {
            policy: p.index,
            key: LocKey(format!("{}/{account}/{container}", p.device.display())),
            account: account.to_string(),
            name: container.to_string(),
            root,
            dir,
            links: self.links(),
        })
    }

    /// Finds and opens the device holding a container: the default policy
    /// first.
    pub fn locate(&self, account: &str, container: &str) -> Result<ContainerLoc> {
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
            match self.open_container(p, account, container) {
                Ok(loc) => return Ok(loc),
                Err(Error::NotFound) => {}
                Err(e @ Error::NotMounted(_)) => last_err = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_err)
    }

    /// [`Store::locate`] (the name it had).
    pub fn find_container(&self, account: &str, container: &str) -> Result<ContainerLoc> {
        self.locate(account, container)
    }
}

/// ENOENT or ENOTDIR: the path does not name anything.
pub fn is_not_found(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// For a walk, a directory below its top that went away since it was
/// seen: not found, or, on a network filesystem, a handle made stale by
/// another node's removal of it (`ESTALE`: GlusterFS answered a listing so
/// while another node deleted the directory's last object).
pub fn is_gone(e: &io::Error) -> bool {
    is_not_found(e) || e.raw_os_error() == Some(libc::ESTALE)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A store over a temp directory, for the store's unit tests.
    use super::*;
    use std::path::Path;

    pub fn store(dev: &Path) -> Store {
        Store::new(
            vec![Policy {
                name: "gold".into(),
                index: 0,
                device: dev.to_path_buf(),
                mount_check: false,
                default: true,
                no_rename_noreplace: Default::default(),
                tomb_area: Default::default(),
            }],
            Options {
                file_mode: 0o644,
                dir_mode: 0o755,
                xattr_chunk: 65536,
                fsync_dir: false,
                newest_wins: true,
                tombstone_life: std::time::Duration::from_secs(86_400),
                quick_reads: true,
                usage_ttl: std::time::Duration::from_secs(0),
                owners: Default::default(),
                limits: Limits {
                    max_account_name_length: 256,
                    max_container_name_length: 255,
                    max_object_name_length: 1024,
                },
                posix_symlinks: Symlinks::Ignore,
                listing_hash: HashBudget::UNLIMITED,
            },
        )
    }

    /// Makes the container `<dev>/<account>/<container>` and opens it.
    pub fn container(s: &Store, account: &str, container: &str) -> ContainerLoc {
        let dev = &s.policies[0].device;
        std::fs::create_dir_all(dev.join(account).join(container)).unwrap();
        s.locate(account, container).unwrap()
    }

    pub fn obj(name: &str) -> ObjPath {
        ObjPath::from_parts(name.to_string()).unwrap()
    }
}
