//! Re-entry and cancellation (the contract for re-entry, cancellation and hostile input): the
//! app's own services call `shutdown()`, `restart()` and `start()` on it, futures of
//! `start()` and `shutdown()` are dropped half-way and called again, operators restart a
//! service concurrently. On the paused clock every bound is exact: a call that waits for
//! itself shows up as a wait of `shutdown_timeout` (or `startup_timeout`), and a hang as a
//! failed `tokio::time::timeout`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_runtime::{
    BoxError, Hassette, Hooks, RestartSpec, RestartType, Service, ServiceContext, ShutdownReport,
    StartFailure, Status, StatusEvent,
};
use hassette_tests::*;
use tokio::time::{Instant, sleep_until, timeout};

profile!(Perm, RestartType::Permanent, { backoff_base: secs(1) });
// Two restarts within an hour; backoff 1s, 2s, 4s, ...
profile!(Budget2, RestartType::Permanent, {
    backoff_base: secs(1), backoff_max: secs(10), budget_intensity: 2, budget_period: secs(3600)
});

/// Far beyond every bound of these tests (the longest is the 30s startup timeout): an
/// await that reaches it hung.
const HANG: Duration = secs(3600);

/// Awaits `fut`, failing the test if it hangs.
async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    match timeout(HANG, fut).await {
        Ok(output) => output,
        Err(_) => panic!("{what} hung"),
    }
}

/// Every service of the report is there, Stopped cleanly: not aborted, no error.
fn assert_clean(report: &ShutdownReport, names: &[&str]) {
    let got: Vec<_> = report
        .services
        .iter()
        .map(|s| (&*s.name, s.status, s.aborted, s.error_count))
        .collect();
    let want: Vec<_> = names
        .iter()
        .map(|&name| (name, Status::Stopped, false, 0))
        .collect();
    assert_eq!(got, want, "{report}");
    assert!(!report.deadline_exceeded, "{report}");
    assert!(report.is_success(), "{report}");
}

/// The report a call of `shutdown()` from inside the app returns: the reason, no services.
fn assert_inside_report(report: Option<ShutdownReport>, reason: &str) {
    let report = report.expect("the call inside the service returned");
    assert!(report.services.is_empty(), "{report}");
    assert_eq!(report.reason.as_deref(), Some(reason));
    assert_eq!(report.took, Duration::ZERO);
    assert!(!report.deadline_exceeded);
}

/// When each run began (`Starting`), in seconds since `t0`.
fn starts(events: &[StatusEvent], t0: Instant) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.to == Status::Starting)
        .map(|e| (e.at - t0).as_secs())
        .collect()
}

/// The delays between each Failed and the Starting that follows it.
fn restart_delays(events: &[StatusEvent]) -> Vec<Duration> {
    let mut delays = Vec::new();
    let mut failed_at = None;
    for e in events {
        match e.to {
            Status::Failed => failed_at = Some(e.at),
            Status::Starting => delays.extend(failed_at.take().map(|t| e.at - t)),
            _ => {}
        }
    }
    delays
}

/// Where a [`Reenter`] makes its call on the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    OnInitialize,
    AfterInitialize,
    Serve,
    /// In a `ctx.spawn` task that serve starts.
    Child,
    BeforeShutdown,
}

/// The call a [`Reenter`] makes on its own app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Shutdown,
    /// `restart_by_name` of itself.
    Restart,
    /// `restart::<Self>()`.
    RestartTyped,
    Start,
}

/// Where a [`Reenter`] writes what its call returned.
#[derive(Clone)]
struct Rec {
    log: Log,
    t0: Instant,
    /// What the call of `shutdown()` returned.
    report: Arc<Mutex<Option<ShutdownReport>>>,
}

/// A service that makes one call on its own app (the first time it reaches `at`), and
/// logs its hooks like a [`Probe`] and the call's outcome as
/// `name:At:Call -> outcome after elapsed`. Serve runs until cancelled.
struct Reenter<P: Profile> {
    name: &'static str,
    at: At,
    call: Call,
    armed: AtomicBool,
    rec: Rec,
    _profile: PhantomData<fn() -> P>,
}

