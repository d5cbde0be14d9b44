//! `serve`'s slot in a run: polled by the supervisor's own task.
//!
//! Protocol: the slot is only reached through `&mut` by the supervisor's task, so `serve`
//! needs no lock and no task of its own. It runs next to `after_initialize` and
//! `before_shutdown` ([`ServeSlot::alongside`]) and while the supervisor watches the run
//! ([`ServeSlot::ended`]); an outcome that comes while a hook runs is kept for the next
//! look. A panic of `serve` is caught and is its outcome; a panic of its drop (when it is
//! cut off) is caught and kept in the report, next to the timeout.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::super::shim::HookFuture;
use super::super::stop::StopSignals;
use super::super::unit::Unit;
use super::hook::{deadline_reached, panicked, panicked_when_dropped, stop_deadline};
use crate::{ReadyMode, SharedError};

/// A run's `serve`, polled by the supervisor's own task.
#[derive(Default)]
pub(crate) enum ServeSlot {
    /// No `serve` (a resource), or its outcome was taken.
    #[default]
    Empty,
    /// Created: its first poll begins it.
    Fresh(HookFuture),
    /// Put off by one turn (see [`put_off`](Self::put_off)).
    PutOff(HookFuture),
    /// Running.
    Begun(HookFuture),
    /// It ended (while a hook ran next to it) and nobody has taken the outcome yet.
    Ended(Result<(), SharedError>),
}

impl ServeSlot {
    pub(super) fn new(fut: HookFuture) -> Self {
        ServeSlot::Fresh(fut)
    }

    /// Whether there is a `serve` whose outcome nobody has taken.
    pub(crate) fn is_live(&self) -> bool {
        !matches!(self, ServeSlot::Empty)
    }

    /// Puts the first poll of `serve` off by one turn, as for a task of its own: a task
    /// this one just woke runs first, and a `serve` that never yields cannot trap it in
    /// this worker's next-task slot.
    pub(crate) fn put_off(&mut self) {
        *self = match std::mem::take(self) {
            ServeSlot::Fresh(fut) => ServeSlot::PutOff(fut),
            other => other,
        };
    }

    /// Polls `serve`; a panic is its error. The run is Running (ready at once with
    /// `ready = "auto"`) when `serve` begins.
    fn poll_serve(&mut self, unit: &Unit, cx: &mut Context<'_>) -> Poll<Result<(), SharedError>> {
        match std::mem::take(self) {
            ServeSlot::PutOff(fut) => {
                *self = ServeSlot::Fresh(fut);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            ServeSlot::Fresh(fut) => {
                unit.begin_running(unit.spec().ready == ReadyMode::Auto);
                *self = ServeSlot::Begun(fut);
            }
            ServeSlot::Ended(outcome) => return Poll::Ready(outcome),
            other => *self = other,
        }
        let ServeSlot::Begun(fut) = self else {
            return Poll::Pending;
        };
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result.map_err(SharedError::from),
            Err(payload) => Err(panicked(&*payload)),
        };
        *self = ServeSlot::Empty;
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
            if !matches!(self, ServeSlot::Ended(_))
                && let Poll::Ready(outcome) = self.poll_serve(unit, cx)
            {
                *self = ServeSlot::Ended(outcome);
            }
            Poll::Pending
        })
        .await
    }

    /// Drops a `serve` that outlived its timeout; a panic of its drop is caught, logged
    /// and kept in the report.
    pub(super) fn abort(&mut self, unit: &Unit) {
        let slot = std::mem::take(self);
        if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(slot))) {
            let error = panicked_when_dropped(&*payload);
            tracing::warn!(service = %unit.name, %error, "serve panicked when it was dropped");
            unit.record_error("serve", error);
        }
    }
}
