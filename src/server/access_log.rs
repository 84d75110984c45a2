//! The access log: one [`AccessRecord`] per answered request, handed to the server's
//! `on_access` hook, and [`AccessLog`], a hook that writes the records in the Combined Log Format
//! nginx and Apache write (plus the request's duration as a last field) from a thread of its own.
//!
//! In scope: the record, the line format, the bounded queue to the writer thread (a full queue
//! drops the line and counts it: an event loop never waits on the log), reopening the file
//! (logrotate's SIGHUP). Out of scope: when a record is made (the connection does that once the
//! answer is sent) and signal handling (the binary's).

use crate::pool::Endpoint;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// One answered request, as the access log sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessRecord<'a> {
    /// The client's address: the peer's, or behind a trusted proxy the client it names (as
    /// nginx's realip module logs it); `Endpoint::Unix` on a Unix socket.
    pub peer: Endpoint,
    /// When the request's first byte was read.
    pub started: SystemTime,
    /// The method, as sent (`GET`); empty for a request refused before its head was complete
    /// (a malformed or oversized head, a head timeout).
    pub method: &'a str,
    /// The request target, as sent (`/a%20b?x=1`); for a request refused before its head was
    /// complete, the first line received as it came (up to 1 KiB; empty when nothing came).
    pub target: &'a str,
    /// The protocol version (`HTTP/1.1`); empty for a request refused before its head was
    /// complete.
    pub version: &'a str,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent (the head not counted; 0 for HEAD).
    pub body_bytes: u64,
    /// The `Referer` header, when sent.
    pub referer: Option<&'a str>,
    /// The `User-Agent` header, when sent.
    pub user_agent: Option<&'a str>,
    /// From the request's first byte to the answer's last.
    pub duration: Duration,
}

