//! Delayed responses (from uHTTP): a handler keeps the response and another thread answers later.
//!
//! The connection waits for the answer (keeping the one slot its request came in), bounded by the
//! server's request timeout. An answer that comes after the timeout is dropped.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use super::response::Response;

type WakeFn = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct State {
    answer: Option<Response>,
    wake: Option<WakeFn>,
    abandoned: bool,
}

/// A response to be answered later, from any thread. Clone it freely; the first answer counts.
#[derive(Clone)]
pub struct DeferredResponse {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for DeferredResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("DeferredResponse")
            .field("answered", &state.answer.is_some())
            .field("abandoned", &state.abandoned)
            .finish()
    }
}

impl DeferredResponse {
    pub(crate) fn new() -> DeferredResponse {
        DeferredResponse {
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Answers the request: `build` fills a fresh [`Response`] (with `return_*` calls), then the
    /// connection is woken to send it.
    ///
    /// Returns `false` when the request was already answered or the connection gave up waiting
    /// (request timeout, client gone).
    pub fn send(&self, build: impl FnOnce(&mut Response)) -> bool {
        let mut response = Response::new();
        build(&mut response);
        if !response.is_answered() {
            response.return_(::http::StatusCode::NO_CONTENT, ());
        }
        let wake = {
            let mut state = self.state.lock();
            if state.abandoned || state.answer.is_some() {
                return false;
            }
            state.answer = Some(response);
            state.wake.take()
        };
        if let Some(wake) = wake {
            wake();
        }
        true
    }

    /// Returns true when the connection no longer waits for an answer.
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.state.lock().abandoned
    }

    /// Takes the answer if it has arrived; otherwise registers `wake` to be called when it does.
    pub(crate) fn take_or_wait(&self, wake: impl Fn() + Send + Sync + 'static) -> Option<Response> {
        let mut state = self.state.lock();
        match state.answer.take() {
            Some(r) => Some(r),
            None => {
                state.wake = Some(Box::new(wake));
                None
            }
        }
    }

    /// Marks the response as given up: later answers are dropped.
    pub(crate) fn abandon(&self) {
        let mut state = self.state.lock();
        state.abandoned = true;
        state.wake = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn an_answer_before_waiting_is_taken_at_once() {
        let d = DeferredResponse::new();
        assert!(d.send(|r| r.return_ok("late")));
        let r = d.take_or_wait(|| {}).expect("answer present");
        assert_eq!(r.status(), ::http::StatusCode::OK);
        assert!(!d.send(|r| r.return_ok("twice")) || d.take_or_wait(|| {}).is_some());
    }

    #[test]
    fn an_answer_after_waiting_wakes_the_connection_once() {
        let d = DeferredResponse::new();
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        assert!(
            d.take_or_wait(move || {
                w.fetch_add(1, Ordering::SeqCst);
            })
            .is_none()
        );
        let d2 = d.clone();
        std::thread::scope(|s| {
            s.spawn(|| assert!(d2.send(|r| r.return_ok("from another thread"))));
        });
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert!(d.take_or_wait(|| {}).is_some());
    }

    #[test]
    fn an_abandoned_response_drops_late_answers() {
        let d = DeferredResponse::new();
        d.abandon();
        assert!(d.is_abandoned());
        assert!(!d.send(|r| r.return_ok("too late")));
    }
}
