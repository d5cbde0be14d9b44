//! A deterministic test kit (feature `testing`): inject failures, panics, hangs and slow
//! hooks into named services at a chosen moment, drive tokio's paused clock, and assert
//! the exact sequence of status changes and restart delays.
//!
//! Wrap a service in [`Faulty`] when registering it, keep a [`Faults`] handle, and drive
//! the app through a [`TestApp`]:
//!
//! ```
//! use std::time::Duration;
//! use hassette_runtime::prelude::*;
//! use hassette_runtime::testing::{Fault, Faults, Faulty, Point, TestApp};
//!
//! struct Feed;
//!
//! #[service(restart = "permanent", backoff(base = "1s", max = "4s"))]
//! impl Feed {
//!     async fn serve(&self, ctx: &ServiceContext) {
//!         ctx.cancelled().await
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread", start_paused = true)]
//! async fn main() {
//!     let faults = Faults::new();
//!     let mut t = TestApp::new(Hassette::builder().service(Faulty::new(Feed, &faults))).unwrap();
//!     t.start().await.unwrap();
//!
//!     faults.inject("Feed", Point::Serve, Fault::error("upstream gone"));
//!     faults.inject("Feed", Point::Serve, Fault::error("upstream gone"));
//!     t.advance(Duration::from_secs(10)).await;
//!
//!     assert_eq!(t.restart_delays("Feed"), [Duration::from_secs(1), Duration::from_secs(2)]);
//!     assert_eq!(t.last_status("Feed"), Some(Status::Running));
//!     let report = t.shutdown().await;
//!     assert_eq!(report.services[0].restarts, 2);
//! }
//! ```
//!
//! The clock must be paused (`#[tokio::test(start_paused = true)]`): then
//! [`TestApp::advance`] moves time exactly, and every delay in the events is exact.

use std::collections::{HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_spec::Hook;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{
    BoxError, BuildError, Builder, Dependency, EventReceiver, Fatal, Hassette, Hooks, Service,
    ServiceContext, ShutdownReport, StartError, Status, StatusEvent, TryRecvError,
};

/// Where a fault strikes: a hook, or `serve` (a fault armed while `serve` runs strikes
/// at once). It is the hook table the macro and the runtime share, so a fault can be
/// armed at every method the lifecycle drives, and at no other.
///
/// ```
/// # use hassette_runtime::testing::Point;
/// assert_eq!(Point::OnInitialize.name(), "on_initialize");
/// assert_eq!(Point::Serve.name(), "serve");
/// ```
pub type Point = Hook;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Return an [`Injected`] error.
    Error(String),
    /// Return [`Fatal`] wrapping an [`Injected`] error.
    Fatal(String),
    /// Panic with this message.
    Panic(String),
    /// Never finish, ignoring cancellation.
    Hang,
    /// Wait this long (ignoring cancellation), then do what the service would have done.
    Delay(Duration),
    /// `serve` only: return `Ok(())` now.
    Return,
}

impl Fault {
    /// `Fault::Error` with this message.
    ///
    /// ```
    /// # use hassette_runtime::testing::Fault;
    /// assert_eq!(Fault::error("boom"), Fault::Error("boom".into()));
    /// ```
    pub fn error(message: impl Into<String>) -> Self {
        Fault::Error(message.into())
    }
}

/// The error an injected [`Fault::Error`] or [`Fault::Fatal`] returns.
///
/// ```
/// # use hassette_runtime::testing::Injected;
/// assert_eq!(Injected("boom".into()).to_string(), "injected: boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected(pub String);

impl fmt::Display for Injected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected: {}", self.0)
    }
}

impl Error for Injected {}

/// The shared list of armed faults; clone it into every [`Faulty`] service.
///
/// ```
/// # use hassette_runtime::testing::{Fault, Faults, Point};
/// let faults = Faults::new();
/// faults.inject("db", Point::OnInitialize, Fault::Hang);
/// assert_eq!(faults.pending("db"), 1);
/// ```
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<FaultsInner>,
}

#[derive(Default)]
struct FaultsInner {
    armed: Mutex<HashMap<(String, Point), VecDeque<Fault>>>,
    /// Wakes running `serve`s when a fault is armed.
    armed_changed: Notify,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let armed = crate::sync::lock(&self.inner.armed);
        f.debug_struct("Faults").field("armed", &*armed).finish()
    }
}

