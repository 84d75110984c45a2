//! The payload a shared group's message travels in over a Redis channel: who sent it, what kind of
//! WebSocket message it is, and its bytes.
//!
//! In scope: encoding and decoding that payload, and telling this instance's own messages apart.
//! Out of scope: the channel (one per group, named by the backend) and any IO.
//!
//! ```text
//! offset  0   1   2        3      4 ............ 11   12 ...
//!        'm' 'w' version  kind   instance id (u64,    payload (text: UTF-8)
//!                 (1)    T | B   big-endian)
//! ```
//!
//! Redis hands every subscriber, the publisher included, each message once: the instance id is
//! what lets an instance skip its own messages, which it delivered locally already.

use std::fmt;

use crate::mods::websockets::GroupMessage;

/// The bytes every payload starts with: a publisher on the same channel that is not microweb
/// is told apart.
const MAGIC: [u8; 2] = *b"mw";
/// The layout described in the module doc.
const VERSION: u8 = 1;
const KIND_TEXT: u8 = b'T';
const KIND_BINARY: u8 = b'B';
/// Magic, version, kind and the instance id.
pub(crate) const HEADER_LEN: usize = 12;

/// The identity of one backend (one server instance) on the channels it shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InstanceId(pub(crate) u64);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A decoded payload; `message` borrows the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) instance: InstanceId,
    pub(crate) message: GroupMessage<'a>,
}

/// Why a payload was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Shorter than the header.
    Short,
    /// Not microweb's magic: someone else publishes on the channel.
    Magic,
    /// A layout this build does not know (a newer microweb).
    Version(u8),
    /// Neither text nor binary.
    Kind(u8),
    /// A text message that is not UTF-8 (RFC 6455 §5.6: text frames carry UTF-8).
    Utf8,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Short => f.write_str("payload shorter than its header"),
            FrameError::Magic => f.write_str("payload not from microweb"),
            FrameError::Version(v) => write!(f, "unknown payload version {v}"),
            FrameError::Kind(k) => write!(f, "unknown message kind {k:#04x}"),
            FrameError::Utf8 => f.write_str("text message is not valid UTF-8"),
        }
    }
}

/// Encodes `message` from `instance` (one allocation, header and payload together).
#[must_use]
pub(crate) fn encode(instance: InstanceId, message: GroupMessage<'_>) -> Vec<u8> {
    let (kind, payload) = match message {
        GroupMessage::Text(t) => (KIND_TEXT, t.as_bytes()),
        GroupMessage::Binary(b) => (KIND_BINARY, b),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&instance.0.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes a payload received on a group's channel.
///
/// # Errors
/// A [`FrameError`] for a payload that is not one [`encode`] writes.
pub(crate) fn decode(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (Some(header), Some(payload)) = (bytes.get(..HEADER_LEN), bytes.get(HEADER_LEN..)) else {
        return Err(FrameError::Short);
    };
    let (magic, rest) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(FrameError::Magic);
    }
    let [version, kind, id @ ..] = rest else {
        return Err(FrameError::Short);
    };
    if *version != VERSION {
        return Err(FrameError::Version(*version));
    }
    let id: [u8; 8] = id.try_into().map_err(|_| FrameError::Short)?;
    let message = match *kind {
        KIND_TEXT => {
            GroupMessage::Text(std::str::from_utf8(payload).map_err(|_| FrameError::Utf8)?)
        }
        KIND_BINARY => GroupMessage::Binary(payload),
        k => return Err(FrameError::Kind(k)),
    };
    Ok(Frame {
        instance: InstanceId(u64::from_be_bytes(id)),
        message,
    })
}

/// Decodes a payload and returns its message if another instance sent it: `Ok(None)` for one of
/// `own`'s, which it delivered locally when it broadcast.
///
/// # Errors
/// As [`decode`].
pub(crate) fn decode_foreign(
    bytes: &[u8],
    own: InstanceId,
) -> Result<Option<GroupMessage<'_>>, FrameError> {
    let frame = decode(bytes)?;
    Ok((frame.instance != own).then_some(frame.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: InstanceId = InstanceId(0x0123_4567_89ab_cdef);
    const B: InstanceId = InstanceId(1);

    #[test]
    fn text_and_binary_round_trip_with_their_sender() {
        let cases = [
            GroupMessage::Text("héllo, room"),
            GroupMessage::Text(""),
            GroupMessage::Binary(&[0, 1, 2, 255]),
            GroupMessage::Binary(b""),
            // A binary payload that is valid UTF-8 stays binary.
            GroupMessage::Binary(b"text-like"),
        ];
        for message in cases {
            let bytes = encode(A, message);
            assert_eq!(
                decode(&bytes),
                Ok(Frame {
                    instance: A,
                    message
                }),
                "{message:?}"
            );
        }
    }

    #[test]
    fn the_header_is_magic_version_kind_and_the_id_big_endian() {
        let bytes = encode(A, GroupMessage::Text("hi"));
        assert_eq!(bytes, b"mw\x01T\x01\x23\x45\x67\x89\xab\xcd\xefhi".to_vec());
        assert_eq!(encode(B, GroupMessage::Binary(&[7]))[3], b'B');
    }

    #[test]
    fn every_truncated_header_is_short() {
        let bytes = encode(A, GroupMessage::Binary(&[9; 4]));
        for end in 0..HEADER_LEN {
            assert_eq!(decode(&bytes[..end]), Err(FrameError::Short), "{end}");
        }
        assert!(decode(&bytes[..HEADER_LEN]).is_ok()); // an empty message is a message
    }

    #[test]
    fn rejects_foreign_unknown_and_malformed_payloads() {
        let good = encode(A, GroupMessage::Text("x"));
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            v
        };
        assert_eq!(decode(b"hello from redis-cli"), Err(FrameError::Magic));
        assert_eq!(decode(&with(0, b'M')), Err(FrameError::Magic));
        assert_eq!(decode(&with(2, 2)), Err(FrameError::Version(2)));
        assert_eq!(decode(&with(3, b'X')), Err(FrameError::Kind(b'X')));
        let mut bad_utf8 = encode(A, GroupMessage::Text(""));
        bad_utf8.extend_from_slice(&[0xc3, 0x28]);
        assert_eq!(decode(&bad_utf8), Err(FrameError::Utf8));
        // The same bytes as binary are fine.
        bad_utf8[3] = b'B';
        assert_eq!(
            decode(&bad_utf8).map(|f| f.message),
            Ok(GroupMessage::Binary(&[0xc3, 0x28]))
        );
    }

    #[test]
    fn an_instance_skips_its_own_messages_and_takes_the_others() {
        let mine = encode(A, GroupMessage::Text("mine"));
        let theirs = encode(B, GroupMessage::Binary(b"theirs"));
        assert_eq!(decode_foreign(&mine, A), Ok(None));
        assert_eq!(
            decode_foreign(&mine, B),
            Ok(Some(GroupMessage::Text("mine")))
        );
        assert_eq!(
            decode_foreign(&theirs, A),
            Ok(Some(GroupMessage::Binary(b"theirs")))
        );
        assert_eq!(decode_foreign(b"mw", A), Err(FrameError::Short));
    }
}
