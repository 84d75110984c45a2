//! Answers to pipelined requests, gathered to go out in one write.
//!
//! A client that pipelines sends several requests in one packet; answering each with a write of
//! its own costs a system call and a TCP segment per answer, which is most of what a small
//! answer costs. While more input is there after the request it answered, the connection
//! appends its finished answer here instead of writing it; the batch goes out with the last
//! one, or before anything else is written or waited for (a next request still incomplete is
//! read first: the read that would wait flushes). At most one buffer slot's worth is gathered, charged to the
//! memory budget while it is held.

use std::io::{self, ErrorKind};

use crate::pool::{MemoryBudget, Reservation};

/// Finished answers not written yet.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    /// What `bytes` holds of the memory budget.
    held: Option<Reservation>,
    /// Bytes of `bytes` already written.
    sent: usize,
}

impl Batch {
    /// Returns whether nothing waits to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.sent == self.bytes.len()
    }

    /// Appends a finished answer when the batch stays within `limit` bytes and the budget
    /// takes it; returns whether it did.
    pub(crate) fn try_add(&mut self, answer: &[u8], limit: usize, budget: &MemoryBudget) -> bool {
        let len = self.bytes.len() + answer.len();
        if self.sent > 0 || len > limit {
            return false;
        }
        if self.held.is_none() {
            match budget.try_reserve(limit) {
                Some(held) => self.held = Some(held),
                None => return false,
            }
            self.bytes.reserve_exact(limit);
        }
        self.bytes.extend_from_slice(answer);
        true
    }

    /// Writes what is left with `write` (a socket's write); `Ok` once all of it is out (the
    /// buffer and its reservation are then returned), `WouldBlock` when the socket is full.
    ///
    /// # Errors
    ///
    /// Any socket error, `WouldBlock` included; `WriteZero` when the socket takes nothing.
    pub(crate) fn write_to(
        &mut self,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> io::Result<()> {
        while !self.is_empty() {
            match write(&self.bytes[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        *self = Batch::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_stays_within_its_limit_and_the_budget() {
        let budget = MemoryBudget::new(100);
        let mut batch = Batch::default();
        assert!(batch.try_add(b"0123456789", 40, &budget));
        assert!(batch.try_add(&[b'x'; 30], 40, &budget));
        assert!(!batch.try_add(b"y", 40, &budget), "past the limit");
        assert_eq!(budget.stats().in_use, 40);
        let mut other = Batch::default();
        assert!(
            !other.try_add(b"z", 80, &budget),
            "the budget cannot take 80 more"
        );
        drop(batch);
        assert_eq!(budget.stats().in_use, 0);
    }
}
