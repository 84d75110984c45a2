//! A group of WebSockets to broadcast to (the chat room case).
//!
//! In scope: membership, and sending one message to every open member without copying its
//! payload per member. Out of scope: ordering across senders (each socket's queue is in order).

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use tungstenite::Message;

use super::socket::{WebSocket, WebSocketError};

/// A set of sockets that receive the same messages. Cloning is cheap (the clones are the same
/// group); closed sockets leave it on the next broadcast.
#[derive(Clone, Default)]
pub struct WebSocketGroup {
    members: Arc<Mutex<Vec<WebSocket>>>,
}

impl fmt::Debug for WebSocketGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketGroup")
            .field("len", &self.len())
            .finish()
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

impl WebSocketGroup {
    /// Creates an empty group.
    #[must_use]
    pub fn new() -> WebSocketGroup {
        WebSocketGroup::default()
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

    /// Returns the number of members (closed ones included until the next broadcast).
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.lock().len()
    }

    /// Returns whether the group has no member.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the members, open ones only.
    #[must_use]
    pub fn members(&self) -> Vec<WebSocket> {
        let mut members = self.members.lock();
        members.retain(|m| !m.is_closed());
        members.clone()
    }

    /// Sends a text message to every open member.
    pub fn broadcast_text(&self, msg: &str) -> Broadcast {
        self.broadcast(&Message::text(msg.to_owned()))
    }

    /// Sends a binary message to every open member.
    pub fn broadcast_binary(&self, msg: &[u8]) -> Broadcast {
        self.broadcast(&Message::binary(msg.to_vec()))
    }

    fn broadcast(&self, msg: &Message) -> Broadcast {
        // Sends outside the lock: a member's callback may add or remove members meanwhile.
        let members = self.members();
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
}
