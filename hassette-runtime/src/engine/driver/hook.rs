//! Running one hook (or waiting for `serve`) to its deadline: the timers of a run.
//!
//! Protocol: a hook's future is polled once inline; only one that is still pending pays
//! for reading the clock, arming a timer and the box of the slower wait. Every wait ends
//! at its own deadline, at the app's shutdown deadline (`hard_deadline`), or when
//! `cut_off` is cancelled (for a wait that chose its deadline before the shutdown began).
//! A panic while a hook is polled is caught and becomes the hook's error; one while it is
//! dropped at its deadline is caught and kept in the report, next to the timeout error.
//! Nothing here blocks: code that never reaches an `.await` holds its thread, and only
//! the stop's budget (see `shutdown`) bounds it.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::super::shim::{Hook, HookFuture};
use super::super::stop::StopSignals;
use super::super::unit::Unit;
use crate::{CutOff, Panicked, ServiceContext, SharedError, TimedOut};

/// How long the runtime waits for a child task it has dropped to be gone: the drop
/// takes effect at the task's next `.await`, and code that never yields keeps its
/// thread however long one waits.
pub(crate) const ABORT_GRACE: Duration = Duration::from_millis(100);

/// The deadline `limit` from now; a limit too large for the clock (up to `Duration::MAX`)
/// means no limit, as for tokio's own timers.
pub(crate) fn deadline_in(limit: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    let now = Instant::now();
    now.checked_add(limit)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// The deadline of one wait of a stop: `limit` from now, and never past the app's
/// shutdown deadline.
pub(super) fn stop_deadline(stop: &StopSignals, limit: Duration) -> Instant {
    let own = deadline_in(limit);
    stop.hard_deadline().map_or(own, |hard| own.min(hard))
}

/// Awaits `fut` until `deadline`, or until the shutdown deadline cuts everything off
/// (`None` either way). A stop can begin before the shutdown does (a restart's stop, the
/// clean-up of a failed run, a group's hold): its deadline was chosen without the
/// shutdown's, so the `cut_off` token ends it when that runs out.
pub(crate) async fn within<F: Future>(
    stop: &StopSignals,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = tokio::time::timeout_at(deadline, fut) => output.ok(),
        () = stop.cut_off_reached() => None,
    }
}

/// Completes at `deadline`, or when the shutdown deadline cuts everything off (see
/// [`within`]).
pub(super) async fn deadline_reached(stop: &StopSignals, deadline: Instant) {
    tokio::select! {
        biased;
        () = tokio::time::sleep_until(deadline) => {}
        () = stop.cut_off_reached() => {}
    }
}

/// The error of a wait for `what` that ran out: its own `limit` ([`TimedOut`]), or the
/// app's shutdown deadline, which came first ([`CutOff`]).
pub(super) fn ran_out(stop: &StopSignals, what: &'static str, limit: Duration) -> SharedError {
    if stop.is_cut_off() {
        Arc::new(CutOff { what })
    } else {
        Arc::new(TimedOut { what, after: limit })
    }
}

/// A panic's payload as the error of the hook or `serve` that panicked.
pub(super) fn panicked(payload: &(dyn std::any::Any + Send)) -> SharedError {
    Arc::new(Panicked::from_payload(payload))
}

/// A panic's payload, raised while a hook's or `serve`'s future was dropped at its
/// timeout, as an error for the report.
pub(super) fn panicked_when_dropped(payload: &(dyn std::any::Any + Send)) -> SharedError {
    let message = Panicked::from_payload(payload);
    Arc::new(Panicked::new(format!(
        "{} (when it was dropped)",
        message.message()
    )))
}

/// `fut` (a hook's or `serve`'s) inside its run's span, when there is one (see
/// `ServiceContext::begin_span`): a box more per call, only while a subscriber wants it.
pub(super) fn in_run(fut: HookFuture, ctx: &ServiceContext) -> HookFuture {
    use tracing::Instrument as _;
    match ctx.span() {
        Some(span) => Box::pin(fut.instrument(span.clone())),
        None => fut,
    }
}

pub(super) type StopHook<'a> = Pin<Box<dyn Future<Output = Option<SharedError>> + Send + 'a>>;

