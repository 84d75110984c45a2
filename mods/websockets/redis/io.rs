//! The Redis backend's IO: its subscriber and publisher threads and their connections.
//!
//! In scope: connecting and reconnecting with backoff, subscribing to the joined groups' channels,
//! publishing what the queue brings, stopping within a bound. Out of scope: what a payload holds
//! (`frame`) and what a group does with it (`group`).
//!
//! Each thread runs one state machine:
//!
//! ```text
//!  subscriber:  Connecting ──ok──► Listening (SUBSCRIBE new channels, read with POLL timeout,
//!     ▲  │                           │           PING after PING_AFTER of silence)
//!     │  └─fail─► Waiting(backoff) ◄─┘ error
//!     └───────────────┘ backoff elapsed (doubles from MIN_BACKOFF to MAX_BACKOFF)
//!
//!  publisher:   Idle ──message──► connected? PUBLISH : connect (not before `retry_at`)
//!                                 an error: reconnect once at once (a restarted Redis), then
//!                                 drop the message and wait `backoff` before the next attempt
//! ```
//!
//! Both end when the stop channel disconnects (the backend is stopped or dropped): the subscriber
//! sees it within [`POLL`] (or at once while it waits to reconnect), the publisher at once; a
//! command under way (a silent or stalled Redis) first ends, within `IO_TIMEOUT`.
// IO edge: the backend's own threads, its sockets (inside the redis client) and the clock for its
// backoff deadlines live here, off the event loops.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, select};

use super::Shared;
use super::frame::InstanceId;

/// How long the subscriber's read waits before it looks at its stop flag and at new groups: the
/// bound on stopping, and on how late a new group's channel is subscribed.
pub(crate) const POLL: Duration = Duration::from_millis(200);
/// Silence after which the subscriber pings, to find a connection that died without a word.
const PING_AFTER: Duration = Duration::from_secs(15);
/// Connecting, and each command of the publisher and the ping, give up after this.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The read timeout left on a failed subscriber connection as it is dropped.
const GIVE_UP: Duration = Duration::from_millis(1);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long `stop` waits for the threads (they notice within `POLL`, or `IO_TIMEOUT` when a
/// command is under way).
const STOP_WAIT: Duration = Duration::from_secs(5);

/// One message for the publisher thread.
pub(crate) struct Outgoing {
    pub(crate) channel: Arc<str>,
    pub(crate) payload: Vec<u8>,
}

/// The running threads.
pub(crate) struct Threads {
    /// Dropped to stop them.
    stop: Sender<()>,
    /// Disconnects once both threads have ended.
    done: Receiver<()>,
    handles: Vec<JoinHandle<()>>,
}

impl Threads {
    /// Starts the subscriber and the publisher.
    pub(crate) fn start(
        client: ::redis::Client,
        shared: Arc<Shared>,
        queue: Receiver<Outgoing>,
    ) -> std::io::Result<Threads> {
        let (stop, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let subscriber = {
            let (client, shared, stop_rx, done_tx) = (
                client.clone(),
                Arc::clone(&shared),
                stop_rx.clone(),
                done_tx.clone(),
            );
            std::thread::Builder::new()
                .name("microweb-redis-sub".into())
                .spawn(move || {
                    subscribe_loop(&client, &shared, &stop_rx);
                    drop(done_tx);
                })?
        };
        let publisher = std::thread::Builder::new()
            .name("microweb-redis-pub".into())
            .spawn(move || {
                publish_loop(&client, &shared, &queue, &stop_rx);
                drop(done_tx);
            });
        let publisher = match publisher {
            Ok(p) => p,
            Err(e) => {
                drop(stop); // the subscriber ends
                let _ = subscriber.join();
                return Err(e);
            }
        };
        Ok(Threads {
            stop,
            done,
            handles: vec![subscriber, publisher],
        })
    }

    /// Tells the threads to end and waits for them, [`STOP_WAIT`] at most (past it they are left
    /// to end on their own, with a warning).
    pub(crate) fn stop(self, url: &str) {
        drop(self.stop);
        match self.done.recv_timeout(STOP_WAIT) {
            Err(RecvTimeoutError::Disconnected) => {
                for h in self.handles {
                    let _ = h.join();
                }
            }
            Ok(()) | Err(RecvTimeoutError::Timeout) => {
                log::warn!("redis {url}: the backend's threads did not stop within {STOP_WAIT:?}");
            }
        }
    }
}

/// A random id for a new backend; the clock and the process id if the system has no randomness.
pub(crate) fn new_instance_id() -> InstanceId {
    InstanceId(getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Truncation is fine: these bits only have to differ between instances.
        #[allow(clippy::cast_possible_truncation)]
        let nanos = nanos as u64;
        nanos ^ (u64::from(std::process::id()) << 32)
    }))
}

