//! A global allocator that counts, for the tests that measure the heap. Shared through `#[path]`;
//! each test crate that measures declares the `#[global_allocator]` itself, where its reader sees
//! that the allocator is swapped:
//!
//! ```ignore
//! #[path = "support/counting_alloc.rs"]
//! mod counting_alloc;
//! #[global_allocator]
//! static ALLOC: counting_alloc::Counting = counting_alloc::Counting;
//! ```
//!
//! It keeps three figures: allocations made on the current thread (so other test threads do not
//! interfere), allocations of [`LARGE`] bytes or more in the whole process, and the bytes live on
//! the heap of the whole process.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Forwards every call to the system allocator, counting as it goes.
pub(crate) struct Counting;

/// The size from which an allocation (or a reallocation's new size) counts as large.
pub(crate) const LARGE: usize = 64 * 1024;

thread_local! {
    static THREAD_ALLOCS: Cell<usize> = const { Cell::new(0) };
}
static LARGE_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Allocations (and reallocations) made on this thread so far.
pub(crate) fn thread_allocations() -> usize {
    THREAD_ALLOCS.with(Cell::get)
}

/// Counts the allocations `f` makes on this thread, and returns them with its result.
pub(crate) fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = thread_allocations();
    let out = f();
    (thread_allocations() - before, out)
}

/// Allocations (and reallocations) of [`LARGE`] bytes or more, process-wide, so far.
pub(crate) fn large_allocations() -> usize {
    LARGE_ALLOCS.load(Ordering::SeqCst)
}

/// Bytes live on the heap of this process now.
pub(crate) fn live_bytes() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// Notes one allocation (or reallocation) whose new size is `size`. Neither allocates nor
/// panics: the thread-local is a `const` `Cell` without a destructor, and the counters are
/// relaxed atomics.
fn count(size: usize) {
    let _ = THREAD_ALLOCS.try_with(|c| c.set(c.get() + 1));
    if size >= LARGE {
        LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// A counting global allocator is the only way to observe allocations; it is test-only code.
// SAFETY: every call forwards to the system allocator with the caller's arguments unchanged;
// the bookkeeping around it neither allocates nor panics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
