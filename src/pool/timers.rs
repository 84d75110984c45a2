//! Timers: connection deadlines and the user's one-shot timers, in one min-heap.
//!
//! In scope: when the waiter must wake next and what is due. Times are nanoseconds since the
//! pool's epoch (`0` means "none"), so a deadline fits in an atomic.
//! Out of scope: the clock (the caller passes `now`) and running callbacks.
//!
//! A connection re-sets its deadline on every request; pushing a heap entry each time would grow
//! the heap without bound. Instead each source remembers the earliest entry it has in the heap
//! (`timer_at`); a later deadline only updates the source's atomic, and when the old entry comes
//! due the deadline is re-read and, if it moved, pushed again. So there is at most about one live
//! entry per source.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::source::Source;

/// A user timer's callback.
pub(crate) type TimerCallback = Box<dyn FnOnce() + Send>;

/// Identifies a timer added with [`Pool::add_timer`](super::Pool::add_timer), to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

enum EntryKind {
    Deadline(Weak<Source>),
    User(u64),
}

struct Entry {
    at: u64,
    seq: u64,
    kind: EntryKind,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// What came due.
pub(crate) enum Fired {
    /// A source whose deadline passed.
    Deadline(Arc<Source>),
    /// A user timer.
    User(TimerCallback),
}

/// The heap of deadlines and user timers. Lives behind the pool's timers mutex.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    user: HashMap<u64, TimerCallback>,
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("entries", &self.heap.len())
            .field("user", &self.user.len())
            .finish()
    }
}

impl Timers {
    fn push(&mut self, at: u64, kind: EntryKind) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            kind,
        }));
    }

    /// Makes sure `source` has a heap entry no later than `at`; returns whether one was pushed.
    pub(crate) fn arm_deadline(&mut self, source: &Arc<Source>, at: u64) -> bool {
        let current = source.timer_at.load(Ordering::SeqCst);
        if current != 0 && current <= at {
            return false;
        }
        source.timer_at.store(at, Ordering::SeqCst);
        self.push(at, EntryKind::Deadline(Arc::downgrade(source)));
        true
    }

    /// Adds a user timer due at `at`.
    pub(crate) fn add_user(&mut self, at: u64, callback: TimerCallback) -> TimerId {
        self.push(at, EntryKind::User(self.seq + 1));
        let id = self.seq;
        self.user.insert(id, callback);
        TimerId(id)
    }

    /// Cancels a user timer; returns whether it was still pending.
    pub(crate) fn cancel_user(&mut self, id: TimerId) -> bool {
        self.user.remove(&id.0).is_some()
    }

    /// Returns when the earliest entry is due, if any.
    pub(crate) fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Moves everything due at `now` into `out`.
    pub(crate) fn fire(&mut self, now: u64, out: &mut Vec<Fired>) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.at > now {
                break;
            }
            let Some(Reverse(entry)) = self.heap.pop() else {
                break;
            };
            match entry.kind {
                EntryKind::User(id) => {
                    if let Some(cb) = self.user.remove(&id) {
                        out.push(Fired::User(cb));
                    }
                }
                EntryKind::Deadline(weak) => {
                    let Some(source) = weak.upgrade() else {
                        continue;
                    };
                    if source.timer_at.load(Ordering::SeqCst) != entry.at {
                        continue; // an earlier entry replaced this one
                    }
                    source.timer_at.store(0, Ordering::SeqCst);
                    let deadline = source.deadline.load(Ordering::SeqCst);
                    if deadline == 0 {
                        continue;
                    }
                    if deadline > now {
                        self.arm_deadline(&source, deadline);
                    } else {
                        out.push(Fired::Deadline(source));
                    }
                }
            }
        }
    }

    /// Drops every entry and user timer (the pool stopped).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.user.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn user_timers_fire_in_order_and_cancelled_ones_do_not() {
        let mut t = Timers::default();
        let hit = Arc::new(AtomicBool::new(false));
        let h = Arc::clone(&hit);
        let a = t.add_user(20, Box::new(move || h.store(true, Ordering::SeqCst)));
        let b = t.add_user(10, Box::new(|| {}));
        assert_eq!(t.next_at(), Some(10));
        assert!(t.cancel_user(b));
        assert!(!t.cancel_user(b));
        let mut out = Vec::new();
        t.fire(15, &mut out);
        assert!(out.is_empty());
        t.fire(20, &mut out);
        assert_eq!(out.len(), 1);
        for f in out {
            if let Fired::User(cb) = f {
                cb();
            }
        }
        assert!(hit.load(Ordering::SeqCst));
        assert!(!t.cancel_user(a));
        assert_eq!(t.next_at(), None);
    }
}
