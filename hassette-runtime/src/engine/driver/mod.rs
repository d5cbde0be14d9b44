//! The lifecycle driver: one run of a service, from `initialize` to the end of its stop.
//!
//! Protocol:
//! - The driver runs inside the service's supervisor task, and so does `serve`: the run's
//!   [`ActiveRun`] (its cell, with `serve` in it) is polled by that one task, next to
//!   `after_initialize`, while the supervisor watches the run, and next to
//!   `before_shutdown`. One task per service, and a `serve` that ends while a hook still
//!   runs keeps its outcome in the cell.
//! - Every wait is bounded, and nothing a service does can end the task: a hook or
//!   `serve` that panics while it builds its future or while it runs is that hook's (or
//!   serve's) error; one that panics when it is dropped at its timeout has that panic in
//!   the report too, before its timeout error.
//! - Deadlines saturate (a `Duration::MAX` timeout means no limit), and during the app's
//!   stop every wait also ends at the shutdown deadline (`hard_deadline`, or the
//!   `cut_off` token for a wait that chose its deadline before the shutdown began).
//! - The app's stop reaching the service during an initialize hook cancels the run's
//!   token and gives the hook `shutdown_timeout` more, not what is left of
//!   `startup_timeout`.
//! - What cannot happen: code that never reaches an `.await` cannot be cut off by any
//!   timer, since the task that would fire it is the one it holds. The app's stop bounds
//!   each supervisor as a whole instead (see `shutdown`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::OptionFuture;

use super::cell::RunParts;
use super::handle::SupervisorHandle;
use super::policy::OutcomeKind;
use super::shim::{Hook, Shim};
use super::stop::StopSignals;
use super::unit::Unit;
use crate::{ServiceContext, SharedError, StartFailure, Status, WaitError};

mod hook;
mod reload;
mod serve;

pub(crate) use hook::{ABORT_GRACE, deadline_in, within};
use hook::{Interrupt, StopHook, ran_out, run_hook, stop_deadline, stop_hook};
pub(crate) use serve::ActiveRun;

/// How a run's stop went, step by step (see `Driver::stop_run`).
#[derive(Default)]
struct StopEnd {
    /// The last error of its steps (each one recorded as it came).
    last_error: Option<SharedError>,
    /// A fatal error of `serve`: the service crashes once the stop is done.
    crash: Option<SharedError>,
    /// `serve` or the run's child tasks were dropped at their deadline.
    aborted: bool,
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

impl Outcome {
    /// Its kind, for the restart decision (and for observers): a failure the service
    /// marked non-retryable is told apart here, once.
    pub(crate) fn kind(&self, shim: &Shim) -> OutcomeKind {
        match self {
            Outcome::Clean => OutcomeKind::Clean,
            Outcome::Closed(_) => OutcomeKind::Closed,
            Outcome::Fatal(_) => OutcomeKind::Fatal,
            Outcome::Failed(error) if shim.is_non_retryable(&**error) => OutcomeKind::NonRetryable,
            Outcome::Failed(_) => OutcomeKind::Failed,
        }
    }
}

pub(crate) struct Driver {
    pub(super) unit: Arc<Unit>,
    pub(super) app: SupervisorHandle,
    /// Its cell is the run's one allocation (see `cell`).
    pub(super) active: Option<ActiveRun>,
}

impl Driver {
    pub(crate) fn new(unit: Arc<Unit>, app: SupervisorHandle) -> Self {
        Driver {
            unit,
            app,
            active: None,
        }
    }

    /// Whether this unit is being stopped for good: the app's shutdown, or its removal
    /// (which reaches only this unit). Checked where a start or a restart would begin.
    pub(crate) fn stopping(&self) -> bool {
        self.app.is_stopping() || self.unit.is_stop_requested()
    }

    /// Classifies how a run ended (see [`Outcome`]).
    pub(crate) fn classify(&self, result: Result<(), SharedError>) -> Outcome {
        match result {
            Ok(()) => Outcome::Clean,
            Err(error) => self.classify_error(error, self.stopping()),
        }
    }

