//! Where a request body larger than its slot is gathered: in memory paid from the budget, or —
//! when the server spools and the body passes the threshold — in an unlinked temporary file, as
//! nginx does past `client_body_buffer_size`.
//!
//! In scope: choosing memory or file, writing the decoded bytes, and handing the whole body over
//! at the end (a spooled body is read back into memory then, its length reserved from the budget
//! first, so the handler API — `content()`, forms, JSON, multipart — works unchanged while a
//! client that trickles its body holds disk, not memory). Out of scope: decoding and reading the
//! socket (the connection), the memory accounting itself (`body_memory`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use super::body_memory::{BodyMemory, Room};
use super::config::SpoolConfig;
use crate::pool::{Holding, MemoryBudget, Need, Reservation, Waker};

/// A body being gathered.
pub(crate) enum BodyStore {
    /// In memory, reserved from the budget as it grows.
    Memory(BodyMemory),
    /// In an unlinked temporary file: no budget while it is received.
    Spool(Spool),
}

/// A body in a temporary file, and what reading it back will hold of the budget.
pub(crate) struct Spool {
    file: File,
    len: usize,
    holding: Holding,
}

/// What handing over a complete body gave.
pub(crate) enum Finished {
    /// The body, and the reservation that pays for it (drop it once the body is).
    Ready(Vec<u8>, Option<Reservation>),
    /// A spooled body waits for the budget to read it back (the connection is woken).
    Wait,
    /// The spooled body is larger than the whole budget.
    TooLarge,
}

impl BodyStore {
    /// An empty body of `declared` bytes (or chunked), at most `max`; it starts in a file when
    /// `spool` is set and the declared length passes its threshold.
    pub(crate) fn new(
        budget: &MemoryBudget,
        declared: Option<u64>,
        max: u64,
        spool: Option<&SpoolConfig>,
    ) -> io::Result<BodyStore> {
        let memory = BodyMemory::new(budget, declared, max);
        match spool {
            Some(s) if declared.is_some_and(|n| n > s.threshold as u64) => {
                Ok(BodyStore::Spool(Spool::create(s, budget, &[])?))
            }
            _ => Ok(BodyStore::Memory(memory)),
        }
    }

    /// Makes room for `extra` more bytes: a spooled body always has it; one in memory moves to
    /// a file when it would pass the spool threshold, or else reserves from the budget.
    pub(crate) fn make_room(
        &mut self,
        extra: usize,
        spool: Option<&SpoolConfig>,
        waker: impl FnOnce() -> Waker,
    ) -> io::Result<Room> {
        let memory = match self {
            BodyStore::Memory(memory) => memory,
            // It must come back into memory whole: past the whole budget it never could.
            BodyStore::Spool(spool)
                if spool.len.saturating_add(extra) > spool.holding.budget().limit() =>
            {
                return Ok(Room::TooLarge);
            }
            BodyStore::Spool(_) => return Ok(Room::Ready),
        };
        if let Some(s) = spool {
            if memory.data.len().saturating_add(extra) > s.threshold {
                let moved = Spool::create(s, memory.budget(), &memory.data)?;
                *self = BodyStore::Spool(moved);
                return Ok(Room::Ready);
            }
        }
        Ok(memory.make_room(extra, waker))
    }

    /// Appends decoded body bytes (room was made for them).
    pub(crate) fn push(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            BodyStore::Memory(memory) => {
                memory.data.extend_from_slice(data);
                Ok(())
            }
            BodyStore::Spool(spool) => {
                spool.file.write_all(data)?;
                spool.len += data.len();
                Ok(())
            }
        }
    }

    /// Hands over the complete body; a spooled one is read back once the budget grants its
    /// length (then the file is closed, and with it gone).
    pub(crate) fn finish(&mut self, waker: impl FnOnce() -> Waker) -> io::Result<Finished> {
        match self {
            BodyStore::Memory(memory) => {
                let (data, reserved) = memory.take();
                Ok(Finished::Ready(data, reserved))
            }
            BodyStore::Spool(spool) => match spool.holding.ensure(spool.len, waker) {
                Need::Ready => {
                    let mut data = Vec::with_capacity(spool.len);
                    spool.file.seek(SeekFrom::Start(0))?;
                    (&spool.file)
                        .take(spool.len as u64)
                        .read_to_end(&mut data)?;
                    if data.len() != spool.len {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    spool.file.set_len(0)?;
                    Ok(Finished::Ready(data, spool.holding.take()))
                }
                Need::Wait => Ok(Finished::Wait),
                Need::TooLarge => Ok(Finished::TooLarge),
            },
        }
    }
}

impl Spool {
    /// An unlinked file in the spool folder holding `already`.
    fn create(config: &SpoolConfig, budget: &MemoryBudget, already: &[u8]) -> io::Result<Spool> {
        let mut file = tempfile::tempfile_in(&config.dir)?;
        file.write_all(already)?;
        Ok(Spool {
            file,
            len: already.len(),
            holding: Holding::new(budget),
        })
    }
}
