//! Regression tests of the contract for re-entry, cancellation and hostile input:
//! hooks that panic while building their futures or when dropped, `Duration::MAX`
//! timeouts, the shutdown deadline cutting everything off, aborts during restarts, a
//! shutdown during initialize hooks, child task panics, resources refusing restarts and
//! failed starts reported Failed. Each of them failed on the engine of 07c03fb (the
//! resource test does not compile there, `RestartError::Resource` being new; the old
//! engine answered that restart with `Ok(())`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{
    Hooks, Panicked, RestartError, RestartSpec, ServiceReport, StartFailure, StatusEvent, TimedOut,
};
use hassette_tests::*;
use tokio::time::{Instant, timeout};

/// Anything in these tests finishes well within this (simulated) time; more is a hang.
const HANG: Duration = Duration::from_secs(100_000);

/// Sets its flag when dropped: proves a future was dropped (not detached).
struct Guard(Arc<AtomicBool>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn dropped(flag: &AtomicBool) -> bool {
    flag.load(Ordering::SeqCst)
}

/// `(what, error)` of every error of a report, as text.
fn errors(report: &ServiceReport) -> Vec<String> {
    report.errors.iter().map(ToString::to_string).collect()
}

/// The events of `service` that carry an error, as `from -> to: error`.
fn errors_of(events: &[StatusEvent], service: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| &*e.service == service)
        .filter_map(|e| {
            let error = e.error.as_ref()?;
            Some(format!("{:?} -> {:?}: {error}", e.from, e.to))
        })
        .collect()
}

type HookFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A hook future that never finishes and panics when it is dropped.
struct PendingPanicsOnDrop;

impl Future for PendingPanicsOnDrop {
    type Output = Result<(), BoxError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

impl Drop for PendingPanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped");
    }
}

// ---------------------------------------------------------------------------------------
// 3. Panics while building a hook's future, or when dropping it; `Duration::MAX`.

const PANIC_SPEC: RestartSpec = RestartSpec {
    backoff_base: secs(1),
    ..RestartSpec::new(RestartType::Permanent)
};

/// `on_initialize` panics while it builds its future, on its first call only.
#[derive(Default)]
struct PanicsBuildingInit {
    calls: AtomicUsize,
}

impl Hooks for PanicsBuildingInit {
    fn on_initialize(
        &self,
        _ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("x");
        }
        async { Ok(()) }
    }
}

