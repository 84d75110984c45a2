//! A [`GroupBackend`] over Redis pub/sub: the shared groups of every instance that uses the same
//! Redis server (and channel prefix) are one group.
//!
//! In scope: the backend handle ([`RedisBackend`]), its settings ([`RedisConfig`]), its counters
//! ([`RedisStats`]) and errors ([`RedisError`]); the registry of joined groups; the bounded queue
//! between broadcasting threads and the IO thread. Out of scope: the payload layout (`frame`) and
//! the connections themselves (`io`, the only IO code here).
//!
//! Each group `NAME` has the channel `PREFIX + NAME` (`microweb:ws:chat` by default). Two threads
//! of the backend's own do the IO, so a broadcast never waits for Redis:
//!
//! ```text
//!  broadcast (any thread, often an event loop)
//!    ├─► local members (at once)
//!    └─► try_send ─► bounded queue ─► publisher thread ─► PUBLISH channel payload
//!                    (full: dropped, counted)
//!  subscriber thread ◄─ SUBSCRIBE channels ◄─ Redis
//!    └─► payload from another instance ─► GroupMembers::deliver (local members only)
//! ```
//!
//! A blocked read on the subscriber's connection cannot also wait on the queue, hence a publisher
//! thread beside it: a publish goes out as soon as it is queued, and neither thread wakes while
//! nothing happens (the subscriber looks at its stop flag and new groups between reads, every
//! [`io::POLL`]).
//!
//! When Redis is down, broadcasts still reach the local members; what cannot be published is
//! dropped and counted, one warning is logged per outage, and both threads reconnect with
//! backoff (100 ms doubling to 5 s), the subscriber subscribing to every group's channel again.
//! Messages published during an outage are not replayed (Redis pub/sub keeps nothing).

mod frame;
mod io;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use super::group::{GroupBackend, GroupMembers, GroupMessage};
use crate::error::Error;
use frame::InstanceId;

/// Settings of a [`RedisBackend`]; `Default` is a Redis server on `127.0.0.1:6379`.
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The Redis server: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, or a Unix socket as
    /// `redis+unix:///PATH` or `unix:///PATH`. Default: `redis://127.0.0.1:6379`, where a local
    /// Redis listens out of the box.
    pub url: String,
    /// What each group's channel name starts with: group `chat` publishes on `microweb:ws:chat`
    /// by default, so that other users of the same Redis server are not disturbed. Instances
    /// share a group only if they share this prefix.
    pub channel_prefix: String,
    /// How many messages may wait for the publisher thread; past it, a broadcast still reaches the
    /// local members but is not published (and is counted in [`RedisStats::dropped`]). Default
    /// 1024: a few seconds of a busy chat, without holding more than a bounded amount of memory
    /// when Redis is slow.
    pub queue_capacity: usize,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted(&self.url))
            .field("channel_prefix", &self.channel_prefix)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig::new("redis://127.0.0.1:6379")
    }
}

impl RedisConfig {
    /// Creates the settings for the Redis server at `url`, with the default prefix and queue.
    #[must_use]
    pub fn new(url: &str) -> RedisConfig {
        RedisConfig {
            url: url.to_owned(),
            channel_prefix: "microweb:ws:".to_owned(),
            queue_capacity: 1024,
        }
    }

    /// Sets [`RedisConfig::channel_prefix`].
    #[must_use]
    pub fn with_channel_prefix(mut self, prefix: &str) -> RedisConfig {
        prefix.clone_into(&mut self.channel_prefix);
        self
    }

    /// Sets [`RedisConfig::queue_capacity`] (at least 1).
    #[must_use]
    pub fn with_queue_capacity(mut self, messages: usize) -> RedisConfig {
        self.queue_capacity = messages;
        self
    }
}

/// Why a [`RedisBackend`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL is not one the Redis client takes; the reason says why (the URL itself is left
    /// out: it may hold a password).
    InvalidUrl(String),
    /// [`RedisConfig::queue_capacity`] is 0.
    ZeroQueueCapacity,
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::InvalidUrl(reason) => write!(f, "invalid redis url: {reason}"),
            RedisError::ZeroQueueCapacity => f.write_str("redis publish queue capacity is 0"),
        }
    }
}

impl std::error::Error for RedisError {}

/// What a [`RedisBackend`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Messages published to Redis.
    pub published: u64,
    /// Messages from other instances handed to local groups.
    pub received: u64,
    /// Broadcasts not published: the queue was full, Redis was unreachable, or the backend was
    /// stopped.
    pub dropped: u64,
    /// Times Redis became unreachable (each logged one warning).
    pub outages: u64,
}

