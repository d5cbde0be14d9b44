//! A run's cell: the one allocation of a run, with what every run has (its context, its
//! startup deadline, where `serve` is) and the future of `serve`, whose type is the
//! service's.
//!
//! Protocol: the shim (see `shim`) makes a [`RunOf`] for its type and hands it out as a
//! [`RunCell`]; the driver (`driver::serve`'s `ActiveRun`) is the only one that reads
//! and changes it. `serve` is polled and dropped inside the run's `tracing` span, when
//! there is one. Nothing else here is generic: a type pays for four small methods.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use crate::{BoxError, ServiceContext, SharedError};

/// What a run's cell holds besides `serve`: the same for every service type.
pub(crate) struct RunParts {
    pub(in crate::engine) ctx: ServiceContext,
    /// Serve must be Running and ready by then. Read from the clock only for a run that
    /// needs it (one with an initialize hook, or `ready = "manual"`); `None` otherwise.
    pub(in crate::engine) startup_deadline: Option<Instant>,
    pub(in crate::engine) phase: Phase,
}

impl RunParts {
    pub(crate) fn new(ctx: ServiceContext, startup_deadline: Option<Instant>) -> Self {
        RunParts {
            ctx,
            startup_deadline,
            phase: Phase::Idle,
        }
    }
}

/// Where `serve` is in its run.
pub(crate) enum Phase {
    /// Not begun (before `on_initialize` has returned, or for a resource), or its outcome
    /// was taken: nothing to poll.
    Idle,
    /// Armed: its next poll begins it.
    Fresh,
    /// Put off by one turn (see `ActiveRun::put_off`).
    PutOff,
    /// Running.
    Begun,
    /// It ended (while a hook ran next to it) and nobody has taken the outcome yet.
    Ended(Result<(), SharedError>),
}

/// A run's cell, as the engine sees it; implemented by the shim for each service type
/// (and once for the resources, which have no `serve`).
pub(crate) trait RunCell: Send {
    /// The parts every type has.
    fn parts(&self) -> &RunParts;

    /// The parts every type has, to change.
    fn parts_mut(self: Pin<&mut Self>) -> &mut RunParts;

    /// Polls `serve` (inside the run's span); `Pending` once it is gone.
    fn poll_serve(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;

    /// Drops `serve` where it is (inside the run's span).
    fn drop_serve(self: Pin<&mut Self>);
}

pin_project_lite::pin_project! {
    /// The cell of a run whose `serve` is an `F`.
    pub(crate) struct RunOf<F> {
        parts: RunParts,
        #[pin]
        serve: Option<F>,
    }
}

impl<F> RunOf<F> {
    pub(crate) fn new(parts: RunParts, serve: Option<F>) -> Self {
        RunOf { parts, serve }
    }
}

impl<F: Future<Output = Result<(), BoxError>> + Send> RunCell for RunOf<F> {
    fn parts(&self) -> &RunParts {
        &self.parts
    }

    fn parts_mut(self: Pin<&mut Self>) -> &mut RunParts {
        self.project().parts
    }

    fn poll_serve(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let this = self.project();
        let _entered = this.parts.ctx.span().map(tracing::Span::enter);
        match this.serve.as_pin_mut() {
            Some(serve) => serve.poll(cx),
            None => Poll::Pending,
        }
    }

    fn drop_serve(self: Pin<&mut Self>) {
        let mut this = self.project();
        let _entered = this.parts.ctx.span().map(tracing::Span::enter);
        this.serve.set(None);
    }
}
