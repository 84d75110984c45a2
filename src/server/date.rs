//! The `Date` header's value, formatted at most once per second per event loop thread.

use std::cell::Cell;
use std::time::{Duration, UNIX_EPOCH};

use crate::http::HttpDate;

thread_local! {
    static DATE: Cell<Option<(u64, HttpDate)>> = const { Cell::new(None) };
}

/// Returns the `Date` header value for now, reusing this thread's value of the same second.
pub(crate) fn current_date() -> HttpDate {
    let secs = unix_seconds();
    DATE.with(|cell| match cell.get() {
        Some((s, date)) if s == secs => date,
        _ => {
            let date = HttpDate::new(UNIX_EPOCH + Duration::from_secs(secs));
            cell.set(Some((secs, date)));
            date
        }
    })
}

/// Whole seconds since the Unix epoch. On Linux from the kernel's coarse clock, which is read
/// without a hardware counter (a few nanoseconds, once per answer) and lags the precise one by
/// at most a tick: the header tells the second, not the millisecond.
fn unix_seconds() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        u64::try_from(now.tv_sec).unwrap_or(0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn the_date_is_the_current_second() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let date = current_date();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // The coarse clock may lag by a tick across a second's edge.
        let allowed: Vec<HttpDate> = (before.saturating_sub(1)..=after)
            .map(|s| HttpDate::new(UNIX_EPOCH + Duration::from_secs(s)))
            .collect();
        assert!(allowed.contains(&date), "{date:?} not in {allowed:?}");
    }
}
