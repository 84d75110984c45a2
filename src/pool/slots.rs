//! Buffer slots: `count × size` bytes, borrowed through an RAII guard, never more than `count`.
//!
//! In scope: the free list, borrowing and returning slots from any thread, and the queue of
//! parties waiting for a slot (connections and listeners under back-pressure).
//! Out of scope: what goes into a slot.
//!
//! With `keep_alloc` every slot is allocated once when the arena is built and moves between the
//! free lists and its borrowers; without it a slot is allocated on borrow and freed on return, but
//! the count of live slots is still bounded by `count`.
//!
//! The free buffers are kept in one list per event loop (by the thread's loop index): a loop gets
//! back the buffer it returned last, still in its CPU's cache, instead of one the other CPU
//! wrote (the kernel's copy into a buffer another core holds costs it cache misses on every
//! request). A loop whose list is empty takes from another list.

use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// A party waiting for a slot: called once a slot is returned. It returns `false` when the party
/// is gone (its source closed), so the wake goes to the next waiter instead.
pub(crate) type SlotWaiter = Box<dyn FnOnce() -> bool + Send>;

/// The two queues of parties waiting for a slot.
#[derive(Default)]
struct Waiters {
    /// Parties that will borrow the slot they are woken for: one is woken per returned slot.
    takers: VecDeque<SlotWaiter>,
    /// Parties that only watch for free slots (listeners under back-pressure): all are woken.
    watchers: Vec<SlotWaiter>,
}

impl Waiters {
    fn len(&self) -> usize {
        self.takers.len() + self.watchers.len()
    }
}

/// The arena of buffer slots of a pool: `count` slots of `size` bytes each.
///
/// Cloning is cheap and shares the arena.
#[derive(Clone)]
pub struct BufferSlots {
    inner: Arc<SlotsInner>,
}

/// How many free lists an arena keeps; threads share them by loop index modulo this.
const FREE_LISTS: usize = 8;

/// One free list, alone on its cache line(s): two loops never write the same line.
#[repr(align(128))]
#[derive(Default)]
struct FreeList(Mutex<Vec<Box<[u8]>>>);

struct SlotsInner {
    size: usize,
    count: usize,
    keep_alloc: bool,
    /// Preallocated buffers not lent out (only with `keep_alloc`), by loop.
    free: [FreeList; FREE_LISTS],
    /// The number of slots that may still be borrowed. A borrower reserves one (decrements)
    /// before it takes a buffer; a returned buffer is listed before it is counted.
    /// INVARIANT: (listed buffers) ≥ `available` + (borrowers that reserved and have not taken
    /// their buffer yet), so a borrower that reserved always finds a listed buffer.
    available: AtomicUsize,
    /// Parties waiting for a slot.
    waiters: Mutex<Waiters>,
    /// How many parties wait (both queues), to skip the lock when none does.
    waiting: AtomicUsize,
}

impl fmt::Debug for BufferSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferSlots")
            .field("count", &self.inner.count)
            .field("size", &self.inner.size)
            .field("keep_alloc", &self.inner.keep_alloc)
            .field("free", &self.free())
            .finish()
    }
}