/// A [`GroupBackend`] over Redis pub/sub (cargo feature `redis`).
///
/// [`RedisBackend::connect`] returns at once: the backend connects on its own threads, and keeps
/// reconnecting while Redis is down (groups then deliver locally only). It stops when
/// [`RedisBackend::stop`] is called or when it is dropped, that is when the last group that uses
/// it and the last handle to it are gone.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use microweb::{mods::websockets::RedisBackend, WebServer, mods::websockets::WebSocketGroup, WebSockets};
///
/// let backend = Arc::new(RedisBackend::connect("redis://127.0.0.1:6379")?);
/// let room = WebSocketGroup::shared("chat", backend.clone());
///
/// let mut server = WebServer::new();
/// let ws = server.load_module("WebSockets")?.downcast::<WebSockets>().unwrap();
/// ws.add_path("/ws/chat");
/// ws.on_websocket_accepted(move |socket| {
///     room.add(socket);
///     let room = room.clone();
///     socket.on_text_message(move |_socket, text| {
///         room.broadcast_text(text); // every instance's members get it
///     });
/// });
/// server.start_managed(2, None)?;
/// # Ok::<(), microweb::Error>(())
/// ```
pub struct RedisBackend {
    shared: Arc<Shared>,
    queue: Sender<io::Outgoing>,
    /// `None` once stopped.
    threads: Mutex<Option<io::Threads>>,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.shared.url)
            .field("instance", &self.shared.instance.to_string())
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// What the backend handle and its threads share.
struct Shared {
    /// The URL without its password, for log lines.
    url: String,
    instance: InstanceId,
    prefix: Box<str>,
    groups: Mutex<Groups>,
    stopping: AtomicBool,
    /// Whether the subscriber is connected and subscribed to the channels of `Groups` as of
    /// `synced`.
    connected: AtomicBool,
    synced: AtomicU64,
    /// An outage has been warned about and the subscriber has not reconnected since.
    down: AtomicBool,
    /// A full queue has been warned about, and nothing has been published since.
    overflowing: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    outages: AtomicU64,
}

/// The joined groups, by name.
#[derive(Default)]
struct Groups {
    by_name: HashMap<Box<str>, Entry>,
    /// Bumped at each change, so the subscriber knows when to (un)subscribe.
    generation: u64,
}

struct Entry {
    channel: Arc<str>,
    members: Vec<GroupMembers>,
}

impl Shared {
    fn channel(&self, name: &str) -> Arc<str> {
        format!("{}{name}", self.prefix).into()
    }

    /// Logs the first failure of an outage.
    fn mark_down(&self, what: &str, error: &dyn fmt::Display) {
        if !self.stopping.load(Ordering::Acquire) && !self.down.swap(true, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "redis {}: {what}: {error}; shared WebSocket groups deliver locally only until \
                 it is back (reconnecting)",
                self.url
            );
        }
    }

    /// Logs the end of an outage.
    fn mark_up(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            log::info!(
                "redis {}: connected again; shared WebSocket groups span instances again",
                self.url
            );
        }
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The channels of the joined groups and the generation they are of, forgetting dropped
    /// groups on the way.
    fn wanted_channels(&self) -> (u64, Vec<Arc<str>>) {
        let mut groups = self.groups.lock();
        let before = groups.by_name.len();
        groups.by_name.retain(|_, e| {
            e.members.retain(|m| !m.is_dropped());
            !e.members.is_empty()
        });
        if groups.by_name.len() != before {
            groups.generation += 1;
        }
        let channels = groups.by_name.values().map(|e| e.channel.clone()).collect();
        (groups.generation, channels)
    }

    fn generation(&self) -> u64 {
        self.groups.lock().generation
    }

    /// Hands a payload received on `channel` to the local groups, unless it is this instance's.
    fn deliver(&self, channel: &str, payload: &[u8]) {
        let Some(name) = channel.strip_prefix(&*self.prefix) else {
            return;
        };
        let message = match frame::decode_foreign(payload, self.instance) {
            Ok(Some(m)) => m,
            Ok(None) => return, // ours: delivered locally when it was broadcast
            Err(e) => {
                log::debug!("redis {}: {channel}: ignored a message: {e}", self.url);
                return;
            }
        };
        let members = match self.groups.lock().by_name.get(name) {
            Some(e) => e.members.clone(),
            None => return,
        };
        // Delivered outside the registry's lock: broadcasting threads take it to publish.
        let mut gone = false;
        for m in &members {
            gone |= m.deliver(message).is_none();
        }
        self.received.fetch_add(1, Ordering::Relaxed);
        if gone {
            self.groups.lock().generation += 1; // `wanted_channels` forgets the group
        }
    }
}

impl RedisBackend {
    /// Starts a backend for the Redis server at `url` with the default settings
    /// ([`RedisConfig::new`]).
    ///
    /// # Errors
    /// As [`RedisBackend::start`].
    pub fn connect(url: &str) -> Result<RedisBackend, Error> {
        RedisBackend::start(RedisConfig::new(url))
    }