impl<P: Profile> Reenter<P> {
    fn new(name: &'static str, at: At, call: Call, log: &Log) -> Self {
        Reenter {
            name,
            at,
            call,
            armed: AtomicBool::new(true),
            rec: Rec {
                log: log.clone(),
                t0: Instant::now(),
                report: Arc::default(),
            },
            _profile: PhantomData,
        }
    }

    /// Where the call's `shutdown()` report goes.
    fn report(&self) -> Arc<Mutex<Option<ShutdownReport>>> {
        self.rec.report.clone()
    }

    fn fire(&self, at: At) -> bool {
        self.at == at && self.armed.swap(false, Ordering::SeqCst)
    }

    async fn hook(&self, hook: &str, at: Option<At>, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.rec.log.push(format!("{}:{hook}", self.name));
        if let Some(at) = at
            && self.fire(at)
        {
            call_app::<Self>(self.name, at, self.call, ctx, &self.rec).await;
        }
        Ok(())
    }
}

async fn call_app<S: 'static>(name: &str, at: At, call: Call, ctx: &ServiceContext, rec: &Rec) {
    let app = ctx.app();
    let outcome = match call {
        Call::Shutdown => {
            let report = app.shutdown().await;
            let line = format!(
                "{} services, reason {:?}",
                report.services.len(),
                report.reason
            );
            *rec.report.lock().unwrap() = Some(report);
            line
        }
        Call::Restart => format!("{:?}", app.restart_by_name(ctx.name()).await),
        Call::RestartTyped => format!("{:?}", app.restart::<S>().await),
        Call::Start => format!("{:?}", app.start().await),
    };
    rec.log.push(format!(
        "{name}:{at:?}:{call:?} -> {outcome} after {:?}",
        rec.t0.elapsed()
    ));
}

impl<P: Profile> Hooks for Reenter<P> {
    async fn before_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("before_initialize", None, ctx).await
    }
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("on_initialize", Some(At::OnInitialize), ctx)
            .await
    }
    async fn after_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("after_initialize", Some(At::AfterInitialize), ctx)
            .await
    }
    async fn before_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("before_shutdown", Some(At::BeforeShutdown), ctx)
            .await
    }
    async fn on_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("on_shutdown", None, ctx).await
    }
    async fn after_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("after_shutdown", None, ctx).await
    }
}

impl<P: Profile> Service for Reenter<P> {
    const RESTART_SPEC: RestartSpec = P::SPEC;

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.rec.log.push(format!("{}:serve", self.name));
        if self.fire(At::Child) {
            let (name, call, rec, child) = (self.name, self.call, self.rec.clone(), ctx.clone());
            ctx.spawn(async move {
                call_app::<Self>(name, At::Child, call, &child, &rec).await;
            });
        }
        if self.fire(At::Serve) {
            call_app::<Self>(self.name, At::Serve, self.call, ctx, &self.rec).await;
        }
        ctx.cancelled().await;
        self.rec.log.push(format!("{}:serve:end", self.name));
        Ok(())
    }
}

type Me = Reenter<Temp>;

const STOP: [&str; 4] = [
    "before_shutdown",
    "serve:end",
    "on_shutdown",
    "after_shutdown",
];

// ---------------------------------------------------------------------------------------
// 1. `shutdown()` awaited from inside the app's own services

