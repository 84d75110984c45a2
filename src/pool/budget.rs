//! The memory budget: the bytes a server may hold beyond its buffer slots (request bodies being
//! gathered, and whatever else a connection buffers), reserved before they are allocated.
//!
//! In scope: reserving and releasing bytes through an RAII [`Reservation`], the queue of parties
//! waiting for bytes (granted in arrival order as bytes are released), and the figures
//! ([`BudgetStats`]).
//! Out of scope: what the bytes hold, and what a party does while it waits (a connection stops
//! reading from its socket).
//!
//! A waiter is granted its reservation by whoever releases the bytes it needs, so a party that
//! comes later can never take them first: [`MemoryBudget::reserve_or_wait`] refuses while anyone
//! waits. The waiter is held weakly: one that is gone (its connection closed) is skipped.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

/// A party waiting for budget: told once its reservation is granted.
pub trait BudgetWaiter: Send + Sync {
    /// Takes the reservation granted (on the releasing party's thread: keep it short).
    fn granted(&self, reservation: Reservation);
}

/// What a budget holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetStats {
    /// The bound, in bytes.
    pub limit: usize,
    /// Bytes reserved now.
    pub in_use: usize,
    /// The most bytes ever reserved at once.
    pub high_water: usize,
    /// Parties waiting for bytes.
    pub waiting: usize,
}

struct Waiting {
    bytes: usize,
    waiter: Weak<dyn BudgetWaiter>,
}

struct State {
    in_use: usize,
    high_water: usize,
    queue: VecDeque<Waiting>,
}

struct Inner {
    limit: usize,
    state: Mutex<State>,
}

/// A bound on bytes, shared by the connections of a server. Cloning is cheap and shares it.
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MemoryBudget").field(&self.stats()).finish()
    }
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none reserved.
    #[must_use]
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::new(Inner {
                limit,
                state: Mutex::new(State {
                    in_use: 0,
                    high_water: 0,
                    queue: VecDeque::new(),
                }),
            }),
        }
    }

    /// Returns the bound, in bytes.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Returns what the budget holds now.
    #[must_use]
    pub fn stats(&self) -> BudgetStats {
        let s = self.inner.state.lock();
        BudgetStats {
            limit: self.inner.limit,
            in_use: s.in_use,
            high_water: s.high_water,
            waiting: s
                .queue
                .iter()
                .filter(|w| w.waiter.strong_count() > 0)
                .count(),
        }
    }

    /// Reserves `bytes` when they are free and nobody waits; `None` otherwise (also when `bytes`
    /// is more than the whole budget: check [`MemoryBudget::limit`] first).
    #[must_use]
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let mut s = self.inner.state.lock();
        self.take(&mut s, bytes)
    }

    /// Reserves `bytes` at once when it can; otherwise queues `waiter`, which is granted the
    /// reservation (through [`BudgetWaiter::granted`]) once the bytes are released and everyone
    /// queued before it is served. A request for more than the whole budget is never granted.
    #[must_use]
    pub fn reserve_or_wait(
        &self,
        bytes: usize,
        waiter: &Arc<dyn BudgetWaiter>,
    ) -> Option<Reservation> {
        let mut s = self.inner.state.lock();
        if let Some(r) = self.take(&mut s, bytes) {
            return Some(r);
        }
        s.queue.push_back(Waiting {
            bytes,
            waiter: Arc::downgrade(waiter),
        });
        None
    }

    /// Accounts `bytes` that are already allocated (a handler's response body held for a slow
    /// reader): counted in use at once, even past the limit, so that nobody is granted more
    /// until they are given back.
    #[must_use]
    pub fn charge(&self, bytes: usize) -> Reservation {
        let mut s = self.inner.state.lock();
        s.in_use = s.in_use.saturating_add(bytes);
        s.high_water = s.high_water.max(s.in_use);
        Reservation {
            budget: self.clone(),
            bytes,
        }
    }

    /// Takes `bytes` from the free part when nobody waits.
    fn take(&self, s: &mut State, bytes: usize) -> Option<Reservation> {
        let live_waiters = s.queue.iter().any(|w| w.waiter.strong_count() > 0);
        if live_waiters || bytes > self.inner.limit.saturating_sub(s.in_use) {
            return None;
        }
        s.in_use += bytes;
        s.high_water = s.high_water.max(s.in_use);
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// Adds `bytes` to a reservation when they are free and nobody waits.
    fn grow(&self, bytes: usize) -> bool {
        let mut s = self.inner.state.lock();
        let live_waiters = s.queue.iter().any(|w| w.waiter.strong_count() > 0);
        if live_waiters || bytes > self.inner.limit.saturating_sub(s.in_use) {
            return false;
        }
        s.in_use += bytes;
        s.high_water = s.high_water.max(s.in_use);
        true
    }

    /// Gives `bytes` back, then grants the waiters at the front whose need now fits.
    fn release(&self, bytes: usize) {
        let mut grants: Vec<(Arc<dyn BudgetWaiter>, Reservation)> = Vec::new();
        {
            let mut s = self.inner.state.lock();
            s.in_use -= bytes;
            while let Some(front) = s.queue.front() {
                let Some(waiter) = front.waiter.upgrade() else {
                    s.queue.pop_front(); // gone: the next one's turn
                    continue;
                };
                let need = front.bytes;
                if need > self.inner.limit.saturating_sub(s.in_use) {
                    break;
                }
                s.queue.pop_front();
                s.in_use += need;
                s.high_water = s.high_water.max(s.in_use);
                let reservation = Reservation {
                    budget: self.clone(),
                    bytes: need,
                };
                grants.push((waiter, reservation));
            }
        }
        // Outside the lock: a waiter may drop its grant (which releases it again).
        for (waiter, reservation) in grants {
            waiter.granted(reservation);
        }
    }
}