    /// Starts a backend with `config`: checks the URL, then starts the subscriber and publisher
    /// threads, which connect (and reconnect) on their own; it does not wait for Redis.
    ///
    /// # Errors
    /// [`Error::Redis`] for a URL the client does not take or a queue capacity of 0;
    /// [`Error::Io`] when a thread cannot be started.
    pub fn start(config: RedisConfig) -> Result<RedisBackend, Error> {
        if config.queue_capacity == 0 {
            return Err(RedisError::ZeroQueueCapacity.into());
        }
        let invalid = |e: ::redis::RedisError| RedisError::InvalidUrl(e.to_string());
        let info = ::redis::IntoConnectionInfo::into_connection_info(config.url.as_str())
            .map_err(invalid)?;
        // No CLIENT SETINFO on connecting: Redis before 7.2 refuses it, and each unanswered
        // command of the handshake would add a timeout to a reconnection and to `stop`.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = ::redis::Client::open(info.set_redis_settings(settings)).map_err(invalid)?;
        let shared = Arc::new(Shared {
            url: redacted(&config.url),
            instance: io::new_instance_id(),
            prefix: config.channel_prefix.into(),
            groups: Mutex::new(Groups::default()),
            stopping: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            synced: AtomicU64::new(0),
            down: AtomicBool::new(false),
            overflowing: AtomicBool::new(false),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        });
        let (queue, rx): (Sender<io::Outgoing>, Receiver<io::Outgoing>) =
            crossbeam_channel::bounded(config.queue_capacity);
        let threads = io::Threads::start(client, Arc::clone(&shared), rx)?;
        log::debug!("redis {}: instance {} started", shared.url, shared.instance);
        Ok(RedisBackend {
            shared,
            queue,
            threads: Mutex::new(Some(threads)),
        })
    }

    /// Returns this instance's id, the one its payloads carry (random per backend).
    #[must_use]
    pub fn instance_id(&self) -> u64 {
        self.shared.instance.0
    }

    /// Returns whether the subscriber is connected and subscribed to the channel of every group
    /// joined so far: from then on, what other instances publish reaches the groups here.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        // The generation first: a group joined meanwhile makes the answer false, not stale.
        let generation = self.shared.generation();
        self.shared.connected.load(Ordering::Acquire)
            && self.shared.synced.load(Ordering::Acquire) == generation
    }

    /// Returns the counters.
    #[must_use]
    pub fn stats(&self) -> RedisStats {
        let s = &self.shared;
        RedisStats {
            published: s.published.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            outages: s.outages.load(Ordering::Relaxed),
        }
    }

    /// Stops the backend: its threads close their connections and end (waited for a few seconds
    /// at most); broadcasts deliver locally only from then on. Calling it again does nothing.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        let threads = self.threads.lock().take();
        if let Some(threads) = threads {
            threads.stop(&self.shared.url);
        }
        self.shared.connected.store(false, Ordering::Release);
    }
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

impl GroupBackend for RedisBackend {
    fn join(&self, name: &str, members: GroupMembers) {
        let mut groups = self.shared.groups.lock();
        let groups = &mut *groups;
        let entry = groups.by_name.entry(name.into()).or_insert_with(|| Entry {
            channel: self.shared.channel(name),
            members: Vec::new(),
        });
        entry.members.retain(|m| !m.is_dropped());
        entry.members.push(members);
        groups.generation += 1;
    }

    fn publish(&self, name: &str, message: GroupMessage<'_>) {
        let s = &self.shared;
        if s.stopping.load(Ordering::Acquire) {
            s.drop_one();
            return;
        }
        let channel = s.groups.lock().by_name.get(name).map(|e| e.channel.clone());
        let channel = channel.unwrap_or_else(|| s.channel(name));
        let payload = frame::encode(s.instance, message);
        match self.queue.try_send(io::Outgoing { channel, payload }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                s.drop_one();
                if !s.overflowing.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "redis {}: the publish queue is full; broadcasts reach this instance \
                         only until Redis keeps up again",
                        s.url
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => s.drop_one(),
        }
    }
}

/// `url` with its password (if any) replaced by `***`, for logs and `Debug`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_of_a_url() {
        assert_eq!(
            redacted("redis://:s3cret@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(
            redacted("redis://user:pw@host/1"),
            "redis://user:***@host/1"
        );
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
        assert_eq!(redacted("redis://user@host"), "redis://user@host");
        assert_eq!(redacted("redis://u:p@ss@host"), "redis://u:***@host");
        assert_eq!(redacted("unix:///run/redis.sock"), "unix:///run/redis.sock");
        assert!(!format!("{:?}", RedisConfig::new("redis://:pw@h")).contains("pw"));
    }

    #[test]
    fn refuses_a_bad_url_and_an_empty_queue() {
        let bad = RedisBackend::connect("http://127.0.0.1:6379").unwrap_err();
        assert!(
            matches!(bad, Error::Redis(RedisError::InvalidUrl(_))),
            "{bad}"
        );
        let zero = RedisBackend::start(RedisConfig::default().with_queue_capacity(0));
        assert!(matches!(
            zero,
            Err(Error::Redis(RedisError::ZeroQueueCapacity))
        ));
    }
}