impl BufferSlots {
    /// Builds an arena of `count` slots of `size` bytes; with `keep_alloc` all of them are
    /// allocated now.
    #[must_use]
    pub fn new(count: usize, size: usize, keep_alloc: bool) -> BufferSlots {
        let free: [FreeList; FREE_LISTS] = Default::default();
        if keep_alloc {
            // Spread over the lists: each loop starts with a share of its own (it takes the
            // rest from the other lists as it needs them).
            for i in 0..count {
                free[i % FREE_LISTS]
                    .0
                    .lock()
                    .push(vec![0u8; size].into_boxed_slice());
            }
        }
        BufferSlots {
            inner: Arc::new(SlotsInner {
                size,
                count,
                keep_alloc,
                free,
                available: AtomicUsize::new(count),
                waiters: Mutex::new(Waiters::default()),
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Borrows a free slot, or returns `None` when all `count` slots are lent out.
    #[must_use]
    pub fn try_borrow(&self) -> Option<SlotGuard> {
        let inner = &self.inner;
        inner
            .available
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |a| a.checked_sub(1))
            .ok()?;
        // Without `keep_alloc` a buffer is made per borrow; with it one is always listed (see
        // the invariant), and the allocation below could only stand in for a lost one.
        let buf = inner
            .keep_alloc
            .then(|| inner.take_listed())
            .flatten()
            .unwrap_or_else(|| vec![0u8; inner.size].into_boxed_slice());
        Some(SlotGuard {
            buf: Some(buf),
            start: 0,
            end: 0,
            slots: Arc::clone(inner),
        })
    }

    /// Returns how many slots may be borrowed right now.
    #[must_use]
    pub fn free(&self) -> usize {
        self.inner.available.load(Ordering::SeqCst)
    }

    /// Returns the number of slots.
    #[must_use]
    pub fn count(&self) -> usize {
        self.inner.count
    }

    /// Returns the size of one slot, in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Queues `waiter` until a slot is returned; calls it at once if a slot is free already
    /// (so a slot returned between a failed borrow and this call is never missed). A `taker`
    /// will borrow the slot it is woken for; other waiters only watch.
    pub(crate) fn wait_for_slot(&self, waiter: SlotWaiter, taker: bool) {
        let inner = &self.inner;
        let mut waiters = inner.waiters.lock();
        if inner.available.load(Ordering::SeqCst) > 0 {
            drop(waiters);
            waiter();
            return;
        }
        if taker {
            waiters.takers.push_back(waiter);
        } else {
            waiters.watchers.push(waiter);
        }
        inner.waiting.store(waiters.len(), Ordering::SeqCst);
    }

    /// Wakes waiters again if a slot is free (a woken taker did not take it).
    pub(crate) fn kick(&self) {
        if self.inner.available.load(Ordering::SeqCst) > 0 {
            self.inner.wake_waiters();
        }
    }

    /// Drops every queued waiter (the pool is stopping).
    pub(crate) fn clear_waiters(&self) {
        let drained = {
            let mut waiters = self.inner.waiters.lock();
            self.inner.waiting.store(0, Ordering::SeqCst);
            std::mem::take(&mut *waiters)
        };
        drop(drained);
    }
}

impl SlotsInner {
    /// Takes a listed buffer, this loop's list first, for a borrower that reserved one.
    fn take_listed(&self) -> Option<Box<[u8]>> {
        let home = home_list();
        // By the invariant one is listed; a pass can still miss it when it was returned to a
        // list already looked at while others took the rest, so look again (a few passes).
        for _ in 0..4 {
            for k in 0..FREE_LISTS {
                let list = &self.free[(home + k) % FREE_LISTS];
                if let Some(buf) = list.0.lock().pop() {
                    return Some(buf);
                }
            }
            std::hint::spin_loop();
        }
        None
    }

    fn give_back(&self, buf: Box<[u8]>) {
        if self.keep_alloc {
            self.free[home_list()].0.lock().push(buf);
        }
        self.available.fetch_add(1, Ordering::SeqCst);
        // The waiters lock is taken after `available` grew, and `wait_for_slot` checks
        // `available` under that lock: either it sees the slot or we see its waiter.
        self.wake_waiters();
    }

    /// Wakes every watcher and the first taker still there. Waiters run outside the lock.
    fn wake_waiters(&self) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let watchers = {
            let mut waiters = self.waiters.lock();
            let w = std::mem::take(&mut waiters.watchers);
            self.waiting.store(waiters.len(), Ordering::SeqCst);
            w
        };
        for w in watchers {
            w();
        }
        loop {
            let taker = {
                let mut waiters = self.waiters.lock();
                let w = waiters.takers.pop_front();
                self.waiting.store(waiters.len(), Ordering::SeqCst);
                w
            };
            match taker {
                Some(w) => {
                    if w() {
                        break;
                    }
                }
                None => break,
            }
        }
    }
}

/// A borrowed buffer slot; it goes back to its arena when dropped, from any thread.
///
/// The guard dereferences to the whole slot (`size` bytes). It also keeps a *filled* window
/// (`start..end`) for the common read-then-consume pattern: read into [`SlotGuard::spare_mut`],
/// record it with [`SlotGuard::advance`], look at [`SlotGuard::filled`], and drop what was used
/// with [`SlotGuard::consume`].
pub struct SlotGuard {
    buf: Option<Box<[u8]>>,
    start: usize,
    end: usize,
    slots: Arc<SlotsInner>,
}

impl fmt::Debug for SlotGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotGuard")
            .field("size", &self.slots.size)
            .field("filled", &(self.start..self.end))
            .finish()
    }
}

impl SlotGuard {
    fn bytes(&self) -> &[u8] {
        self.buf.as_deref().unwrap_or(&[])
    }

    /// Returns the filled bytes, the ones recorded with [`SlotGuard::advance`] and not consumed.
    #[must_use]
    pub fn filled(&self) -> &[u8] {
        self.bytes().get(self.start..self.end).unwrap_or(&[])
    }

    /// Returns the free space after the filled bytes, moving them to the front of the slot first
    /// if that makes room.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let end = self.end;
        let start = self.start;
        let Some(buf) = self.buf.as_deref_mut() else {
            return &mut [];
        };
        if end == buf.len() && start > 0 {
            buf.copy_within(start..end, 0);
            self.end = end - start;
            self.start = 0;
        }
        let end = self.end;
        buf.get_mut(end..).unwrap_or(&mut [])
    }

    /// Records that `n` more bytes were written into [`SlotGuard::spare_mut`] (clamped to the slot).
    pub fn advance(&mut self, n: usize) {
        self.end = (self.end + n).min(self.capacity());
    }

    /// Drops the first `n` filled bytes (clamped to what is filled).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Forgets the filled bytes.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Returns the number of filled bytes.
    #[must_use]
    pub fn filled_len(&self) -> usize {
        self.end - self.start
    }

    /// Returns whether the filled bytes take the whole slot (nothing more can be read into it).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.filled_len() == self.capacity()
    }

    /// Returns the size of the slot, in bytes.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.bytes().len()
    }
}

