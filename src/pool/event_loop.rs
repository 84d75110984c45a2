//! Event loops: each owns a poller and the sources registered with it, waits, and runs what
//! became ready on its own thread.
//!
//! In scope: [`Loop`] (a poller and the queue other threads hand it tasks through), the loop
//! body, and which loop runs the timers (loop 0).
//! Out of scope: what a source does with its events (`source.rs`, `conn.rs`).
//!
//! ## Threads
//!
//! `Pool::start(0)` and `start(1)` run one loop that does everything. `start(n ≥ 2)` runs loop 0
//! — the listeners, UDP sockets and timers — and `n` connection loops: accepted and outgoing
//! connections are dealt round-robin over those and stay on theirs until they close. So a request
//! is read, handled and answered on one thread with no hand-over, a loop waits only on its own
//! poller, and a handler that blocks its loop never stops accepting or the timers. What another
//! thread schedules for a source (a wake, a returned slot, a deadline) goes into the home loop's
//! queue, followed by a notify of that loop's poller.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use mio::Events;

use super::poller::{self, Poller};
use super::source::{self, Source};
use super::timers::Fired;
use super::{LOOP_INDEX, LOOP_THREAD, POOL_THREAD, Pool, Shared, Task, builder, run_task};

/// How long a loop runs ready sockets, and then queued tasks (wakes, returned slots,
/// deadlines), before it polls its sockets again.
const TASK_TURN_NS: u64 = 2_000_000;

/// One event loop: a poller, and the queue through which other threads hand it work.
pub(crate) struct Loop {
    /// Its place among the pool's loops (0 runs the timers).
    pub(crate) index: usize,
    /// The poller every source of this loop is registered with.
    pub(crate) poller: Poller,
    tx: Sender<Task>,
    rx: Receiver<Task>,
}

impl Loop {
    pub(crate) fn new(index: usize) -> std::io::Result<Loop> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Ok(Loop {
            index,
            poller: Poller::new()?,
            tx,
            rx,
        })
    }

    /// Returns whether the calling thread runs this loop of `shared`'s pool.
    pub(crate) fn is_current(&self, shared: &Shared) -> bool {
        LOOP_THREAD.get() == shared.id() && LOOP_INDEX.get() == self.index
    }

    /// Hands `task` to this loop; wakes its poller unless the caller is the loop itself.
    pub(crate) fn send(&self, shared: &Shared, task: Task) {
        if self.tx.send(task).is_ok() && !self.is_current(shared) {
            self.poller.notify();
        }
    }

    /// Drops every queued task (the pool stopped).
    pub(crate) fn clear(&self) {
        while self.rx.try_recv().is_ok() {}
    }
}

/// Runs the pool: loop 0 on this thread, the connection loops `1..=io` on threads of their own
/// (`io = 0`: loop 0 serves the connections too); returns once the pool is stopped and
/// everything is closed.
pub(crate) fn run_pool(pool: &Pool, io: usize, stack_size: Option<usize>) {
    let sh = &pool.shared;
    let loops = sh.loops.lock().clone();
    let mut handles = Vec::with_capacity(io);
    for lp in loops.iter().take(io + 1).skip(1) {
        let p = pool.clone();
        let lp = Arc::clone(lp);
        let name = format!("microweb-loop-{}", lp.index);
        // Connection loop i runs on the (i-1)-th CPU when pinned.
        let cpu = sh.config.pin_threads.then(|| lp.index - 1);
        match builder(&name, stack_size).spawn(move || run_loop(&p, &lp, cpu)) {
            Ok(h) => handles.push(h),
            Err(e) => {
                log::error!("pool: cannot spawn {name}: {e}; running with fewer loops");
                break;
            }
        }
    }
    // Connections are dealt only over loops that run.
    sh.io_loops.store(handles.len(), Ordering::SeqCst);
    if let Some(first) = loops.first() {
        // Loop 0 is pinned only when it serves the connections itself.
        let cpu = (sh.config.pin_threads && handles.is_empty()).then_some(0);
        run_loop(pool, first, cpu);
    }
    for h in handles {
        if h.join().is_err() {
            log::error!("pool: a loop thread panicked");
        }
    }
    for lp in &loops {
        lp.clear();
    }
    sh.io_loops.store(0, Ordering::SeqCst);
    sh.close_all();
    sh.running.store(false, Ordering::SeqCst);
    *sh.done.lock() = true;
    sh.done_cv.notify_all();
    LOOP_INDEX.set(0);
    LOOP_THREAD.set(0);
    POOL_THREAD.set(0);
}