    /// Classifies an error (`stopping`: the unit is being stopped for good, so a
    /// non-fatal error is "closed", not a failure). The one place that tells a fatal
    /// error from a failure.
    fn classify_error(&self, error: SharedError, stopping: bool) -> Outcome {
        classify_error(&self.unit, error, stopping)
    }

    /// Publishes an outcome of `what` (a hook, `serve`, the startup): its status and its
    /// error in the report. A clean end leaves the status to the caller.
    pub(crate) fn settle(&self, what: &'static str, outcome: &Outcome) {
        match outcome {
            Outcome::Clean => {
                self.unit.to_stopped(None);
            }
            Outcome::Closed(error) => {
                tracing::info!(service = %self.unit.name, what, %error, "ended with an error during shutdown");
                self.unit.record_error(what, error.clone());
                self.unit.to_stopped(Some(error.clone()));
            }
            Outcome::Fatal(error) => {
                self.unit.record_error(what, error.clone());
                self.unit.to_crashed(error.clone());
            }
            Outcome::Failed(error) => {
                self.unit.record_error(what, error.clone());
                self.unit.to_failed(error.clone());
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
            let spec = self.unit.spec();
            if self.stopping() {
                return Err(StartFailure::Interrupted);
            }
            self.unit.set_aborted(false);
            self.unit.to_starting();
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
            let needs_deadline =
                self.unit.shim.has_init_hooks() || spec.ready == crate::ReadyMode::Manual;
            let startup_deadline = needs_deadline.then(|| deadline_in(spec.startup_timeout));
            let ctx = self.app.context(self.unit.clone());
            ctx.begin_span(|| self.unit.state().generation);
            let parts = RunParts::new(ctx.clone(), startup_deadline);
            self.active = Some(ActiveRun::new(self.unit.shim.run(&self.unit.value, parts)));

            self.init_hook(Hook::BeforeInitialize, &ctx).await?;
            self.init_hook(Hook::OnInitialize, &ctx).await?;
            let serves = self.unit.shim.serves;
            if serves && let Some(active) = &mut self.active {
                active.arm();
            }
            self.init_hook(Hook::AfterInitialize, &ctx).await?;
            // Children added during the initialize hooks start now (see `family`).
            self.app.launch_children(&self.unit);
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
        let Some(fut) = self
            .unit
            .shim
            .hook(&self.unit.value, hook, ctx)
            .map(|fut| hook::in_run(fut, ctx))
        else {
            // Nothing to run, but a shutdown that began meanwhile still interrupts the
            // start (see `after_init_hook`).
            return match self.stopping() {
                true => Err(StartFailure::Interrupted),
                false => Ok(()),
            };
        };
        let Some(active) = self.active.as_mut() else {
            return Err(StartFailure::Interrupted);
        };
        let spec = *self.unit.spec();
        let deadline = active.startup_deadline();
        let deadline = move || deadline.unwrap_or_else(|| deadline_in(spec.startup_timeout));
        let interrupt = Interrupt {
            unit: &self.unit,
            limit: spec.shutdown_timeout,
        };
        let (stop, unit) = (self.app.stop(), &*self.unit);
        let (result, interrupted) = Box::pin(active.alongside(
            unit,
            run_hook(
                stop,
                hook.name(),
                ctx,
                fut,
                deadline,
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
        let interrupted = interrupted || self.stopping();
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
                // Not interrupted: not "closed" either.
                let outcome = self.classify_error(error.clone(), false);
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
        // An `async` block, not an `async fn`: its future keeps the arguments once. Every
        // wait that may last is boxed where it begins (a defined hook, a `serve` that
        // does not end at its first poll once cancelled, children): a stop that needs
        // none of them is a small future, which the supervisor awaits in place.
        async move {
            if self.active.is_none() {
                return;
            }
            if publish {
                self.unit.to_stopping();
            }
            let before = OptionFuture::from(self.before_shutdown()).await.flatten();
            let Some(active) = &mut self.active else {
                return;
            };
            active.ctx().cancel();
            let served = match active.is_live() {
                true => Some(active.ended_within(&self.unit, self.app.stop()).await),
                false => None,
            };
            let mut ended = StopEnd {
                last_error: before,
                ..StopEnd::default()
            };
            if let (Some(result), Some(active)) = (served, &mut self.active) {
                ended.serve(self.app.stop(), &self.unit, active, result);
            }
            // The rest (children, `on_shutdown`, `after_shutdown`), boxed, for a run that
            // has any of it.
            let children = self.active.as_ref().is_some_and(|a| a.ctx().has_children());
            if children || self.unit.family().is_some() || self.unit.shim.has_late_stop_hooks() {
                Box::pin(self.stop_rest(&mut ended)).await;
            }
            // The run ends here (its `Drop` aborts what is left of its child tasks).
            self.active = None;
            let unit = &self.unit;
            // An initialize hook that the shutdown interrupted is the first thing this
            // stop's event reports; otherwise, the last error of the stop.
            let interrupted_error = unit.take_interrupted();
            if let Some(error) = ended.crash {
                unit.to_crashed(error);
                self.app
                    .begin_shutdown(format!("service `{}` crashed", unit.name));
            } else if publish {
                unit.to_stopped_unless_terminal(interrupted_error.or(ended.last_error));
            }
            // (The run's start cleared the flag: only an abort of this stop sets it.)
            if ended.aborted {
                unit.set_aborted(true);
            }
        }
    }

    /// The stop's steps after `serve` has ended: the run's child tasks, then its child
    /// services, then `on_shutdown` and `after_shutdown`.
    async fn stop_rest(&mut self, ended: &mut StopEnd) {
        if let Some(active) = &self.active
            && active.ctx().has_children()
        {
            let (stop, unit) = (self.app.stop(), &self.unit);
            let limit = unit.spec().shutdown_timeout;
            ended.children(close_children(stop, unit, active.ctx(), limit).await);
        }
        // Child services stop after `serve` has ended, before `on_shutdown`.
        if self.unit.family().is_some() {
            self.app.stop_children(&self.unit).await;
        }
        ended.error(OptionFuture::from(self.stop_hook(Hook::OnShutdown)).await);
        ended.error(OptionFuture::from(self.stop_hook(Hook::AfterShutdown)).await);
    }

    /// The wait of the active run's shutdown `hook` (see [`stop_hook`]); `None` for a
    /// no-op default, or when there is no run.
    fn stop_hook(&self, hook: Hook) -> Option<StopHook<'_>> {
        let active = self.active.as_ref()?;
        stop_hook(self.app.stop(), &self.unit, hook, active.ctx())
    }

    /// The wait of the active run's `before_shutdown`, while its `serve` goes on (boxed:
    /// only a type that defines it pays for it); `None` for a no-op default.
    fn before_shutdown(&mut self) -> Option<StopHook<'_>> {
        let (stop, unit) = (self.app.stop(), &self.unit);
        if !unit.shim.defines(Hook::BeforeShutdown) {
            return None;
        }
        let active = self.active.as_mut()?;
        // The hook keeps its own handle of the context: `serve` goes on in the same cell.
        let ctx = active.ctx().clone();
        Some(Box::pin(async move {
            let hook = stop_hook(stop, unit, Hook::BeforeShutdown, &ctx);
            match hook {
                Some(hook) => active.alongside(unit, hook).await,
                None => None,
            }
        }))
    }
}

impl StopEnd {
    /// A step of the stop ended with `error`, if it ran (the last error is the stop's).
    fn error(&mut self, error: Option<Option<SharedError>>) {
        if let Some(error) = error.flatten() {
            self.last_error = Some(error);
        }
    }

    /// The stop's wait for a cancelled `serve` ended with `result`, or ran out after
    /// its limit (`Err`: it is dropped). Its error is recorded; a fatal one crashes the
    /// service once the stop is done.
    fn serve(
        &mut self,
        stop: &StopSignals,
        unit: &Unit,
        serve: &mut ActiveRun,
        result: Result<Result<(), SharedError>, Duration>,
    ) {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                if let Outcome::Fatal(error) = classify_error(unit, error.clone(), true) {
                    self.crash = Some(error);
                }
                tracing::warn!(service = %unit.name, %error, "serve returned an error while stopping");
                unit.record_error("serve", error.clone());
                self.last_error = Some(error);
            }
            Err(limit) => {
                let error = ran_out(stop, "serve", limit);
                tracing::warn!(service = %unit.name, %error, "serve did not finish after cancellation; dropping it");
                serve.abort(unit);
                unit.record_error("serve", error.clone());
                self.last_error = Some(error);
                self.aborted = true;
            }
        }
    }

    /// The stop's wait for the run's child tasks ended: its error, and whether any
    /// was cut off (see [`close_children`]).
    fn children(&mut self, (error, cut): (Option<SharedError>, bool)) {
        self.error(Some(error));
        self.aborted |= cut;
    }
}

/// The stop's wait for the run's child tasks, up to `limit` (then they are dropped):
/// the last error (a child's panic, or the timeout), recorded, and whether any was
/// cut off. (Free functions, as [`stop_hook`]: the driver holds `serve`, which is
/// `Send` but not `Sync`.)
async fn close_children(
    stop: &StopSignals,
    unit: &Unit,
    ctx: &ServiceContext,
    limit: Duration,
) -> (Option<SharedError>, bool) {
    let (left, panics) = Box::pin(ctx.close_children(stop_deadline(stop, limit))).await;
    let mut last_error = None;
    for error in panics {
        unit.record_error("child task", error.clone());
        last_error = Some(error);
    }
    if left == 0 {
        return (last_error, false);
    }
    let error = ran_out(stop, "children", limit);
    tracing::warn!(service = %unit.name, left, %error, "child tasks did not finish after cancellation; dropped them");
    unit.record_error("children", error.clone());
    (Some(error), true)
}

/// [`Driver::classify_error`], for the free functions of a stop.
fn classify_error(unit: &Unit, error: SharedError, stopping: bool) -> Outcome {
    match error {
        error if unit.shim.is_fatal(&*error) => Outcome::Fatal(error),
        error if stopping => Outcome::Closed(error),
        error => Outcome::Failed(error),
    }
}

/// Waits for `unit`'s dependencies, each to be Running and ready within `timeout`. (A
/// free function, as [`stop_hook`]: the driver holds `serve`, which is `Send` but not
/// `Sync`.)
#[allow(clippy::manual_async_fn)] // see the comment in the body
fn await_dependencies(
    app: &SupervisorHandle,
    unit: &Arc<Unit>,
    timeout: Duration,
) -> impl Future<Output = Result<(), StartFailure>> {
    // An `async` block, not an `async fn`: its future keeps the arguments once.
    async move {
        for &dep in unit.dependencies.iter() {
            // Dependencies are never removed before their dependants.
            let Some(target) = app.unit(dep) else {
                continue;
            };
            let target = &target;
            if target.state().is_up() {
                continue;
            }
            let wait = tokio::time::timeout(timeout, app.wait_up(unit, target));
            // What the snapshot shows as its `waiting`, for as long as this wait lasts
            // (however it ends: the guard clears it, also when this future is dropped).
            let _waiting = unit.waiting_on_for(target.name.clone());
            // The app's stop ends the wait (`WaitError::ShuttingDown`); so does the
            // unit's own, its removal.
            let waited = tokio::select! {
                biased;
                () = unit.stop_reached() => return Err(StartFailure::Interrupted),
                waited = wait => waited,
            };
            match waited {
                Ok(Ok(())) => {}
                Ok(Err(WaitError::ShuttingDown)) => return Err(StartFailure::Interrupted),
                Ok(Err(e)) => return Err(StartFailure::Dependency(e)),
                Err(_) => {
                    // Running, but a `ready = "manual"` service that has not said so: the
                    // message tells that apart from a slow start.
                    let now = target.state();
                    let unmarked = now.status == Status::Running
                        && !now.ready()
                        && target.spec().ready == crate::ReadyMode::Manual;
                    return Err(StartFailure::DependencyTimeout {
                        dependency: target.name.clone(),
                        timeout,
                        unmarked,
                    });
                }
            }
        }
        Ok(())
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
