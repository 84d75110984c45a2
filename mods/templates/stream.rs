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

/// A render in progress that the caller pulls slot by slot (from
/// [`super::Templates::start_render`]): each [`RenderStream::fill`] writes the next bytes of the page
/// into the caller's buffer and pauses when it is full.
///
/// It holds the render state (the stack of open blocks, loop positions and locals, the page data)
/// and shares the compiled template, never the page: memory stays bounded by the state and by the
/// one piece (a text run or a printed value) that did not fit the last buffer.
pub struct RenderStream {
    /// The walk, which owns the page data and a handle on the template.
    walker: Walker<'static>,
    shared: Arc<Shared>,
}

impl fmt::Debug for RenderStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderStream")
            .field("template", &self.walker.template().name())
            .finish_non_exhaustive()
    }
}

impl RenderStream {
    /// Starts a render of `template` in `env`, which the stream owns.
    pub(super) fn new(env: Env<'static>, template: Arc<Template>, shared: Arc<Shared>) -> Self {
        RenderStream {
            walker: Walker::new(env, template),
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
        self.walker.fill(out)
    }

    /// Returns the `after` blocks the render reached, to run once the page has been sent (call
    /// it after [`RenderStream::fill`] returned 0).
    pub fn into_after_work(self) -> AfterWork {
        let (jobs, env) = self.walker.into_after();
        AfterWork::new(jobs, &self.shared, env)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{PageData, Templates};

    #[test]
    fn a_stream_paused_at_every_byte_renders_what_one_render_does() {
        let t = Templates::new("unused");
        t.add_template(
            "_row.html",
            "<< for k, v in row >>[<< k >>=<< v >>]<< end >><< set inner = 1 >>",
        )
        .unwrap();
        let page = t
            .add_template(
                "p.html",
                "<< for row in rows >><< loop.index >>:<< include \"_row.html\" >>;<< end >>\
                 << for x in (missing | default(data.list)) >><< x >>,<< end >>\
                 << for x in data[\"list\"] >><< x * 2 >><< end >>\
                 << for k in data.map >><< k >><< end >>\
                 << for i, x in data.list >><< i >><< x >><< end >>\
                 << for y in data.nested[-1] >><< y.n >><< end >>\
                 << for g in request.tags >><< g >><< end >>\
                 << for s in site >><< s >><< end >>\
                 << set total = 0 >><< for x in data.list >><< set total = total + x >><< end >>\
                 << total >>",
            )
            .unwrap();
        t.set_global_var("site", json!(["a", "b"]));
        let context = json!({
            "rows": [{"a": 1, "b": "<x>"}, {"c": [1, 2]}],
            "data": {
                "list": [1, 2, 3],
                "map": {"y": 1, "z": 2},
                "nested": [[{"n": 0}], [{"n": 7}, {"n": 8}]],
            },
        });
        let request = json!({"tags": ["t1", "t2"]});
        let mut whole = Vec::new();
        let after = t
            .render_template(
                &page,
                PageData::new(&context).with_request(&request),
                &mut whole,
            )
            .unwrap();
        assert!(after.is_empty());
        let mut stream = t.start_render(page, context, json!({}), request);
        let mut pulled = Vec::new();
        let mut byte = [0u8; 1];
        while stream.fill(&mut byte).unwrap() == 1 {
            pulled.push(byte[0]);
        }
        assert_eq!(
            String::from_utf8(pulled).unwrap(),
            String::from_utf8(whole).unwrap()
        );
    }
}