impl Service for PanicsBuildingInit {
    const RESTART_SPEC: RestartSpec = PANIC_SPEC;
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn on_initialize_panicking_while_building_its_future_is_its_error_and_the_service_restarts() {
    let app = Hassette::builder()
        .service(PanicsBuildingInit::default())
        .build()
        .unwrap();
    let mut events = app.events();
    let began = Instant::now();
    let error = timeout(HANG, app.start()).await.unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        "service `PanicsBuildingInit` did not start: `on_initialize` failed: panicked: x"
    );
    match &error.failure {
        StartFailure::Hook { hook, error } => {
            assert_eq!(*hook, "on_initialize");
            assert!(error.is::<Panicked>());
        }
        other => panic!("expected a hook failure, got {other:?}"),
    }
    assert_eq!(app.status::<PanicsBuildingInit>().unwrap(), Status::Failed);
    // the supervisor lives: the policy restarts it after its 1s backoff
    timeout(HANG, app.wait_ready::<PanicsBuildingInit>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(began.elapsed(), secs(1));
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    let events = drain_events(&mut events);
    assert_eq!(
        errors_of(&events, "PanicsBuildingInit"),
        ["Starting -> Failed: panicked: x"]
    );
    let svc = &report.services[0];
    assert_eq!(svc.status, Status::Stopped);
    assert_eq!(svc.restarts, 1);
    assert_eq!(errors(svc), ["on_initialize: panicked: x"]);
    assert!(!svc.aborted);
    assert!(report.is_success(), "{report}");
}

/// `before_shutdown` panics while it builds its future, on every call.
#[derive(Default)]
struct PanicsBuildingStop {
    on_shutdown: Arc<AtomicUsize>,
}

impl Hooks for PanicsBuildingStop {
    #[allow(unreachable_code)]
    fn before_shutdown(
        &self,
        _ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        panic!("x");
        async { Ok(()) }
    }
    async fn on_shutdown(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        self.on_shutdown.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Service for PanicsBuildingStop {
    const RESTART_SPEC: RestartSpec = PANIC_SPEC;
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn before_shutdown_panicking_while_building_its_future_is_its_error_and_the_stop_goes_on() {
    let svc = PanicsBuildingStop::default();
    let on_shutdown = svc.on_shutdown.clone();
    let app = Hassette::builder().service(svc).build().unwrap();
    let mut events = app.events();
    timeout(HANG, app.start()).await.unwrap().unwrap();
    timeout(HANG, app.wait_ready::<PanicsBuildingStop>())
        .await
        .unwrap()
        .unwrap();
    // an operator restart stops the run (the hook panics) and starts a new one
    timeout(HANG, app.restart::<PanicsBuildingStop>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.status::<PanicsBuildingStop>().unwrap(), Status::Running);
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO);
    let events = drain_events(&mut events);
    assert_eq!(
        errors_of(&events, "PanicsBuildingStop"),
        [
            "Stopping -> Stopped: panicked: x",
            "Stopping -> Stopped: panicked: x"
        ]
    );
    let svc = &report.services[0];
    assert_eq!(svc.status, Status::Stopped);
    assert_eq!(svc.restarts, 1);
    assert_eq!(
        errors(svc),
        [
            "before_shutdown: panicked: x",
            "before_shutdown: panicked: x"
        ]
    );
    // the hooks after it ran both times
    assert_eq!(on_shutdown.load(Ordering::SeqCst), 2);
    assert!(report.is_success(), "{report}");
}

/// `on_initialize` (first call) and `on_shutdown` (every call) never finish and panic
/// when dropped at their timeouts.
#[derive(Default)]
struct PanicsOnDrop {
    calls: AtomicUsize,
}

impl Hooks for PanicsOnDrop {
    fn on_initialize(
        &self,
        _ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let fut: HookFuture = if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Box::pin(PendingPanicsOnDrop)
        } else {
            Box::pin(async { Ok(()) })
        };
        fut
    }
    fn on_shutdown(
        &self,
        _ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        PendingPanicsOnDrop
    }
}

impl Service for PanicsOnDrop {
    const RESTART_SPEC: RestartSpec = RestartSpec {
        startup_timeout: secs(2),
        shutdown_timeout: secs(3),
        ..PANIC_SPEC
    };
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_hook_future_panicking_when_dropped_at_its_timeout_is_a_timeout_error() {
    let app = Hassette::builder()
        .service(PanicsOnDrop::default())
        .build()
        .unwrap();
    let began = Instant::now();
    let error = timeout(HANG, app.start()).await.unwrap().unwrap_err();
    assert_eq!(began.elapsed(), secs(2));
    assert_eq!(
        error.to_string(),
        "service `PanicsOnDrop` did not start: `on_initialize` failed: `on_initialize` did not finish within 2s"
    );
    // the failed run's clean-up (on_shutdown cut off after 3s), the 1s backoff, a restart
    timeout(HANG, app.wait_ready::<PanicsOnDrop>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(began.elapsed(), secs(6));
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(began.elapsed(), secs(3));
    let svc = &report.services[0];
    assert_eq!(svc.status, Status::Stopped);
    assert_eq!(svc.restarts, 1);
    // Each hook's error is its timeout; the panic of its drop is in the report too.
    assert_eq!(
        errors(svc),
        [
            "on_initialize: panicked: dropped (when it was dropped)",
            "on_initialize: `on_initialize` did not finish within 2s",
            "on_shutdown: panicked: dropped (when it was dropped)",
            "on_shutdown: `on_shutdown` did not finish within 3s",
            "on_shutdown: panicked: dropped (when it was dropped)",
            "on_shutdown: `on_shutdown` did not finish within 3s",
        ]
    );
    for pair in svc.errors.chunks(2) {
        assert!(pair[0].error.downcast_ref::<Panicked>().is_some());
        assert!(pair[1].error.downcast_ref::<TimedOut>().is_some());
    }
    assert!(!svc.aborted);
    assert!(report.is_success(), "{report}");
}

profile!(Unbounded, RestartType::Permanent, {
    startup_timeout: Duration::MAX,
    shutdown_timeout: Duration::MAX,
    backoff_base: secs(1),
});

/// The attribute's largest durations: 3e15 hours is about 1.08e19 seconds.
struct Forever {
    log: Log,
}

#[service(
    restart = "permanent",
    backoff(base = "1s"),
    startup_timeout = "3000000000000000h",
    shutdown_timeout = "3000000000000000h"
)]
impl Forever {
    async fn on_initialize(&self) {
        tokio::time::sleep(secs(4)).await;
        self.log.push("forever:on_initialize");
    }
    async fn serve(&self, ctx: &ServiceContext) {
        self.log.push("forever:serve");
        ctx.cancelled().await;
    }
    async fn before_shutdown(&self) {
        tokio::time::sleep(secs(1)).await;
        self.log.push("forever:before_shutdown");
    }
}

#[tokio::test(start_paused = true)]
async fn duration_max_timeouts_mean_no_limit_through_start_restart_and_shutdown() {
    assert_eq!(
        Forever::RESTART_SPEC.startup_timeout,
        Duration::from_secs(3_000_000_000_000_000 * 3600)
    );
    let log = Log::default();
    let probe = Probe::<Unbounded>::new("p", &log)
        .always("on_initialize", Act::Sleep(secs(5)))
        .always("before_shutdown", Act::Sleep(secs(2)))
        .then("serve", [Act::ErrAfter(secs(1))]);
    let app = Hassette::builder()
        .service(probe)
        .service(Forever { log: log.clone() })
        .build()
        .unwrap();
    let began = Instant::now();
    timeout(HANG, app.start()).await.unwrap().unwrap();
    // both wave-0 services start concurrently: the slower hook (5s) sets the pace
    assert_eq!(began.elapsed(), secs(5));
    // serve fails after 1s: before_shutdown (2s), backoff (1s), on_initialize (5s)
    timeout(HANG, tokio::time::sleep(secs(1))).await.unwrap();
    settle().await;
    // (Failed while its run is cleaned up and during the backoff)
    assert_eq!(app.status::<Probe<Unbounded>>().unwrap(), Status::Failed);
    assert_eq!(log.count("p:before_shutdown"), 1);
    timeout(HANG, tokio::time::sleep(secs(8))).await.unwrap();
    settle().await;
    assert_eq!(app.status::<Probe<Unbounded>>().unwrap(), Status::Running);
    // operator restarts: stop (before_shutdown) then the slow initialize
    let began = Instant::now();
    timeout(HANG, app.restart::<Probe<Unbounded>>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(began.elapsed(), secs(7));
    let began = Instant::now();
    timeout(HANG, app.restart::<Forever>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(began.elapsed(), secs(5));
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(began.elapsed(), secs(2));
    for svc in &report.services {
        assert_eq!(svc.status, Status::Stopped, "{report}");
        assert!(!svc.aborted, "{report}");
    }
    assert_eq!(report.services[0].restarts, 2);
    assert_eq!(errors(&report.services[0]), ["serve: serve failed"]);
    assert_eq!(report.services[1].restarts, 1);
    assert!(report.services[1].errors.is_empty());
    assert_eq!(log.count("forever:before_shutdown"), 2);
    assert_eq!(log.count("forever:serve"), 2);
    assert!(report.is_success(), "{report}");
}

// ---------------------------------------------------------------------------------------
// 4. The shutdown deadline cuts everything off.

#[derive(Default)]
struct Flags {
    serve: Arc<AtomicBool>,
    child: Arc<AtomicBool>,
}

/// The dependency (wave 0): serve runs until cancelled.
struct Base {
    serve_dropped: Arc<AtomicBool>,
}

#[service(restart = "permanent")]
impl Base {
    async fn serve(&self, ctx: &ServiceContext) {
        let _guard = Guard(self.serve_dropped.clone());
        ctx.cancelled().await;
    }
}

/// Serve and its child both ignore cancellation.
struct Hung {
    flags: Flags,
}

#[service(restart = "permanent", shutdown_timeout = "60s", depends_on(Base))]
impl Hung {
    async fn serve(&self, ctx: &ServiceContext) {
        let child = Guard(self.flags.child.clone());
        ctx.spawn(async move {
            let _child = child;
            std::future::pending::<()>().await;
        });
        let _serve = Guard(self.flags.serve.clone());
        std::future::pending::<()>().await;
    }
}

/// In Hung's wave; stops at once.
struct Clean;

#[service(restart = "permanent", depends_on(Base))]
impl Clean {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_deadline_aborts_hung_serves_and_children_and_stops_every_wave() {
    let base = flag();
    let hung = Flags::default();
    let (hung_serve, hung_child) = (hung.serve.clone(), hung.child.clone());
    let app = Hassette::builder()
        .service(Base {
            serve_dropped: base.clone(),
        })
        .service(Hung { flags: hung })
        .service(Clean)
        .shutdown_deadline(secs(5))
        .build()
        .unwrap();
    timeout(HANG, app.start()).await.unwrap().unwrap();
    timeout(HANG, app.wait_ready::<Hung>())
        .await
        .unwrap()
        .unwrap();
    timeout(HANG, app.wait_ready::<Clean>())
        .await
        .unwrap()
        .unwrap();
    settle().await;
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    // what was still running is gone by the time shutdown returns: dropped, not detached
    assert!(dropped(&hung_serve), "Hung's serve still alive");
    assert!(dropped(&hung_child), "Hung's child task still alive");
    assert!(dropped(&base), "Base's serve still alive");
    assert_eq!(began.elapsed(), secs(5));
    assert!(report.deadline_exceeded);
    assert!(!report.is_success());

    let hung = report.service("Hung").unwrap();
    assert_eq!(hung.status, Status::Stopped, "{report}");
    assert!(hung.aborted, "{report}");
    assert_eq!(app.status::<Hung>().unwrap(), Status::Stopped);
    // the deadline, not the service's own timeout, cut it off, and the report says so
    assert!(
        errors(hung)
            .iter()
            .any(|e| e == "serve: `serve` was cut off: the shutdown deadline ran out"),
        "{report}"
    );

    // stopped cleanly before the deadline: not cut off, a clean report
    let clean = report.service("Clean").unwrap();
    assert_eq!(clean.status, Status::Stopped, "{report}");
    assert!(!clean.aborted, "{report}");
    assert!(clean.errors.is_empty(), "{report}");
    assert!(!clean.is_failure());

    // the later wave (the dependency) was never reached before the deadline: stopped too
    let base = report.service("Base").unwrap();
    assert!(base.status.is_terminal(), "{report}");
    assert_eq!(base.status, Status::Stopped, "{report}");
    assert_eq!(app.status::<Base>().unwrap(), Status::Stopped);
}

// ---------------------------------------------------------------------------------------
// 5. An abort during an operator restart does not fail a later clean shutdown.

profile!(QuickStop, RestartType::Permanent, { shutdown_timeout: secs(1) });

#[tokio::test(start_paused = true)]
async fn an_abort_during_a_restart_stays_in_the_errors_and_a_later_clean_shutdown_succeeds() {
    let log = Log::default();
    let probe = Probe::<QuickStop>::new("p", &log).then("serve", [Act::Hang]);
    let app = Hassette::builder().service(probe).build().unwrap();
    timeout(HANG, app.start()).await.unwrap().unwrap();
    timeout(HANG, app.wait_ready::<Probe<QuickStop>>())
        .await
        .unwrap()
        .unwrap();
    let began = Instant::now();
    timeout(HANG, app.restart::<Probe<QuickStop>>())
        .await
        .unwrap()
        .unwrap();
    // the hung serve was cut off after shutdown_timeout
    assert_eq!(began.elapsed(), secs(1));
    assert_eq!(log.count("p:serve"), 2);
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    let svc = &report.services[0];
    assert_eq!(svc.status, Status::Stopped);
    assert!(!svc.aborted, "{report}");
    assert_eq!(svc.restarts, 1);
    assert_eq!(errors(svc), ["serve: `serve` did not finish within 1s"]);
    assert!(report.is_success(), "{report}");
    assert_eq!(report.exit_code(), std::process::ExitCode::SUCCESS);
}

// ---------------------------------------------------------------------------------------
// 8. A shutdown during an initialize hook.

/// `on_initialize` takes 100s unless its run is cancelled.
struct Watchful {
    saw_cancel: Arc<AtomicBool>,
}

#[service(
    restart = "permanent",
    startup_timeout = "300s",
    shutdown_timeout = "10s"
)]
impl Watchful {
    async fn on_initialize(&self, ctx: &ServiceContext) {
        tokio::select! {
            () = ctx.cancelled() => self.saw_cancel.store(true, Ordering::SeqCst),
            () = tokio::time::sleep(secs(100)) => {}
        }
    }
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_on_initialize_cancels_the_run_and_the_hook_sees_it_at_once() {
    let saw_cancel = flag();
    let app = Hassette::builder()
        .service(Watchful {
            saw_cancel: saw_cancel.clone(),
        })
        .build()
        .unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(secs(1)).await;
    assert_eq!(app.status::<Watchful>().unwrap(), Status::Starting);
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO);
    assert!(
        dropped(&saw_cancel),
        "the hook did not see the cancellation"
    );
    let error = timeout(HANG, starting).await.unwrap().unwrap().unwrap_err();
    assert!(
        matches!(error.failure, StartFailure::Interrupted),
        "{error}"
    );
    assert_eq!(report.services[0].status, Status::Stopped);
    assert!(report.services[0].errors.is_empty(), "{report}");
    assert!(report.is_success(), "{report}");
}

profile!(SlowInit, RestartType::Permanent, {
    startup_timeout: secs(300),
    shutdown_timeout: secs(10),
});

#[tokio::test(start_paused = true)]
async fn an_initialize_hook_ignoring_cancellation_is_cut_off_after_shutdown_timeout() {
    let log = Log::default();
    let probe = Probe::<SlowInit>::new("p", &log).then("on_initialize", [Act::Hang]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(secs(1)).await;
    assert_eq!(app.status::<Probe<SlowInit>>().unwrap(), Status::Starting);
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    // shutdown_timeout (10s), not what is left of startup_timeout (299s)
    assert_eq!(began.elapsed(), secs(10));
    let error = timeout(HANG, starting).await.unwrap().unwrap().unwrap_err();
    assert!(
        matches!(error.failure, StartFailure::Interrupted),
        "{error}"
    );
    let svc = &report.services[0];
    assert_eq!(svc.status, Status::Stopped);
    assert_eq!(
        errors(svc),
        ["on_initialize: `on_initialize` did not finish within 10s"]
    );
    assert_eq!(log.count("p:after_initialize"), 0);
    assert_eq!(log.count("p:serve"), 0);
    assert_eq!(log.count("p:after_shutdown"), 1);
    assert!(report.is_success(), "{report}");
}

profile!(HungDep, RestartType::Permanent, {
    startup_timeout: secs(5),
    shutdown_timeout: secs(1),
});
profile!(WaitsForIt, RestartType::Permanent, { startup_timeout: secs(300) }, depends_on = [Probe<HungDep>]);

#[tokio::test(start_paused = true)]
async fn a_shutdown_while_a_dependant_waits_for_its_dependency_interrupts_the_start_cleanly() {
    let log = Log::default();
    // the dependency is registered first and its hook hangs: its start is interrupted too
    // (cut off after its shutdown_timeout, before its startup_timeout could fail it), and
    // `start` says Interrupted, not a hook's timeout
    let app = Hassette::builder()
        .service(Probe::<HungDep>::new("dep", &log).then("on_initialize", [Act::Hang]))
        .service(Probe::<WaitsForIt>::new("dependant", &log))
        .build()
        .unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(secs(1)).await;
    assert_eq!(app.status::<Probe<HungDep>>().unwrap(), Status::Starting);
    assert_eq!(app.status::<Probe<WaitsForIt>>().unwrap(), Status::Starting);
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(began.elapsed(), secs(1));
    let error = timeout(HANG, starting).await.unwrap().unwrap().unwrap_err();
    assert!(
        matches!(error.failure, StartFailure::Interrupted),
        "{error}"
    );
    for svc in &report.services {
        assert_eq!(svc.status, Status::Stopped, "{report}");
        assert!(!svc.aborted, "{report}");
    }
    assert_eq!(
        errors(&report.services[0]),
        ["on_initialize: `on_initialize` did not finish within 1s"]
    );
    assert!(report.services[1].errors.is_empty(), "{report}");
    assert!(log.of("dependant").is_empty());
    assert!(report.is_success(), "{report}");
}

// ---------------------------------------------------------------------------------------
// 10. A panic in a `ctx.spawn` child task is the service's error.

struct Parent;

#[service(restart = "permanent")]
impl Parent {
    async fn serve(&self, ctx: &ServiceContext) {
        let child = ctx.spawn(async {
            tokio::time::sleep(secs(1)).await;
            panic!("child boom");
        });
        // the handle completes normally
        assert!(child.await.is_ok());
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_child_task_is_the_services_error_and_it_keeps_running() {
    let app = Hassette::builder().service(Parent).build().unwrap();
    let mut events = app.events();
    timeout(HANG, app.start()).await.unwrap().unwrap();
    tokio::time::sleep(secs(2)).await;
    settle().await;
    assert_eq!(app.status::<Parent>().unwrap(), Status::Running);
    let snapshot = app.snapshot();
    assert_eq!(snapshot[0].status, Status::Running);
    assert!(snapshot[0].ready);
    assert_eq!(snapshot[0].restarts, 0);
    let last = snapshot[0].last_error.as_ref().expect("no last_error");
    assert_eq!(last.to_string(), "panicked: child boom");
    assert!(last.is::<Panicked>());
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    let svc = &report.services[0];
    assert_eq!(svc.status, Status::Stopped);
    assert_eq!(svc.error_count, 1);
    assert_eq!(errors(svc), ["child task: panicked: child boom"]);
    assert!(!svc.aborted);
    // no restart, no failure: the service ran on
    assert_eq!(
        drain(&mut events),
        [
            "Parent: NotStarted -> Starting",
            "Parent: Starting -> Running",
            "Parent: Running -> Stopping",
            "Parent: Stopping -> Stopped",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// 17. Resources refuse restarts; a failed first start is reported Failed.

profile!(Pool, RestartType::Permanent);

#[tokio::test(start_paused = true)]
async fn an_operator_restart_of_a_resource_is_refused_and_it_stays_running() {
    let log = Log::default();
    let app = Hassette::builder()
        .resource(Probe::<Pool>::new("pool", &log))
        .build()
        .unwrap();
    timeout(HANG, app.start()).await.unwrap().unwrap();
    assert_eq!(app.status::<Probe<Pool>>().unwrap(), Status::Running);
    let error = timeout(HANG, app.restart::<Probe<Pool>>())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        error,
        RestartError::Resource {
            service: "Probe<Pool>".into()
        }
    );
    let error = timeout(HANG, app.restart_by_name("Probe<Pool>"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, RestartError::Resource { .. }), "{error}");
    settle().await;
    assert_eq!(app.status::<Probe<Pool>>().unwrap(), Status::Running);
    assert_eq!(
        log.of("pool"),
        [
            "before_initialize",
            "on_initialize",
            "status-in-after_initialize:starting",
            "after_initialize",
        ]
    );
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_eq!(report.services[0].restarts, 0);
    assert!(report.is_success(), "{report}");
}

// The max as long as the base: a base above the max is refused, as the attribute refuses it.
profile!(LongBackoff, RestartType::Permanent, { backoff_base: secs(3600), backoff_max: secs(3600) });

#[tokio::test(start_paused = true)]
async fn a_service_whose_first_start_failed_is_reported_failed_not_stopped() {
    let log = Log::default();
    let probe = Probe::<LongBackoff>::new("p", &log).then("on_initialize", [Act::Err]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let error = timeout(HANG, app.start()).await.unwrap().unwrap_err();
    assert!(
        matches!(
            error.failure,
            StartFailure::Hook {
                hook: "on_initialize",
                ..
            }
        ),
        "{error}"
    );
    tokio::time::sleep(secs(10)).await;
    assert_eq!(app.status::<Probe<LongBackoff>>().unwrap(), Status::Failed);
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO);
    let svc = &report.services[0];
    assert_eq!(svc.status, Status::Failed, "{report}");
    assert_eq!(errors(svc), ["on_initialize: hook failed"]);
    assert_eq!(svc.restarts, 0);
    assert_eq!(app.status::<Probe<LongBackoff>>().unwrap(), Status::Failed);
    assert_eq!(log.count("p:serve"), 0);
}
