//! The lifecycle driver: one run of a service, from `initialize` to the end of its stop.
//!
//! Every wait is bounded, and nothing a service does can end the supervisor's task: a
//! hook that panics while it builds its future, while it runs, or when it is dropped at
//! its timeout is that hook's error. Deadlines saturate (a `Duration::MAX` timeout means
//! no limit), and during the app's stop every wait also ends at the shutdown deadline.
//! A shutdown that reaches a service during an initialize hook cancels the run's token
//! and gives the hook `shutdown_timeout` more, not what is left of `startup_timeout`.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use crate::app::AppInner;
use crate::shim::{Hook, HookFuture};
use crate::unit::Unit;
use crate::{
    BoxError, CutOff, Panicked, ReadyMode, ServiceContext, ServiceReport, SharedError,
    StartFailure, Status, TimedOut, WaitError,
};

/// How long the runtime waits for a task it has aborted (or a child it has dropped) to be
/// gone: an abort takes effect at the task's next `.await`, and code that never yields
/// keeps its thread however long one waits.
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
fn stop_deadline(app: &AppInner, limit: Duration) -> Instant {
    let own = deadline_in(limit);
    app.hard_deadline.get().map_or(own, |&hard| own.min(hard))
}

/// Awaits `fut` until `deadline`, or until the shutdown deadline cuts everything off
/// (`None` either way). A stop can begin before the shutdown does (a restart's stop, the
/// clean-up of a failed run, a group's hold): its deadline was chosen without the
/// shutdown's, so the `cut_off` token ends it when that runs out.
pub(crate) async fn within<F: Future>(
    app: &AppInner,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = tokio::time::timeout_at(deadline, fut) => output.ok(),
        () = app.cut_off.cancelled() => None,
    }
}

/// A run whose initialize hooks have begun and whose shutdown hooks have not run yet.
pub(crate) struct ActiveRun {
    pub(crate) ctx: ServiceContext,
    /// Aborted when dropped: a supervisor that is itself aborted leaves no serve behind.
    pub(crate) serve: Option<AbortOnDropHandle<Result<(), BoxError>>>,
    /// Serve must be Running and ready by then.
    pub(crate) startup_deadline: Instant,
    /// The error of an initialize hook that the shutdown interrupted: the stop's event
    /// carries it.
    pub(crate) interrupted_error: Option<SharedError>,
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        // Its children go with it (a no-op once `stop_run` has closed them).
        self.ctx.abort_children();
    }
}

pub(crate) struct Driver {
    pub(crate) unit: Arc<Unit>,
    pub(crate) app: Arc<AppInner>,
    pub(crate) report: ServiceReport,
    pub(crate) active: Option<ActiveRun>,
}

impl Driver {
    /// Starting → dependencies → `before_initialize` → `on_initialize` → spawn serve →
    /// `after_initialize`; returns while still Starting. On a failure the service is
    /// Failed, except when the app's shutdown interrupted the start.
    pub(crate) async fn initialize(&mut self) -> Result<(), StartFailure> {
        let spec = &self.unit.shim.spec;
        if self.app.is_stopping() {
            return Err(StartFailure::Interrupted);
        }
        self.report.aborted = false;
        self.unit.set_status(Status::Starting, None);
        if let Err(failure) = self.await_dependencies(spec.startup_timeout).await {
            if !matches!(failure, StartFailure::Interrupted) {
                self.fail("startup", failure.error());
            }
            return Err(failure);
        }
        // The service's own start begins once its dependencies are up: waiting for them
        // does not eat into the time its hooks get.
        let startup_deadline = deadline_in(spec.startup_timeout);
        let ctx = ServiceContext::new(self.unit.clone(), self.app.clone());
        self.active = Some(ActiveRun {
            ctx: ctx.clone(),
            serve: None,
            startup_deadline,
            interrupted_error: None,
        });

        self.init_hook(Hook::BeforeInitialize, &ctx).await?;
        self.init_hook(Hook::OnInitialize, &ctx).await?;
        let serves = self.unit.shim.serves;
        if serves {
            let handle = self.spawn_serve(ctx.clone());
            if let Some(active) = &mut self.active {
                active.serve = Some(handle);
            }
        }
        self.init_hook(Hook::AfterInitialize, &ctx).await?;
        if !serves {
            self.unit.begin_running(true);
        }
        Ok(())
    }

