//! What a hook or `serve` gets to talk to the runtime: [`ServiceContext`].

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::engine::AppState;
use crate::engine::Unit;
use crate::engine::lock;
use crate::{Hooks, LookupError, Panicked, SharedError, Status, WaitError};

/// The handle a service's hooks and `serve` receive for one run.
///
/// A run lasts from `initialize` to the end of its `shutdown`; a restart gets a fresh
/// context, so a cancelled token never leaks into the next run. Cloning is cheap.
///
/// ```
/// use hassette_runtime::{BoxError, ServiceContext};
///
/// async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
///     ctx.mark_ready();
///     ctx.cancelled().await; // until the runtime stops this run
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct ServiceContext {
    run: Arc<Run>,
}

struct Run {
    unit: Arc<Unit>,
    app: Arc<AppState>,
    /// Set once the runtime stops this run; `cancelled` wakes the futures waiting for it.
    cancelled: AtomicBool,
    cancelled_wake: Notify,
    /// The token and the children, made on the first `cancellation_token()` or `spawn`:
    /// most services use neither, and should not pay for them in every run.
    extras: OnceLock<Box<Extras>>,
    /// The run's restart context and heartbeats (see `restart_context.rs`).
    info: super::restart_context::RunInfo,
}

#[derive(Default)]
struct Extras {
    /// See `cancel` for how it follows the run's flag.
    token: OnceLock<CancellationToken>,
    /// for a tracker (nor for its room in every run).
    children: OnceLock<Children>,
    /// The run's `tracing` span, when a subscriber wants it (see `begin_span`).
    span: OnceLock<tracing::Span>,
}

struct Children {
    tracker: TaskTracker,
    /// Cancelled when the children outlive `shutdown_timeout`, or when the run is cut
    /// off: each child is dropped at its next wake-up.
    abort: CancellationToken,
    /// The panics of children, for the service's report.
    panics: Mutex<Vec<SharedError>>,
}

/// The unit's handle of its current run, so that the app's stop can cancel the run from
/// outside the service's own task: one that a blocked `serve` holds never gets to (see
/// `Unit::cancel_run`). Weak: a run that has ended is not kept for it.
#[derive(Default)]
pub(crate) struct RunRef(Weak<Run>);

impl RunRef {
    /// Cancels the run, if it is still alive: `is_cancelled` is true, `cancelled` and the
    /// token are woken, from the calling task.
    pub(crate) fn cancel(&self) {
        if let Some(run) = self.0.upgrade() {
            ServiceContext { run }.cancel();
        }
    }
}

