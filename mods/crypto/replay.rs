//! The replay store: a bounded, expiring, thread-safe set of requests already accepted.
//!
//! In scope: remembering a 32-byte request key until its timestamp leaves the window.
//! Out of scope: what the key is made of (see `server.rs`), the clock (times are parameters).
//!
//! Memory is bounded by `capacity` entries (about 100 bytes each). When the store is full of
//! entries that have not expired, a new request is refused ([`CryptoError::ReplayStoreFull`],
//! 503) rather than evicting an entry, because evicting would let that request be replayed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use parking_lot::Mutex;

use super::error::CryptoError;

/// Keys of accepted requests, each kept until its expiry (Unix milliseconds).
#[derive(Debug)]
pub(crate) struct ReplayStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Key → expiry. INVARIANT: every entry has a matching `(expiry, key)` in `by_expiry`.
    live: HashMap<[u8; 32], u64>,
    /// Min-heap of `(expiry, key)`, so purging touches only expired entries.
    by_expiry: BinaryHeap<Reverse<(u64, [u8; 32])>>,
}

impl ReplayStore {
    /// Creates an empty store holding at most `capacity` unexpired keys.
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayStore {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records `key` until `expires_at`, unless it is already recorded.
    ///
    /// # Errors
    /// [`CryptoError::Replay`] when `key` is recorded and unexpired at `now`,
    /// [`CryptoError::ReplayStoreFull`] when `capacity` unexpired keys are already held.
    pub(crate) fn check_and_insert(
        &self,
        key: [u8; 32],
        expires_at: u64,
        now: u64,
    ) -> Result<(), CryptoError> {
        let mut inner = self.inner.lock();
        inner.purge(now);
        if inner.live.contains_key(&key) {
            return Err(CryptoError::Replay);
        }
        if inner.live.len() >= self.capacity {
            return Err(CryptoError::ReplayStoreFull);
        }
        inner.live.insert(key, expires_at);
        inner.by_expiry.push(Reverse((expires_at, key)));
        Ok(())
    }

    /// Returns how many keys are held (expired ones included until the next insert purges them).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().live.len()
    }
}

impl Inner {
    fn purge(&mut self, now: u64) {
        while let Some(Reverse((expiry, key))) = self.by_expiry.peek().copied() {
            if expiry > now {
                break;
            }
            self.by_expiry.pop();
            if self.live.get(&key) == Some(&expiry) {
                self.live.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn second_insert_of_a_key_is_a_replay() {
        let s = ReplayStore::new(4);
        s.check_and_insert(key(1), 100, 0).unwrap();
        assert!(matches!(
            s.check_and_insert(key(1), 100, 50),
            Err(CryptoError::Replay)
        ));
    }

    #[test]
    fn expired_keys_are_forgotten() {
        let s = ReplayStore::new(4);
        s.check_and_insert(key(1), 100, 0).unwrap();
        s.check_and_insert(key(1), 300, 101).unwrap();
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn full_store_refuses_instead_of_evicting_then_recovers_after_expiry() {
        let s = ReplayStore::new(3);
        for n in 0..3 {
            s.check_and_insert(key(n), 100 + u64::from(n), 0).unwrap();
        }
        assert!(matches!(
            s.check_and_insert(key(9), 500, 10),
            Err(CryptoError::ReplayStoreFull)
        ));
        // Still refuses the replays it holds.
        assert!(matches!(
            s.check_and_insert(key(0), 500, 10),
            Err(CryptoError::Replay)
        ));
        // Once the first entry expires there is room again.
        s.check_and_insert(key(9), 500, 100).unwrap();
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn memory_stays_bounded_under_a_stream_of_requests() {
        let s = ReplayStore::new(100);
        for i in 0..10_000u64 {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&i.to_be_bytes());
            // Each entry lives 50 ms; one arrives per millisecond.
            s.check_and_insert(k, i + 50, i).unwrap();
            assert!(s.len() <= 100);
        }
        assert!(s.inner.lock().by_expiry.len() <= 100);
    }

    #[test]
    fn concurrent_inserts_of_one_key_admit_exactly_one() {
        let s = std::sync::Arc::new(ReplayStore::new(10));
        let oks: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let s = &s;
                    #[allow(clippy::disallowed_methods)] // test-only threads
                    scope.spawn(move || usize::from(s.check_and_insert(key(7), 100, 0).is_ok()))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(oks, 1);
    }
}
