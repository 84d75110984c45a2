//! A group of WebSockets to broadcast to (the chat room case), and the seam through which a group
//! spans several server instances.
//!
//! In scope: membership; sending one message to every open member without copying its payload
//! per member; handing each broadcast of a *shared* group to a [`GroupBackend`], and taking the
//! messages the backend brings from other instances to the local members ([`GroupMembers`]).
//! Out of scope: ordering across senders (each socket's queue is in order), and any IO: a backend
//! (such as the Redis one) owns its connections and threads.
//!
//! A group made with [`WebSocketGroup::new`] is local-only: no backend, no thread, nothing
//! allocated past its member list. [`WebSocketGroup::shared`] names the group and ties it to a
//! backend: every broadcast is delivered locally at once, then published under that name, and what
//! other instances publish under it reaches the local members once.

use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tungstenite::Message;

use super::socket::{WebSocket, WebSocketError};

type Members = Arc<Mutex<Vec<WebSocket>>>;

/// A set of sockets that receive the same messages. Cloning is cheap (the clones are the same
/// group); closed sockets leave it on the next broadcast.
///
/// # Examples
///
/// A room local to this process, then one that spans every instance using the same backend:
///
/// ```
/// use std::sync::Arc;
/// use microweb::{mods::websockets::GroupBackend, mods::websockets::GroupMembers, mods::websockets::GroupMessage, mods::websockets::WebSocketGroup};
///
/// let local = WebSocketGroup::new();
/// assert!(!local.is_shared());
///
/// #[derive(Debug)]
/// struct Nowhere; // a backend that drops every message
/// impl GroupBackend for Nowhere {
///     fn join(&self, _name: &str, _members: GroupMembers) {}
///     fn publish(&self, _name: &str, _message: GroupMessage<'_>) {}
/// }
/// let room = WebSocketGroup::shared("chat", Arc::new(Nowhere));
/// assert_eq!(room.name(), Some("chat"));
/// assert_eq!(room.broadcast_text("hello").sent, 0); // no local member yet
/// ```
#[derive(Clone, Default)]
pub struct WebSocketGroup {
    members: Members,
    /// `None` for a local-only group (the default): broadcasts never leave the process.
    link: Option<Arc<Link>>,
}

/// What ties a shared group to its backend.
struct Link {
    name: Box<str>,
    backend: Arc<dyn GroupBackend>,
}

impl fmt::Debug for WebSocketGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("WebSocketGroup");
        d.field("len", &self.len());
        if let Some(link) = &self.link {
            d.field("name", &link.name).field("backend", &link.backend);
        }
        d.finish()
    }
}

/// What a broadcast did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Broadcast {
    /// Members whose queue took the message.
    pub sent: usize,
    /// Members whose send queue was full (slow readers): they miss this message.
    pub full: usize,
}

/// One message a group broadcasts, as a [`GroupBackend`] carries it between instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupMessage<'a> {
    /// A text message (UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// Carries the broadcasts of shared groups between server instances (a Redis channel, a message
/// bus). A group made with [`WebSocketGroup::shared`] calls [`GroupBackend::join`] once, then
/// [`GroupBackend::publish`] on each broadcast, after delivering it locally.
///
/// A backend must bring each message published by another instance to the joined groups of that
/// name exactly once, and must not bring back the messages its own instance published (they were
/// delivered locally already).
///
/// Two groups of one name joined to one backend are two rooms in this process (a broadcast on one
/// does not reach the other): make one group and clone it.
pub trait GroupBackend: Send + Sync + fmt::Debug {
    /// Starts handing the messages other instances publish under `name` to `members`, until the
    /// group is dropped ([`GroupMembers::deliver`] returns `None` from then on).
    fn join(&self, name: &str, members: GroupMembers);

    /// Hands `message`, just delivered to the local members of group `name`, to the other
    /// instances.
    ///
    /// It runs on the thread that broadcasts, often an event loop: it must not block (queue the
    /// message, or drop it when the queue is full).
    fn publish(&self, name: &str, message: GroupMessage<'_>);
}

/// The local members of a shared group, as its backend sees them: a weak handle, so that a
/// backend does not keep a dropped group alive.
#[derive(Clone)]
pub struct GroupMembers {
    members: Weak<Mutex<Vec<WebSocket>>>,
}

impl fmt::Debug for GroupMembers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupMembers")
            .field("dropped", &self.is_dropped())
            .finish()
    }
}

impl GroupMembers {
    /// Sends a message that came from another instance to every open local member, and not to
    /// the backend again. Returns `None` once the group is dropped (the backend may forget it).
    #[must_use = "None means the group is gone"]
    pub fn deliver(&self, message: GroupMessage<'_>) -> Option<Broadcast> {
        let members = self.members.upgrade()?;
        Some(send_to_all(&members, &to_message(message)))
    }

    /// Returns whether the group is dropped (every clone of it).
    #[must_use]
    pub fn is_dropped(&self) -> bool {
        self.members.strong_count() == 0
    }
}

fn to_message(message: GroupMessage<'_>) -> Message {
    match message {
        GroupMessage::Text(text) => Message::text(text.to_owned()),
        GroupMessage::Binary(data) => Message::binary(data.to_vec()),
    }
}

/// Returns the open members, dropping the closed ones from the list.
fn open_members(members: &Members) -> Vec<WebSocket> {
    let mut members = members.lock();
    members.retain(|m| !m.is_closed());
    members.clone()
}