/// Waits `backoff` unless the backend stops first; returns whether it stops.
fn stopped_while_waiting(stop: &Receiver<()>, backoff: Duration) -> bool {
    !matches!(stop.recv_timeout(backoff), Err(RecvTimeoutError::Timeout))
}

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(MAX_BACKOFF)
}

/// The subscriber thread: connect, listen until the connection fails, wait, again.
fn subscribe_loop(client: &::redis::Client, shared: &Shared, stop: &Receiver<()>) {
    let mut backoff = MIN_BACKOFF;
    while !shared.stopping.load(Ordering::Acquire) {
        match client.get_connection_with_timeout(IO_TIMEOUT) {
            Ok(mut conn) => {
                let outcome = listen(&mut conn, shared);
                shared.connected.store(false, Ordering::Release);
                match outcome {
                    Ok(Listened::Stopped) => break,
                    Ok(Listened::Subscribed(e)) => {
                        // It worked a while: a restart or a dropped connection. Retry soon.
                        backoff = MIN_BACKOFF;
                        shared.mark_down("lost the connection", &e);
                    }
                    Err(e) => shared.mark_down("cannot subscribe", &e),
                }
            }
            Err(e) => shared.mark_down("cannot connect", &e),
        }
        if stopped_while_waiting(stop, backoff) {
            break;
        }
        backoff = next_backoff(backoff);
    }
}

/// How a listening connection ended.
enum Listened {
    /// The backend is stopping.
    Stopped,
    /// The connection failed after it had subscribed.
    Subscribed(::redis::RedisError),
}

/// Subscribes to every group's channel and delivers what arrives until the connection fails or
/// the backend stops. `Err` is a failure before the first subscription went through.
fn listen(
    conn: &mut ::redis::Connection,
    shared: &Shared,
) -> Result<Listened, ::redis::RedisError> {
    let mut pubsub = conn.as_pubsub();
    let outcome = listen_on(&mut pubsub, shared);
    if !matches!(outcome, Ok(Listened::Stopped)) {
        // Dropping a `PubSub` unsubscribes and waits for the answer: a connection that just
        // failed is not worth a wait (a silent peer would hold the thread for IO_TIMEOUT).
        let _ = pubsub.set_read_timeout(Some(GIVE_UP));
    }
    outcome
}

fn listen_on(
    pubsub: &mut ::redis::PubSub<'_>,
    shared: &Shared,
) -> Result<Listened, ::redis::RedisError> {
    pubsub.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut subscribed = HashSet::new();
    let synced = sync(pubsub, &mut subscribed, shared)?;
    pubsub.set_read_timeout(Some(POLL))?;
    shared.connected.store(true, Ordering::Release);
    shared.mark_up();
    let mut listener = Listener {
        pubsub,
        subscribed,
        synced,
        last_heard: Instant::now(),
    };
    loop {
        if shared.stopping.load(Ordering::Acquire) {
            return Ok(Listened::Stopped);
        }
        if let Err(e) = listener.step(shared) {
            return Ok(Listened::Subscribed(e));
        }
    }
}

/// A subscribed connection.
struct Listener<'p, 'c> {
    pubsub: &'p mut ::redis::PubSub<'c>,
    subscribed: HashSet<Arc<str>>,
    /// The registry generation the subscriptions are of.
    synced: u64,
    last_heard: Instant,
}