/// Bytes reserved from a [`MemoryBudget`]; given back when dropped.
pub struct Reservation {
    budget: MemoryBudget,
    bytes: usize,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Reservation {
    /// Returns how many bytes this holds.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Makes this hold at least `bytes`, when the rest is free and nobody waits; false (and no
    /// change) otherwise.
    pub fn try_grow_to(&mut self, bytes: usize) -> bool {
        if bytes <= self.bytes {
            return true;
        }
        if self.budget.grow(bytes - self.bytes) {
            self.bytes = bytes;
            true
        } else {
            false
        }
    }

    /// Gives back what this holds beyond `bytes` (nothing when it holds no more).
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            let extra = self.bytes - bytes;
            self.bytes = bytes;
            self.budget.release(extra);
        }
    }

    /// Adds another reservation of the same budget to this one.
    pub fn merge(&mut self, mut other: Reservation) {
        self.bytes += std::mem::take(&mut other.bytes);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.release(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Mailbox(Mutex<Vec<Reservation>>);

    impl BudgetWaiter for Mailbox {
        fn granted(&self, reservation: Reservation) {
            self.0.lock().push(reservation);
        }
    }

    fn waiter() -> (Arc<Mailbox>, Arc<dyn BudgetWaiter>) {
        let mailbox = Arc::new(Mailbox::default());
        let as_waiter: Arc<dyn BudgetWaiter> = mailbox.clone();
        (mailbox, as_waiter)
    }

    #[test]
    fn reserves_up_to_the_limit_and_releases_on_drop() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_reserve(60).expect("fits");
        assert!(budget.try_reserve(41).is_none(), "past the limit");
        let b = budget.try_reserve(40).expect("fits exactly");
        assert_eq!(budget.stats().in_use, 100);
        drop(a);
        drop(b);
        let s = budget.stats();
        assert_eq!((s.in_use, s.high_water, s.waiting), (0, 100, 0));
        assert!(
            budget.try_reserve(101).is_none(),
            "more than the whole budget"
        );
    }

    #[test]
    fn grows_within_the_limit_only() {
        let budget = MemoryBudget::new(100);
        let mut r = budget.try_reserve(10).unwrap();
        assert!(r.try_grow_to(90));
        assert!(!r.try_grow_to(101));
        assert_eq!(r.bytes(), 90);
        assert!(r.try_grow_to(50), "shrinking is never refused, and a no-op");
        assert_eq!(budget.stats().in_use, 90);
        drop(r);
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn waiters_are_granted_in_arrival_order_and_newcomers_queue_behind() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(100).unwrap();
        let (first, w1) = waiter();
        let (second, w2) = waiter();
        assert!(budget.reserve_or_wait(70, &w1).is_none());
        assert!(budget.reserve_or_wait(20, &w2).is_none());
        assert_eq!(budget.stats().waiting, 2);
        drop(held);
        assert!(
            budget.try_reserve(11).is_none(),
            "granted bytes are not up for grabs: only 10 are free"
        );
        assert_eq!(first.0.lock().len(), 1);
        assert_eq!(second.0.lock().len(), 1, "the second fits beside the first");
        assert_eq!(budget.stats().in_use, 90);
        first.0.lock().clear();
        second.0.lock().clear();
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn a_large_waiter_at_the_front_is_not_overtaken() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_reserve(50).unwrap();
        let b = budget.try_reserve(50).unwrap();
        let (big, wb) = waiter();
        let (small, ws) = waiter();
        assert!(budget.reserve_or_wait(80, &wb).is_none());
        assert!(budget.reserve_or_wait(10, &ws).is_none());
        drop(a); // 50 free: the big one still does not fit, and the small one waits behind it
        assert!(big.0.lock().is_empty() && small.0.lock().is_empty());
        drop(b);
        assert_eq!(big.0.lock().len(), 1);
        assert_eq!(small.0.lock().len(), 1);
    }

    #[test]
    fn a_waiter_that_is_gone_is_skipped_and_its_grant_never_leaks() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(100).unwrap();
        let (gone, wg) = waiter();
        let (next, wn) = waiter();
        assert!(budget.reserve_or_wait(100, &wg).is_none());
        assert!(budget.reserve_or_wait(30, &wn).is_none());
        drop(wg);
        drop(gone);
        assert_eq!(budget.stats().waiting, 1);
        drop(held);
        assert_eq!(next.0.lock().len(), 1);
        assert_eq!(budget.stats().in_use, 30);
        drop(next);
        drop(wn);
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn a_grant_dropped_at_once_passes_on_to_the_next_waiter() {
        struct Refuses;
        impl BudgetWaiter for Refuses {
            fn granted(&self, reservation: Reservation) {
                drop(reservation);
            }
        }
        let budget = MemoryBudget::new(10);
        let held = budget.try_reserve(10).unwrap();
        let refuses: Arc<dyn BudgetWaiter> = Arc::new(Refuses);
        let (next, wn) = waiter();
        assert!(budget.reserve_or_wait(10, &refuses).is_none());
        assert!(budget.reserve_or_wait(10, &wn).is_none());
        drop(held);
        assert_eq!(next.0.lock().len(), 1);
        assert_eq!(budget.stats().in_use, 10);
    }

    #[test]
    fn a_charge_past_the_limit_holds_everyone_back_until_it_is_given_back() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(60).unwrap();
        let charged = budget.charge(80);
        assert_eq!(budget.stats().in_use, 140);
        assert!(budget.try_reserve(1).is_none());
        let (mailbox, as_waiter) = waiter();
        assert!(budget.reserve_or_wait(50, &as_waiter).is_none());
        drop(held);
        assert!(mailbox.0.lock().is_empty(), "80 of 100 still in use");
        drop(charged);
        assert_eq!(mailbox.0.lock().len(), 1);
        mailbox.0.lock().clear();
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn shrinking_gives_back_the_difference_and_grants_waiters() {
        let budget = MemoryBudget::new(100);
        let mut r = budget.try_reserve(100).unwrap();
        let (mailbox, as_waiter) = waiter();
        assert!(budget.reserve_or_wait(30, &as_waiter).is_none());
        r.shrink_to(80);
        assert!(mailbox.0.lock().is_empty());
        r.shrink_to(60);
        assert_eq!(mailbox.0.lock().len(), 1);
        r.shrink_to(70); // never grows
        assert_eq!((r.bytes(), budget.stats().in_use), (60, 90));
        drop(r);
        mailbox.0.lock().clear();
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn merged_reservations_release_once() {
        let budget = MemoryBudget::new(100);
        let mut a = budget.try_reserve(30).unwrap();
        let b = budget.try_reserve(20).unwrap();
        a.merge(b);
        assert_eq!(a.bytes(), 50);
        assert_eq!(budget.stats().in_use, 50);
        drop(a);
        assert_eq!(budget.stats().in_use, 0);
    }
}
