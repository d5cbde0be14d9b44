//! The lifecycle driver: one run of a service, from `initialize` to the end of its stop,
//! in the exact order of DESIGN.md.

use std::error::Error;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tracing::Instrument;

use crate::app::AppInner;
use crate::error::chain_has;
use crate::unit::Unit;
use crate::{
    BoxError, Fatal, Hooks, Panicked, ReadyMode, Resource, RestartSpec, Service, ServiceContext,
    ServiceReport, SharedError, StartFailure, Status, TimedOut, WaitError,
};

/// What the driver needs to know about a service or a resource, so one driver serves both.
pub(crate) trait Kind: Send + 'static {
    type T: Hooks;
    const SPEC: RestartSpec;
    const SERVES: bool;
    fn serve(
        svc: &Self::T,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
    fn is_fatal(error: &(dyn Error + 'static)) -> bool;
    fn is_non_retryable(error: &(dyn Error + 'static)) -> bool;
}

pub(crate) struct AsService<T>(PhantomData<fn() -> T>);
pub(crate) struct AsResource<T>(PhantomData<fn() -> T>);

impl<T: Service> Kind for AsService<T> {
    type T = T;
    const SPEC: RestartSpec = T::RESTART_SPEC;
    const SERVES: bool = true;
    fn serve(svc: &T, ctx: &ServiceContext) -> impl Future<Output = Result<(), BoxError>> + Send {
        svc.serve(ctx)
    }
    fn is_fatal(error: &(dyn Error + 'static)) -> bool {
        chain_has::<Fatal>(error) || T::is_fatal(error)
    }
    fn is_non_retryable(error: &(dyn Error + 'static)) -> bool {
        T::is_non_retryable(error)
    }
}

impl<T: Resource> Kind for AsResource<T> {
    type T = T;
    const SPEC: RestartSpec = RestartSpec::for_resource(T::RESOURCE_SPEC);
    const SERVES: bool = false;
    async fn serve(_: &T, _: &ServiceContext) -> Result<(), BoxError> {
        Ok(())
    }
    fn is_fatal(error: &(dyn Error + 'static)) -> bool {
        chain_has::<Fatal>(error)
    }
    fn is_non_retryable(_: &(dyn Error + 'static)) -> bool {
        false
    }
}

/// A run whose initialize hooks have begun and whose shutdown hooks have not run yet.
pub(crate) struct ActiveRun {
    pub(crate) ctx: ServiceContext,
    pub(crate) serve: Option<JoinHandle<Result<(), BoxError>>>,
    /// Serve must be Running and ready by then.
    pub(crate) startup_deadline: Instant,
}

pub(crate) struct Driver<K: Kind> {
    pub(crate) svc: Arc<K::T>,
    pub(crate) unit: Arc<Unit>,
    pub(crate) app: Arc<AppInner>,
    pub(crate) report: ServiceReport,
    pub(crate) active: Option<ActiveRun>,
}

impl<K: Kind> Driver<K> {
    /// Starting → dependencies → `before_initialize` → `on_initialize` → spawn serve →
    /// `after_initialize`; returns while still Starting. On a failure the service is
    /// Failed, except when the app's shutdown interrupted the dependency wait.
    pub(crate) async fn initialize(&mut self) -> Result<(), StartFailure> {
        let spec = K::SPEC;
        self.unit.set_status(Status::Starting, None);
        if let Err(failure) = self.await_dependencies(spec.startup_timeout).await {
            if !matches!(failure, StartFailure::Interrupted) {
                self.fail("startup", failure.error());
            }
            return Err(failure);
        }
        // The service's own start begins once its dependencies are up: waiting for them
        // does not eat into the time its hooks get.
        let startup_deadline = Instant::now() + spec.startup_timeout;
        let ctx = ServiceContext::new(self.unit.clone(), self.app.clone());
        self.active = Some(ActiveRun {
            ctx: ctx.clone(),
            serve: None,
            startup_deadline,
        });

        let svc = self.svc.clone();
        self.init_hook(
            "before_initialize",
            svc.before_initialize(&ctx),
            startup_deadline,
        )
        .await?;
        self.init_hook("on_initialize", svc.on_initialize(&ctx), startup_deadline)
            .await?;
        if K::SERVES {
            let handle = self.spawn_serve(ctx.clone());
            if let Some(active) = &mut self.active {
                active.serve = Some(handle);
            }
        }
        self.init_hook(
            "after_initialize",
            svc.after_initialize(&ctx),
            startup_deadline,
        )
        .await?;
        if !K::SERVES {
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

    async fn init_hook(
        &mut self,
        hook: &'static str,
        fut: impl Future<Output = Result<(), BoxError>>,
        deadline: Instant,
    ) -> Result<(), StartFailure> {
        let limit = K::SPEC.startup_timeout;
        match run_hook(hook, fut, || deadline, limit).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.fail(hook, error.clone());
                Err(StartFailure::Hook { hook, error })
            }
        }
    }

    fn spawn_serve(&self, ctx: ServiceContext) -> JoinHandle<Result<(), BoxError>> {
        let svc = self.svc.clone();
        let unit = self.unit.clone();
        let auto_ready = K::SPEC.ready == ReadyMode::Auto;
        let serve = async move {
            unit.begin_running(auto_ready);
            K::serve(&svc, &ctx).await
        };
        tokio::spawn(serve.in_current_span())
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
    /// before it did, each bounded by `shutdown_timeout`.
    pub(crate) async fn stop_run(&mut self, publish: bool) {
        let Some(ActiveRun { ctx, serve, .. }) = self.active.take() else {
            return;
        };
        let limit = K::SPEC.shutdown_timeout;
        if publish {
            self.unit.set_status(Status::Stopping, None);
        }
        let mut last_error = None;
        let mut crash = None;
        let svc = self.svc.clone();

        last_error = self
            .stop_hook("before_shutdown", svc.before_shutdown(&ctx), limit)
            .await
            .or(last_error);
        ctx.cancel();
        if let Some(mut handle) = serve {
            match ready_or_timeout(&mut handle, || Instant::now() + limit).await {
                Some(result) => {
                    if let Err(error) = serve_outcome(result) {
                        if K::is_fatal(&*error) {
                            crash = Some(error.clone());
                        }
                        tracing::warn!(%error, "serve returned an error while stopping");
                        self.report.record("serve", error.clone());
                        last_error = Some(error);
                    }
                }
                None => {
                    tracing::warn!(timeout = ?limit, "serve did not finish after cancellation; aborting it");
                    handle.abort();
                    // An abort takes effect at the task's next `.await`; a serve that never
                    // awaits keeps its thread, and the process must not wait for it.
                    let gone = tokio::time::timeout(Duration::from_millis(100), &mut handle)
                        .await
                        .is_ok();
                    if !gone {
                        tracing::error!(
                            "serve still runs after its abort (it never awaits); the process must exit without waiting for it"
                        );
                        self.app
                            .stuck
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    self.report.aborted = true;
                    let error: SharedError = Arc::new(TimedOut {
                        what: "serve",
                        after: limit,
                    });
                    self.report.record("serve", error.clone());
                    last_error = Some(error);
                }
            }
        }
        let left = ctx.close_children(limit).await;
        if left > 0 {
            tracing::warn!(left, timeout = ?limit, "child tasks did not finish after cancellation; dropped them");
            self.report.aborted = true;
            let error: SharedError = Arc::new(TimedOut {
                what: "children",
                after: limit,
            });
            self.report.record("children", error.clone());
            last_error = Some(error);
        }
        last_error = self
            .stop_hook("on_shutdown", svc.on_shutdown(&ctx), limit)
            .await
            .or(last_error);
        last_error = self
            .stop_hook("after_shutdown", svc.after_shutdown(&ctx), limit)
            .await
            .or(last_error);

        if let Some(error) = crash {
            self.unit.set_status(Status::Crashed, Some(error));
            self.app
                .request_shutdown(format!("service `{}` crashed", self.unit.name));
        } else if publish {
            self.unit
                .transition(|from| !from.is_terminal(), Status::Stopped, last_error);
        }
    }

    async fn stop_hook(
        &mut self,
        hook: &'static str,
        fut: impl Future<Output = Result<(), BoxError>>,
        limit: Duration,
    ) -> Option<SharedError> {
        let error = run_hook(hook, fut, || Instant::now() + limit, limit)
            .await
            .err()?;
        tracing::warn!(hook, %error, "shutdown hook failed");
        self.report.record(hook, error.clone());
        Some(error)
    }
}

/// Runs one hook to its deadline, turning a panic into [`Panicked`] and a timeout into
/// [`TimedOut`].
async fn run_hook(
    hook: &'static str,
    fut: impl Future<Output = Result<(), BoxError>>,
    deadline: impl FnOnce() -> Instant,
    limit: Duration,
) -> Result<(), SharedError> {
    let outcome = match ready_or_timeout(AssertUnwindSafe(fut).catch_unwind(), deadline).await {
        Some(outcome) => outcome,
        None => {
            return Err(Arc::new(TimedOut {
                what: hook,
                after: limit,
            }));
        }
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Arc::from(error)),
        Err(payload) => Err(Arc::new(Panicked::from_payload(&*payload))),
    }
}

/// Awaits `fut` until `deadline` (`None` when it ran out). Most hooks finish on their
/// first poll; only those that do not pay for reading the clock and arming a timer.
pub(crate) async fn ready_or_timeout<F: Future>(
    fut: F,
    deadline: impl FnOnce() -> Instant,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => tokio::time::timeout_at(deadline(), fut).await.ok(),
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
