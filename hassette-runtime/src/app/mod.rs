//! The application: [`Hassette`] starts every service, answers questions about them and
//! stops them all.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::AppState;
use crate::{
    EventReceiver, LookupError, RestartError, ServiceContext, ShutdownReport, StartError,
    StartFailure, Status, StatusEvent, WaitError,
};

mod builder;
mod group;
mod handle;
mod listeners;
mod operations;
mod signal;
mod snapshot;
mod tree;

pub use builder::Builder;
pub use group::GroupBuilder;
pub use handle::ServiceHandle;
pub use snapshot::ServiceSnapshot;

/// The application: every registered service, started in dependency order, supervised,
/// and stopped in reverse order.
///
/// ```
/// use hassette_runtime::prelude::*;
///
/// struct Ticker;
/// impl Hooks for Ticker {}
/// impl Service for Ticker {
///     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Permanent);
///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
///         ctx.cancelled().await;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let app = Hassette::builder().service(Ticker).build()?;
/// app.start().await?;
/// app.wait_ready::<Ticker>().await?;
/// assert_eq!(app.status::<Ticker>()?, Status::Running);
/// let report = app.shutdown().await;
/// assert_eq!(report.services[0].status, Status::Stopped);
/// assert!(report.is_success());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Hassette {
    inner: Arc<AppState>,
}

impl std::fmt::Debug for Hassette {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hassette")
            .field("services", &self.inner.registry().all().len())
            .field("stopping", &self.inner.is_stopping())
            .finish_non_exhaustive()
    }
}

