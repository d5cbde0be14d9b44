//! The active run: its cell (see `cell`), with `serve` in it, polled by the
//! supervisor's own task.
//!
//! Protocol:
//! - The cell is made when the run begins (before its initialize hooks) with the future
//!   of `serve` in it, not yet begun: only `serve`'s first poll calls the user's method,
//!   after `on_initialize` (see [`ActiveRun::arm`]). The code here is compiled once for
//!   every type, through `cell::RunCell`.
//! - The cell is only reached through `&mut` by the supervisor's task, so `serve` needs
//!   no lock and no task of its own. It runs next to `after_initialize` and
//!   `before_shutdown` ([`ActiveRun::alongside`]) and while the supervisor watches the
//!   run ([`ActiveRun::ended`]); an outcome that comes while a hook runs is kept for the
//!   next look. A panic of `serve` is caught and is its outcome; a panic of its drop
//!   (when it is cut off) is caught and kept in the report, next to the timeout.
//! - `serve` is polled and dropped inside the run's `tracing` span, when there is one.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::super::cell::{Phase, RunCell};
use super::super::stop::StopSignals;
use super::super::unit::Unit;
use super::hook::{deadline_reached, panicked, panicked_when_dropped, stop_deadline};
use crate::{ReadyMode, ServiceContext, SharedError};

/// A run whose initialize hooks have begun and whose shutdown hooks have not run yet:
/// its cell, polled by the supervisor's own task.
pub(crate) struct ActiveRun(Pin<Box<dyn RunCell>>);

impl Drop for ActiveRun {
    fn drop(&mut self) {
        // Its children go with it (a no-op once the stop has closed them).
        self.ctx().abort_children();
    }
}

impl ActiveRun {
    pub(crate) fn new(cell: Pin<Box<dyn RunCell>>) -> Self {
        ActiveRun(cell)
    }

    /// The run's context.
    pub(crate) fn ctx(&self) -> &ServiceContext {
        &self.0.parts().ctx
    }

    /// The run's startup deadline, when it needs one.
    pub(crate) fn startup_deadline(&self) -> Option<Instant> {
        self.0.parts().startup_deadline
    }

    fn phase(&mut self) -> &mut Phase {
        &mut self.0.as_mut().parts_mut().phase
    }

    /// `serve` may begin: its next poll calls the service's method.
    pub(super) fn arm(&mut self) {
        *self.phase() = Phase::Fresh;
    }

    /// Whether there is a `serve` whose outcome nobody has taken.
    pub(crate) fn is_live(&self) -> bool {
        !matches!(self.0.parts().phase, Phase::Idle)
    }

    /// Puts the first poll of `serve` off by one turn, as for a task of its own: a task
    /// this one just woke runs first, and a `serve` that never yields cannot trap it in
    /// this worker's next-task slot.
    pub(crate) fn put_off(&mut self) {
        let phase = self.phase();
        if matches!(phase, Phase::Fresh) {
            *phase = Phase::PutOff;
        }
    }

    /// Polls `serve`; a panic is its error. The run is Running (ready at once with
    /// `ready = "auto"`) when `serve` begins. `serve` is dropped as soon as it ends.
    fn poll_serve(&mut self, unit: &Unit, cx: &mut Context<'_>) -> Poll<Result<(), SharedError>> {
        let phase = self.phase();
        match std::mem::replace(phase, Phase::Begun) {
            Phase::Begun => {}
            Phase::Fresh => {
                unit.begin_running(unit.spec().ready == ReadyMode::Auto);
            }
            Phase::PutOff => {
                *phase = Phase::Fresh;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Phase::Ended(outcome) => {
                *phase = Phase::Idle;
                return Poll::Ready(outcome);
            }
            Phase::Idle => {
                *phase = Phase::Idle;
                return Poll::Pending;
            }
        }
        let cell = self.0.as_mut();
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| cell.poll_serve(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result.map_err(SharedError::from),
            Err(payload) => Err(panicked(&*payload)),
        };
        *self.phase() = Phase::Idle;
        self.drop_serve(unit);
        Poll::Ready(outcome)
    }

    /// Completes when `serve` ends, with its outcome; never, when there is none.
    pub(crate) fn ended<'a>(
        &'a mut self,
        unit: &'a Unit,
    ) -> impl Future<Output = Result<(), SharedError>> + 'a {
        poll_fn(move |cx| self.poll_serve(unit, cx))
    }

    /// Completes when a cancelled `serve` ends, with its outcome, or with `Err(limit)`
    /// once its `shutdown_timeout` has passed (or the shutdown deadline cut the stop
    /// off). Polled once inline: only a `serve` that does not end at once pays for
    /// reading the clock and a (boxed) timer, so the stop's future stays small.
    pub(super) fn ended_within<'a>(
        &'a mut self,
        unit: &'a Unit,
        stop: &'a StopSignals,
    ) -> impl Future<Output = Result<Result<(), SharedError>, Duration>> + Send + 'a {
        let mut timer = None;
        poll_fn(move |cx| {
            if let Poll::Ready(outcome) = self.poll_serve(unit, cx) {
                return Poll::Ready(Ok(outcome));
            }
            let (timer, limit) = timer.get_or_insert_with(|| {
                let limit = unit.spec().shutdown_timeout;
                (
                    Box::pin(deadline_reached(stop, stop_deadline(stop, limit))),
                    limit,
                )
            });
            let limit = *limit;
            timer.as_mut().poll(cx).map(|()| Err(limit))
        })
    }

    /// Runs `other` while `serve` goes on running; an outcome of `serve` meanwhile is kept
    /// for [`ended`](Self::ended).
    pub(super) async fn alongside<F: Future>(&mut self, unit: &Unit, other: F) -> F::Output {
        let mut other = pin!(other);
        poll_fn(|cx| {
            if let Poll::Ready(output) = other.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            if !matches!(self.0.parts().phase, Phase::Ended(_))
                && let Poll::Ready(outcome) = self.poll_serve(unit, cx)
            {
                *self.phase() = Phase::Ended(outcome);
            }
            Poll::Pending
        })
        .await
    }

    /// Drops a `serve` that outlived its timeout; a panic of its drop is caught, logged
    /// and kept in the report.
    pub(super) fn abort(&mut self, unit: &Unit) {
        *self.phase() = Phase::Idle;
        self.drop_serve(unit);
    }

    /// Drops `serve` where it is; a panic of its drop is caught, logged and kept in the
    /// report.
    fn drop_serve(&mut self, unit: &Unit) {
        let cell = self.0.as_mut();
        if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| cell.drop_serve())) {
            let error = panicked_when_dropped(&*payload);
            tracing::warn!(service = %unit.name, %error, "serve panicked when it was dropped");
            unit.record_error("serve", error);
        }
    }
}
