//! The lifecycle driver: one run of a service, from `initialize` to the end of its stop.
//!
//! Protocol:
//! - The driver runs inside the service's supervisor task, and so does `serve`: the run's
//!   [`ServeSlot`] is polled by that one task, next to `after_initialize`, while the
//!   supervisor watches the run, and next to `before_shutdown`. One task per service,
//!   and a `serve` that ends while a hook still runs keeps its outcome in the slot.
//! - Every wait is bounded, and nothing a service does can end the task: a hook or
//!   `serve` that panics while it builds its future, while it runs, or when it is dropped
//!   at its timeout is that hook's (or serve's) error.
//! - Deadlines saturate (a `Duration::MAX` timeout means no limit), and during the app's
//!   stop every wait also ends at the shutdown deadline (`hard_deadline`, or the
//!   `cut_off` token for a wait that chose its deadline before the shutdown began).
//! - The app's stop reaching the service during an initialize hook cancels the run's
//!   token and gives the hook `shutdown_timeout` more, not what is left of
//!   `startup_timeout`.
//! - What cannot happen: code that never reaches an `.await` cannot be cut off by any
//!   timer, since the task that would fire it is the one it holds. The app's stop bounds
//!   each supervisor as a whole instead (see `shutdown`).

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::shim::{Hook, HookFuture};
use super::state::AppState;
use super::unit::Unit;
use crate::{
    CutOff, Panicked, ReadyMode, ServiceContext, SharedError, StartFailure, Status, TimedOut,
    WaitError,
};

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
fn stop_deadline(app: &AppState, limit: Duration) -> Instant {
    let own = deadline_in(limit);
    app.hard_deadline.get().map_or(own, |&hard| own.min(hard))
}

/// Awaits `fut` until `deadline`, or until the shutdown deadline cuts everything off
/// (`None` either way). A stop can begin before the shutdown does (a restart's stop, the
/// clean-up of a failed run, a group's hold): its deadline was chosen without the
/// shutdown's, so the `cut_off` token ends it when that runs out.
pub(crate) async fn within<F: Future>(
    app: &AppState,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = tokio::time::timeout_at(deadline, fut) => output.ok(),
        () = app.cut_off.cancelled() => None,
    }
}

/// Awaits `fut` until `deadline` (see [`within`]). Most futures finish on their first
/// poll; only those that do not pay for reading the clock, arming a timer and the
/// allocation of that slower wait (so the caller's future stays small).
async fn ready_or_timeout<F: Future + Unpin + Send>(
    app: &AppState,
    mut fut: F,
    deadline: impl FnOnce() -> Instant,
) -> Option<F::Output> {
    match poll_fn(|cx| Poll::Ready(Pin::new(&mut fut).poll(cx))).await {
        Poll::Ready(output) => Some(output),
        Poll::Pending => Box::pin(within(app, deadline(), fut)).await,
    }
}