impl Listener<'_, '_> {
    /// Catches up with new groups, then waits [`POLL`] at most for one message and delivers it.
    fn step(&mut self, shared: &Shared) -> Result<(), ::redis::RedisError> {
        if shared.generation() != self.synced {
            self.pubsub.set_read_timeout(Some(IO_TIMEOUT))?;
            self.synced = sync(self.pubsub, &mut self.subscribed, shared)?;
            self.pubsub.set_read_timeout(Some(POLL))?;
        }
        match self.pubsub.get_message() {
            Ok(msg) => {
                self.last_heard = Instant::now();
                shared.deliver(msg.get_channel_name(), msg.get_payload_bytes());
                Ok(())
            }
            Err(e) if e.is_timeout() => {
                if self.last_heard.elapsed() >= PING_AFTER {
                    self.pubsub.set_read_timeout(Some(IO_TIMEOUT))?;
                    let _: ::redis::Value = self.pubsub.ping()?;
                    self.pubsub.set_read_timeout(Some(POLL))?;
                    self.last_heard = Instant::now();
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// Subscribes to the channels of the joined groups not subscribed yet and unsubscribes from those
/// of dropped groups; returns the generation of the registry it caught up with.
fn sync(
    pubsub: &mut ::redis::PubSub<'_>,
    subscribed: &mut HashSet<Arc<str>>,
    shared: &Shared,
) -> Result<u64, ::redis::RedisError> {
    let (generation, wanted) = shared.wanted_channels();
    for channel in &wanted {
        if !subscribed.contains(channel) {
            pubsub.subscribe(&**channel)?;
            subscribed.insert(Arc::clone(channel));
        }
    }
    let gone: Vec<Arc<str>> = subscribed
        .iter()
        .filter(|c| !wanted.contains(c))
        .cloned()
        .collect();
    for channel in gone {
        pubsub.unsubscribe(&*channel)?;
        subscribed.remove(&channel);
    }
    shared.synced.store(generation, Ordering::Release);
    Ok(generation)
}

/// The publisher's connection, and when it may next try to make one.
struct Publisher<'a> {
    client: &'a ::redis::Client,
    shared: &'a Shared,
    conn: Option<::redis::Connection>,
    /// While Redis is unreachable: no new connection is tried before this.
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Publisher<'_> {
    /// Publishes one message: on the open connection, or on a new one when that fails (Redis was
    /// restarted while this one was idle). Returns whether it went out.
    fn publish(&mut self, out: &Outgoing) -> bool {
        for attempt in 0..2 {
            if self.shared.stopping.load(Ordering::Acquire) {
                return false;
            }
            let Some(conn) = self.connection() else {
                return false;
            };
            let sent: Result<i64, _> = ::redis::cmd("PUBLISH")
                .arg(&*out.channel)
                .arg(&out.payload[..])
                .query(conn);
            match sent {
                Ok(_) => return true,
                Err(e) => {
                    self.conn = None;
                    log::debug!("redis {}: PUBLISH failed: {e}", self.shared.url);
                    if attempt == 1 {
                        self.fail("cannot publish", &e);
                    }
                }
            }
        }
        false
    }

    /// The open connection, or a new one unless it is too soon to try.
    fn connection(&mut self) -> Option<&mut ::redis::Connection> {
        if self.conn.is_none() {
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                return None;
            }
            let made = self
                .client
                .get_connection_with_timeout(IO_TIMEOUT)
                .and_then(|c| {
                    c.set_read_timeout(Some(IO_TIMEOUT))?;
                    c.set_write_timeout(Some(IO_TIMEOUT))?;
                    Ok(c)
                });
            match made {
                Ok(c) => {
                    self.conn = Some(c);
                    self.retry_at = None;
                    self.backoff = MIN_BACKOFF;
                }
                Err(e) => {
                    self.fail("cannot connect to publish", &e);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }

    fn fail(&mut self, what: &str, e: &::redis::RedisError) {
        self.shared.mark_down(what, e);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = next_backoff(self.backoff);
    }
}

/// The publisher thread: publishes what the queue brings until the backend stops.
fn publish_loop(
    client: &::redis::Client,
    shared: &Shared,
    queue: &Receiver<Outgoing>,
    stop: &Receiver<()>,
) {
    let mut publisher = Publisher {
        client,
        shared,
        conn: None,
        retry_at: None,
        backoff: MIN_BACKOFF,
    };
    loop {
        let out = select! {
            recv(queue) -> out => match out {
                Ok(out) => out,
                Err(_) => return,
            },
            recv(stop) -> _ => return,
        };
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        if publisher.publish(&out) {
            shared.published.fetch_add(1, Ordering::Relaxed);
            if shared.overflowing.load(Ordering::Relaxed) {
                shared.overflowing.store(false, Ordering::Relaxed); // warn again next time
            }
        } else {
            shared.drop_one();
        }
    }
}