impl Hassette {
    /// A builder to register services and resources.
    ///
    /// ```
    /// let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// # drop(app);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_state(inner: Arc<AppState>) -> Self {
        Hassette { inner }
    }

    /// The engine's state, for the feature leaves.
    #[cfg(feature = "health")]
    pub(crate) fn state(&self) -> &AppState {
        &self.inner
    }

    /// What tells this app from every other one alive: the address of its shared state
    /// (taken again only once every handle of the app is gone), for the feature leaves
    /// that keep something per app.
    #[cfg(all(feature = "systemd", unix))]
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.inner).addr()
    }

    /// Starts every service and returns once each has been initialized (its `serve` may
    /// still be about to begin). Services whose dependencies are not yet Running and ready
    /// wait for them, so startup runs in dependency waves.
    ///
    /// The error names a service that did not start and why: the first (in registration
    /// order) whose failure ends the app ([`StartError::ends_the_app`]: it will not be
    /// started again), else the first that failed. A failed first start follows the
    /// service's policy like any failure (a dependency that was slow to come up is
    /// retried after the backoff), and the others keep starting and are supervised as
    /// usual, so call [`shutdown`](Self::shutdown) to stop them. A `start` interrupted by
    /// [`shutdown`](Self::shutdown) returns [`StartFailure::Interrupted`] (unless another
    /// service had failed already).
    ///
    /// # Cancel safety
    ///
    /// The start runs once, in a task of its own: a `start` future dropped half-way (under
    /// `tokio::time::timeout`, say) leaves it going, and every call, concurrent or later,
    /// returns its one outcome. Nothing is started twice. Called from inside one of the
    /// app's own services, where waiting for the whole start could mean waiting for the
    /// caller itself, it returns at once: the outcome if it is known, `Ok(())` while the
    /// start is still under way.
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) {
    /// if let Err(e) = app.start().await
    ///     && e.ends_the_app()
    /// {
    ///     eprintln!("{e}"); // service `db` did not start: `on_initialize` failed: ...
    ///     app.shutdown().await;
    /// }
    /// # }
    /// ```
    pub async fn start(&self) -> Result<(), StartError> {
        self.inner.start().await
    }

    /// Stops every service, dependants before their dependencies, and reports how each
    /// ended. Safe to call twice, during `start`, or without `start`.
    ///
    /// # Cancel safety
    ///
    /// The stop runs once, in a task of its own: a `shutdown` future dropped half-way
    /// leaves it going, and every call, concurrent or later, returns the same report.
    ///
    /// Awaited from inside one of the app's own services (a hook, `serve` or a
    /// [`ServiceContext::spawn`](crate::ServiceContext::spawn) task), it cannot wait for
    /// the whole stop, which includes the caller's own: it begins the shutdown and returns
    /// once the stop has reached the calling service (its dependency wave is told to
    /// stop) or, for a child, one of its ancestors (whose stop stops it), with a report
    /// that holds only the reason and no services. The full
    /// report goes to the callers outside the app. A service that only wants to end the
    /// app uses [`ServiceContext::shutdown_app`](crate::ServiceContext::shutdown_app).
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) {
    /// let report = app.shutdown().await;
    /// println!("{report}");
    /// # }
    /// ```
    pub async fn shutdown(&self) -> ShutdownReport {
        self.inner.shutdown("shutdown requested".to_owned()).await
    }

    /// Starts the app, runs until a termination signal (or a crash, or
    /// [`ServiceContext::shutdown_app`](crate::ServiceContext::shutdown_app)), then shuts
    /// down gracefully; a second signal exits the process at once, also after the report
    /// (while `main` goes on, or the runtime's drop waits for a thread). The signals are SIGINT
    /// and SIGTERM on Unix, and on Windows the console's Ctrl-C, Ctrl-Break, close, logoff
    /// and shutdown events. Returns [`ExitCode::SUCCESS`] after a clean stop, and `FAILURE`
    /// when a service did not start and will not be started again
    /// ([`StartError::ends_the_app`]), crashed, or had to be aborted; a start failure the
    /// service's policy retries is logged and the app goes on. A signal that arrives
    /// while services are still starting is a clean stop.
    ///
    /// The shutdown report is logged once, through `tracing`: at `INFO` after a clean stop,
    /// at `ERROR` with the reason otherwise. A failure also prints one line to stderr
    /// (`hassette: exiting with failure: ...`), so that a program without a subscriber does
    /// not exit 1 in silence. To print the whole report too, ask for it afterwards:
    /// [`shutdown`](Self::shutdown) returns the same report at once.
    ///
    /// On Unix, SIGHUP reloads the app ([`reload`](Self::reload); a failed `on_reload`
    /// follows its service's policy, and the app goes on). With feature `systemd`,
    /// systemd hears `RELOADING=1` with `MONOTONIC_USEC=` before it and `READY=1` after
    /// (`Type=notify-reload`, or `ExecReload=kill -HUP $MAINPID`).
    ///
    /// With feature `systemd`, it also runs [`systemd::notify`](crate::systemd::notify) for
    /// the app (`READY=1`, `STATUS=`, `WATCHDOG=1`, `STOPPING=1`; nothing outside a
    /// `Type=notify` unit).
    ///
    /// Cancellation is cooperative: an abort takes effect at the task's next `.await`. A
    /// hook or `serve` that never awaits keeps its thread: the stop cuts its service off
    /// once the longest its stop may take has passed (6 × its `shutdown_timeout` + 1.1 s,
    /// or the `shutdown_deadline`), cancels its run (a loop that checks
    /// [`ServiceContext::is_cancelled`] between blocking calls ends there), and reports it
    /// aborted. Dropping the tokio runtime (as
    /// `#[tokio::main]` does on return) would then wait for that thread forever, so this
    /// function logs the report and exits the process with code 1 itself. Likewise,
    /// called on the main thread, it makes sure the process exits with the returned code
    /// even when the runtime's drop would wait for a blocking thread that a service still
    /// holds (tokio's stdin, `spawn_blocking`): once the runtime has begun to shut down,
    /// the process is given [`EXIT_GRACE`] to end by itself.
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) -> std::process::ExitCode {
    /// let code = app.clone().run_until_signal().await;
    /// eprintln!("{}", app.shutdown().await); // the report, if you want it on stderr too
    /// code
    /// # }
    /// ```
    #[must_use = "return the exit code from `main`, or the process exits 0 whatever happened"]
    pub async fn run_until_signal(self) -> ExitCode {
        let listening = signal::Listening::begin();
        let watcher = match signal::Signals::listen() {
            Ok(signals) => Some(crate::engine::spawn_named(
                "signals",
                signal::watch_signals(signals, self.inner.clone()),
            )),
            Err(error) => {
                tracing::error!(%error, "cannot listen for termination signals; only a crash stops the app");
                None
            }
        };
        #[cfg(all(feature = "systemd", unix))]
        let notifier = crate::engine::spawn_named("systemd", crate::systemd::notify(self.clone()));
        // SIGHUP reloads (see `operations`).
        #[cfg(unix)]
        match operations::Hangups::listen() {
            Ok(hangups) => {
                crate::engine::spawn_named("reload", hangups.reload_on_each(self.clone()));
            }
            Err(error) => tracing::error!(%error, "cannot listen for SIGHUP; no reload on it"),
        }
        let failed_start = self
            .start_or_stop()
            .await
            .err()
            .filter(StartError::ends_the_app);
        self.inner.shutdown_begun().await;
        let report = self.inner.wait_stopped().await;
        if let Some(watcher) = watcher {
            // A signal from now on still exits at once: a thread of its own listens, as
            // long as the process lives (the runtime may be dropped before it ends).
            drop(listening);
            signal::listen_after_the_report().await;
            watcher.abort();
        }
        // It sent STOPPING=1 when the shutdown began, and has returned since.
        #[cfg(all(feature = "systemd", unix))]
        let _ = notifier.await;
        // The failed start says why first; a crash that began the stop may have its own
        // reason in the report.
        let failure = match &failed_start {
            Some(error) => Some(error.to_string()),
            None => failure_reason(&report),
        };
        match &failure {
            None => tracing::info!("shutdown report\n{report}"),
            Some(why) => {
                tracing::error!(%why, "exiting with failure; shutdown report\n{report}");
                eprintln!("hassette: exiting with failure: {why}");
            }
        }
        if self.inner.is_stuck() {
            // Returning would let `#[tokio::main]` drop the runtime, which waits for the
            // thread that a serve which never awaits still holds: exit here instead.
            eprintln!(
                "hassette: a hook or `serve` never reached an `.await`; exiting without waiting for its thread"
            );
            std::process::exit(1);
        }
        exit_after_runtime_drop(i32::from(failure.is_some()));
        match failure {
            None => ExitCode::SUCCESS,
            Some(_) => ExitCode::FAILURE,
        }
    }

    /// Starts the app, runs it until `stop` completes (or the app shuts down by itself: a
    /// crash, `ctx.shutdown_app`), then stops it and returns the report: for programs with
    /// their own stop trigger (tests, Windows services, an app embedded in another).
    /// A start failure that will not be retried ([`StartError::ends_the_app`]) stops the
    /// app at once: its error is the report's reason and the report is not a success
    /// ([`ShutdownReport::start_failed`]); after one the service's policy
    /// retries, the app goes on as under `run_until_signal`. It
    /// neither listens for signals nor exits the process: see
    /// [`run_until_signal`](Self::run_until_signal) for that. Awaited from inside one of
    /// the app's own services, it returns as [`shutdown`](Self::shutdown) does there.
    ///
    /// A `serve` that blocks its thread is cut off by the stop, as under
    /// `run_until_signal`, and its run cancelled: a loop that checks
    /// [`ServiceContext::is_cancelled`] between blocking calls ends and gives its worker
    /// back, so the runtime's drop after `main` does not wait for it. Code that never
    /// checks keeps its worker, and so does a blocking read in the runtime's pool (tokio's
    /// stdin): the runtime's drop waits for them; `run_until_signal` exits the process
    /// instead.
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # struct Ticker;
    /// # #[service(restart = "permanent")]
    /// # impl Ticker { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { ctx.cancelled().await; Ok(()) } }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let app = Hassette::builder().service(Ticker).build()?;
    /// let report = app.run_until(tokio::time::sleep(std::time::Duration::from_millis(10))).await;
    /// assert!(report.is_success());
    /// assert_eq!(report.reason.as_deref(), Some("the run_until future completed"));
    /// # Ok(()) }
    /// ```
    #[must_use = "the report says how every service ended"]
    pub async fn run_until(&self, stop: impl Future<Output = ()>) -> ShutdownReport {
        let _ = self.start_or_stop().await;
        let reason = tokio::select! {
            biased;
            () = self.inner.shutdown_begun() => String::new(),
            () = stop => "the run_until future completed".to_owned(),
        };
        // The first reason given is kept: one the app already had wins.
        self.inner.shutdown(reason).await
    }

    /// `start`, and the one rule of [`run_until_signal`](Self::run_until_signal),
    /// [`run_until`](Self::run_until) and `testing::TestApp::start` for a failed start:
    /// an error that ends the app ([`StartError::ends_the_app`]) begins its shutdown, with
    /// the error as the reason; after any other the app goes on (the service's policy
    /// starts it again). Returns what `start` returned.
    pub(crate) async fn start_or_stop(&self) -> Result<(), StartError> {
        let started = self.start().await;
        match &started {
            Err(error) if error.ends_the_app() => {
                tracing::error!(service = %error.service, %error, "start failed; shutting down");
                self.inner
                    .begin_shutdown_for_failed_start(error.to_string());
            }
            Err(error) if !matches!(error.failure, StartFailure::Interrupted) => {
                tracing::warn!(service = %error.service, %error, "start failed; its restart policy starts it again");
            }
            _ => {}
        }
        started
    }

    /// The status of the one registered `T`.
    ///
    /// An unregistered type, or one registered by name, is an error, not a panic.
    ///
    /// ```
    /// # use hassette_runtime::{Hassette, LookupError};
    /// struct Nobody;
    /// let app = Hassette::builder().build().unwrap();
    /// assert!(matches!(app.status::<Nobody>(), Err(LookupError::NotRegistered { .. })));
    /// ```
    pub fn status<T: 'static>(&self) -> Result<Status, LookupError> {
        Ok(self.inner.registry().by_type::<T>()?.status())
    }

    /// The status of the service with this name.
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// assert!(app.status_by_name("worker-1").is_err());
    /// ```
    pub fn status_by_name(&self, name: &str) -> Result<Status, LookupError> {
        Ok(self.inner.registry().by_name(name)?.status())
    }

    /// Every service's name and status: the static ones in registration order, then
    /// those added while the app runs, in order of addition.
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// assert!(app.statuses().is_empty());
    /// ```
    #[must_use]
    pub fn statuses(&self) -> Vec<(Arc<str>, Status)> {
        self.inner
            .registry()
            .all()
            .iter()
            .map(|u| (u.name().clone(), u.status()))
            .collect()
    }

    /// Whether the shutdown has begun (a signal, a crash, or a call of `shutdown`), its
    /// drain included (see [`Builder::drain`]).
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// assert!(!app.is_shutting_down());
    /// ```
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.inner.has_shutdown_begun()
    }

    /// Whether the app is draining ([`Builder::drain`]): the shutdown has begun, and its
    /// services have not been told to stop yet.
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// assert!(!app.is_draining());
    /// ```
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.inner.is_draining()
    }

    /// Completes when the shutdown begins: at the start of its drain, when there is one
    /// ([`Builder::drain`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) {
    /// app.shutdown_begun().await;
    /// println!("stopping");
    /// # }
    /// ```
    pub fn shutdown_begun(&self) -> impl Future<Output = ()> + Send + '_ {
        self.inner.shutdown_begun()
    }

    /// Waits until `T` is Running and ready; an error when it never will be (crashed,
    /// exhausted, stopped for good) or the app shuts down.
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) -> Result<(), hassette_runtime::WaitError> {
    /// # struct Database;
    /// app.wait_ready::<Database>().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_ready<T: 'static>(&self) -> Result<(), WaitError> {
        let unit = self.inner.registry().by_type::<T>()?;
        self.inner.wait_up(None, &unit).await
    }

    /// Like [`wait_ready`](Self::wait_ready), by name.
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) -> Result<(), hassette_runtime::WaitError> {
    /// app.wait_ready_by_name("worker-1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_ready_by_name(&self, name: &str) -> Result<(), WaitError> {
        let unit = self.inner.registry().by_name(name)?;
        self.inner.wait_up(None, &unit).await
    }

    /// Every status change of every service from now on.
    ///
    /// The stream is bounded (the builder's
    /// [`event_capacity`](crate::Builder::event_capacity): by default 4 events per live
    /// service, those added while the app runs included, at least 1024). As services are
    /// added the default capacity grows with them, and a receiver made earlier follows
    /// without missing an event; it does not shrink after removals (it stays at the peak
    /// number of services live at once). A receiver that falls further behind loses the
    /// oldest events and is told exactly how many: its next `recv` returns
    /// `Err(RecvError::Lagged(n))`, then goes on with the oldest event still kept. Resync
    /// from [`snapshot`](Self::snapshot), which always has every service's current state.
    /// The log and the shutdown report never depend on the stream: they lose nothing.
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # struct Ticker;
    /// # impl Hooks for Ticker {}
    /// # impl Service for Ticker {
    /// #     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);
    /// #     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { ctx.cancelled().await; Ok(()) }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// use hassette_runtime::RecvError;
    ///
    /// let app = Hassette::builder().service(Ticker).event_capacity(2).build()?;
    /// let mut events = app.events();
    /// app.start().await?;
    /// app.wait_ready::<Ticker>().await?;
    /// app.shutdown().await; // 4 changes: Starting, Running, Stopping, Stopped
    /// match events.recv().await {
    ///     Err(RecvError::Lagged(missed)) => {
    ///         assert_eq!(missed, 2); // the oldest two did not fit
    ///         let now = app.snapshot(); // resync: where every service is now
    ///         assert_eq!(now[0].status, Status::Stopped);
    ///     }
    ///     other => panic!("expected a lag, got {other:?}"),
    /// }
    /// assert_eq!(events.recv().await?.to, Status::Stopping); // then the rest, in order
    /// assert_eq!(events.recv().await?.to, Status::Stopped);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn events(&self) -> EventReceiver<StatusEvent> {
        self.inner.events().subscribe()
    }

    /// Every readiness change of every service from now on: ready, or not ready with
    /// its reason, next to the status changes of [`events`](Self::events). Bounded and
    /// grown the same way (a receiver that falls behind is told how many it missed;
    /// resync from [`snapshot`](Self::snapshot)); its channel is made at the first call.
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// let mut readiness = app.readiness_events();
    /// assert!(readiness.try_recv().is_err());
    /// ```
    pub fn readiness_events(&self) -> EventReceiver<crate::ReadinessEvent> {
        self.inner.events().subscribe_readiness()
    }

    /// Restarts `T` now (stop, then initialize on the same value) with a fresh restart
    /// budget and attempt count, also when it is in a backoff or exhausted, and waits until
    /// the new run has left Starting: `Ok` once it is Running, an error naming the status
    /// it reached otherwise.
    ///
    /// Requests for one service coalesce: one made while another is pending or in flight
    /// joins it, and every caller gets that restart's outcome. Resources are never
    /// restarted ([`RestartError::Resource`]). Called from inside the service's own run
    /// (its hooks, `serve` or `ctx.spawn` tasks), where the new run cannot begin before the
    /// caller's run ends, it asks for the restart and returns `Ok` at once; so it does from
    /// inside one of its children or their children, which its stop stops first.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not take the request back; the restart happens anyway.
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) -> Result<(), hassette_runtime::RestartError> {
    /// # struct Cache;
    /// app.restart::<Cache>().await?;
    /// # Ok(()) }
    /// ```
    pub async fn restart<T: 'static>(&self) -> Result<(), RestartError> {
        let unit = self.inner.registry().by_type::<T>()?.clone();
        self.inner.restart(&unit).await
    }

    /// Like [`restart`](Self::restart), by name.
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) -> Result<(), hassette_runtime::RestartError> {
    /// app.restart_by_name("worker-3").await?;
    /// # Ok(()) }
    /// ```
    pub async fn restart_by_name(&self, name: &str) -> Result<(), RestartError> {
        let unit = self.inner.registry().by_name(name)?.clone();
        self.inner.restart(&unit).await
    }
}