impl fmt::Debug for ServiceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceContext")
            .field("service", &self.run.unit.name())
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl ServiceContext {
    /// A new run of `unit`, which becomes its current one (see [`RunRef`]).
    pub(crate) fn new(unit: Arc<Unit>, app: Arc<AppState>) -> Self {
        let info = super::restart_context::RunInfo::of(&unit);
        let run = Arc::new(Run {
            unit,
            app,
            cancelled: AtomicBool::new(false),
            cancelled_wake: Notify::new(),
            extras: OnceLock::new(),
            info,
        });
        run.unit.set_run(RunRef(Arc::downgrade(&run)));
        ServiceContext { run }
    }

    /// The service's name, as in logs, events and reports.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// tracing::info!(service = ctx.name(), "hello");
    /// # }
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.run.unit.name()
    }

    /// The service's status right now.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// // in after_initialize: serve was created but may not have begun
    /// let _ = ctx.status();
    /// # }
    /// ```
    #[must_use]
    pub fn status(&self) -> Status {
        self.run.unit.status()
    }

    /// Whether the service is Running and ready right now.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// if !ctx.is_ready() { ctx.mark_ready(); }
    /// # }
    /// ```
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.run.unit.state().is_up()
    }

    /// Begins the shutdown of the whole app and returns at once, for a job whose end is
    /// the end of the program (OTP's significant child). The app then stops as on a
    /// signal, this service included; the first reason given is the one the report keeps,
    /// and the exit code is 0 unless something failed.
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// struct Job;
    ///
    /// #[service(restart = "temporary")]
    /// impl Job {
    ///     async fn serve(&self, ctx: &ServiceContext) {
    ///         // ... the work ...
    ///         ctx.shutdown_app("the job is done");
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let app = Hassette::builder().service(Job).build()?;
    /// app.start().await?;
    /// app.shutdown_begun().await;
    /// let report = app.shutdown().await;
    /// assert_eq!(report.reason.as_deref(), Some("the job is done"));
    /// assert!(report.is_success());
    /// # Ok(())
    /// # }
    /// ```
    pub fn shutdown_app(&self, reason: impl Into<String>) {
        self.run.app.begin_shutdown(reason.into());
    }

    /// Completes when the app's shutdown begins: at the start of its drain
    /// ([`Builder::drain`](crate::Builder::drain)), while this run goes on until the
    /// drain is over and [`cancelled`](Self::cancelled) completes. A service stops taking
    /// new work here when it can (closes a keep-alive, tells its peers it is leaving)
    /// and finishes what it has; a server that goes on accepting is fine too, since the
    /// load balancer stops sending as readiness goes false.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # async fn f(ctx: &hassette_runtime::ServiceContext) {
    /// tokio::select! {
    ///     () = ctx.draining() => { /* say goodbye to the peers, stop taking new jobs */ }
    ///     () = ctx.cancelled() => {}
    /// }
    /// # }
    /// ```
    pub async fn draining(&self) {
        self.run.app.shutdown_begun().await;
    }

    /// Whether the app's shutdown has begun, its drain included (see
    /// [`draining`](Self::draining)).
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// let take_new_jobs = !ctx.is_draining();
    /// # }
    /// ```
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.run.app.has_shutdown_begun()
    }

    /// Completes when the runtime stops this run (shutdown, restart).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: use it as a branch of `tokio::select!` in a loop.
    ///
    /// ```
    /// # async fn f(ctx: &hassette_runtime::ServiceContext) {
    /// loop {
    ///     tokio::select! {
    ///         _ = ctx.cancelled() => break,
    ///         _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => { /* work */ }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        Cancelled {
            ctx: self,
            woken: self.run.cancelled_wake.notified(),
        }
    }

    /// [`cancelled`](Self::cancelled) as an owned future (`'static`, holding its own
    /// handle of the run), for APIs that keep the future beyond the borrow of `ctx`:
    /// axum's `with_graceful_shutdown`, a spawned task, a struct field.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// let stop = ctx.cancelled_owned();
    /// tokio::spawn(async move {
    ///     stop.await;
    ///     println!("the run was stopped");
    /// });
    /// # }
    /// ```
    pub fn cancelled_owned(&self) -> impl Future<Output = ()> + Send + 'static {
        let ctx = self.clone();
        async move { ctx.cancelled().await }
    }

    /// Whether the runtime has asked this run to stop.
    ///
    /// Also true for a `serve` that blocks its thread between checks, which its own
    /// task's stop cannot reach: once the app's stop has waited for it as long as its
    /// stop may take, it cuts the service off and cancels the run from outside, so the
    /// loop ends at its next check and gives its thread back; [`cancelled`](Self::cancelled)
    /// completes and the [token](Self::cancellation_token) is cancelled at that moment too.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// while !ctx.is_cancelled() { /* one unit of work */ break; }
    /// # }
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.run.cancelled.load(Ordering::SeqCst)
    }

    /// A clone of this run's cancellation token, to hand to code that takes one.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// let token = ctx.cancellation_token();
    /// std::thread::spawn(move || while !token.is_cancelled() { break });
    /// # }
    /// ```
    #[must_use]
    pub fn cancellation_token(&self) -> CancellationToken {
        let extras = self.run.extras.get_or_init(Box::default);
        let token = extras.token.get_or_init(CancellationToken::new).clone();
        // Pairs with the fence in `cancel`: one of the two sides sees the other's write,
        // so a token made while the run is being cancelled is cancelled too.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.is_cancelled() {
            token.cancel();
        }
        token
    }

    /// Marks the service ready for its dependants (`ready = "manual"`). May be called from
    /// `on_initialize` or `serve`; readiness lasts until the run ends or
    /// [`mark_not_ready`](Self::mark_not_ready).
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// // connected and caught up: dependants may start now
    /// ctx.mark_ready();
    /// # }
    /// ```
    pub fn mark_ready(&self) {
        self.run.unit.set_ready(true, None);
    }

    /// Withdraws readiness, for example while reconnecting; `reason` goes to the log.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// ctx.mark_not_ready("lost the broker connection");
    /// # }
    /// ```
    pub fn mark_not_ready(&self, reason: impl fmt::Display) {
        let reason: Arc<str> = reason.to_string().into();
        if self.run.unit.set_ready(false, Some(reason.clone())) {
            tracing::warn!(service = %self.run.unit.name(), %reason, "not ready");
        }
    }

    /// Spawns a child task tracked by this run: at shutdown, after `serve` has finished,
    /// the runtime waits for the children up to `shutdown_timeout` and then drops them.
    /// Children should watch [`cancelled`](Self::cancelled).
    ///
    /// A child runs inside the `tracing` span current where it is spawned: the service's
    /// span when called from its hooks or `serve`. A child that panics is an error
    /// of the service: it is logged with the service's name, becomes its last error (see
    /// `Hassette::snapshot`) and goes into its report; the service keeps running, and the
    /// returned handle completes normally.
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// let child = ctx.clone();
    /// ctx.spawn(async move { child.cancelled().await });
    /// # }
    /// ```
    pub fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let extras = self.run.extras.get_or_init(Box::default);
        let children = extras.children.get_or_init(|| Children {
            tracker: TaskTracker::new(),
            abort: CancellationToken::new(),
            panics: Mutex::new(Vec::new()),
        });
        let abort = children.abort.clone();
        let task = AssertUnwindSafe(crate::engine::in_service(&self.run.unit, task)).catch_unwind();
        let run = self.run.clone();
        let child = async move {
            tokio::select! {
                biased;
                () = abort.cancelled() => {}
                outcome = task => if let Err(payload) = outcome {
                    run.child_panicked(Arc::new(Panicked::from_payload(&*payload)));
                }
            }
        };
        let task = children.tracker.track_future(child.in_current_span());
        crate::engine::spawn_named(self.run.unit.name(), task)
    }

    /// Tells the service's `watchdog` that it is alive: a Running service whose spec has
    /// `watchdog = "10s"` must call it at least that often, or its run fails with
    /// [`NoHeartbeat`](crate::NoHeartbeat) and its restart policy applies. Cheap (a clock
    /// read and an atomic store); a no-op without a watchdog.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hassette_runtime::prelude::*;
    ///
    /// struct Poller;
    /// #[service(restart = "permanent", watchdog = "10s")]
    /// impl Poller {
    ///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
    ///         while !ctx.is_cancelled() {
    ///             // poll_once().await?;
    ///             ctx.heartbeat();
    ///             tokio::time::sleep(Duration::from_secs(1)).await;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn heartbeat(&self) {
        self.run.info.beat();
    }

    /// Which attempt this run is: 0 for the first run (and for the first after an
    /// operator's restart or a cooldown, which reset the count), `n` after `n` restarts in
    /// a row; a run that had stayed healthy for `stable_after` before it failed starts the
    /// count again (the run after it is 1). The backoff grows with it, so a run can adapt
    /// too (a fallback host, a smaller batch).
    /// It is read while the run is under way (once the run has been stopped it may tell
    /// the next run's already, as [`last_error`](Self::last_error) does).
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// let host = if ctx.attempt() < 3 { "primary.example" } else { "fallback.example" };
    /// # let _ = host;
    /// # }
    /// ```
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.run.unit.run_context().0
    }

    /// The error that ended the previous run of this service (its `serve`, a hook, its
    /// watchdog or its `on_reload`); `None` on the first run and after a run that ended
    /// without one (a clean return, an operator's restart).
    ///
    /// ```
    /// # fn f(ctx: &hassette_runtime::ServiceContext) {
    /// if let Some(error) = ctx.last_error() {
    ///     tracing::info!(%error, "starting again after a failure");
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn last_error(&self) -> Option<SharedError> {
        self.run.unit.run_context().1
    }

    /// The `watchdog` of this run, if it has one.
    pub(crate) fn watchdog(&self) -> Option<std::time::Duration> {
        self.run.info.watchdog()
    }

    /// The last heartbeat of this run, if any (for the watchdog).
    pub(crate) fn last_beat(&self) -> Option<tokio::time::Instant> {
        self.run.info.last_beat()
    }

    /// A heartbeat now (the watchdog's count begins), and when.
    pub(crate) fn beat_now(&self) -> tokio::time::Instant {
        self.run.info.beat()
    }

    /// Waits until `T` is Running and ready.
    ///
    /// Returns an error instead of hanging when `T` will never be ready (crashed,
    /// exhausted), when the app shuts down, and when the wait would close a wait-for
    /// cycle (this service waits for `T` while `T` waits for this one).
    ///
    /// ```
    /// # use hassette_runtime::{BoxError, ServiceContext};
    /// # struct Database;
    /// async fn on_initialize(ctx: &ServiceContext) -> Result<(), BoxError> {
    ///     ctx.wait_ready::<Database>().await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn wait_ready<T: 'static>(&self) -> Result<(), WaitError> {
        let target = self.run.app.registry().by_type::<T>()?;
        self.run.app.wait_up(Some(&self.run.unit), &target).await
    }

    /// Like [`wait_ready`](Self::wait_ready), for a service registered by name.
    ///
    /// ```
    /// # async fn f(ctx: &hassette_runtime::ServiceContext) -> Result<(), hassette_runtime::WaitError> {
    /// ctx.wait_ready_by_name("worker-1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_ready_by_name(&self, name: &str) -> Result<(), WaitError> {
        let target = self.run.app.registry().by_name(name)?;
        self.run.app.wait_up(Some(&self.run.unit), &target).await
    }

    /// The shared handle of the one registered `T`.
    ///
    /// ```
    /// # use hassette_runtime::ServiceContext;
    /// # struct Database;
    /// # impl hassette_runtime::Hooks for Database {}
    /// # fn f(ctx: &ServiceContext) -> Result<(), hassette_runtime::LookupError> {
    /// let db: std::sync::Arc<Database> = ctx.service::<Database>()?;
    /// # Ok(()) }
    /// ```
    pub fn service<T: Hooks>(&self) -> Result<Arc<T>, LookupError> {
        self.run.app.registry().handle::<T>()
    }

    /// Opens the run's `tracing` span, `run{service, attempt}` (inside the service's
    /// own span): its hooks, `serve` and `spawn`ed tasks run in it. Made (and `attempt`
    /// asked for) only when a subscriber wants it, so a run without one pays nothing.
    pub(crate) fn begin_span(&self, attempt: impl FnOnce() -> u64) {
        let span = tracing::info_span!("run", service = %self.run.unit.name(), attempt = attempt());
        if !span.is_disabled() {
            let _ = self.run.extras.get_or_init(Box::default).span.set(span);
        }
    }

    /// The run's span, if a subscriber wants it.
    pub(crate) fn span(&self) -> Option<&tracing::Span> {
        self.run.extras.get().and_then(|extras| extras.span.get())
    }

    /// The engine's state of the app this run belongs to.
    pub(crate) fn app_state(&self) -> &Arc<AppState> {
        &self.run.app
    }

    /// The unit this run belongs to.
    pub(crate) fn unit(&self) -> &Arc<Unit> {
        &self.run.unit
    }

    pub(crate) fn cancel(&self) {
        self.run.cancelled.store(true, Ordering::SeqCst);
        self.run.cancelled_wake.notify_waiters();
        std::sync::atomic::fence(Ordering::SeqCst);
        if let Some(token) = self.run.extras.get().and_then(|e| e.token.get()) {
            token.cancel();
        }
    }

    /// Whether this run has spawned a child task.
    pub(crate) fn has_children(&self) -> bool {
        self.run.children().is_some()
    }

    /// Waits for the children until `deadline`, then drops the rest; returns how many
    /// were still running then, and the panics of children during the run.
    pub(crate) async fn close_children(
        &self,
        deadline: tokio::time::Instant,
    ) -> (usize, Vec<SharedError>) {
        let Some(children) = self.run.children() else {
            return (0, Vec::new());
        };
        children.tracker.close();
        let mut left = 0;
        if crate::engine::within(
            self.run.app.stop_state().signals(),
            deadline,
            children.tracker.wait(),
        )
        .await
        .is_none()
        {
            left = children.tracker.len();
            self.abort_children();
            // A dropped child is gone at its next wake-up; one that never yields keeps its
            // thread, and the stop does not wait for it.
            let _ = tokio::time::timeout(crate::engine::ABORT_GRACE, children.tracker.wait()).await;
        }
        let panics = std::mem::take(&mut *lock(&children.panics)); // (alone)
        (left, panics)
    }

    /// Drops every child at its next wake-up.
    pub(crate) fn abort_children(&self) {
        if let Some(children) = self.run.children() {
            children.abort.cancel();
        }
    }
}