    async fn await_dependencies(&self, timeout: Duration) -> Result<(), StartFailure> {
        for &dep in self.unit.dependencies.iter() {
            let target = &self.app.registry.units[dep];
            let wait = self.app.wait_up(Some(&self.unit), target);
            match tokio::time::timeout(timeout, wait).await {
                Ok(Ok(())) => {}
                Ok(Err(WaitError::ShuttingDown)) => return Err(StartFailure::Interrupted),
                Ok(Err(e)) => return Err(StartFailure::Dependency(e)),
                Err(_) => {
                    return Err(StartFailure::DependencyTimeout {
                        dependency: target.name.clone(),
                        timeout,
                    });
                }
            }
        }
        Ok(())
    }

    /// One initialize hook, to the run's startup deadline; the app's stop reaching the
    /// service interrupts it (see the module's header).
    async fn init_hook(&mut self, hook: Hook, ctx: &ServiceContext) -> Result<(), StartFailure> {
        let spec = &self.unit.shim.spec;
        let Some(fut) = self.unit.shim.hook(&self.unit.value, hook, ctx) else {
            // A no-op default: nothing to run, but a shutdown that began meanwhile still
            // interrupts the start (see below).
            return match self.app.is_stopping() {
                true => Err(StartFailure::Interrupted),
                false => Ok(()),
            };
        };
        let hook = hook.name();
        let deadline = self
            .active
            .as_ref()
            .map_or_else(Instant::now, |a| a.startup_deadline);
        let interrupt = Interrupt {
            token: &self.unit.stop,
            limit: spec.shutdown_timeout,
        };
        let (result, interrupted) = run_hook(
            &self.app,
            hook,
            ctx,
            fut,
            || deadline,
            spec.startup_timeout,
            Some(interrupt),
        )
        .await;
        // The app's shutdown began while the hook ran, but the hook finished by itself
        // before the stop reached the service (one that awaited `app.shutdown()` returns
        // exactly then, and the hook's output wins the race with the interrupt): the start
        // is interrupted all the same. Otherwise the next hooks and serve would still run
        // after the stop was asked for, and `start()` would return `Ok`.
        let interrupted = interrupted || self.app.is_stopping();
        match result {
            Err(error) if interrupted => {
                // Like a "closed" error of serve while the app stops: kept, not a failure.
                tracing::info!(service = %self.unit.name, hook, %error, "hook ended with an error after the shutdown interrupted it");
                self.report.record(hook, error.clone());
                if let Some(active) = &mut self.active {
                    active.interrupted_error = Some(error);
                }
                Err(StartFailure::Interrupted)
            }
            Ok(()) if interrupted => Err(StartFailure::Interrupted),
            Ok(()) => Ok(()),
            Err(error) => {
                self.fail(hook, error.clone());
                Err(StartFailure::Hook { hook, error })
            }
        }
    }

    fn spawn_serve(&self, ctx: ServiceContext) -> AbortOnDropHandle<Result<(), BoxError>> {
        let unit = self.unit.clone();
        let auto_ready = unit.shim.spec.ready == ReadyMode::Auto;
        let scope = unit.clone();
        let fut = unit.shim.serve(&unit.value, &ctx);
        let serve = async move {
            unit.begin_running(auto_ready);
            fut.await
        };
        AbortOnDropHandle::new(tokio::spawn(
            crate::inside::scope(scope, serve).in_current_span(),
        ))
    }

    /// Records `error` and marks the service Failed.
    pub(crate) fn fail(&mut self, what: &'static str, error: SharedError) {
        self.report.record(what, error.clone());
        self.unit.set_status(Status::Failed, Some(error));
    }