/// The `on_access` hook: called once per answered request, on the connection's event loop (keep
/// it short: hand the record to a thread, as [`AccessLog`] does).
#[derive(Clone)]
pub struct AccessHook(pub(crate) Arc<dyn Fn(&AccessRecord<'_>) + Send + Sync>);

impl AccessHook {
    /// Wraps `f` as a hook.
    pub fn new(f: impl Fn(&AccessRecord<'_>) + Send + Sync + 'static) -> AccessHook {
        AccessHook(Arc::new(f))
    }
}

impl std::fmt::Debug for AccessHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessHook")
    }
}

impl PartialEq for AccessHook {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for AccessHook {}

/// What the writer thread is told.
enum Msg {
    Line(String),
    Reopen,
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    /// Standard output.
    Stdout,
    /// A file, appended to (created with mode 0644 when missing).
    File(PathBuf),
}

impl std::fmt::Display for AccessTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccessTarget::Stdout => f.write_str("standard output"),
            AccessTarget::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl AccessTarget {
    /// `-` is standard output, anything else a file path.
    #[must_use]
    pub fn parse(s: &str) -> AccessTarget {
        if s == "-" {
            AccessTarget::Stdout
        } else {
            AccessTarget::File(PathBuf::from(s))
        }
    }
}

/// An access log written by a thread of its own through a bounded queue.
#[derive(Clone)]
pub struct AccessLog {
    tx: Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// Lines the queue holds before new ones are dropped.
pub const ACCESS_QUEUE_LINES: usize = 8192;

impl AccessLog {
    /// Opens `target` (a file is created or appended to) and starts the writer thread; the queue
    /// holds `queue` lines (see [`ACCESS_QUEUE_LINES`]).
    ///
    /// # Errors
    ///
    /// The file cannot be opened, or the thread cannot start.
    pub fn open(target: AccessTarget, queue: usize) -> io::Result<AccessLog> {
        let mut out = Output::open(&target)?;
        let (tx, rx) = crossbeam_channel::bounded(queue.max(1));
        std::thread::Builder::new()
            .name("microweb-access-log".into())
            .spawn(move || write_lines(&rx, &mut out, &target))?;
        Ok(AccessLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues the record's line; when the queue is full the line is dropped and counted.
    pub fn record(&self, record: &AccessRecord<'_>) {
        match self.tx.try_send(Msg::Line(combined_line(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Reopens the file after what is queued is written (a rotated file is then left alone and a
    /// new one created); the binary calls it on SIGHUP.
    pub fn reopen(&self) {
        // Blocking is fine here: this is the signal thread, never an event loop.
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Returns how many lines were dropped because the queue was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Returns the hook that writes to this log.
    #[must_use]
    pub fn hook(&self) -> AccessHook {
        let log = self.clone();
        AccessHook::new(move |r| log.record(r))
    }
}

enum Output {
    Stdout,
    File(File),
}

impl Output {
    fn open(target: &AccessTarget) -> io::Result<Output> {
        match target {
            AccessTarget::Stdout => Ok(Output::Stdout),
            AccessTarget::File(path) => Ok(Output::File(append(path)?)),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => io::stdout().lock().write_all(bytes),
            Output::File(f) => f.write_all(bytes),
        }
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread: writes what comes, several lines per write when they queue up.
fn write_lines(rx: &Receiver<Msg>, out: &mut Output, target: &AccessTarget) {
    let mut batch = String::new();
    while let Ok(first) = rx.recv() {
        let mut reopen = false;
        for msg in std::iter::once(first).chain(rx.try_iter().take(255)) {
            match msg {
                Msg::Line(line) => batch.push_str(&line),
                Msg::Reopen => reopen = true,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = out.write_all(batch.as_bytes()) {
                log::warn!("access log: cannot write: {e}");
            }
            batch.clear();
        }
        if reopen {
            match Output::open(target) {
                Ok(o) => *out = o,
                Err(e) => log::warn!("access log: cannot reopen: {e}"),
            }
        }
    }
}

/// The record as a Combined Log Format line (nginx's `combined`, time in UTC), then the duration
/// in seconds with millisecond precision (nginx's `$request_time`), and a line break.
#[must_use]
pub fn combined_line(r: &AccessRecord<'_>) -> String {
    let mut line = String::with_capacity(160);
    match r.peer.ip() {
        Some(ip) => write!(line, "{ip} - - [").unwrap_or_default(),
        None => line.push_str("unix - - ["),
    }
    clf_time(&mut line, r.started);
    line.push_str("] \"");
    if r.method.is_empty() {
        // Refused before its head was complete: the line as received, as nginx logs `$request`.
        escaped(&mut line, if r.target.is_empty() { "-" } else { r.target });
    } else {
        escaped(&mut line, r.method);
        line.push(' ');
        escaped(&mut line, r.target);
        line.push(' ');
        escaped(&mut line, r.version);
    }
    let _ = write!(line, "\" {} {} \"", r.status, r.body_bytes);
    escaped(&mut line, r.referer.unwrap_or("-"));
    line.push_str("\" \"");
    escaped(&mut line, r.user_agent.unwrap_or("-"));
    let _ = writeln!(
        line,
        "\" {}.{:03}",
        r.duration.as_secs(),
        r.duration.subsec_millis()
    );
    line
}

/// Writes `s` with `"`, `\` and bytes outside printable ASCII as `\xHH`, as nginx does.
fn escaped(line: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'"' | b'\\' | 0..0x20 | 0x7f.. => {
                let _ = write!(line, "\\x{b:02X}");
            }
            _ => line.push(char::from(b)),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `06/Dec/2026:13:01:02 +0000`.
fn clf_time(line: &mut String, t: SystemTime) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let month = MONTHS.get(m as usize - 1).copied().unwrap_or("Jan");
    let _ = write!(
        line,
        "{d:02}/{month}/{y}:{:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord<'static> {
        AccessRecord {
            peer: Endpoint::Ip("127.0.0.1:50000".parse().unwrap()),
            started: UNIX_EPOCH + Duration::from_secs(1_796_562_062),
            method: "GET",
            target: "/a?b=1",
            version: "HTTP/1.1",
            status: 200,
            body_bytes: 1234,
            referer: None,
            user_agent: Some("curl/8.0 \"x\""),
            duration: Duration::from_micros(2_345),
        }
    }

    #[test]
    fn a_line_is_nginx_combined_with_the_duration_last() {
        assert_eq!(
            combined_line(&record()),
            "127.0.0.1 - - [06/Dec/2026:13:01:02 +0000] \"GET /a?b=1 HTTP/1.1\" 200 1234 \"-\" \
             \"curl/8.0 \\x22x\\x22\" 0.002\n"
        );
    }

    #[test]
    fn dates_are_right_across_leap_years_and_month_ends() {
        for (days, want) in [
            (0, (1970, 1, 1)),
            (59, (1970, 3, 1)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (20_818, (2026, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), want, "{days}");
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tx, _rx_kept_unread) = crossbeam_channel::bounded(2);
        let log = AccessLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        for _ in 0..5 {
            log.record(&record());
        }
        assert_eq!(log.dropped(), 3);
    }
}