impl Run {
    fn children(&self) -> Option<&Children> {
        self.extras.get().and_then(|e| e.children.get())
    }

    fn child_panicked(&self, error: SharedError) {
        tracing::error!(service = %self.unit.name(), %error, "a child task of the service panicked");
        self.unit.note_error(error.clone());
        if let Some(children) = self.children() {
            lock(&children.panics).push(error); // (alone)
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ServiceContext::cancelled`]: the run's flag and one wake-up
    /// registered before each look at it, so a cancel between the two is not missed
    /// (`cancel` sets the flag, then wakes every registered waiter). Written out rather
    /// than an `async` loop, it is the wake-up and a reference (72 bytes; the loop took
    /// 104) in every `serve` that waits for its stop.
    struct Cancelled<'a> {
        ctx: &'a ServiceContext,
        #[pin]
        woken: tokio::sync::futures::Notified<'a>,
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let mut this = self.project();
        this.woken.as_mut().enable();
        if this.ctx.is_cancelled() {
            return std::task::Poll::Ready(());
        }
        // Only `cancel` wakes it, after the flag is set.
        this.woken.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::Cancelled;
    use tokio::sync::futures::Notified;

    #[test]
    fn the_wait_for_cancellation_is_its_wake_up_and_a_reference() {
        assert_eq!(
            size_of::<Cancelled<'static>>(),
            size_of::<Notified<'static>>() + size_of::<usize>()
        );
    }
}