/// The wait of one shutdown hook, to `shutdown_timeout`, whose error is logged and
/// recorded; `None` for a no-op default. Boxed, so a stop's future stays small whatever
/// hooks a type defines. (A free function: the driver holds `serve`, which is `Send` but
/// not `Sync`.)
pub(super) fn stop_hook<'a>(
    stop: &'a StopSignals,
    unit: &'a Unit,
    hook: Hook,
    ctx: &'a ServiceContext,
) -> Option<StopHook<'a>> {
    let fut = in_run(unit.shim.hook(&unit.value, hook, ctx)?, ctx);
    Some(Box::pin(async move {
        let name = hook.name();
        let limit = unit.spec().shutdown_timeout;
        let deadline = move || stop_deadline(stop, limit);
        let (result, _) = run_hook(stop, name, ctx, fut, deadline, limit, None).await;
        let error = result.err()?;
        tracing::warn!(service = %unit.name, hook = name, %error, "shutdown hook failed");
        unit.record_error(name, error.clone());
        Some(error)
    }))
}

/// What ends an initialize hook's wait early: the app's stop reaching the service. The
/// hook then sees its run cancelled and gets `limit` more.
pub(super) struct Interrupt<'a> {
    pub(super) unit: &'a Unit,
    pub(super) limit: Duration,
}

/// Runs one hook: polls its future (a panic there, also in the user's method building
/// it, is the hook's error) until `deadline` (or, once `interrupt` fires, its bound), and
/// turns a panic into [`Panicked`] and a timeout into [`TimedOut`]. A hook cut off at its
/// deadline is dropped here, and a panic of its drop is caught too. Returns the hook's
/// result and whether it was interrupted.
#[allow(clippy::manual_async_fn)] // see the comment in the body
pub(super) fn run_hook(
    stop: &StopSignals,
    hook: &'static str,
    ctx: &ServiceContext,
    fut: HookFuture,
    deadline: impl FnOnce() -> Instant + Send,
    limit: Duration,
    interrupt: Option<Interrupt<'_>>,
) -> impl Future<Output = (Result<(), SharedError>, bool)> {
    // An `async` block, not an `async fn`: its future keeps the arguments once.
    async move {
        let mut fut = AssertUnwindSafe(fut).catch_unwind();
        // Most hooks finish on their first poll: only those that do not pay for reading the
        // clock, arming a timer, and the allocation of the slower wait.
        match poll_fn(|cx| Poll::Ready(fut.poll_unpin(cx))).await {
            Poll::Ready(output) => (hook_result(output), false),
            // Boxed as a temporary: a named local would keep its room in this future.
            Poll::Pending => {
                Box::pin(run_hook_slow(
                    stop,
                    hook,
                    ctx,
                    fut,
                    deadline(),
                    limit,
                    interrupt,
                ))
                .await
            }
        }
    }
}

/// The hook's result, with a panic turned into [`Panicked`].
fn hook_result(
    output: std::thread::Result<Result<(), crate::BoxError>>,
) -> Result<(), SharedError> {
    match output {
        Ok(result) => result.map_err(Arc::from),
        Err(payload) => Err(panicked(&*payload)),
    }
}

/// [`run_hook`] for a hook that did not finish on its first poll.
async fn run_hook_slow(
    stop: &StopSignals,
    hook: &'static str,
    ctx: &ServiceContext,
    fut: futures_util::future::CatchUnwind<AssertUnwindSafe<HookFuture>>,
    mut deadline: Instant,
    limit: Duration,
    interrupt: Option<Interrupt<'_>>,
) -> (Result<(), SharedError>, bool) {
    let mut slot = Some(fut);
    let mut interrupted = false;
    let mut after = limit;
    let outcome = {
        let mut fut = poll_fn(|cx| match slot.as_mut() {
            Some(fut) => fut.poll_unpin(cx),
            None => Poll::Pending,
        });
        let mut early = None;
        if let Some(interrupt) = interrupt {
            tokio::select! {
                biased;
                output = within(stop, deadline, &mut fut) => early = Some(output),
                () = interrupt.unit.stop_reached() => {
                    interrupted = true;
                    after = interrupt.limit;
                    ctx.cancel();
                    deadline = deadline.min(stop_deadline(stop, interrupt.limit));
                }
            }
        }
        match early {
            Some(output) => output,
            None => within(stop, deadline, &mut fut).await,
        }
    };
    let result = match outcome {
        Some(output) => hook_result(output),
        None => {
            if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| drop(slot.take()))) {
                let error = panicked_when_dropped(&*payload);
                tracing::warn!(service = %ctx.name(), hook, %error, "the hook panicked when it was dropped at its timeout");
                ctx.unit().record_error(hook, error);
            }
            Err(ran_out(stop, hook, after))
        }
    };
    (result, interrupted)
}
