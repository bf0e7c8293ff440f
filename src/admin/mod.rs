//! Operator tools that work on the tree itself, safely beside running
//! gateways: `sofgate index` gives files already on a volume their
//! metadata, `sofgate scrub` checks content against metadata and finds
//! leftovers. Both walk containers by fds (never through a symlink or
//! across a mount), hash on `--jobs` threads, keep to `--max-rate`, show a
//! progress bar on a terminal and end with a summary (`--json`). The
//! server runs the temp sweep and, when configured, the same scrub in the
//! background ([`background`]).

pub mod background;
pub mod index;
pub mod pace;
pub mod progress;
pub mod scrub;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config::Config;
use crate::store::{name, ContainerLoc, Error, ObjPath, Policy, Store};

/// What a tool runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every container of every account on every device.
    All,
    Account(String),
    Container(String, String),
}

impl Scope {
    /// `ACCOUNT` or `ACCOUNT/CONTAINER` (absent: everything); names are
    /// checked as a request's would be.
    pub fn parse(arg: Option<&str>, store: &Store) -> Result<Scope, String> {
        let Some(arg) = arg else {
            return Ok(Scope::All);
        };
        let l = &store.opts.limits;
        let (account, container) = match arg.split_once('/') {
            Some((a, c)) => (a, Some(c)),
            None => (arg, None),
        };
        name::check_account(account, l).map_err(|e| format!("{arg:?}: {e}"))?;
        match container {
            None => Ok(Scope::Account(account.to_string())),
            Some(c) => {
                name::check_container(c, l).map_err(|e| format!("{arg:?}: {e}"))?;
                Ok(Scope::Container(account.to_string(), c.to_string()))
            }
        }
    }
}

/// Options every tool takes.
#[derive(Debug, Clone)]
pub struct RunOpts {
    /// Threads hashing at once.
    pub jobs: usize,
    /// Bytes of file data read per second, at most.
    pub max_rate: Option<u64>,
}

/// Loads the config (or the embedded default) and builds its store.
pub fn open_store(config: Option<&Path>) -> Result<(Config, Store), String> {
    let cfg = match config {
        Some(p) => Config::load(p)?,
        None => Config::embedded(),
    };
    if cfg.policies.is_empty() {
        return Err("the config has no [[policy]]".into());
    }
    cfg.validate_maintenance()?;
    // Quarantine directories get the configured mode exactly.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let store = cfg.store()?;
    Ok((cfg, store))
}

/// Parses a rate: bytes per second, with an optional `K`, `M` or `G`
/// (powers of 1024).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    match num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "bad rate {s:?}: bytes per second, e.g. 50000000 or 50M"
        )),
    }
}

/// The containers of `scope` (hidden versions containers included), on
/// every device that holds them. A device that is not mounted is an error.
pub fn containers(store: &Store, scope: &Scope) -> Result<Vec<ContainerLoc>, String> {
    if let Scope::Container(a, c) = scope {
        let loc = store.locate(a, c).map_err(|e| match e {
            Error::NotFound => format!("no container {a}/{c}"),
            e => format!("{a}/{c}: {e}"),
        })?;
        let p = &store.policies[loc.policy];
        let hidden = store.open_container(p, a, &format!("{}/{c}", name::VERSIONS_DIR));
        return Ok(std::iter::once(loc).chain(hidden.ok()).collect());
    }
    let mut out = Vec::new();
    let mut done: Vec<&PathBuf> = Vec::new();
    for p in &store.policies {
        if done.contains(&&p.device) {
            continue;
        }
        done.push(&p.device);
        let accounts = match scope {
            Scope::Account(a) => vec![a.clone()],
            _ => subdirs(store, p, None)?,
        };
        for a in accounts {
            for c in subdirs(store, p, Some(&a))? {
                if let Ok(loc) = store.open_container(p, &a, &c) {
                    out.push(loc);
                }
            }
        }
    }
    if out.is_empty() {
        if let Scope::Account(a) = scope {
            return Err(format!("no account {a} (or it has no containers)"));
        }
    }
    Ok(out)
}

/// Accounts of a device (`account` None) or containers of an account
/// (with `.sofgate-versions/<c>` for its hidden versions containers):
/// directories with valid names, never through a symlink.
fn subdirs(store: &Store, p: &Policy, account: Option<&str>) -> Result<Vec<String>, String> {
    let shown = |e: &dyn std::fmt::Display| format!("{}: {e}", p.device.display());
    let root = store.root(p).map_err(|e| shown(&e))?;
    let l = &store.opts.limits;
    let dir = match account {
        None => root,
        Some(a) => match root.open_dir(a) {
            Ok(d) => d,
            Err(_) => return Ok(Vec::new()),
        },
    };
    let mut out = Vec::new();
    for (n, _) in dir.entries().map_err(|e| shown(&e))? {
        if !dir.stat_at(&n).is_ok_and(|st| st.is_dir()) {
            continue;
        }
        let ok = match account {
            None => name::check_account(&n, l).is_ok(),
            Some(_) if n == name::VERSIONS_DIR => {
                if let Ok(h) = dir.open_dir(&n) {
                    for (c, _) in h.entries().unwrap_or_default() {
                        if name::check_container(&c, l).is_ok() {
                            out.push(format!("{n}/{c}"));
                        }
                    }
                }
                false
            }
            Some(_) => name::check_container(&n, l).is_ok(),
        };
        if ok {
            out.push(n);
        }
    }
    out.sort();
    Ok(out)
}

/// One object file to work on.
pub struct Job {
    pub loc: ContainerLoc,
    pub name: ObjPath,
    pub size: u64,
}

impl Job {
    /// `account/container/object`, for reports.
    pub fn path(&self) -> String {
        format!(
            "{}/{}/{}",
            self.loc.account,
            self.loc.name,
            self.name.as_str()
        )
    }
}

/// Runs `work` on `jobs` threads over the jobs `produce` hands out (a
/// bounded queue: the walk stays a little ahead of the hashing).
pub fn pool(jobs: usize, produce: impl FnOnce(&mut dyn FnMut(Job)), work: impl Fn(Job) + Sync) {
    let jobs = jobs.max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(jobs * 64);
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let next = rx.lock().map(|r| r.recv());
                match next {
                    Ok(Ok(j)) => work(j),
                    _ => return,
                }
            });
        }
        produce(&mut |j| {
            // Only fails once every worker is gone (a panic): stop feeding.
            let _ = tx.send(j);
        });
        drop(tx);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_suffixes_and_bad_ones_are_refused() {
        assert_eq!(parse_rate("1000").unwrap(), 1000);
        assert_eq!(parse_rate("50M").unwrap(), 50 << 20);
        assert_eq!(parse_rate("2k").unwrap(), 2048);
        for bad in ["", "0", "-1", "1.5M", "M", "10X", "99999999999999G"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_are_checked_names() {
        let t = tempfile::tempdir().unwrap();
        let s = crate::store::testing::store(t.path());
        assert_eq!(Scope::parse(None, &s).unwrap(), Scope::All);
        assert_eq!(
            Scope::parse(Some("AUTH_a/c"), &s).unwrap(),
            Scope::Container("AUTH_a".into(), "c".into())
        );
        for bad in [
            "..",
            "AUTH_a/..",
            ".sofgate",
            "AUTH_a/.sofgate-versions",
            "a/b/c",
            "",
        ] {
            assert!(Scope::parse(Some(bad), &s).is_err(), "{bad}");
        }
    }
}