/// The error of a wait for `what` that ran out: its own `limit` ([`TimedOut`]), or the
/// app's shutdown deadline, which came first ([`CutOff`]).
fn ran_out(app: &AppState, what: &'static str, limit: Duration) -> SharedError {
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

/// A panic's payload as the error of the hook or `serve` that panicked.
fn panicked(payload: &(dyn std::any::Any + Send)) -> SharedError {
    Arc::new(Panicked::from_payload(payload))
}

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
    fn new(fut: HookFuture) -> Self {
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
                unit.begin_running(unit.shim.spec.ready == ReadyMode::Auto);
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

    /// Runs `other` while `serve` goes on running; an outcome of `serve` meanwhile is kept
    /// for [`ended`](Self::ended).
    async fn alongside<F: Future>(&mut self, unit: &Unit, other: F) -> F::Output {
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

    /// Drops a `serve` that outlived its timeout; a panic of its drop is caught and
    /// logged.
    fn abort(&mut self, unit: &Unit) {
        let slot = std::mem::take(self);
        if std::panic::catch_unwind(AssertUnwindSafe(move || drop(slot))).is_err() {
            tracing::warn!(service = %unit.name, "serve panicked when it was dropped");
        }
    }
}

/// A run whose initialize hooks have begun and whose shutdown hooks have not run yet.
pub(crate) struct ActiveRun {
    pub(super) ctx: ServiceContext,
    pub(super) serve: ServeSlot,
    /// Serve must be Running and ready by then.
    pub(super) startup_deadline: Instant,
}

impl Drop for ActiveRun {
    fn drop(&mut self) {
        // Its children go with it (a no-op once `stop_run` has closed them).
        self.ctx.abort_children();
    }
}

/// How a run's error is classified: the one place that decides it (the status table in
/// `status.rs` lists the events each leads to).
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `serve` returned `Ok`: Stopped (a permanent service is then restarted).
    Clean,
    /// An error while the app shuts down ("connection closed"): Stopped, kept in the
    /// report, not a failure.
    Closed(SharedError),
    /// [`Fatal`](crate::Fatal) or a `fatal(...)` type, from a hook or `serve`: Crashed
    /// at once (no Failed before it), and the app shuts down.
    Fatal(SharedError),
    /// Any other error or a panic: Failed, and the restart policy decides.
    Failed(SharedError),
}

pub(crate) struct Driver {
    pub(super) unit: Arc<Unit>,
    pub(super) app: Arc<AppState>,
    /// Boxed: a supervisor's future stays one size smaller for it (its task is allocated
    /// in steps of 128 bytes).
    pub(super) active: Option<Box<ActiveRun>>,
}

impl Driver {
    pub(crate) fn new(unit: Arc<Unit>, app: Arc<AppState>) -> Self {
        Driver {
            unit,
            app,
            active: None,
        }
    }

    /// Classifies how a run ended (see [`Outcome`]).
    pub(crate) fn classify(&self, result: Result<(), SharedError>) -> Outcome {
        match result {
            Ok(()) => Outcome::Clean,
            Err(error) if self.unit.shim.is_fatal(&*error) => Outcome::Fatal(error),
            Err(error) if self.app.is_stopping() => Outcome::Closed(error),
            Err(error) => Outcome::Failed(error),
        }
    }

    /// Publishes an outcome of `what` (a hook, `serve`, the startup): its status and its
    /// error in the report. A clean end leaves the status to the caller.
    pub(crate) fn settle(&self, what: &'static str, outcome: &Outcome) {
        match outcome {
            Outcome::Clean => self.unit.set_status(Status::Stopped, None),
            Outcome::Closed(error) => {
                tracing::info!(service = %self.unit.name, what, %error, "ended with an error during shutdown");
                self.unit.record_error(what, error.clone());
                self.unit.set_status(Status::Stopped, Some(error.clone()));
            }
            Outcome::Fatal(error) => {
                self.unit.record_error(what, error.clone());
                self.unit.set_status(Status::Crashed, Some(error.clone()));
            }
            Outcome::Failed(error) => {
                self.unit.record_error(what, error.clone());
                self.unit.set_status(Status::Failed, Some(error.clone()));
            }
        }
    }

    /// Starting → dependencies → `before_initialize` → `on_initialize` → `serve` is
    /// created → `after_initialize` (while `serve` begins); returns while still Starting.
    /// On a failure the service is Failed (Crashed for a fatal error), except when the
    /// app's shutdown interrupted the start.
    #[allow(clippy::manual_async_fn)] // see the comment in the body
    pub(crate) fn initialize(&mut self) -> impl Future<Output = Result<(), StartFailure>> {
        // An `async` block, not an `async fn`: its future keeps the arguments once.
        async move {
            let spec = &self.unit.shim.spec;
            if self.app.is_stopping() {
                return Err(StartFailure::Interrupted);
            }
            self.unit.set_aborted(false);
            self.unit.set_status(Status::Starting, None);
            let waits = !self.unit.dependencies.is_empty();
            if waits
                && let Err(failure) = Box::pin(await_dependencies(
                    &self.app,
                    &self.unit,
                    spec.startup_timeout,
                ))
                .await
            {
                if !matches!(failure, StartFailure::Interrupted) {
                    self.settle("startup", &Outcome::Failed(failure.error()));
                }
                return Err(failure);
            }
            // The service's own start begins once its dependencies are up: waiting for them
            // does not eat into the time its hooks get.
            let startup_deadline = deadline_in(spec.startup_timeout);
            let ctx = ServiceContext::new(self.unit.clone(), self.app.clone());
            self.active = Some(Box::new(ActiveRun {
                ctx: ctx.clone(),
                serve: ServeSlot::default(),
                startup_deadline,
            }));

            self.init_hook(Hook::BeforeInitialize, &ctx).await?;
            self.init_hook(Hook::OnInitialize, &ctx).await?;
            let serves = self.unit.shim.serves;
            if serves && let Some(active) = &mut self.active {
                active.serve = ServeSlot::new(self.unit.shim.serve(&self.unit.value, &ctx));
            }
            self.init_hook(Hook::AfterInitialize, &ctx).await?;
            if !serves {
                self.unit.begin_running(true);
            }
            Ok(())
        }
    }

    /// One initialize hook, to the run's startup deadline, with `serve` running next to
    /// it once it exists; the app's stop reaching the service interrupts it (see the
    /// module's header). A no-op default costs nothing; a defined hook's wait is boxed,
    /// so this future stays small.
    async fn init_hook(&mut self, hook: Hook, ctx: &ServiceContext) -> Result<(), StartFailure> {
        let Some(fut) = self.unit.shim.hook(&self.unit.value, hook, ctx) else {
            // Nothing to run, but a shutdown that began meanwhile still interrupts the
            // start (see `after_init_hook`).
            return match self.app.is_stopping() {
                true => Err(StartFailure::Interrupted),
                false => Ok(()),
            };
        };
        let Some(active) = self.active.as_mut() else {
            return Err(StartFailure::Interrupted);
        };
        let spec = &self.unit.shim.spec;
        let deadline = active.startup_deadline;
        let interrupt = Interrupt {
            unit: &self.unit,
            limit: spec.shutdown_timeout,
        };
        let (app, unit) = (&*self.app, &*self.unit);
        let (result, interrupted) = Box::pin(active.serve.alongside(
            unit,
            run_hook(
                app,
                hook.name(),
                ctx,
                fut,
                move || deadline,
                spec.startup_timeout,
                Some(interrupt),
            ),
        ))
        .await;
        self.after_init_hook(hook.name(), result, interrupted)
    }

    /// What an initialize hook's end means for the start.
    fn after_init_hook(
        &self,
        name: &'static str,
        result: Result<(), SharedError>,
        interrupted: bool,
    ) -> Result<(), StartFailure> {
        // The app's shutdown began while the hook ran, but the hook finished by itself
        // before the stop reached the service (one that awaited `app.shutdown()` returns
        // exactly then, and the hook's output wins the race with the interrupt): the start
        // is interrupted all the same. Otherwise the next hooks and serve would still run
        // after the stop was asked for, and `start()` would return `Ok`.
        let interrupted = interrupted || self.app.is_stopping();
        match result {
            Err(error) if interrupted => {
                // Like a "closed" error of serve while the app stops: kept, not a failure.
                tracing::info!(service = %self.unit.name, hook = name, %error, "hook ended with an error after the shutdown interrupted it");
                self.unit.record_error(name, error.clone());
                self.unit.keep_interrupted(error);
                Err(StartFailure::Interrupted)
            }
            Ok(()) if interrupted => Err(StartFailure::Interrupted),
            Ok(()) => Ok(()),
            Err(error) => {
                let outcome = match self.unit.shim.is_fatal(&*error) {
                    true => Outcome::Fatal(error.clone()),
                    false => Outcome::Failed(error.clone()),
                };
                self.settle(name, &outcome);
                Err(StartFailure::Hook { hook: name, error })
            }
        }
    }

    /// Stops the active run: (Stopping →) `before_shutdown` (while `serve` goes on) →
    /// cancel the run and wait for `serve` up to `shutdown_timeout` (then drop it) →
    /// children → `on_shutdown` → `after_shutdown` → (Stopped). With `publish` false it
    /// runs the same hooks without touching the status, to clean up after a serve that
    /// already ended. Every hook runs whatever the ones before it did, each bounded by
    /// `shutdown_timeout` (and by the shutdown deadline).
    ///
    /// The unit's `aborted` says whether this stop had to cut serve or children off;
    /// the next initialize clears it, so it always describes the last stop, and an abort
    /// during a restart stays only in the errors.
    #[allow(clippy::manual_async_fn)] // see the comment in the body
    pub(crate) fn stop_run(&mut self, publish: bool) -> impl Future<Output = ()> {
        // An `async` block, not an `async fn`: its future keeps the arguments once.
        async move {
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
            let interrupted_error = self.unit.take_interrupted();
            let mut crash = None;
            let mut aborted = false;

            let (app, unit) = (&*self.app, &*self.unit);
            let mut last_error = match stop_hook(app, unit, Hook::BeforeShutdown, &ctx) {
                Some(hook) => active.serve.alongside(unit, hook).await,
                None => None,
            };
            ctx.cancel();
            if active.serve.is_live() {
                let deadline = || stop_deadline(&self.app, limit);
                let ended = active.serve.ended(&self.unit);
                match ready_or_timeout(&self.app, ended, deadline).await {
                    Some(Ok(())) => {}
                    Some(Err(error)) => {
                        if let Outcome::Fatal(error) = self.classify(Err(error.clone())) {
                            crash = Some(error);
                        }
                        tracing::warn!(service = %self.unit.name, %error, "serve returned an error while stopping");
                        self.unit.record_error("serve", error.clone());
                        last_error = Some(error);
                    }
                    None => {
                        let error = ran_out(&self.app, "serve", limit);
                        tracing::warn!(service = %self.unit.name, %error, "serve did not finish after cancellation; dropping it");
                        active.serve.abort(&self.unit);
                        aborted = true;
                        self.unit.record_error("serve", error.clone());
                        last_error = Some(error);
                    }
                }
            }
            let (left, panics) = match ctx.has_children() {
                true => Box::pin(ctx.close_children(stop_deadline(&self.app, limit))).await,
                false => (0, Vec::new()),
            };
            for error in panics {
                self.unit.record_error("child task", error.clone());
                last_error = Some(error);
            }
            if left > 0 {
                let error = ran_out(&self.app, "children", limit);
                tracing::warn!(service = %self.unit.name, left, %error, "child tasks did not finish after cancellation; dropped them");
                aborted = true;
                self.unit.record_error("children", error.clone());
                last_error = Some(error);
            }
            let on = match stop_hook(app, unit, Hook::OnShutdown, &ctx) {
                Some(hook) => hook.await,
                None => None,
            };
            last_error = on.or(last_error);
            let after = match stop_hook(app, unit, Hook::AfterShutdown, &ctx) {
                Some(hook) => hook.await,
                None => None,
            };
            last_error = after.or(last_error);

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
            self.unit.set_aborted(aborted);
        }
    }
}

/// Waits for `unit`'s dependencies, each to be Running and ready within `timeout`. (A
/// free function, as [`stop_hook`]: the driver holds `serve`, which is `Send` but not
/// `Sync`.)
#[allow(clippy::manual_async_fn)] // see the comment in the body
fn await_dependencies(
    app: &AppState,
    unit: &Arc<Unit>,
    timeout: Duration,
) -> impl Future<Output = Result<(), StartFailure>> {
    // An `async` block, not an `async fn`: its future keeps the arguments once.
    async move {
        for &dep in unit.dependencies.iter() {
            let target = &app.registry.units[dep];
            let wait = app.wait_up(Some(unit), target);
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
}

/// The wait of one shutdown hook, to `shutdown_timeout`, whose error is logged and
/// recorded; `None` for a no-op default. Boxed, so a stop's future stays small whatever
/// hooks a type defines. (A free function: the driver holds `serve`, which is `Send` but
/// not `Sync`.)
type StopHook<'a> = Pin<Box<dyn Future<Output = Option<SharedError>> + Send + 'a>>;

fn stop_hook<'a>(
    app: &'a AppState,
    unit: &'a Unit,
    hook: Hook,
    ctx: &'a ServiceContext,
) -> Option<StopHook<'a>> {
    let fut = unit.shim.hook(&unit.value, hook, ctx)?;
    Some(Box::pin(async move {
        let name = hook.name();
        let limit = unit.shim.spec.shutdown_timeout;
        let deadline = move || stop_deadline(app, limit);
        let (result, _) = run_hook(app, name, ctx, fut, deadline, limit, None).await;
        let error = result.err()?;
        tracing::warn!(service = %unit.name, hook = name, %error, "shutdown hook failed");
        unit.record_error(name, error.clone());
        Some(error)
    }))
}

/// What ends an initialize hook's wait early: the app's stop reaching the service. The
/// hook then sees its run cancelled and gets `limit` more.
struct Interrupt<'a> {
    unit: &'a Unit,
    limit: Duration,
}

/// Runs one hook: polls its future (a panic there, also in the user's method building
/// it, is the hook's error) until `deadline` (or, once `interrupt` fires, its bound), and
/// turns a panic into [`Panicked`] and a timeout into [`TimedOut`]. A hook cut off at its
/// deadline is dropped here, and a panic of its drop is caught too. Returns the hook's
/// result and whether it was interrupted.
#[allow(clippy::manual_async_fn)] // see the comment in the body
fn run_hook(
    app: &AppState,
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
                    app,
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
    app: &AppState,
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
                output = within(app, deadline, &mut fut) => early = Some(output),
                () = interrupt.unit.stop_reached() => {
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
    };
    let result = match outcome {
        Some(output) => hook_result(output),
        None => {
            if std::panic::catch_unwind(AssertUnwindSafe(|| drop(slot.take()))).is_err() {
                tracing::warn!(service = %ctx.name(), hook, "the hook panicked when it was dropped at its timeout");
            }
            Err(ran_out(app, hook, after))
        }
    };
    (result, interrupted)
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