impl Faults {
    /// No faults armed.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `fault` for the next call of `point` in the service named `service`; faults
    /// armed for one point strike in the order they were armed, one per call.
    pub fn inject(&self, service: &str, point: Point, fault: Fault) {
        let mut armed = crate::sync::lock(&self.inner.armed);
        armed
            .entry((service.to_owned(), point))
            .or_default()
            .push_back(fault);
        drop(armed);
        self.inner.armed_changed.notify_waiters();
    }

    /// How many faults are armed for `service` and not yet struck.
    #[must_use]
    pub fn pending(&self, service: &str) -> usize {
        let armed = crate::sync::lock(&self.inner.armed);
        armed
            .iter()
            .filter(|((name, _), _)| name == service)
            .map(|(_, q)| q.len())
            .sum()
    }

    fn take(&self, service: &str, point: Point) -> Option<Fault> {
        let mut armed = crate::sync::lock(&self.inner.armed);
        armed
            .get_mut(&(service.to_owned(), point))
            .and_then(VecDeque::pop_front)
    }

    /// Completes with the next fault armed for `serve` of `service`.
    async fn next_for_serve(&self, service: &str) -> Fault {
        loop {
            let changed = self.inner.armed_changed.notified();
            if let Some(fault) = self.take(service, Point::Serve) {
                return fault;
            }
            changed.await;
        }
    }
}

/// Does what `fault` says instead of (or, for `Delay`, before) the real call.
async fn strike<F: Future<Output = Result<(), BoxError>>>(
    fault: Fault,
    real: F,
) -> Result<(), BoxError> {
    match fault {
        Fault::Error(message) => Err(Injected(message).into()),
        Fault::Fatal(message) => Err(Fatal::new(Injected(message)).into()),
        Fault::Panic(message) => std::panic::panic_any(message),
        Fault::Hang => std::future::pending().await,
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            real.await
        }
        Fault::Return => Ok(()),
    }
}

/// A service whose hooks and `serve` obey the faults armed for its name.
///
/// It keeps the wrapped service's restart policy, dependencies and name.
///
/// ```
/// # use hassette_runtime::prelude::*;
/// # use hassette_runtime::testing::{Faults, Faulty};
/// # struct Feed;
/// # #[service(restart = "transient")]
/// # impl Feed { async fn serve(&self) {} }
/// let faults = Faults::new();
/// let app = Hassette::builder().service(Faulty::new(Feed, &faults)).build().unwrap();
/// # drop(app);
/// ```
pub struct Faulty<T> {
    inner: T,
    faults: Faults,
}

impl<T> fmt::Debug for Faulty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faulty")
            .field("service", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<T: Service> Faulty<T> {
    /// Wraps `inner`, obeying `faults`.
    pub fn new(inner: T, faults: &Faults) -> Self {
        Faulty {
            inner,
            faults: faults.clone(),
        }
    }

    /// The wrapped service.
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # use hassette_runtime::testing::{Faults, Faulty};
    /// # struct Feed(u8);
    /// # #[service(restart = "transient")]
    /// # impl Feed { async fn serve(&self) {} }
    /// assert_eq!(Faulty::new(Feed(3), &Faults::new()).inner().0, 3);
    /// ```
    pub fn inner(&self) -> &T {
        &self.inner
    }

    async fn hook<F: Future<Output = Result<(), BoxError>>>(
        &self,
        hook: Hook,
        ctx: &ServiceContext,
        real: F,
    ) -> Result<(), BoxError> {
        match self.faults.take(ctx.name(), hook) {
            Some(fault) => strike(fault, real).await,
            None => real.await,
        }
    }
}

impl<T: Service> Hooks for Faulty<T> {
    const DEPENDS_ON: &'static [Dependency] = T::DEPENDS_ON;

    fn display_name() -> std::borrow::Cow<'static, str> {
        T::display_name()
    }

    async fn before_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook(
            Hook::BeforeInitialize,
            ctx,
            self.inner.before_initialize(ctx),
        )
        .await
    }
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook(Hook::OnInitialize, ctx, self.inner.on_initialize(ctx))
            .await
    }
    async fn after_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook(Hook::AfterInitialize, ctx, self.inner.after_initialize(ctx))
            .await
    }
    async fn before_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook(Hook::BeforeShutdown, ctx, self.inner.before_shutdown(ctx))
            .await
    }
    async fn on_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook(Hook::OnShutdown, ctx, self.inner.on_shutdown(ctx))
            .await
    }
    async fn after_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook(Hook::AfterShutdown, ctx, self.inner.after_shutdown(ctx))
            .await
    }
    async fn on_reload(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook(Hook::OnReload, ctx, self.inner.on_reload(ctx))
            .await
    }
}