    /// Stops the active run: (Stopping →) `before_shutdown` → cancel serve and wait up to
    /// `shutdown_timeout` (then abort) → children → `on_shutdown` → `after_shutdown` →
    /// (Stopped). With `publish` false it runs the same hooks without touching the status,
    /// to clean up after a serve that already ended. Every hook runs whatever the ones
    /// before it did, each bounded by `shutdown_timeout` (and by the shutdown deadline).
    ///
    /// The report's `aborted` says whether this stop had to cut serve or children off;
    /// the next initialize clears it, so it always describes the last stop, and an abort
    /// during a restart stays only in the errors.
    pub(crate) async fn stop_run(&mut self, publish: bool) {
        let Some(mut active) = self.active.take() else {
            return;
        };
        let ctx = active.ctx.clone();
        let limit = self.unit.shim.spec.shutdown_timeout;
        if publish {
            self.unit.set_status(Status::Stopping, None);
        }
        // An initialize hook that the shutdown interrupted is the first thing this stop's
        // event reports; otherwise, the last error of the stop.
        let interrupted_error = active.interrupted_error.take();
        let mut last_error = None;
        let mut crash = None;
        let mut aborted = false;

        last_error = self
            .stop_hook(Hook::BeforeShutdown, &ctx)
            .await
            .or(last_error);
        ctx.cancel();
        if let Some(mut handle) = active.serve.take() {
            let deadline = || stop_deadline(&self.app, limit);
            match ready_or_timeout(&self.app, &mut handle, deadline).await {
                Some(result) => {
                    if let Err(error) = serve_outcome(result) {
                        if self.unit.shim.is_fatal(&*error) {
                            crash = Some(error.clone());
                        }
                        tracing::warn!(service = %self.unit.name, %error, "serve returned an error while stopping");
                        self.report.record("serve", error.clone());
                        last_error = Some(error);
                    }
                }
                None => {
                    let error = ran_out(&self.app, "serve", limit);
                    tracing::warn!(service = %self.unit.name, %error, "serve did not finish after cancellation; aborting it");
                    handle.abort();
                    // An abort takes effect at the task's next `.await`; a serve that never
                    // awaits keeps its thread, and the process must not wait for it.
                    if tokio::time::timeout(ABORT_GRACE, &mut handle)
                        .await
                        .is_err()
                    {
                        tracing::error!(
                            service = %self.unit.name,
                            "serve still runs after its abort (it never awaits); the process must exit without waiting for it"
                        );
                        self.app
                            .stuck
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    aborted = true;
                    self.report.record("serve", error.clone());
                    last_error = Some(error);
                }
            }
        }
        let (left, panics) = ctx.close_children(stop_deadline(&self.app, limit)).await;
        for error in panics {
            self.report.record("child task", error.clone());
            last_error = Some(error);
        }
        if left > 0 {
            let error = ran_out(&self.app, "children", limit);
            tracing::warn!(service = %self.unit.name, left, %error, "child tasks did not finish after cancellation; dropped them");
            aborted = true;
            self.report.record("children", error.clone());
            last_error = Some(error);
        }
        last_error = self.stop_hook(Hook::OnShutdown, &ctx).await.or(last_error);
        last_error = self
            .stop_hook(Hook::AfterShutdown, &ctx)
            .await
            .or(last_error);

        if let Some(error) = crash {
            self.unit.set_status(Status::Crashed, Some(error));
            self.app
                .begin_shutdown(format!("service `{}` crashed", self.unit.name));
        } else if publish {
            self.unit.transition(
                |from| !from.is_terminal(),
                Status::Stopped,
                interrupted_error.or(last_error),
            );
        }
        self.report.aborted = aborted;
    }

    async fn stop_hook(&mut self, hook: Hook, ctx: &ServiceContext) -> Option<SharedError> {
        let fut = self.unit.shim.hook(&self.unit.value, hook, ctx)?;
        let hook = hook.name();
        let limit = self.unit.shim.spec.shutdown_timeout;
        let deadline = || stop_deadline(&self.app, limit);
        let (result, _) = run_hook(&self.app, hook, ctx, fut, deadline, limit, None).await;
        let error = result.err()?;
        tracing::warn!(service = %self.unit.name, hook, %error, "shutdown hook failed");
        self.report.record(hook, error.clone());
        Some(error)
    }
}

/// What ends an initialize hook's wait early: the app's stop reaching the service. The
/// hook then sees its run cancelled and gets `limit` more.
struct Interrupt<'a> {
    token: &'a CancellationToken,
    limit: Duration,
}

