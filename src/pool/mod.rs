//! The socket pool: the XAsyncSockets layer of microweb. Nonblocking sockets, preallocated
//! buffer slots, timers and the event loop threads, HTTP-agnostic.
//!
//! In scope: sockets (TCP listeners, accepted and outgoing TCP connections, TLS on accepted
//! connections, UDP), the poller, [`BufferSlots`], deadlines and timers, the threads that run it
//! all, and two APIs on top:
//! - the low-level connection API a protocol server implements: [`Acceptor`], [`ConnHandler`],
//!   [`Conn`], [`Next`] — no allocation per event, no poller call per request;
//! - the XAsyncSockets-style callback API: [`TcpServer`], [`TcpClient`], [`UdpDatagram`],
//!   [`Pool::add_timer`].
//!
//! Out of scope: any protocol (HTTP lives in `http` and `server`). This is the only module that
//! touches sockets.
//!
//! ## How events flow
//!
//! ```text
//!        loop 0 (listeners, UDP, timers)           loop 1 … loop n
//!   ┌──────────────────────────────────┐      ┌──────────────────────────┐
//!   │ Poller::wait ─► registry[key]     │      │ Poller::wait ─► ready     │
//!   │ accept ─► deal the connection ────┼─────►│ sources, run right here:  │
//!   │   round-robin to a loop           │      │ lock source ─► take bits  │
//!   │ timers due ─► schedule(src, bits) │      │ ─► on_event(…) ─► Next    │
//!   └──────────────────────────────────┘      └──────────────────────────┘
//!   wakes, returned slots, deadlines from other threads ─► the home loop's queue + notify
//! ```
//!
//! Each loop waits on its own poller and runs the sources registered with it on its own thread
//! (see `event_loop.rs`): no hand-over between threads on the IO path. With `threads = 0` or `1`
//! one loop does everything. Connections are
//! registered once, edge-triggered where the platform allows (`conn.rs` keeps the readiness), so
//! serving a keep-alive request costs one read and one write and no poller call.
//! A source is still run by one thread at a time whoever schedules it (see `source.rs`).
//!
//! ## Buffer slots and back-pressure
//!
//! The pool owns `slots_count` slots of `slot_size` bytes ([`BufferSlots`]). A connection borrows
//! one only while it holds data (an idle connection holds none). When none is free:
//! - listeners stop accepting and resume when a slot is returned;
//! - a handler answers [`Next::WaitSlot`] and gets [`ConnEvent::SlotFree`] when one is returned
//!   (one waiting connection is woken per returned slot, in arrival order).
//!
//! The pool never allocates slot memory past `slots_count × slot_size`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

#[cfg(feature = "activation")]
pub mod activation;
mod budget;
mod conn;
mod endpoint;
mod event_loop;
mod holding;
mod listen;
mod poller;
mod proxied;
mod slots;
mod source;
mod tcp_client;
mod timers;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod udp;
mod unix;

pub use budget::{BudgetStats, BudgetWaiter, MemoryBudget, Reservation};
pub use conn::{Acceptor, CloseReason, Conn, ConnEvent, ConnHandler, ConnInfo, Listener, Next};
pub use endpoint::Endpoint;
pub use holding::{Holding, Need};
pub use listen::{ListenOptions, ProxyProtocol};
pub use slots::{BufferSlots, SlotGuard};
pub use source::{SourceKey, Waker};
pub use tcp_client::{TcpClient, TcpServer};
pub use timers::TimerId;
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsStream};
pub use transport::Transport;
pub use udp::UdpDatagram;

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use slab::Slab;

use crate::config::Preset;
use event_loop::Loop;
use poller::Interest;
use source::{Body, CLOSED, SCHEDULED, Source};
use timers::{TimerCallback, Timers};