impl Deref for SlotGuard {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl DerefMut for SlotGuard {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf.as_deref_mut().unwrap_or(&mut [])
    }
}

/// The free list of the calling thread: its event loop's (other threads share list 0's).
fn home_list() -> usize {
    super::LOOP_INDEX.get() % FREE_LISTS
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.slots.give_back(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Runs `f` on a thread that counts as event loop `index`.
    fn on_loop<T: Send>(index: usize, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                super::super::LOOP_INDEX.set(index);
                f()
            })
            .join()
            .unwrap()
        })
    }

    fn listed(slots: &BufferSlots) -> usize {
        slots.inner.free.iter().map(|l| l.0.lock().len()).sum()
    }

    #[test]
    fn a_loop_gets_back_the_buffer_it_returned_last() {
        let slots = BufferSlots::new(16, 64, true);
        for index in [1, 2] {
            on_loop(index, || {
                let first = slots.try_borrow().unwrap();
                let addr = first.as_ptr();
                drop(first);
                // The other loop borrows meanwhile (from its own list) and holds its slot.
                let held = on_loop(3 - index, || slots.try_borrow().unwrap());
                let again = slots.try_borrow().unwrap();
                assert_eq!(again.as_ptr(), addr, "loop {index}");
                assert_ne!(held.as_ptr(), addr);
            });
        }
        assert_eq!((slots.free(), listed(&slots)), (16, 16));
    }

    #[test]
    fn a_loop_whose_list_is_empty_takes_from_the_others() {
        // Two slots, listed on lists 0 and 1; loop 5 has none of its own.
        let slots = BufferSlots::new(2, 64, true);
        on_loop(5, || {
            let a = slots.try_borrow().unwrap();
            let b = slots.try_borrow().unwrap();
            assert!(slots.try_borrow().is_none());
            drop((a, b));
        });
        assert_eq!((slots.free(), listed(&slots)), (2, 2));
    }

    #[test]
    fn loops_borrowing_at_once_never_hold_more_than_count_nor_make_new_buffers() {
        let slots = BufferSlots::new(3, 64, true);
        let lent = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for index in 0..6 {
                let (slots, lent, most) = (&slots, &lent, &most);
                s.spawn(move || {
                    super::super::LOOP_INDEX.set(index);
                    for _ in 0..20_000 {
                        if let Some(slot) = slots.try_borrow() {
                            let now = lent.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            lent.fetch_sub(1, Ordering::SeqCst);
                            drop(slot);
                        }
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!((slots.free(), listed(&slots)), (3, 3));
    }

    #[test]
    fn never_lends_more_than_count_and_takes_slots_back_on_drop() {
        for keep in [true, false] {
            let slots = BufferSlots::new(2, 16, keep);
            let a = slots.try_borrow().unwrap();
            let b = slots.try_borrow().unwrap();
            assert!(slots.try_borrow().is_none());
            assert_eq!(slots.free(), 0);
            drop(a);
            assert_eq!(slots.free(), 1);
            let c = std::thread::scope(|s| s.spawn(|| slots.try_borrow()).join().unwrap()).unwrap();
            assert_eq!(c.len(), 16);
            drop((b, c));
            assert_eq!(slots.free(), 2);
        }
    }

    #[test]
    fn filled_window_compacts_when_the_end_is_reached() {
        let slots = BufferSlots::new(1, 8, true);
        let mut s = slots.try_borrow().unwrap();
        s.spare_mut()[..8].copy_from_slice(b"abcdefgh");
        s.advance(8);
        assert!(s.is_full());
        s.consume(5);
        assert_eq!(s.filled(), b"fgh");
        assert_eq!(s.spare_mut().len(), 5);
        assert_eq!(s.filled(), b"fgh");
        s.consume(10);
        assert_eq!(s.filled_len(), 0);
    }

    #[test]
    fn a_returned_slot_wakes_one_waiter_and_skips_gone_ones() {
        let slots = BufferSlots::new(1, 4, true);
        let held = slots.try_borrow().unwrap();
        let woke = Arc::new(AtomicBool::new(false));
        slots.wait_for_slot(Box::new(|| false), true);
        let w = Arc::clone(&woke);
        slots.wait_for_slot(
            Box::new(move || {
                w.store(true, Ordering::SeqCst);
                true
            }),
            true,
        );
        assert!(!woke.load(Ordering::SeqCst));
        drop(held);
        assert!(woke.load(Ordering::SeqCst));
        // A slot is free now: a new waiter runs at once.
        let w = Arc::clone(&woke);
        woke.store(false, Ordering::SeqCst);
        slots.wait_for_slot(
            Box::new(move || {
                w.store(true, Ordering::SeqCst);
                true
            }),
            false,
        );
        assert!(woke.load(Ordering::SeqCst));
    }
}
