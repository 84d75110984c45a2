//! [`RenderStream`]: a render the caller pulls slot by slot, which owns its page data and shares
//! the compiled template, so it can outlive the call that started it (a response body).
//!
//! In scope: holding the render state between calls and handing out the `after` blocks at the
//! end. Out of scope: the walk itself (see `walk.rs`).

use std::fmt;
use std::sync::Arc;

use super::after::AfterWork;
use super::env::Env;
use super::error::TemplateError;
use super::walk::Walker;
use super::{Shared, Template};

/// What a [`RenderStream`] owns: the render's environment and the template.
struct StreamOwner {
    env: Env<'static>,
    template: Arc<Template>,
}

self_cell::self_cell!(
    /// The owned render state and the walk that borrows from it.
    struct StreamCell {
        owner: StreamOwner,
        #[covariant]
        dependent: Walker,
    }
);

/// A render in progress that the caller pulls slot by slot (from
/// [`Templates::start_render`]): each [`RenderStream::fill`] writes the next bytes of the page
/// into the caller's buffer and pauses when it is full.
///
/// It holds the render state (the stack of open blocks, loop positions and locals, the page data)
/// and shares the compiled template, never the page: memory stays bounded by the state and by the
/// one piece (a text run or a printed value) that did not fit the last buffer.
pub struct RenderStream {
    cell: StreamCell,
    shared: Arc<Shared>,
}

impl fmt::Debug for RenderStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderStream")
            .field("template", &self.cell.borrow_owner().template.name())
            .finish_non_exhaustive()
    }
}

impl RenderStream {
    /// Starts a render of `template` in `env`, which the stream owns.
    pub(super) fn new(env: Env<'static>, template: Arc<Template>, shared: Arc<Shared>) -> Self {
        let owner = StreamOwner { env, template };
        RenderStream {
            cell: StreamCell::new(owner, |o| Walker::new(&o.env, &o.template)),
            shared,
        }
    }

    /// Writes the next bytes of the page into `out`, at most `out.len()`, and returns how many;
    /// 0 means the page is complete. `out` must not be empty (0 would be read as the end).
    ///
    /// # Errors
    ///
    /// A runtime error (fuel, include depth, a wrong type, …). The page is then incomplete and
    /// every later call returns the same error.
    pub fn fill(&mut self, out: &mut [u8]) -> Result<usize, TemplateError> {
        self.cell.with_dependent_mut(|_, walker| walker.fill(out))
    }

    /// Returns the `after` blocks the render reached, to run once the page has been sent (call
    /// it after [`RenderStream::fill`] returned 0).
    pub fn into_after_work(self) -> AfterWork {
        let RenderStream { mut cell, shared } = self;
        let jobs = cell.with_dependent_mut(|_, walker| walker.take_after());
        AfterWork::new(jobs, &shared, cell.into_owner().env)
    }
}
