//! The `after` blocks a render reached, run once the page has been sent: names are read as in
//! the page and assignments write global vars, each under the engine's lock.
//!
//! In scope: collecting what an `after` block needs (its template, statements and the locals it
//! could see) and running it. Out of scope: rendering the page (see `walk.rs`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::ast::{AssignOp, BinaryOp, Stmt};
use super::env::Env;
use super::error::{ErrorKind, TemplateError};
use super::eval::Evaluator;
use super::scope::Locals;
use super::{Shared, Template, value};

/// An `after` block reached by a render, with the local variables it could see.
#[derive(Debug)]
pub(crate) struct AfterJob {
    pub(crate) template: Arc<Template>,
    pub(crate) stmts: Arc<[Stmt]>,
    /// Copies of the locals the block could see.
    pub(crate) locals: Locals,
}

/// The `after` blocks a render reached, to be run once the page has been sent.
///
/// In an `after` block, names are read as in the page (with global vars read afresh) and
/// assignments write global vars: `hits += 1` updates the global `hits` under its lock, so
/// concurrent pages count correctly.
#[must_use = "after blocks run only when `run` is called"]
pub struct AfterWork {
    jobs: Vec<AfterJob>,
    shared: Option<Arc<Shared>>,
    context: Value,
    args: Value,
    request: Value,
}

impl fmt::Debug for AfterWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterWork")
            .field("blocks", &self.jobs.len())
            .finish()
    }
}

impl AfterWork {
    /// Returns the `after` blocks a render reached, with the page data they read (copied only
    /// if there is a block to run).
    pub(super) fn new(jobs: Vec<AfterJob>, shared: &Arc<Shared>, env: Env<'_>) -> Self {
        if jobs.is_empty() {
            return AfterWork::none();
        }
        AfterWork {
            jobs,
            shared: Some(Arc::clone(shared)),
            context: env.context.into_owned(),
            args: env.args.into_owned(),
            request: env.request.into_owned(),
        }
    }

    /// Returns work with no `after` block in it.
    fn none() -> Self {
        AfterWork {
            jobs: Vec::new(),
            shared: None,
            context: Value::Null,
            args: Value::Null,
            request: Value::Null,
        }
    }

    /// Returns whether there is nothing to run.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Runs the `after` blocks in the order the render reached them.
    ///
    /// # Errors
    ///
    /// The first runtime error; the blocks after it do not run.
    pub fn run(self) -> Result<(), TemplateError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let functions = Arc::clone(&shared.functions.read());
        for job in &self.jobs {
            for stmt in job.stmts.iter() {
                let globals = Arc::clone(&shared.globals.read());
                let env = Env::new(
                    (
                        Cow::Borrowed(&self.context),
                        Cow::Borrowed(&self.args),
                        Cow::Borrowed(&self.request),
                    ),
                    globals,
                    Arc::clone(&functions),
                    None,
                    0,
                    shared.config.fuel,
                );
                let renderer = Evaluator::new(&env, &job.template, &job.locals);
                match stmt {
                    Stmt::Assign {
                        target,
                        op,
                        value,
                        span,
                    } => {
                        let v = renderer.eval(value)?.into_owned();
                        let mut guard = shared.globals.write();
                        let map = Arc::make_mut(&mut guard);
                        let v = match op {
                            AssignOp::Set => v,
                            _ => {
                                let bop = if *op == AssignOp::Add {
                                    BinaryOp::Add
                                } else {
                                    BinaryOp::Sub
                                };
                                let fail = |k| {
                                    TemplateError::located(
                                        k,
                                        &job.template.name,
                                        &job.template.source,
                                        *span,
                                    )
                                };
                                let old = map.get(&*target.name).ok_or_else(|| {
                                    fail(ErrorKind::UnknownName(target.name.clone()))
                                })?;
                                value::binary(bop, old, &v).map_err(fail)?
                            }
                        };
                        map.insert(target.name.to_string(), v);
                    }
                    Stmt::Expr(e) => {
                        renderer.eval(e)?;
                    }
                }
            }
        }
        Ok(())
    }
}