impl<T: Service> Service for Faulty<T> {
    const RESTART_SPEC: crate::RestartSpec = T::RESTART_SPEC;

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let real = self.inner.serve(ctx);
        tokio::pin!(real);
        tokio::select! {
            biased;
            fault = self.faults.next_for_serve(ctx.name()) => match fault {
                // A delay holds the real serve back, then lets it run.
                Fault::Delay(delay) => {
                    tokio::time::sleep(delay).await;
                    real.await
                }
                other => strike(other, std::future::ready(Ok(()))).await,
            },
            result = &mut real => result,
        }
    }

    fn is_fatal(error: &(dyn Error + 'static)) -> bool {
        T::is_fatal(error)
    }

    fn is_non_retryable(error: &(dyn Error + 'static)) -> bool {
        T::is_non_retryable(error)
    }
}

/// An app under test on the paused clock, recording every status event from before start.
///
/// See the [module documentation](self) for an example.
pub struct TestApp {
    app: Hassette,
    rx: EventReceiver<StatusEvent>,
    seen: Vec<StatusEvent>,
    began: Instant,
}

impl fmt::Debug for TestApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestApp")
            .field("app", &self.app)
            .field("events", &self.seen.len())
            .finish()
    }
}

impl TestApp {
    /// Builds the app and subscribes to its events (with room for every event a test
    /// is likely to make: 1 << 16).
    ///
    /// # Errors
    ///
    /// What [`Builder::build`] returns.
    pub fn new(builder: Builder) -> Result<Self, BuildError> {
        let app = builder.event_capacity(1 << 16).build()?;
        let rx = app.events();
        Ok(TestApp {
            app,
            rx,
            seen: Vec::new(),
            began: Instant::now(),
        })
    }

    /// The app itself.
    #[must_use]
    pub fn app(&self) -> &Hassette {
        &self.app
    }

    /// Starts the app and lets every task that can run, run. A failure that ends the app
    /// ([`StartError::ends_the_app`]) shuts it down, with the error as the reason, as
    /// [`Hassette::run_until_signal`] and [`Hassette::run_until`] do; after any other
    /// (one the service's policy retries) the app goes on.
    ///
    /// # Errors
    ///
    /// What [`Hassette::start`] returns.
    pub async fn start(&mut self) -> Result<(), StartError> {
        let result = self.app.start_or_stop().await;
        self.settle().await;
        result
    }

    /// Moves the paused clock forward by exactly `by`, running everything due meanwhile.
    pub async fn advance(&mut self, by: Duration) {
        tokio::time::sleep(by).await;
        self.settle().await;
    }

    /// Lets every task that can run, run, without moving the clock.
    pub async fn settle(&mut self) {
        for _ in 0..32 {
            tokio::task::yield_now().await;
        }
        self.collect();
    }

    /// Shuts the app down and returns its report.
    pub async fn shutdown(&mut self) -> ShutdownReport {
        let report = self.app.shutdown().await;
        self.collect();
        report
    }

    fn collect(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(event) => self.seen.push(event),
                Err(TryRecvError::Lagged(n)) => {
                    panic!("the test app lost {n} events; keep tests under 65 536 events")
                }
                Err(_) => break,
            }
        }
    }

    /// Every event so far, in order.
    pub fn events(&mut self) -> &[StatusEvent] {
        self.collect();
        &self.seen
    }

    /// The statuses `service` entered, in order, each with its time since the app was
    /// built.
    pub fn timeline(&mut self, service: &str) -> Vec<(Duration, Status)> {
        let began = self.began;
        self.events()
            .iter()
            .filter(|e| &*e.service == service)
            .map(|e| (e.at - began, e.to))
            .collect()
    }

    /// The statuses `service` entered, in order.
    pub fn statuses(&mut self, service: &str) -> Vec<Status> {
        self.timeline(service).into_iter().map(|(_, s)| s).collect()
    }

    /// The last status `service` entered.
    pub fn last_status(&mut self, service: &str) -> Option<Status> {
        self.statuses(service).last().copied()
    }

    /// The delay between each failure of `service` and the restart that followed it.
    pub fn restart_delays(&mut self, service: &str) -> Vec<Duration> {
        let mut delays = Vec::new();
        let mut failed_at = None;
        for (at, status) in self.timeline(service) {
            match status {
                Status::Failed | Status::ExhaustedCooling => failed_at = Some(at),
                Status::Starting => delays.extend(failed_at.take().map(|t| at - t)),
                _ => {}
            }
        }
        delays
    }
}
