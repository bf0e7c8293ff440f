//! Walks of a directory tree by fds: container usage, container delete,
//! version bytes, temp reaping. A walk never follows a symlink and never
//! crosses a mount (such directories are not entered), and stops at
//! [`MAX_DEPTH`] levels, so nothing planted in the tree can lead it
//! elsewhere or hold it for ever.

use std::io;

use super::beneath::{is_refused, Dir, Kind};
use super::{is_gone, is_not_found};

/// Deepest level a walk enters. A client's object name (at most
/// `max_object_name_length`, 1024 bytes by default) has at most 512
/// components; deeper trees made on the mount are not walked further (each
/// level holds one fd while its children are walked).
pub const MAX_DEPTH: usize = 256;

/// One name met by a walk.
pub struct Item<'a> {
    /// The directory it is in.
    pub parent: &'a Dir,
    pub name: &'a str,
    pub kind: Kind,
    /// The directory itself, opened, when it is one.
    pub dir: Option<&'a Dir>,
    /// 1 for the names directly in the walk's top directory.
    pub depth: usize,
}

/// What a walk does with each name.
pub trait Visitor {
    /// Called for every name, parents before their children; a directory
    /// is entered when this returns true.
    fn visit(&mut self, item: &Item<'_>) -> io::Result<bool>;
    /// Called for an entered directory once its children are done.
    fn leave(&mut self, _item: &Item<'_>) -> io::Result<()> {
        Ok(())
    }
}

/// Walks everything beneath `top` (not `top` itself). A name that is gone
/// by the time it is looked at is skipped.
pub fn walk(top: &Dir, v: &mut impl Visitor) -> io::Result<()> {
    walk_in(top, 1, v)
}

fn walk_in(dir: &Dir, depth: usize, v: &mut impl Visitor) -> io::Result<()> {
    let entries = match dir.entries() {
        Ok(e) => e,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) if depth > 1 && is_gone(&e) => return Ok(()),
        // A directory below the top that sofgate's user may not read
        // (another user's, mode 0700): what is in it is not seen.
        Err(e) if depth > 1 && e.raw_os_error() == Some(libc::EACCES) => {
            tracing::debug!("a walk skips an unreadable directory: {e}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for (name, kind) in entries {
        let kind = match kind {
            Some(k) => k,
            None => match dir.stat_at(&name) {
                Ok(st) => st.kind(),
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e),
            },
        };
        let child = if kind == Kind::Dir && depth < MAX_DEPTH {
            match dir.open_dir(&name) {
                Ok(d) => Some(d),
                // Gone, replaced, or a mount point: not entered.
                Err(e) if is_gone(&e) || is_refused(&e) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let item = Item {
            parent: dir,
            name: &name,
            kind,
            dir: child.as_ref(),
            depth,
        };
        if v.visit(&item)? {
            if let Some(d) = &child {
                walk_in(d, depth + 1, v)?;
                v.leave(&item)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<String>);
    impl Visitor for Names {
        fn visit(&mut self, item: &Item<'_>) -> io::Result<bool> {
            self.0
                .push(format!("{}:{}:{:?}", item.depth, item.name, item.kind));
            Ok(true)
        }
    }

    #[test]
    fn walks_without_following_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().join("top");
        std::fs::create_dir_all(top.join("a/b")).unwrap();
        std::fs::write(top.join("a/b/f"), b"x").unwrap();
        std::fs::create_dir_all(t.path().join("out")).unwrap();
        std::fs::write(t.path().join("out/secret"), b"x").unwrap();
        std::os::unix::fs::symlink(t.path().join("out"), top.join("a/l")).unwrap();
        let mut n = Names(Vec::new());
        walk(&Dir::open_root(&top).unwrap(), &mut n).unwrap();
        n.0.sort();
        assert_eq!(n.0, ["1:a:Dir", "2:b:Dir", "2:l:Symlink", "3:f:File"]);
    }
}