/// The sizing of a pool. `Default` is the Normal preset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Number of buffer slots (`BufferSlotsCount`). Default 512 (Normal): enough for hundreds of
    /// requests in flight on a typical host.
    pub slots_count: usize,
    /// Size of one slot in bytes (`BufferSlotSize`). Default 4 KiB (Normal): a request head fits.
    pub slot_size: usize,
    /// Allocate every slot once at creation (`KeepAllocBufferSlots`). Default `true`: memory is
    /// fixed from the start and no allocation happens under load.
    pub keep_alloc: bool,
    /// Listen backlog of listeners (`ConnQueueCapacity`). Default 256 (Normal).
    pub conn_queue_capacity: u32,
    /// Pin each connection loop thread to its own CPU (loop `i` to the `i`-th CPU the process
    /// may use, round-robin; loop 0, which accepts and keeps time, stays free unless it is the
    /// only loop). Default `false`. Worth it on a host that runs little else: a loop then keeps
    /// its caches and its connections' state on one core; leave it off when several pools or
    /// other busy threads share the CPUs. Needs the `pin` cargo feature (a build without it logs
    /// a warning and does not pin).
    pub pin_threads: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig::from_preset(Preset::Normal)
    }
}

impl PoolConfig {
    /// Returns the figures of `preset` (see the presets table in the crate doc).
    #[must_use]
    pub fn from_preset(preset: Preset) -> PoolConfig {
        let f = preset.figures();
        PoolConfig {
            slots_count: f.buffer_slots_count,
            slot_size: f.buffer_slot_size,
            keep_alloc: f.keep_alloc_buffer_slots,
            conn_queue_capacity: f.conn_queue_capacity,
            pin_threads: false,
        }
    }

    /// Sets the number of buffer slots.
    #[must_use]
    pub fn with_slots_count(mut self, n: usize) -> Self {
        self.slots_count = n;
        self
    }

    /// Sets the size of one buffer slot, in bytes.
    #[must_use]
    pub fn with_slot_size(mut self, bytes: usize) -> Self {
        self.slot_size = bytes;
        self
    }

    /// Sets whether slots are allocated once at creation.
    #[must_use]
    pub fn with_keep_alloc(mut self, keep: bool) -> Self {
        self.keep_alloc = keep;
        self
    }

    /// Sets the listen backlog.
    #[must_use]
    pub fn with_conn_queue_capacity(mut self, n: u32) -> Self {
        self.conn_queue_capacity = n;
        self
    }

    /// Sets whether each event loop thread is pinned to its own CPU.
    #[must_use]
    pub fn with_pin_threads(mut self, pin: bool) -> Self {
        self.pin_threads = pin;
        self
    }
}

/// Why a pool operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The connection (or socket) is closed.
    Closed,
    /// A receive is already pending on this client.
    ReceivePending,
    /// The size asked for is zero or does not fit in a buffer slot.
    TooLarge,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolError::Closed => "connection closed",
            PoolError::ReceivePending => "a receive is already pending",
            PoolError::TooLarge => "size does not fit in a buffer slot",
        })
    }
}

impl std::error::Error for PoolError {}