/// Pins the calling thread (loop `index`) to the `cpu`-th CPU the process may use (round-robin).
#[cfg(feature = "pin")]
fn pin_to_cpu(index: usize, cpu: usize) {
    let Some(cores) = core_affinity::get_core_ids().filter(|c| !c.is_empty()) else {
        log::warn!("pool: cannot list the CPUs; loop {index} is not pinned");
        return;
    };
    let core = cores[cpu % cores.len()];
    if !core_affinity::set_for_current(core) {
        log::warn!("pool: cannot pin loop {index} to CPU {}", core.id);
    }
}

/// A build without the `pin` feature cannot pin: it says so once per loop.
#[cfg(not(feature = "pin"))]
fn pin_to_cpu(index: usize, _cpu: usize) {
    log::warn!("pool: loop {index} is not pinned: this build leaves out the cargo feature \"pin\"");
}

/// Where a round's turn is in the two lists of ready sources: what waited (`waited`) and what
/// became ready since (`fresh`).
#[derive(Debug, Default)]
struct Turn {
    waited: usize,
    fresh: usize,
}

impl Turn {
    /// The next source to run, each list in order: one of `fresh` while `fresh_first`, else
    /// one of `waited`; the other list's when one is done.
    fn next<'a, T>(&mut self, waited: &'a [T], fresh: &'a [T], fresh_first: bool) -> Option<&'a T> {
        let take_fresh = (fresh_first && self.fresh < fresh.len()) || self.waited >= waited.len();
        let (list, at) = if take_fresh {
            (fresh, &mut self.fresh)
        } else {
            (waited, &mut self.waited)
        };
        let item = list.get(*at)?;
        *at += 1;
        Some(item)
    }

    /// Leaves in `waited` what the turn did not reach: the rest of `waited`, then the rest of
    /// `fresh` (emptied).
    fn carry<T>(self, waited: &mut Vec<T>, fresh: &mut Vec<T>) {
        waited.drain(..self.waited);
        waited.extend(fresh.drain(self.fresh..));
        fresh.clear();
    }
}

