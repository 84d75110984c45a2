//! A connection's share of the memory budget: a reservation that grows to what the connection
//! needs, waiting its turn (and waking the connection) when the budget is short.
//!
//! In scope: growing the reservation, queueing for a grant, taking the grant once it lands,
//! giving everything back. Out of scope: what the bytes hold and how much a connection needs
//! (the HTTP body, the WebSocket session decide), and what it does while it waits (it stops
//! reading from its socket, so the client's TCP window fills).

use std::sync::Arc;

use parking_lot::Mutex;

use super::Waker;
use super::budget::{BudgetWaiter, MemoryBudget, Reservation};

/// Whether a [`Holding`] holds what was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Need {
    /// Reserved: the bytes may be allocated.
    Ready,
    /// The budget is short: the party is queued and its connection is woken once granted.
    Wait,
    /// More than the whole budget: it can never be granted.
    TooLarge,
}

/// A party waiting for budget: the grant lands here, then its connection is woken.
struct Grant {
    granted: Mutex<Option<Reservation>>,
    waker: Waker,
}

impl BudgetWaiter for Grant {
    fn granted(&self, reservation: Reservation) {
        *self.granted.lock() = Some(reservation);
        self.waker.wake();
    }
}

/// The bytes one connection holds of a [`MemoryBudget`], given back when dropped (or with
/// [`Holding::release`]).
pub struct Holding {
    budget: MemoryBudget,
    reserved: Option<Reservation>,
    waiting: Option<Arc<Grant>>,
}

impl std::fmt::Debug for Holding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holding")
            .field("held", &self.held())
            .field("waiting", &self.waiting.is_some())
            .finish()
    }
}

impl Holding {
    /// Holds nothing of `budget` yet.
    #[must_use]
    pub fn new(budget: &MemoryBudget) -> Holding {
        Holding {
            budget: budget.clone(),
            reserved: None,
            waiting: None,
        }
    }

    /// Returns the budget this draws on.
    #[must_use]
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Returns the bytes held now.
    #[must_use]
    pub fn held(&self) -> usize {
        self.reserved.as_ref().map_or(0, Reservation::bytes)
    }

    /// Returns whether it waits for a grant.
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Makes it hold at least `bytes`: at once when they are free and nobody waits before it,
    /// or else once granted in turn ([`Need::Wait`]; `waker` then wakes the connection, and a
    /// later call takes the grant). Never more than the budget's limit ([`Need::TooLarge`]).
    pub fn ensure(&mut self, bytes: usize, waker: impl FnOnce() -> Waker) -> Need {
        if let Some(grant) = &self.waiting {
            let Some(r) = grant.granted.lock().take() else {
                return Need::Wait;
            };
            self.waiting = None;
            self.add(r);
        }
        let held = self.held();
        if bytes <= held {
            return Need::Ready;
        }
        if bytes > self.budget.limit() {
            return Need::TooLarge;
        }
        let grown = match &mut self.reserved {
            Some(r) => r.try_grow_to(bytes),
            None => match self.budget.try_reserve(bytes) {
                Some(r) => {
                    self.reserved = Some(r);
                    true
                }
                None => false,
            },
        };
        if grown {
            return Need::Ready;
        }
        let grant = Arc::new(Grant {
            granted: Mutex::new(None),
            waker: waker(),
        });
        let as_waiter: Arc<dyn BudgetWaiter> = grant.clone();
        match self.budget.reserve_or_wait(bytes - held, &as_waiter) {
            Some(r) => {
                self.add(r);
                Need::Ready
            }
            None => {
                self.waiting = Some(grant);
                Need::Wait
            }
        }
    }

    /// Gives back everything it holds and leaves the queue.
    pub fn release(&mut self) {
        self.waiting = None; // a grant that lands later finds the waiter gone and passes on
        self.reserved = None;
    }

    /// Hands over the reservation (nothing when it holds nothing); it holds nothing after.
    pub fn take(&mut self) -> Option<Reservation> {
        self.waiting = None;
        self.reserved.take()
    }

    fn add(&mut self, r: Reservation) {
        match &mut self.reserved {
            Some(held) => held.merge(r),
            None => self.reserved = Some(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_at_once_while_the_budget_has_room() {
        let budget = MemoryBudget::new(1000);
        let mut h = Holding::new(&budget);
        assert_eq!(h.ensure(300, Waker::detached), Need::Ready);
        assert_eq!(h.ensure(200, Waker::detached), Need::Ready);
        assert_eq!(h.held(), 300);
        assert_eq!(h.ensure(900, Waker::detached), Need::Ready);
        assert_eq!(budget.stats().in_use, 900);
        assert_eq!(h.ensure(1001, Waker::detached), Need::TooLarge);
        drop(h);
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn a_short_budget_queues_it_and_the_grant_is_taken_on_the_next_call() {
        let budget = MemoryBudget::new(1000);
        let mut first = Holding::new(&budget);
        assert_eq!(first.ensure(800, Waker::detached), Need::Ready);
        let mut second = Holding::new(&budget);
        assert_eq!(second.ensure(400, Waker::detached), Need::Wait);
        assert!(second.is_waiting());
        assert_eq!(second.ensure(400, Waker::detached), Need::Wait);
        assert_eq!(budget.stats().waiting, 1);
        // A newcomer with a small need queues behind it.
        let mut third = Holding::new(&budget);
        assert_eq!(third.ensure(100, Waker::detached), Need::Wait);
        first.release();
        assert_eq!(
            budget.stats().in_use,
            500,
            "both grants are made on release"
        );
        assert_eq!(second.ensure(400, Waker::detached), Need::Ready);
        assert_eq!(second.held(), 400);
        assert!(!second.is_waiting());
        assert_eq!(third.ensure(100, Waker::detached), Need::Ready);
        drop((second, third));
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn a_waiter_that_gives_up_passes_its_turn_on_and_leaks_nothing() {
        let budget = MemoryBudget::new(1000);
        let mut first = Holding::new(&budget);
        assert_eq!(first.ensure(1000, Waker::detached), Need::Ready);
        let mut quitter = Holding::new(&budget);
        assert_eq!(quitter.ensure(600, Waker::detached), Need::Wait);
        let mut patient = Holding::new(&budget);
        assert_eq!(patient.ensure(700, Waker::detached), Need::Wait);
        drop(quitter);
        drop(first);
        assert_eq!(patient.ensure(700, Waker::detached), Need::Ready);
        assert_eq!(budget.stats().in_use, 700);
        // Granted but never taken: dropping the holding gives the grant back.
        let mut late = Holding::new(&budget);
        assert_eq!(late.ensure(500, Waker::detached), Need::Wait);
        patient.release();
        assert_eq!(budget.stats().in_use, 500);
        drop(late);
        assert_eq!(budget.stats().in_use, 0);
        assert_eq!(budget.stats().waiting, 0);
    }

    #[test]
    fn take_hands_the_reservation_over() {
        let budget = MemoryBudget::new(1000);
        let mut h = Holding::new(&budget);
        assert_eq!(h.ensure(250, Waker::detached), Need::Ready);
        let r = h.take().unwrap();
        assert_eq!((h.held(), r.bytes()), (0, 250));
        drop(h);
        assert_eq!(budget.stats().in_use, 250);
        drop(r);
        assert_eq!(budget.stats().in_use, 0);
    }
}