impl From<PoolError> for io::Error {
    fn from(e: PoolError) -> io::Error {
        let kind = match e {
            PoolError::Closed => io::ErrorKind::NotConnected,
            PoolError::ReceivePending => io::ErrorKind::WouldBlock,
            PoolError::TooLarge => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// What other threads hand a loop: a source to run, or a timer callback.
pub(crate) enum Task {
    Source(Arc<Source>),
    Timer(TimerCallback),
}

thread_local! {
    /// The pool (its `Shared` address) whose thread this is, 0 if none.
    static POOL_THREAD: Cell<usize> = const { Cell::new(0) };
    /// The pool one of whose loops runs on this thread, 0 if none.
    static LOOP_THREAD: Cell<usize> = const { Cell::new(0) };
    /// Which of that pool's loops runs on this thread.
    static LOOP_INDEX: Cell<usize> = const { Cell::new(0) };
}

/// Returns the index of the event loop running on this thread (0 off the loops): per-loop
/// counters are kept by it.
#[cfg(feature = "metrics")]
pub(crate) fn loop_index() -> usize {
    LOOP_INDEX.get()
}

/// Reads a pool's slot figures without keeping the pool alive (a server's metrics hold it).
#[cfg(feature = "metrics")]
#[derive(Clone)]
pub(crate) struct SlotGauge(std::sync::Weak<Shared>);

#[cfg(feature = "metrics")]
impl SlotGauge {
    /// (free, total), or `None` once the pool is gone.
    pub(crate) fn read(&self) -> Option<(usize, usize)> {
        self.0.upgrade().map(|s| (s.slots.free(), s.slots.count()))
    }
}

/// The state shared by every handle of a pool.
pub(crate) struct Shared {
    config: PoolConfig,
    /// Every loop created so far. Loop 0 exists from the start and holds listeners, UDP sockets
    /// and the timers; loops `1..=io_loops` serve the connections while the pool runs.
    loops: Mutex<Vec<Arc<Loop>>>,
    /// Loop 0 (also in `loops`), reached without the lock.
    first_loop: Arc<Loop>,
    /// How many loops after loop 0 new connections are dealt over (0: loop 0 serves them).
    io_loops: AtomicUsize,
    /// The round-robin counter that deals connections over the loops.
    next_loop: AtomicUsize,
    slots: BufferSlots,
    registry: RwLock<Slab<Arc<Source>>>,
    timers: Mutex<Timers>,
    epoch: Instant,
    /// When loop 0 will wake at the latest (ns since epoch), to know whether a new deadline
    /// needs a notify.
    next_wake: AtomicU64,
    running: AtomicBool,
    stop_requested: AtomicBool,
    loop_thread: Mutex<Option<JoinHandle<()>>>,
    done: Mutex<bool>,
    done_cv: Condvar,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .field("free_slots", &self.slots.free())
            .field("sources", &self.registry.read().len())
            .field("running", &self.is_running())
            .finish()
    }
}

impl Shared {
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Converts an instant to nanoseconds since the epoch (at least 1: 0 means "none").
    pub(crate) fn to_ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.to_ns(Instant::now())
    }

    /// Adds a source that lives on loop 0 (a listener, a UDP socket) with `state` bits set.
    ///
    /// # Errors
    ///
    /// Refused while the pool is stopping.
    pub(crate) fn insert(&self, state: u32) -> io::Result<Arc<Source>> {
        self.insert_on(state, Arc::clone(&self.first_loop))
    }

    /// Adds a connection with `state` bits set, on the next running loop (round-robin).
    ///
    /// # Errors
    ///
    /// Refused while the pool is stopping.
    pub(crate) fn insert_dealt(&self, state: u32) -> io::Result<Arc<Source>> {
        let io = self.io_loops.load(Ordering::Relaxed);
        let home = if io == 0 {
            Arc::clone(&self.first_loop)
        } else {
            let i = 1 + self.next_loop.fetch_add(1, Ordering::Relaxed) % io;
            let loops = self.loops.lock();
            Arc::clone(loops.get(i).unwrap_or(&self.first_loop))
        };
        self.insert_on(state, home)
    }

    fn insert_on(&self, state: u32, home: Arc<Loop>) -> io::Result<Arc<Source>> {
        if self.stop_requested.load(Ordering::SeqCst) && self.is_running() {
            return Err(io::Error::other("the pool is stopping"));
        }
        let mut reg = self.registry.write();
        let entry = reg.vacant_entry();
        let src = Arc::new(Source::new(SourceKey(entry.key()), state, home));
        entry.insert(Arc::clone(&src));
        Ok(src)
    }

    /// Removes `src` from the registry (if its key still names it).
    pub(crate) fn remove(&self, src: &Arc<Source>) {
        let mut reg = self.registry.write();
        if reg.get(src.key.0).is_some_and(|s| Arc::ptr_eq(s, src)) {
            reg.remove(src.key.0);
        }
    }

    /// Adds event `bits` to `src`; returns whether the caller must now run or queue it (no task
    /// for it existed).
    fn mark(src: &Source, bits: u32) -> bool {
        let prev = src.state.fetch_or(bits | SCHEDULED, Ordering::SeqCst);
        prev & (SCHEDULED | CLOSED) == 0
    }

    /// Adds event `bits` to `src` and queues it on its loop unless a task for it exists already.
    pub(crate) fn schedule(&self, src: &Arc<Source>, bits: u32) {
        if Shared::mark(src, bits) {
            src.home.send(self, Task::Source(Arc::clone(src)));
        }
    }

    /// Wakes loop 0 (the timers' loop) if a timer due at `at` beats its planned wake.
    fn wake_timers_for(&self, at: u64) {
        if at < self.next_wake.load(Ordering::SeqCst) && !self.first_loop.is_current(self) {
            self.first_loop.poller.notify();
        }
    }

    /// Sets or clears the deadline of `src`.
    pub(crate) fn set_deadline(&self, src: &Arc<Source>, at: Option<Instant>) {
        let Some(at) = at else {
            src.deadline.store(0, Ordering::SeqCst);
            return;
        };
        let ns = self.to_ns(at);
        src.deadline.store(ns, Ordering::SeqCst);
        let armed = src.timer_at.load(Ordering::SeqCst);
        if armed != 0 && armed <= ns {
            return; // an earlier heap entry will re-read the deadline
        }
        let pushed = self.timers.lock().arm_deadline(src, ns);
        if pushed {
            self.wake_timers_for(ns);
        }
    }

    /// Closes every source (the pool stopped, or stop was called before start).
    fn close_all(&self) {
        let sources: Vec<Arc<Source>> = self.registry.write().drain().collect();
        for src in sources {
            source::close_now(self, &src, CloseReason::ByHost);
        }
        self.timers.lock().clear();
        self.slots.clear_waiters();
    }
}

impl Drop for Shared {
    /// A pool dropped without `stop` (never started, say) still closes its sockets properly.
    fn drop(&mut self) {
        self.close_all();
    }
}

/// A pool of nonblocking sockets, buffer slots, timers and threads (XAsyncSockets' pool).
///
/// Cloning is cheap (the handles share one pool). Several servers can share a pool. The pool
/// lives until [`Pool::stop`] is called: its threads hold handles to it.
///
/// # Examples
///
/// ```no_run
/// use microweb::pool::{Pool, PoolConfig, TcpServer};
///
/// let pool = Pool::new(PoolConfig::default())?;
/// let server = TcpServer::bind(&pool, "127.0.0.1:7000".parse().unwrap(), |client| {
///     let _ = client.recv_line(None, |c, line| {
///         let _ = c.send(line);
///     });
/// })?;
/// println!("listening on tcp://{}", server.local_addr());
/// pool.start(2, None)?;
/// # pool.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl Pool {
    /// Creates a pool: the poller and the slot arena (allocated now when `keep_alloc`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for zero slots or a zero slot size; the poller's creation error.
    pub fn new(config: PoolConfig) -> io::Result<Pool> {
        if config.slots_count == 0 || config.slot_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pool needs at least one slot of at least one byte",
            ));
        }
        let slots = BufferSlots::new(config.slots_count, config.slot_size, config.keep_alloc);
        let first_loop = Arc::new(Loop::new(0)?);
        Ok(Pool {
            shared: Arc::new(Shared {
                loops: Mutex::new(vec![Arc::clone(&first_loop)]),
                first_loop,
                io_loops: AtomicUsize::new(0),
                next_loop: AtomicUsize::new(0),
                slots,
                registry: RwLock::new(Slab::new()),
                timers: Mutex::new(Timers::default()),
                epoch: Instant::now(),
                next_wake: AtomicU64::new(u64::MAX),
                running: AtomicBool::new(false),
                stop_requested: AtomicBool::new(false),
                loop_thread: Mutex::new(None),
                done: Mutex::new(false),
                done_cv: Condvar::new(),
                config,
            }),
        })
    }

    /// Returns the pool's configuration.
    #[must_use]
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Starts the pool's threads: event loops, each waiting on its own poller and running the
    /// connections dealt to it (see the module doc).
    ///
    /// - `threads = 0`: one loop on the calling thread, for everything; returns when
    ///   [`Pool::stop`] is called (from a handler or another thread);
    /// - `threads = 1`: one loop on a background thread, for everything;
    /// - `threads = n ≥ 2`: `n` connection loops on `n` threads, and loop 0 on one more thread,
    ///   which accepts (dealing connections round-robin over the `n` loops), receives UDP and runs
    ///   the timers.
    ///
    /// A handler runs on its connection's loop: one that blocks holds up the other connections
    /// of that loop, never accepting or the timers when `n ≥ 2` (better: answer later with a
    /// deferred response).
    ///
    /// `stack_size` sets the threads' stack size (the platform default otherwise).
    ///
    /// # Errors
    ///
    /// When the pool is already running, a poller cannot be created, or a thread cannot be
    /// spawned.
    pub fn start(&self, threads: usize, stack_size: Option<usize>) -> io::Result<()> {
        let sh = &self.shared;
        if sh.running.swap(true, Ordering::SeqCst) {
            return Err(io::Error::other("the pool is already running"));
        }
        self.join_loop_thread(); // a loop that stopped from inside a handler
        sh.stop_requested.store(false, Ordering::SeqCst);
        *sh.done.lock() = false;
        // With several threads, loop 0 accepts and keeps time while loops 1..=n serve.
        let io = if threads >= 2 { threads } else { 0 };
        if let Err(e) = self.ensure_loops(io + 1) {
            sh.running.store(false, Ordering::SeqCst);
            return Err(e);
        }
        if threads == 0 {
            event_loop::run_pool(self, 0, stack_size);
            return Ok(());
        }
        let pool = self.clone();
        match builder("microweb-pool", stack_size)
            .spawn(move || event_loop::run_pool(&pool, io, stack_size))
        {
            Ok(handle) => {
                *sh.loop_thread.lock() = Some(handle);
                Ok(())
            }
            Err(e) => {
                sh.running.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Stops the pool: closes every socket (handlers get `on_closed(ByHost)`), joins every
    /// thread and returns every slot held by a connection.
    ///
    /// Called from one of the pool's own threads (a handler, a callback), it only signals: the
    /// threads finish and clean up once that handler returns.
    pub fn stop(&self) {
        let sh = &self.shared;
        if !sh.is_running() {
            // Stopped already (maybe from a handler): reap the finished loop thread, if any.
            if POOL_THREAD.get() != sh.id() {
                self.join_loop_thread();
            }
            sh.close_all();
            return;
        }
        sh.stop_requested.store(true, Ordering::SeqCst);
        for lp in sh.loops.lock().iter() {
            lp.poller.notify();
        }
        if POOL_THREAD.get() == sh.id() {
            return;
        }
        self.join_loop_thread();
        let mut done = sh.done.lock();
        while !*done && sh.is_running() {
            sh.done_cv.wait(&mut done);
        }
    }

    /// Creates loops until there are `count` (a pool keeps the loops it once ran).
    fn ensure_loops(&self, count: usize) -> io::Result<()> {
        let mut loops = self.shared.loops.lock();
        while loops.len() < count {
            let lp = Loop::new(loops.len())?;
            loops.push(Arc::new(lp));
        }
        Ok(())
    }

    fn join_loop_thread(&self) {
        let handle = self.shared.loop_thread.lock().take();
        if let Some(h) = handle {
            if h.join().is_err() {
                log::error!("pool: the loop thread panicked");
            }
        }
    }

    /// Returns whether the pool's loop is running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.shared.is_running()
    }

    /// Returns how many buffer slots are free.
    #[must_use]
    pub fn free_slots(&self) -> usize {
        self.shared.slots.free()
    }

    /// Returns the number of buffer slots.
    #[must_use]
    pub fn slots_count(&self) -> usize {
        self.shared.slots.count()
    }

    /// A reader of the slot figures that does not keep the pool alive.
    #[cfg(feature = "metrics")]
    pub(crate) fn slot_gauge(&self) -> SlotGauge {
        SlotGauge(Arc::downgrade(&self.shared))
    }

    /// Returns the size of one buffer slot, in bytes.
    #[must_use]
    pub fn slot_size(&self) -> usize {
        self.shared.slots.size()
    }

    /// Returns the pool's slot arena.
    #[must_use]
    pub fn slots(&self) -> &BufferSlots {
        &self.shared.slots
    }

    /// Borrows a buffer slot, if one is free.
    #[must_use]
    pub fn try_borrow_slot(&self) -> Option<SlotGuard> {
        self.shared.slots.try_borrow()
    }

    /// Returns how many sources (listeners, connections, UDP sockets) are open.
    #[must_use]
    pub fn sources_count(&self) -> usize {
        self.shared.registry.read().len()
    }

    /// Listens on `addr` (backlog = `conn_queue_capacity`, `SO_REUSEADDR`, dual stack on `[::]`);
    /// `acceptor` creates the handler of each accepted connection (`TCP_NODELAY` set).
    ///
    /// # Errors
    ///
    /// Socket creation, bind or listen errors.
    pub fn listen(&self, addr: SocketAddr, acceptor: impl Acceptor) -> io::Result<Listener> {
        self.listen_with_options(addr, ListenOptions::new(), acceptor)
    }

    /// Listens on `addr` like [`Pool::listen`], and runs TLS on every accepted connection: the
    /// handshake is driven by the handler's first reads, without blocking (see [`TlsConfig`]);
    /// [`Conn::is_tls`] is true from `Opened` on.
    ///
    /// # Errors
    ///
    /// Socket creation, bind or listen errors.
    #[cfg(feature = "tls")]
    pub fn listen_tls(
        &self,
        addr: SocketAddr,
        tls: impl Into<TlsConfig>,
        acceptor: impl Acceptor,
    ) -> io::Result<Listener> {
        self.listen_with_options(addr, ListenOptions::new().tls(tls), acceptor)
    }

    /// Listens on `addr` like [`Pool::listen`], with `options`: `SO_REUSEPORT`, TLS, the PROXY
    /// protocol.
    ///
    /// # Errors
    ///
    /// Socket creation, bind or listen errors.
    pub fn listen_with_options(
        &self,
        addr: SocketAddr,
        options: ListenOptions,
        acceptor: impl Acceptor,
    ) -> io::Result<Listener> {
        let listener = source::bind_listener(
            addr,
            self.shared.config.conn_queue_capacity,
            options.reuse_port,
        )?;
        self.adopt_listener(listener, options, acceptor)
    }

    /// Serves a listening socket made elsewhere (inherited through socket activation, say):
    /// it is made nonblocking and accepted from as if [`Pool::listen_with_options`] had bound
    /// it (`options.reuse_port` is ignored: the socket is bound already).
    ///
    /// # Errors
    ///
    /// The socket's address cannot be read or it cannot be made nonblocking.
    pub fn adopt_listener(
        &self,
        listener: std::net::TcpListener,
        options: ListenOptions,
        acceptor: impl Acceptor,
    ) -> io::Result<Listener> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let src = self.add_listener(
            conn::Bound::Tcp(listener),
            Endpoint::Ip(local),
            options,
            Arc::new(acceptor),
        )?;
        Ok(Listener::new(&src, &self.shared, local))
    }

    /// Listens on a Unix stream socket at `path` (backlog = `conn_queue_capacity`); the socket
    /// file gets `options.unix_mode` as its permissions when set, and is removed when the
    /// listener closes. A socket file already there is replaced only when nothing listens on
    /// it; any other file there is an error. Accepted connections have
    /// [`Endpoint::Unix`] as their peer.
    ///
    /// # Errors
    ///
    /// Something listens at `path`, or a file that is not a socket is there; bind or listen
    /// errors; `InvalidInput` when `options` ask for TLS or the PROXY protocol, which a Unix
    /// socket listener does not run.
    pub fn listen_unix(
        &self,
        path: &std::path::Path,
        options: ListenOptions,
        acceptor: impl Acceptor,
    ) -> io::Result<Listener> {
        #[cfg(feature = "tls")]
        let tls = options.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        if tls || options.proxy_protocol.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a Unix socket listener runs neither TLS nor the PROXY protocol",
            ));
        }
        let mode = options.unix_mode;
        let (listener, file) = unix::bind_unix(path, self.shared.config.conn_queue_capacity, mode)?;
        let path = file.path().to_path_buf();
        let src = self.add_listener(
            conn::Bound::Unix {
                listener,
                _file: file,
            },
            Endpoint::Unix,
            options,
            Arc::new(acceptor),
        )?;
        Ok(Listener::new_unix(&src, &self.shared, &path))
    }

    /// Registers a bound listener as a source of the pool.
    fn add_listener(
        &self,
        listener: conn::Bound,
        local: Endpoint,
        options: ListenOptions,
        acceptor: Arc<dyn Acceptor>,
    ) -> io::Result<Arc<Source>> {
        let sh = &self.shared;
        let src = sh.insert(0)?;
        let mut body = src.body.lock();
        let b = conn::ListenerBody::new(listener, src.key, acceptor, local, options);
        if let Err(e) = src.home.poller.add(&b.fd(), src.key.0, Interest::READ) {
            drop(body);
            sh.remove(&src);
            return Err(e);
        }
        *body = Some(Body::Listener(b));
        drop(body);
        Ok(src)
    }

    /// Connects to `addr` without blocking; `handler` gets `Opened` once connected, or
    /// `on_closed` with the reason it failed (`Timeout` after `timeout`).
    ///
    /// # Errors
    ///
    /// Errors that show at once (no route, bad address family…).
    pub fn connect(
        &self,
        addr: SocketAddr,
        timeout: Option<Duration>,
        handler: Box<dyn ConnHandler>,
    ) -> io::Result<SourceKey> {
        let sh = &self.shared;
        let stream = source::start_connect(addr)?;
        let src = sh.insert_dealt(0)?;
        let mut body = src.body.lock();
        let b = conn::ConnBody::connecting(stream, addr, handler);
        if let Err(e) = src.home.poller.add(&b.fd(), src.key.0, Interest::BOTH) {
            drop(body);
            sh.remove(&src);
            return Err(e);
        }
        *body = Some(Body::Conn(b));
        drop(body);
        if let Some(t) = timeout {
            sh.set_deadline(&src, Some(Instant::now() + t));
        }
        Ok(src.key)
    }

    /// Runs `callback` once after `after` (on a pool thread; keep it short).
    pub fn add_timer(&self, after: Duration, callback: impl FnOnce() + Send + 'static) -> TimerId {
        let sh = &self.shared;
        let at = sh.to_ns(Instant::now() + after);
        let id = sh.timers.lock().add_user(at, Box::new(callback));
        sh.wake_timers_for(at);
        id
    }

    /// Cancels a timer; returns whether it had not fired yet.
    pub fn cancel_timer(&self, id: TimerId) -> bool {
        self.shared.timers.lock().cancel_user(id)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

fn builder(name: &str, stack_size: Option<usize>) -> thread::Builder {
    let b = thread::Builder::new().name(name.to_owned());
    match stack_size {
        Some(s) => b.stack_size(s),
        None => b,
    }
}

fn run_task(pool: &Pool, task: Task) {
    match task {
        Task::Source(src) => source::run_source(pool, &src),
        Task::Timer(cb) => {
            if catch_unwind(AssertUnwindSafe(cb)).is_err() {
                log::error!("pool: a timer callback panicked");
            }
        }
    }
}