/// Runs one hook: polls its future (a panic there, also in the user's method building
/// it, is the hook's error) until `deadline` (or, once `interrupt` fires, its bound), and
/// turns a panic into [`Panicked`] and a timeout into [`TimedOut`]. A hook cut off at its
/// deadline is dropped here, and a panic of its drop is caught too. Returns the hook's
/// result and whether it was interrupted.
async fn run_hook(
    app: &AppInner,
    hook: &'static str,
    ctx: &ServiceContext,
    fut: HookFuture,
    deadline: impl FnOnce() -> Instant,
    limit: Duration,
    interrupt: Option<Interrupt<'_>>,
) -> (Result<(), SharedError>, bool) {
    let mut slot = pin!(Some(AssertUnwindSafe(fut).catch_unwind()));
    let mut interrupted = false;
    let mut after = limit;
    let outcome = {
        let mut fut = poll_fn(|cx| match slot.as_mut().as_pin_mut() {
            Some(fut) => fut.poll(cx),
            None => Poll::Pending,
        });
        // Most hooks finish on their first poll: only those that do not pay for reading
        // the clock and arming a timer.
        match poll_fn(|cx| Poll::Ready(Pin::new(&mut fut).poll(cx))).await {
            Poll::Ready(output) => Some(output),
            Poll::Pending => {
                let mut deadline = deadline();
                let mut early = None;
                if let Some(interrupt) = interrupt {
                    tokio::select! {
                        biased;
                        output = within(app, deadline, &mut fut) => early = Some(output),
                        () = interrupt.token.cancelled() => {
                            interrupted = true;
                            after = interrupt.limit;
                            ctx.cancel();
                            deadline = deadline.min(stop_deadline(app, interrupt.limit));
                        }
                    }
                }
                match early {
                    Some(output) => output,
                    None => within(app, deadline, &mut fut).await,
                }
            }
        }
    };
    let result = match outcome {
        Some(Ok(result)) => result.map_err(Arc::from),
        Some(Err(payload)) => Err(Arc::new(Panicked::from_payload(&*payload)) as SharedError),
        None => {
            if std::panic::catch_unwind(AssertUnwindSafe(|| slot.set(None))).is_err() {
                tracing::warn!(service = %ctx.name(), hook, "the hook panicked when it was dropped at its timeout");
            }
            Err(ran_out(app, hook, after))
        }
    };
    (result, interrupted)
}

/// The error of a wait for `what` that ran out: its own `limit` ([`TimedOut`]), or the
/// app's shutdown deadline, which came first ([`CutOff`]).
fn ran_out(app: &AppInner, what: &'static str, limit: Duration) -> SharedError {
    let cut_off = app.cut_off.is_cancelled()
        || app
            .hard_deadline
            .get()
            .is_some_and(|&hard| Instant::now() >= hard);
    if cut_off {
        Arc::new(CutOff { what })
    } else {
        Arc::new(TimedOut { what, after: limit })
    }
}

/// Awaits `fut` until `deadline` (`None` when it ran out, or when the shutdown deadline cut
/// it off: see [`within`]). Most futures finish on their first poll; only those that do not
/// pay for reading the clock and arming a timer.
pub(crate) async fn ready_or_timeout<F: Future>(
    app: &AppInner,
    fut: F,
    deadline: impl FnOnce() -> Instant,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let first = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Some(output),
        Poll::Pending => within(app, deadline(), fut).await,
    }
}

/// The result of the serve task, with a panic turned into [`Panicked`].
pub(crate) fn serve_outcome(
    result: Result<Result<(), BoxError>, JoinError>,
) -> Result<(), SharedError> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Arc::from(error)),
        Err(join) if join.is_panic() => Err(Arc::new(Panicked::from_payload(&*join.into_panic()))),
        Err(join) => Err(Arc::new(join)),
    }
}

impl StartFailure {
    /// The error to publish and to classify: a hook's own error, or this failure.
    pub(crate) fn error(&self) -> SharedError {
        match self {
            StartFailure::Hook { error, .. } => error.clone(),
            other => Arc::new(other.clone()),
        }
    }
}
