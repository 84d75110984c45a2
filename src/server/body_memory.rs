//! The memory a request body gathered in memory holds, reserved from the server's
//! [`MemoryBudget`] before the body's vector grows.
//!
//! In scope: how much to reserve (a body of known length all at once, a chunked one in steps),
//! waiting for a grant, and the vector's capacity, which never exceeds the reservation.
//! Out of scope: reading and decoding (the connection), and what a connection does while it waits
//! (it stops reading from its socket, so the client's TCP window fills).

use crate::pool::{Holding, MemoryBudget, Need, Reservation, Waker};

/// The step a chunked body's reservation grows by.
const CHUNKED_STEP: usize = 64 * 1024;

/// Whether a body may take more bytes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// The vector can take the bytes asked for.
    Ready,
    /// The budget is short: stop reading until woken.
    Wait,
    /// The body would need more than the whole budget: answer 413.
    TooLarge,
}

/// A body's vector and the budget it holds.
pub(crate) struct BodyMemory {
    /// The body received so far. INVARIANT: `data.capacity()` ≤ the bytes held.
    pub(crate) data: Vec<u8>,
    /// The declared length (`Content-Length`), when there is one.
    declared: Option<usize>,
    /// The most bytes the body may have (`max_request_content_length`).
    max: usize,
    holding: Holding,
}

impl BodyMemory {
    /// An empty body of `declared` bytes (or chunked), at most `max` bytes, paid from `budget`.
    pub(crate) fn new(budget: &MemoryBudget, declared: Option<u64>, max: u64) -> BodyMemory {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        BodyMemory {
            data: Vec::new(),
            declared: declared.map(|n| usize::try_from(n).unwrap_or(usize::MAX).min(max)),
            max,
            holding: Holding::new(budget),
        }
    }

    /// Makes room for `extra` more bytes: from the reservation, by growing it, or by queueing
    /// for a grant (then [`Room::Wait`]; `waker` wakes the connection once it is granted).
    pub(crate) fn make_room(&mut self, extra: usize, waker: impl FnOnce() -> Waker) -> Room {
        let want = self.data.len().saturating_add(extra);
        let limit = self.holding.budget().limit();
        if want > limit {
            return Room::TooLarge;
        }
        if want > self.holding.held() || self.holding.is_waiting() {
            let target = match self.declared {
                Some(n) => n.max(want),
                None => {
                    want.saturating_add(CHUNKED_STEP - 1)
                        .min(self.max.max(want))
                        / CHUNKED_STEP
                        * CHUNKED_STEP
                }
            }
            .max(want)
            .min(limit);
            match self.holding.ensure(target, waker) {
                Need::Ready => {}
                Need::Wait => return Room::Wait,
                Need::TooLarge => return Room::TooLarge,
            }
        }
        if self.data.capacity() < want {
            // Exactly to the reservation: a doubling growth would pass it.
            self.data
                .reserve_exact(self.holding.held() - self.data.len());
        }
        Room::Ready
    }

    /// Hands over the body and the reservation that pays for it (drop it once the body is);
    /// it holds nothing after.
    pub(crate) fn take(&mut self) -> (Vec<u8>, Option<Reservation>) {
        (std::mem::take(&mut self.data), self.holding.take())
    }

    /// Returns the budget it draws on.
    pub(crate) fn budget(&self) -> &MemoryBudget {
        self.holding.budget()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_waker() -> Waker {
        unreachable!("the budget has room")
    }

    #[test]
    fn a_body_of_known_length_reserves_it_all_at_once() {
        let budget = MemoryBudget::new(1 << 20);
        let mut body = BodyMemory::new(&budget, Some(300_000), 2 << 20);
        assert_eq!(body.make_room(4096, no_waker), Room::Ready);
        assert_eq!(budget.stats().in_use, 300_000);
        assert!(body.data.capacity() <= 300_000);
        body.data.extend_from_slice(&[7; 4096]);
        let (data, reserved) = body.take();
        assert_eq!(data.len(), 4096);
        drop(reserved);
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn a_body_larger_than_the_whole_budget_is_refused_not_queued() {
        let budget = MemoryBudget::new(100_000);
        let mut known = BodyMemory::new(&budget, Some(200_000), 1 << 20);
        assert_eq!(known.make_room(10, no_waker), Room::Ready);
        assert_eq!(
            budget.stats().in_use,
            100_000,
            "the body is checked against it at the head"
        );
        drop(known);
        let mut chunked = BodyMemory::new(&budget, None, 1 << 20);
        assert_eq!(chunked.make_room(90_000, no_waker), Room::Ready);
        chunked.data.extend_from_slice(&[0; 90_000]);
        assert_eq!(chunked.make_room(20_000, no_waker), Room::TooLarge);
        assert_eq!(budget.stats().waiting, 0);
    }

    #[test]
    fn a_chunked_body_grows_in_steps_and_capacity_stays_within_the_reservation() {
        let budget = MemoryBudget::new(1 << 20);
        let mut body = BodyMemory::new(&budget, None, 1 << 20);
        for _ in 0..40 {
            assert_eq!(body.make_room(5000, no_waker), Room::Ready);
            body.data.extend_from_slice(&[1; 5000]);
            let in_use = budget.stats().in_use;
            assert!(
                body.data.capacity() <= in_use,
                "{} > {in_use}",
                body.data.capacity()
            );
            assert!(in_use < body.data.len() + CHUNKED_STEP + 5000);
        }
        drop(body);
        assert_eq!(budget.stats().in_use, 0);
    }
}