#[tokio::test(start_paused = true)]
async fn shutdown_awaited_in_serve_stops_the_app_at_once() {
    let log = Log::default();
    let t0 = Instant::now();
    let me = Me::new("me", At::Serve, Call::Shutdown, &log);
    let inside = me.report();
    // `other` first: `serve` begins in its supervisor's first poll, so a `me` registered
    // first would begin the shutdown before `other` has started (a start that is then
    // interrupted, which is another test's subject)
    let app = Hassette::builder()
        .service_named("other", TempProbe::new("other", &log))
        .service_named("me", me)
        .build()
        .unwrap();
    bounded("start", app.start()).await.unwrap();
    bounded("the shutdown's beginning", app.shutdown_begun()).await;
    let report = bounded("shutdown", app.shutdown()).await;
    // no wait of `shutdown_timeout` (5s) for the serve that called it
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(report.took, Duration::ZERO);
    assert_clean(&report, &["other", "me"]);
    assert_eq!(report.reason.as_deref(), Some("shutdown requested"));
    // the inside call returns when the stop reaches the service: after serve began and
    // before it ended (whether before or after `before_shutdown` is the scheduler's pick)
    let inside_line = "Serve:Shutdown -> 0 services, reason Some(\"shutdown requested\") after 0ns";
    let mut lines = log.of("me");
    let at = lines.iter().position(|l| l == inside_line).unwrap();
    let serve = lines.iter().position(|l| l == "serve").unwrap();
    let serve_end = lines.iter().position(|l| l == "serve:end").unwrap();
    assert!(serve < at && at < serve_end, "{lines:?}");
    lines.remove(at);
    assert_eq!(
        lines,
        [
            "before_initialize",
            "on_initialize",
            "after_initialize",
            "serve"
        ]
        .into_iter()
        .chain(STOP)
        .collect::<Vec<_>>()
    );
    assert_inside_report(inside.lock().unwrap().take(), "shutdown requested");
    // later calls, outside, get the same full report
    let again = bounded("shutdown again", app.shutdown()).await;
    assert_eq!(format!("{again:?}"), format!("{report:?}"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_awaited_in_a_child_task_stops_the_app_at_once() {
    let log = Log::default();
    let t0 = Instant::now();
    let me = Me::new("me", At::Child, Call::Shutdown, &log);
    let inside = me.report();
    let app = Hassette::builder()
        .service_named("me", me)
        .service_named("other", TempProbe::new("other", &log))
        .build()
        .unwrap();
    bounded("start", app.start()).await.unwrap();
    bounded("the shutdown's beginning", app.shutdown_begun()).await;
    let report = bounded("shutdown", app.shutdown()).await;
    // no wait of `shutdown_timeout` for the child, no abort of it
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(report.took, Duration::ZERO);
    assert_clean(&report, &["me", "other"]);
    assert_eq!(report.reason.as_deref(), Some("shutdown requested"));
    assert_eq!(
        log.count("me:Child:Shutdown -> 0 services, reason Some(\"shutdown requested\") after 0ns"),
        1,
        "{:?}",
        log.of("me")
    );
    assert_eq!(log.count("me:after_shutdown"), 1);
    assert_inside_report(inside.lock().unwrap().take(), "shutdown requested");
}

#[tokio::test(start_paused = true)]
async fn shutdown_awaited_in_on_initialize_interrupts_the_start_at_once() {
    let log = Log::default();
    let t0 = Instant::now();
    let me = Me::new("me", At::OnInitialize, Call::Shutdown, &log);
    let inside = me.report();
    let app = Hassette::builder()
        .service_named("me", me)
        .service_named("other", TempProbe::new("other", &log))
        .build()
        .unwrap();
    let mut events = app.events();
    let started = bounded("start", app.start()).await;
    let error = started.expect_err("the shutdown interrupted the start");
    assert_eq!(&*error.service, "me", "{error}");
    assert!(
        matches!(error.failure, StartFailure::Interrupted),
        "{error}"
    );
    let report = bounded("shutdown", app.shutdown()).await;
    // neither the startup timeout (30s) nor the shutdown timeout (5s) was waited for
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(report.took, Duration::ZERO);
    // `other`'s start came after the shutdown had begun: it never started
    let got: Vec<_> = report
        .services
        .iter()
        .map(|s| (&*s.name, s.status, s.aborted, s.error_count))
        .collect();
    assert_eq!(
        got,
        [
            ("me", Status::Stopped, false, 0),
            ("other", Status::NotStarted, false, 0)
        ],
        "{report}"
    );
    assert!(report.is_success(), "{report}");
    assert_eq!(log.of("other"), Vec::<String>::new());
    assert_eq!(
        log.of("me"),
        [
            "before_initialize",
            "on_initialize",
            "OnInitialize:Shutdown -> 0 services, reason Some(\"shutdown requested\") after 0ns",
            "before_shutdown",
            "on_shutdown",
            "after_shutdown",
        ]
    );
    let mine: Vec<_> = drain(&mut events)
        .into_iter()
        .filter(|e| e.starts_with("me:"))
        .collect();
    assert_eq!(
        mine,
        [
            "me: NotStarted -> Starting",
            "me: Starting -> Stopping",
            "me: Stopping -> Stopped",
        ]
    );
    assert_inside_report(inside.lock().unwrap().take(), "shutdown requested");
}

#[tokio::test(start_paused = true)]
async fn shutdown_awaited_in_before_shutdown_does_not_wait_for_its_own_stop() {
    let log = Log::default();
    let t0 = Instant::now();
    let me = Me::new("me", At::BeforeShutdown, Call::Shutdown, &log);
    let inside = me.report();
    let app = Hassette::builder()
        .service_named("me", me)
        .service_named("other", TempProbe::new("other", &log))
        .build()
        .unwrap();
    bounded("start", app.start()).await.unwrap();
    app.wait_ready_by_name("me").await.unwrap();
    let report = bounded("shutdown", app.shutdown()).await;
    // the hook did not wait its own `shutdown_timeout` (5s) and did not time out
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(report.took, Duration::ZERO);
    assert_clean(&report, &["me", "other"]);
    assert_eq!(
        log.of("me"),
        [
            "before_initialize",
            "on_initialize",
            "after_initialize",
            "serve",
            "before_shutdown",
            "BeforeShutdown:Shutdown -> 0 services, reason Some(\"shutdown requested\") after 0ns",
            "serve:end",
            "on_shutdown",
            "after_shutdown",
        ]
    );
    assert_inside_report(inside.lock().unwrap().take(), "shutdown requested");
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_dropped_half_way_and_called_again_returns_the_one_report() {
    let log = Log::default();
    let slow = TempProbe::new("p", &log).then("before_shutdown", [Act::Sleep(secs(2))]);
    let app = Hassette::builder()
        .service_named("p", slow)
        .service_named("other", TempProbe::new("other", &log))
        .build()
        .unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    app.wait_ready_by_name("p").await.unwrap();
    assert!(
        timeout(secs(1), app.shutdown()).await.is_err(),
        "the stop takes 2s"
    );
    assert_eq!(t0.elapsed(), secs(1));
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(t0.elapsed(), secs(2));
    assert_eq!(report.took, secs(2));
    assert_clean(&report, &["p", "other"]);
    assert_eq!(report.services[0].stop_took, secs(2));
    // three concurrent callers, later: the same report, at once
    let (a, b, c) = bounded("shutdowns", async {
        tokio::join!(app.shutdown(), app.shutdown(), app.shutdown())
    })
    .await;
    assert_eq!(t0.elapsed(), secs(2));
    for other in [a, b, c] {
        assert_eq!(format!("{other:?}"), format!("{report:?}"));
    }
    // the stop ran once
    assert_eq!(log.count("p:before_shutdown"), 1);
    assert_eq!(log.count("p:after_shutdown"), 1);
    assert_eq!(log.count("other:after_shutdown"), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_shutdowns_one_dropped_all_get_the_one_report() {
    let log = Log::default();
    let slow = TempProbe::new("p", &log).then("on_shutdown", [Act::Sleep(secs(3))]);
    let app = Hassette::builder().service(slow).build().unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    app.wait_ready::<TempProbe>().await.unwrap();
    // three at once, one of them given up after 1s
    let (dropped, a, b) = bounded("shutdowns", async {
        tokio::join!(
            timeout(secs(1), app.shutdown()),
            app.shutdown(),
            app.shutdown()
        )
    })
    .await;
    assert!(dropped.is_err());
    assert_eq!(t0.elapsed(), secs(3));
    assert_clean(&a, &["Probe<Temp>"]);
    assert_eq!(a.took, secs(3));
    assert_eq!(format!("{b:?}"), format!("{a:?}"));
    let again = bounded("shutdown", app.shutdown()).await;
    assert_eq!(format!("{again:?}"), format!("{a:?}"));
    assert_eq!(log.count("p:on_shutdown"), 1);
}

// ---------------------------------------------------------------------------------------
// 2. `start()` dropped half-way, concurrent, and called from inside

const STARTED: [&str; 5] = [
    "before_initialize",
    "on_initialize",
    "status-in-after_initialize:starting",
    "after_initialize",
    "serve",
];

#[tokio::test(start_paused = true)]
async fn a_start_dropped_half_way_and_called_again_starts_nothing_twice() {
    let log = Log::default();
    let slow = TempProbe::new("slow", &log).then("on_initialize", [Act::Sleep(secs(2))]);
    let app = Hassette::builder()
        .service_named("slow", slow)
        .service_named("fast", TempProbe::new("fast", &log))
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert!(
        timeout(secs(1), app.start()).await.is_err(),
        "the start takes 2s"
    );
    assert_eq!(t0.elapsed(), secs(1));
    // two concurrent callers both get the one outcome, when the one start has it
    let (a, b) = bounded("starts", async { tokio::join!(app.start(), app.start()) }).await;
    assert_eq!(t0.elapsed(), secs(2));
    a.unwrap();
    b.unwrap();
    bounded("start", app.start()).await.unwrap();
    assert_eq!(t0.elapsed(), secs(2));
    settle().await;
    assert_eq!(log.of("slow"), STARTED);
    assert_eq!(log.of("fast"), STARTED);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_clean(&report, &["slow", "fast"]);
    assert_eq!(report.services[0].restarts, 0);
    assert_eq!(log.count("slow:serve"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_start_dropped_half_way_gives_every_caller_the_same_error() {
    let log = Log::default();
    let slow = TempProbe::new("slow", &log)
        .then("on_initialize", [Act::Sleep(secs(2))])
        .then("after_initialize", [Act::Err]);
    let app = Hassette::builder()
        .service_named("fast", TempProbe::new("fast", &log))
        .service_named("slow", slow)
        .build()
        .unwrap();
    let t0 = Instant::now();
    assert!(timeout(secs(1), app.start()).await.is_err());
    let (a, b) = bounded("starts", async { tokio::join!(app.start(), app.start()) }).await;
    let c = bounded("start", app.start()).await;
    assert_eq!(t0.elapsed(), secs(2));
    let want = "service `slow` did not start: `after_initialize` failed: hook failed";
    for outcome in [a, b, c] {
        let error = outcome.expect_err("slow's after_initialize fails");
        assert_eq!(error.to_string(), want);
        assert!(matches!(
            error.failure,
            StartFailure::Hook {
                hook: "after_initialize",
                ..
            }
        ));
    }
    settle().await;
    for hook in ["before_initialize", "on_initialize", "after_initialize"] {
        assert_eq!(log.count(&format!("slow:{hook}")), 1, "{hook}");
        assert_eq!(log.count(&format!("fast:{hook}")), 1, "{hook}");
    }
    assert_eq!(log.count("fast:serve"), 1);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_eq!(report.services[1].status, Status::ExhaustedDead);
    assert_eq!(report.services[1].restarts, 0);
    assert_eq!(report.services[1].error_count, 1);
}

#[tokio::test(start_paused = true)]
async fn start_called_in_on_initialize_returns_at_once() {
    let log = Log::default();
    let t0 = Instant::now();
    let app = Hassette::builder()
        .service_named("me", Me::new("me", At::OnInitialize, Call::Start, &log))
        .build()
        .unwrap();
    bounded("start", app.start()).await.unwrap();
    // the inner call did not wait for the start it is part of (30s of startup timeout)
    assert_eq!(t0.elapsed(), Duration::ZERO);
    app.wait_ready_by_name("me").await.unwrap();
    assert_eq!(
        log.of("me"),
        [
            "before_initialize",
            "on_initialize",
            "OnInitialize:Start -> Ok(()) after 0ns",
            "after_initialize",
            "serve",
        ]
    );
    let report = bounded("shutdown", app.shutdown()).await;
    assert_clean(&report, &["me"]);
}

// ---------------------------------------------------------------------------------------
// 6. Operator restarts: concurrent requests coalesce, and each starts a fresh budget

#[tokio::test(start_paused = true)]
async fn two_concurrent_restarts_coalesce_into_one() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named("p", Probe::<Perm>::new("p", &log))
        .build()
        .unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    app.wait_ready_by_name("p").await.unwrap();
    let mut events = app.events();
    let (a, b) = bounded("restarts", async {
        tokio::join!(app.restart_by_name("p"), app.restart_by_name("p"))
    })
    .await;
    assert_eq!((a, b), (Ok(()), Ok(())));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    tokio::time::sleep(secs(10)).await;
    assert_eq!(
        drain(&mut events),
        [
            "p: Running -> Stopping",
            "p: Stopping -> Stopped",
            "p: Stopped -> Starting",
            "p: Starting -> Running",
        ]
    );
    assert_eq!(log.count("p:serve"), 2);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_clean(&report, &["p"]);
    assert_eq!(report.services[0].restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn three_concurrent_restarts_coalesce_into_one() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Perm>::new("p", &log))
        .build()
        .unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    app.wait_ready::<Probe<Perm>>().await.unwrap();
    let (a, b, c) = bounded("restarts", async {
        tokio::join!(
            app.restart_by_name("Probe<Perm>"),
            app.restart::<Probe<Perm>>(),
            app.restart_by_name("Probe<Perm>"),
        )
    })
    .await;
    assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    tokio::time::sleep(secs(10)).await;
    assert_eq!(log.count("p:serve"), 2);
    assert_eq!(log.count("p:on_shutdown"), 1);
    // a restart asked for after that one is a new one
    bounded("restart", app.restart::<Probe<Perm>>())
        .await
        .unwrap();
    tokio::time::sleep(secs(10)).await;
    assert_eq!(log.count("p:serve"), 3);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_clean(&report, &["Probe<Perm>"]);
    assert_eq!(report.services[0].restarts, 2);
}

#[tokio::test(start_paused = true)]
async fn an_operator_restart_of_a_running_service_starts_a_fresh_budget() {
    let log = Log::default();
    // fails twice (both restarts of the budget used), runs, is restarted by the
    // operator, then fails twice more: with the old budget that would exhaust it
    let probe = Probe::<Budget2>::new("p", &log).then(
        "serve",
        [
            Act::Err,
            Act::Err,
            Act::Ok,
            Act::ErrAfter(secs(1)),
            Act::Err,
        ],
    );
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    sleep_until(t0 + secs(10)).await;
    assert_eq!(app.status::<Probe<Budget2>>().unwrap(), Status::Running);
    bounded("restart", app.restart::<Probe<Budget2>>())
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), secs(10));
    sleep_until(t0 + secs(60)).await;
    let events = drain_events(&mut rx);
    assert!(
        !events.iter().any(|e| e.to == Status::Crashed),
        "{events:?}"
    );
    assert_eq!(starts(&events, t0), [0, 1, 3, 10, 12, 14]);
    // the attempt count was reset too: the backoff begins at its base again
    assert_eq!(restart_delays(&events), [1, 2, 1, 2].map(secs));
    assert_eq!(app.status::<Probe<Budget2>>().unwrap(), Status::Running);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(report.reason.as_deref(), Some("shutdown requested"));
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_eq!(report.services[0].restarts, 5);
    assert_eq!(report.services[0].error_count, 4);
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn an_operator_restart_during_a_backoff_starts_at_once_with_a_fresh_budget() {
    let log = Log::default();
    let probe = Probe::<Budget2>::new("p", &log).then(
        "serve",
        [Act::Err, Act::Err, Act::ErrAfter(secs(1)), Act::Err],
    );
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    // the second failure (t=1) backs off 2s; the operator cuts it short at t=2
    sleep_until(t0 + secs(2)).await;
    assert_eq!(app.status::<Probe<Budget2>>().unwrap(), Status::Failed);
    bounded("restart", app.restart_by_name("Probe<Budget2>"))
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), secs(2));
    sleep_until(t0 + secs(60)).await;
    let events = drain_events(&mut rx);
    assert!(
        !events.iter().any(|e| e.to == Status::Crashed),
        "{events:?}"
    );
    assert_eq!(starts(&events, t0), [0, 1, 2, 4, 6]);
    assert_eq!(restart_delays(&events), [1, 1, 1, 2].map(secs));
    assert_eq!(app.status::<Probe<Budget2>>().unwrap(), Status::Running);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_eq!(report.services[0].restarts, 4);
    assert!(report.is_success(), "{report}");
}

/// Regression (found by the property test): serve fails and the cleanup of its run (a
/// `before_shutdown` that hangs to its 1s timeout) outlasts the 250ms backoff, so the
/// policy's restart is due the moment the cleanup ends. Two operator restarts asked for
/// during that cleanup are that one restart (with a fresh budget), not one more after it.
#[tokio::test(start_paused = true)]
async fn restarts_asked_for_during_a_cleanup_that_outlasts_the_backoff_are_one_restart() {
    profile!(Quick, RestartType::Permanent, {
        backoff_base: Duration::from_millis(250), shutdown_timeout: secs(1)
    });
    let log = Log::default();
    let probe = Probe::<Quick>::new("p", &log)
        .then("serve", [Act::ErrAfter(secs(1))])
        .then("before_shutdown", [Act::Hang]);
    let app = Hassette::builder()
        .service_named("p", probe)
        .build()
        .unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    // serve failed at t=1; its cleanup runs until t=2
    sleep_until(t0 + Duration::from_millis(1500)).await;
    assert_eq!(app.status_by_name("p").unwrap(), Status::Failed);
    let (a, b) = bounded("restarts", async {
        tokio::join!(app.restart_by_name("p"), app.restart_by_name("p"))
    })
    .await;
    assert_eq!((a, b), (Ok(()), Ok(())));
    assert_eq!(t0.elapsed(), secs(2));
    sleep_until(t0 + secs(10)).await;
    let events = drain_events(&mut rx);
    assert_eq!(starts(&events, t0), [0, 2], "{events:?}");
    assert_eq!(log.count("p:serve"), 2);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(report.services[0].status, Status::Stopped, "{report}");
    assert_eq!(report.services[0].restarts, 1, "{report}");
}

// ---------------------------------------------------------------------------------------
// 7. A service restarting itself

/// `me`, registered as `service`, restarted itself once at t=0 (its call returned `line`)
/// and stops cleanly.
async fn assert_restarted_itself(app: &Hassette, log: &Log, service: &str, line: &str) {
    let t0 = Instant::now();
    tokio::time::sleep(secs(10)).await;
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(t0.elapsed(), secs(10));
    assert_eq!(report.took, Duration::ZERO);
    assert_clean(&report, &[service]);
    assert_eq!(report.services[0].restarts, 1);
    let started = [
        "before_initialize",
        "on_initialize",
        "after_initialize",
        "serve",
    ];
    let want: Vec<&str> = started
        .into_iter()
        .chain([line])
        .chain(STOP)
        .chain(started)
        .chain(STOP)
        .collect();
    assert_eq!(log.of("me"), want);
}

#[tokio::test(start_paused = true)]
async fn a_serve_that_restarts_itself_by_name_returns_at_once() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named("me", Me::new("me", At::Serve, Call::Restart, &log))
        .build()
        .unwrap();
    let mut events = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    settle().await;
    // restarted at once, not after its serve was aborted at `shutdown_timeout`
    assert_eq!(
        drain(&mut events),
        [
            "me: NotStarted -> Starting",
            "me: Starting -> Running",
            "me: Running -> Stopping",
            "me: Stopping -> Stopped",
            "me: Stopped -> Starting",
            "me: Starting -> Running",
        ]
    );
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_restarted_itself(&app, &log, "me", "Serve:Restart -> Ok(()) after 0ns").await;
}

#[tokio::test(start_paused = true)]
async fn a_serve_that_restarts_itself_by_type_returns_at_once() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Reenter::<Perm>::new(
            "me",
            At::Serve,
            Call::RestartTyped,
            &log,
        ))
        .build()
        .unwrap();
    let mut events = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(
        drain(&mut events)
            .iter()
            .filter(|e| e.ends_with("-> Starting"))
            .count(),
        2
    );
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_restarted_itself(
        &app,
        &log,
        "Reenter<Perm>",
        "Serve:RestartTyped -> Ok(()) after 0ns",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_of_itself_from_a_child_task_returns_at_once() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named("me", Me::new("me", At::Child, Call::Restart, &log))
        .build()
        .unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(app.status_by_name("me").unwrap(), Status::Running);
    assert_eq!(log.count("me:Child:Restart -> Ok(()) after 0ns"), 1);
    assert_eq!(log.count("me:serve"), 2);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_clean(&report, &["me"]);
    assert_eq!(report.services[0].restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn after_initialize_restarting_its_own_service_does_not_deadlock() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named(
            "me",
            Me::new("me", At::AfterInitialize, Call::Restart, &log),
        )
        .build()
        .unwrap();
    let t0 = Instant::now();
    // the start is not held up to the startup timeout (30s) by the hook
    bounded("start", app.start()).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
    settle().await;
    assert_eq!(app.status_by_name("me").unwrap(), Status::Running);
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_clean(&report, &["me"]);
    assert_eq!(report.services[0].restarts, 1);
    assert_eq!(
        log.of("me"),
        [
            "before_initialize",
            "on_initialize",
            "after_initialize",
            "AfterInitialize:Restart -> Ok(()) after 0ns",
            "before_shutdown",
            "serve",
            "serve:end",
            "on_shutdown",
            "after_shutdown",
            "before_initialize",
            "on_initialize",
            "after_initialize",
            "serve",
        ]
        .into_iter()
        .chain(STOP)
        .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------
// 1. (end) `ServiceContext::shutdown_app`: a job that is done ends the app. This API did
// not exist before the fix, so this test cannot run on the old engine.

/// A temporary job: works for a second, then ends the app and returns.
struct Job;

impl Hooks for Job {}

impl Service for Job {
    const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::time::sleep(secs(1)).await;
        ctx.shutdown_app("done");
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_app_from_a_temporary_job_ends_the_app_cleanly() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Job)
        .service_named("other", Probe::<Perm>::new("other", &log))
        .build()
        .unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    bounded("the shutdown's beginning", app.shutdown_begun()).await;
    assert_eq!(t0.elapsed(), secs(1));
    assert!(app.is_shutting_down());
    let report = bounded("shutdown", app.shutdown()).await;
    assert_eq!(t0.elapsed(), secs(1));
    assert_eq!(report.reason.as_deref(), Some("done"));
    assert_clean(&report, &["Job", "other"]);
    assert_eq!(report.exit_code(), std::process::ExitCode::SUCCESS);
    assert_eq!(log.count("other:serve:end"), 1);
}