fn send_to_all(members: &Members, msg: &Message) -> Broadcast {
    // Sends outside the lock: a member's callback may add or remove members meanwhile.
    let members = open_members(members);
    let mut out = Broadcast::default();
    for m in &members {
        // The payload is reference-counted: cloning the message does not copy it.
        match m.send(msg.clone()) {
            Ok(()) => out.sent += 1,
            Err(WebSocketError::QueueFull { .. }) => out.full += 1,
            Err(_) => {}
        }
    }
    out
}

impl WebSocketGroup {
    /// Creates an empty group local to this process.
    #[must_use]
    pub fn new() -> WebSocketGroup {
        WebSocketGroup::default()
    }

    /// Creates an empty group named `name` that spans every instance joined to the same
    /// `backend` under that name (a chat room behind a load balancer): a broadcast reaches the
    /// local members at once and goes to `backend`, which brings it to the members of the other
    /// instances; what they broadcast reaches the members here.
    ///
    /// Membership stays local: [`WebSocketGroup::len`] and [`WebSocketGroup::members`] count the
    /// sockets of this process only.
    #[must_use]
    pub fn shared(name: &str, backend: Arc<dyn GroupBackend>) -> WebSocketGroup {
        let members = Members::default();
        backend.join(
            name,
            GroupMembers {
                members: Arc::downgrade(&members),
            },
        );
        WebSocketGroup {
            members,
            link: Some(Arc::new(Link {
                name: name.into(),
                backend,
            })),
        }
    }

    /// Returns the group's name if it is shared ([`WebSocketGroup::shared`]), `None` for a
    /// local-only group.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.link.as_deref().map(|l| &*l.name)
    }

    /// Returns whether broadcasts go to other instances too.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.link.is_some()
    }

    /// Adds a socket (once: adding a member again does nothing).
    pub fn add(&self, socket: &WebSocket) {
        let mut members = self.members.lock();
        if !members.contains(socket) {
            members.push(socket.clone());
        }
    }

    /// Removes a socket; returns whether it was a member.
    pub fn remove(&self, socket: &WebSocket) -> bool {
        let mut members = self.members.lock();
        let before = members.len();
        members.retain(|m| m != socket);
        members.len() != before
    }

    /// Returns the number of members in this process (closed ones included until the next
    /// broadcast).
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.lock().len()
    }

    /// Returns whether the group has no member in this process.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the members in this process, open ones only.
    #[must_use]
    pub fn members(&self) -> Vec<WebSocket> {
        open_members(&self.members)
    }

    /// Sends a text message to every open member (and, for a shared group, to the other
    /// instances). The counts are those of the local members.
    pub fn broadcast_text(&self, msg: &str) -> Broadcast {
        let out = send_to_all(&self.members, &Message::text(msg.to_owned()));
        self.publish(GroupMessage::Text(msg));
        out
    }

    /// Sends a binary message to every open member (and, for a shared group, to the other
    /// instances). The counts are those of the local members.
    pub fn broadcast_binary(&self, msg: &[u8]) -> Broadcast {
        let out = send_to_all(&self.members, &Message::binary(msg.to_vec()));
        self.publish(GroupMessage::Binary(msg));
        out
    }

    fn publish(&self, message: GroupMessage<'_>) {
        if let Some(link) = &self.link {
            link.backend.publish(&link.name, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it is given.
    #[derive(Debug, Default)]
    struct Recorder {
        joined: Mutex<Vec<(String, GroupMembers)>>,
        published: Mutex<Vec<(String, Vec<u8>, bool)>>,
    }

    impl GroupBackend for Recorder {
        fn join(&self, name: &str, members: GroupMembers) {
            self.joined.lock().push((name.to_owned(), members));
        }

        fn publish(&self, name: &str, message: GroupMessage<'_>) {
            let (bytes, text) = match message {
                GroupMessage::Text(t) => (t.as_bytes().to_vec(), true),
                GroupMessage::Binary(b) => (b.to_vec(), false),
            };
            self.published.lock().push((name.to_owned(), bytes, text));
        }
    }

    #[test]
    fn a_new_group_is_local_only() {
        let group = WebSocketGroup::new();
        assert!(!group.is_shared());
        assert_eq!(group.name(), None);
        assert_eq!(group.broadcast_text("hi"), Broadcast::default());
    }

    #[test]
    fn a_shared_group_joins_once_and_publishes_each_broadcast() {
        let backend = Arc::new(Recorder::default());
        let group = WebSocketGroup::shared("chat", backend.clone());
        let clone = group.clone();
        assert_eq!(group.name(), Some("chat"));
        group.broadcast_text("hello");
        clone.broadcast_binary(&[0, 255]);
        assert_eq!(backend.joined.lock().len(), 1);
        assert_eq!(
            *backend.published.lock(),
            vec![
                ("chat".to_owned(), b"hello".to_vec(), true),
                ("chat".to_owned(), vec![0, 255], false),
            ]
        );
    }

    #[test]
    fn delivery_does_not_publish_again_and_stops_when_the_group_is_dropped() {
        let backend = Arc::new(Recorder::default());
        let group = WebSocketGroup::shared("chat", backend.clone());
        let members = backend.joined.lock()[0].1.clone();
        assert!(!members.is_dropped());
        assert_eq!(
            members.deliver(GroupMessage::Text("from afar")),
            Some(Broadcast::default())
        );
        assert!(backend.published.lock().is_empty());
        drop(group);
        assert!(members.is_dropped());
        assert_eq!(members.deliver(GroupMessage::Binary(b"late")), None);
    }
}