/// One loop: wait on the poller, run the ready sources, the due timers (loop 0) and the queued
/// tasks, until the pool is asked to stop.
fn run_loop(pool: &Pool, lp: &Loop, cpu: Option<usize>) {
    let sh = &pool.shared;
    let id = sh.id();
    POOL_THREAD.set(id);
    LOOP_THREAD.set(id);
    LOOP_INDEX.set(lp.index);
    if let Some(cpu) = cpu {
        pin_to_cpu(lp.index, cpu);
    }
    let runs_timers = lp.index == 0;
    let mut events = Events::with_capacity(1024);
    let mut fired = Vec::new();
    let mut ready: Vec<Arc<Source>> = Vec::with_capacity(1024);
    // Ready sources whose turn did not come in an earlier round, the oldest first.
    let mut carried: Vec<Arc<Source>> = Vec::new();
    while !sh.stop_requested.load(Ordering::SeqCst) {
        let next = if runs_timers {
            // Announce "asleep soon" before reading the heap: a deadline pushed after the read
            // then sees a wake time it beats and notifies (see `Shared::set_deadline`).
            sh.next_wake.store(u64::MAX, Ordering::SeqCst);
            let next = sh.timers.lock().next_at();
            sh.next_wake
                .store(next.unwrap_or(u64::MAX), Ordering::SeqCst);
            next
        } else {
            None
        };
        let timeout = if lp.rx.is_empty() && carried.is_empty() {
            next.map(|at| Duration::from_nanos(at.saturating_sub(sh.now_ns())))
        } else {
            Some(Duration::ZERO)
        };
        let waited = lp.poller.wait(&mut events, timeout);
        if !events.is_empty() {
            let reg = sh.registry.read();
            for ev in poller::ready(&events) {
                if let Some(src) = reg.get(ev.key) {
                    let mut bits = 0;
                    if ev.readable {
                        bits |= source::READABLE;
                    }
                    if ev.writable {
                        bits |= source::WRITABLE;
                    }
                    // An event that names neither: let a read find out.
                    let bits = if bits == 0 { source::READABLE } else { bits };
                    if Shared::mark(src, bits) {
                        ready.push(Arc::clone(src));
                    }
                }
            }
        }
        if let Err(e) = waited {
            log::error!("pool: poller wait failed: {e}");
            thread::sleep(Duration::from_millis(10));
        }
        if runs_timers {
            sh.next_wake.store(0, Ordering::SeqCst);
        }
        // One turn: the new readiness for its first half, then what waited since an earlier
        // round (oldest first), then whatever is left: a fresh request does not wait behind a
        // backlog of heavy work (bulk bodies), and what waits gets half of every turn however
        // much new readiness keeps coming (pipelined requests on many connections). What the
        // turn did not reach waits on, the older first.
        let mut now = sh.now_ns();
        let (half, turn_ends) = (
            now.saturating_add(TASK_TURN_NS / 2),
            now.saturating_add(TASK_TURN_NS),
        );
        let mut turn = Turn::default();
        while let Some(src) = turn.next(&carried, &ready, now < half) {
            source::run_source(pool, src);
            now = sh.now_ns();
            if now >= turn_ends {
                break;
            }
        }
        turn.carry(&mut carried, &mut ready);
        if next.is_some_and(|at| at <= sh.now_ns()) {
            sh.timers.lock().fire(sh.now_ns(), &mut fired);
            for f in fired.drain(..) {
                match f {
                    Fired::Deadline(src) => sh.schedule(&src, source::TIMEDOUT),
                    Fired::User(cb) => run_task(pool, Task::Timer(cb)),
                }
            }
        }
        // The tasks queued so far, until they have had their turn: what is left waits for the
        // next round (the poll then does not sleep), so a burst of wakes whose handlers are
        // heavy cannot keep this loop's sockets from being looked at.
        let turn_ends = sh.now_ns().saturating_add(TASK_TURN_NS);
        for _ in 0..lp.rx.len() {
            match lp.rx.try_recv() {
                Ok(task) => run_task(pool, task),
                Err(_) => break,
            }
            if sh.now_ns() >= turn_ends {
                break;
            }
        }
    }
    if lp.index != 0 {
        LOOP_INDEX.set(0);
        LOOP_THREAD.set(0);
        POOL_THREAD.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::Turn;

    /// A turn of `count` runs, the first `fresh_runs` of them in its fresh half.
    fn run(
        waited: &mut Vec<u32>,
        fresh: &mut Vec<u32>,
        fresh_runs: usize,
        count: usize,
    ) -> Vec<u32> {
        let mut turn = Turn::default();
        let mut ran = Vec::new();
        while ran.len() < count {
            match turn.next(waited, fresh, ran.len() < fresh_runs) {
                Some(x) => ran.push(*x),
                None => break,
            }
        }
        turn.carry(waited, fresh);
        ran
    }

    #[test]
    fn a_turn_runs_fresh_then_waited_and_what_it_misses_waits_oldest_first() {
        let (mut waited, mut fresh) = (vec![1, 2, 3, 4], vec![10, 20, 30]);
        assert_eq!(run(&mut waited, &mut fresh, 1, 3), [10, 1, 2]);
        assert_eq!(waited, [3, 4, 20, 30]);
        assert!(fresh.is_empty());
        // New readiness again: what waited keeps its place ahead of what it misses.
        let mut fresh = vec![1, 10, 2];
        assert_eq!(run(&mut waited, &mut fresh, 1, 2), [1, 3]);
        assert_eq!(waited, [4, 20, 30, 10, 2]);
    }

    #[test]
    fn a_turn_runs_everything_when_it_has_the_time() {
        let (mut waited, mut fresh) = (vec![1], vec![10, 20, 30]);
        assert_eq!(run(&mut waited, &mut fresh, 2, 99), [10, 20, 1, 30]);
        assert!(waited.is_empty() && fresh.is_empty());
        let (mut waited, mut fresh) = (vec![1, 2], vec![10]);
        assert_eq!(run(&mut waited, &mut fresh, 5, 99), [10, 1, 2]);
    }
}
