//! Container and account metadata as last read, for the features that
//! consult it on object requests (quotas, versioned writes, the ETag
//! quoter, the S3 door's CORS), as Swift's proxy keeps container and
//! account info, and the list of accounts (for S3 preflights). An entry
//! is trusted for `[storage] usage_cache_secs`; a change made through this
//! node forgets it at once, one made through another node is seen when it
//! expires. Keys are names, so a cached answer costs no filesystem call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::container as scont;
use crate::store::meta::Meta;
use crate::store::{ContainerLoc, Result, Store};
use crate::sync::lock;

/// Entries kept per map before it is emptied (a bound, not an LRU).
const MAX_ENTRIES: usize = 50_000;

type Entries<K> = Mutex<HashMap<K, (Instant, Arc<Meta>)>>;

pub struct InfoCache {
    ttl: Duration,
    /// By (account, container name).
    containers: Entries<(String, String)>,
    accounts: Entries<String>,
    /// The names of the accounts on the devices, as last listed.
    account_names: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

impl InfoCache {
    pub fn new(ttl: Duration) -> InfoCache {
        InfoCache {
            ttl,
            containers: Mutex::default(),
            accounts: Mutex::default(),
            account_names: Mutex::default(),
        }
    }

    /// The container's metadata, read (blocking) unless cached.
    pub fn container(&self, loc: &ContainerLoc) -> Result<Arc<Meta>> {
        let key = (loc.account.clone(), loc.name.clone());
        if let Some(m) = self.fresh(&self.containers, &key) {
            return Ok(m);
        }
        let m = Arc::new(scont::container_meta(loc)?);
        self.keep(&self.containers, key, m.clone());
        Ok(m)
    }

    /// The metadata of the container `account/container`, read (blocking)
    /// unless cached: a cached answer costs no filesystem call.
    pub fn container_named(
        &self,
        store: &Store,
        account: &str,
        container: &str,
    ) -> Result<Arc<Meta>> {
        match self.cached_container(account, container) {
            Some(m) => Ok(m),
            None => self.container(&store.find_container(account, container)?),
        }
    }

    /// The container's metadata if cached and fresh; no filesystem call.
    pub fn cached_container(&self, account: &str, container: &str) -> Option<Arc<Meta>> {
        self.fresh(
            &self.containers,
            &(account.to_string(), container.to_string()),
        )
    }

    /// The account's metadata, read (blocking) unless cached.
    pub fn account(&self, store: &Store, account: &str) -> Result<Arc<Meta>> {
        if let Some(m) = self.cached_account(account) {
            return Ok(m);
        }
        let m = Arc::new(scont::account_meta(store, account)?);
        self.keep(&self.accounts, account.to_string(), m.clone());
        Ok(m)
    }

    /// The account's metadata if cached and fresh; no filesystem call.
    pub fn cached_account(&self, account: &str) -> Option<Arc<Meta>> {
        self.fresh(&self.accounts, &account.to_string())
    }

    /// The accounts on the devices, in byte order, listed (blocking)
    /// unless listed within the TTL.
    pub fn account_names(&self, store: &Store) -> Result<Arc<Vec<String>>> {
        if let Some((at, names)) = &*lock(&self.account_names) {
            if at.elapsed() < self.ttl {
                return Ok(names.clone());
            }
        }
        let names = Arc::new(scont::list_accounts(store)?);
        *lock(&self.account_names) = Some((Instant::now(), names.clone()));
        Ok(names)
    }

    /// Drops what is known of a container (after a change through here).
    pub fn forget_container(&self, account: &str, container: &str) {
        lock(&self.containers).remove(&(account.to_string(), container.to_string()));
    }

    /// Drops the account list (after a container was created through here:
    /// its account may be new).
    pub fn forget_account_names(&self) {
        *lock(&self.account_names) = None;
    }

    /// Drops what is known of an account (after a change through here).
    pub fn forget_account(&self, account: &str) {
        lock(&self.accounts).remove(account);
    }

    fn fresh<K: std::hash::Hash + Eq>(&self, map: &Entries<K>, key: &K) -> Option<Arc<Meta>> {
        let e = lock(map);
        let (at, m) = e.get(key)?;
        (at.elapsed() < self.ttl).then(|| m.clone())
    }

    fn keep<K: std::hash::Hash + Eq>(&self, map: &Entries<K>, key: K, m: Arc<Meta>) {
        let mut e = lock(map);
        if e.len() >= MAX_ENTRIES {
            e.clear();
        }
        e.insert(key, (Instant::now(), m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(k: &str) -> Arc<Meta> {
        let mut m = Meta::new();
        m.insert(k.into(), "1".into());
        Arc::new(m)
    }

    #[test]
    fn entries_are_kept_until_forgotten_or_stale() {
        let c = InfoCache::new(Duration::from_secs(60));
        c.keep(&c.containers, ("a".into(), "c".into()), meta("X"));
        c.keep(&c.accounts, "a".into(), meta("Y"));
        assert!(c.cached_container("a", "c").unwrap().contains_key("X"));
        assert!(c.cached_container("a", "d").is_none());
        c.forget_container("a", "c");
        assert!(c.cached_container("a", "c").is_none());
        assert!(c.cached_account("a").is_some());
        c.forget_account("a");
        assert!(c.cached_account("a").is_none());

        let stale = InfoCache::new(Duration::ZERO);
        stale.keep(&stale.accounts, "a".into(), meta("Y"));
        assert!(stale.cached_account("a").is_none());
    }
}