// `ServiceContext::app` lives here, with the type it returns, so that the service's
// contract (`service/`) does not depend on the app layer.
impl ServiceContext {
    /// The application this service runs in: its statuses, events and snapshot.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// let running = ctx.app().snapshot().iter().filter(|s| s.ready).count();
    /// # }
    /// ```
    #[must_use]
    pub fn app(&self) -> Hassette {
        Hassette::from_state(self.app_state().clone())
    }
}

/// How long [`Hassette::run_until_signal`] lets the runtime's drop take before it exits the
/// process itself: the drop waits for every blocking thread, and one that a service still
/// holds (tokio's stdin, say) would keep the process alive forever.
///
/// ```
/// assert_eq!(hassette_runtime::EXIT_GRACE, std::time::Duration::from_millis(500));
/// ```
pub const EXIT_GRACE: Duration = Duration::from_millis(500);

/// On the main thread, arms a watchdog that exits the process with `code` when the
/// runtime has begun to shut down but the process is still alive [`EXIT_GRACE`] later.
/// Elsewhere (a test harness's thread, say) the runtime's end is not the process's end,
/// so nothing is armed.
fn exit_after_runtime_drop(code: i32) {
    if std::thread::current().name() != Some("main") {
        return;
    }
    let (alive, dropped) = std::sync::mpsc::channel::<()>();
    // This task is dropped, with `alive`, when the runtime shuts down.
    crate::engine::spawn_named("exit", async move {
        let _alive = alive;
        std::future::pending::<()>().await;
    });
    let watchdog = std::thread::Builder::new()
        .name("hassette-exit".into())
        .spawn(move || {
            let _ = dropped.recv();
            std::thread::sleep(EXIT_GRACE);
            eprintln!(
                "hassette: the runtime still waits for a blocking thread; exiting without it"
            );
            std::process::exit(code);
        });
    if let Err(error) = watchdog {
        tracing::warn!(%error, "cannot start the exit watchdog");
    }
}

/// Why a report is a failure, in one line: who crashed or had to be aborted, and whether
/// the shutdown deadline ran out; `None` for a clean stop.
fn failure_reason(report: &ShutdownReport) -> Option<String> {
    if report.is_success() {
        return None;
    }
    let mut why: Vec<String> = report
        .services
        .iter()
        .filter(|s| s.is_failure())
        .map(|s| match s.aborted {
            true => format!("`{}` had to be aborted", s.name),
            false => format!("`{}` crashed", s.name),
        })
        .collect();
    if report.start_failed {
        why.insert(0, report.reason.clone().unwrap_or_default());
    }
    if report.deadline_exceeded {
        why.push("the shutdown deadline ran out".to_owned());
    }
    Some(why.join(", "))
}
