//! The `Date` header's value, formatted at most once per second per event loop thread.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::HttpDate;

thread_local! {
    static DATE: Cell<Option<(u64, HttpDate)>> = const { Cell::new(None) };
}

/// Returns the `Date` header value for now, reusing this thread's value of the same second.
pub(crate) fn current_date() -> HttpDate {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| match cell.get() {
        Some((s, date)) if s == secs => date,
        _ => {
            let date = HttpDate::new(now);
            cell.set(Some((secs, date)));
            date
        }
    })
}
