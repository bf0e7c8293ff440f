//! Locking that survives a panic elsewhere: the caches and queues behind
//! these mutexes hold no invariant a panicking holder could break half-way
//! (each update is one map insert or remove), so a poisoned lock is used as
//! it is rather than turning every later request into a panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, poisoned or not.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
