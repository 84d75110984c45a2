//! What the access log and the metrics see of an answer, gathered while it is sent.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Instant, SystemTime};

use ::http::Version;

use super::{HttpConnection, State};
use crate::http::RequestHead;
use crate::pool::Endpoint;
use crate::server::access_log::AccessRecord;
#[cfg(feature = "metrics")]
use crate::server::metrics;
use crate::server::request::Origin;
use crate::server::web_server::ServerShared;

/// The answer being sent, as the access log and the metrics will see it once its last byte is
/// out.
pub(super) struct Observation {
    pub(super) started: Instant,
    #[cfg(feature = "metrics")]
    pub(super) method_class: u8,
    pub(super) status: u16,
    pub(super) is_head: bool,
    pub(super) head_len: u64,
    /// The request line's text and headers, kept only for an access hook.
    pub(super) text: Option<RequestText>,
}

/// What the access log writes of the request.
pub(super) struct RequestText {
    /// The client's address (behind a trusted proxy, the one it names).
    client: Endpoint,
    method: String,
    target: String,
    version: &'static str,
    referer: Option<String>,
    user_agent: Option<String>,
}

impl RequestText {
    pub(super) fn new(head: &RequestHead, raw: &[u8], client: Endpoint) -> RequestText {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let header = |name: &str| head.header(raw, name).map(text);
        RequestText {
            client,
            method: head.method().as_str().to_owned(),
            target: text(head.target(raw).as_bytes()),
            version: match head.version() {
                Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            referer: header("referer"),
            user_agent: header("user-agent"),
        }
    }
}

impl RequestText {
    /// What is known of a request refused before its head was complete: its first line as
    /// received (at most [`REFUSED_LINE_BYTES`]), no method or version.
    pub(super) fn refused(received: &[u8], peer: Endpoint) -> RequestText {
        let line = received.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.get(..REFUSED_LINE_BYTES).unwrap_or(line);
        RequestText {
            client: peer,
            method: String::new(),
            target: String::from_utf8_lossy(line).into_owned(),
            version: "",
            referer: None,
            user_agent: None,
        }
    }
}

/// The most bytes of a refused request's first line the access log keeps.
const REFUSED_LINE_BYTES: usize = 1024;

impl Observation {
    /// Hands the answer to the access hook and the metrics; `bytes` are the connection's bytes
    /// (read, written) since the last answer was counted.
    pub(super) fn report(&self, shared: &ServerShared, bytes: (u64, u64)) {
        let duration = self.started.elapsed();
        let body_bytes = if self.is_head {
            0
        } else {
            bytes.1.saturating_sub(self.head_len)
        };
        if let (Some(text), Some(hook)) = (&self.text, &shared.config.on_access) {
            let now = SystemTime::now();
            let record = AccessRecord {
                peer: text.client,
                started: now.checked_sub(duration).unwrap_or(now),
                method: &text.method,
                target: &text.target,
                version: text.version,
                status: self.status,
                body_bytes,
                referer: text.referer.as_deref(),
                user_agent: text.user_agent.as_deref(),
                duration,
            };
            if catch_unwind(AssertUnwindSafe(|| (hook.0)(&record))).is_err() {
                log::error!("the on_access hook panicked");
            }
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &shared.metrics {
            metrics.observe(&metrics::Observed {
                method_class: self.method_class,
                status: self.status,
                duration,
                bytes_in: bytes.0,
                bytes_out: bytes.1,
            });
        }
    }
}

impl HttpConnection {
    /// Starts the observation of an answer to a request refused before it reached a handler
    /// (400, 408, 413, 431, 503 while reading): with its head's text when the head was read,
    /// else with the first line received.
    pub(super) fn observe_refusal(&mut self) {
        if self.observed.is_some() || !self.shared.observes_requests() {
            return;
        }
        let received = self
            .slot
            .as_ref()
            .map_or(&[][..], |s| s.get(..).unwrap_or_default());
        let (head, text) = match &self.state {
            State::ReadingBody(b) => {
                let raw = received.get(..b.head.head_len()).unwrap_or_default();
                let client = self.origin(&b.head, raw).client;
                (Some(&b.head), RequestText::new(&b.head, raw, client))
            }
            _ => (
                None,
                RequestText::refused(
                    received.get(..self.len).unwrap_or_default(),
                    Origin::connection(self.peer, self.proxied_source, self.is_tls).client,
                ),
            ),
        };
        self.observed = Some(Box::new(Observation {
            started: self.request_started.take().unwrap_or_else(Instant::now),
            #[cfg(feature = "metrics")]
            method_class: metrics::method_class(head.map_or("", |h| h.method().as_str())),
            status: 0,
            is_head: head.is_some_and(RequestHead::is_head),
            head_len: 0,
            text: self.shared.config.on_access.is_some().then_some(text),
        }));
    }
}
