//! Fault tests: panicking and hung hooks, a serve that never awaits (in a real process),
//! 10 000 services failing at random for a simulated minute, bad input at run time, and
//! the runtime bugs the property test found (now fixed).
//!
//! Covered elsewhere, not repeated here: shutdown during a dependency wait
//! (`dependencies.rs`: `shutdown_while_waiting_for_a_dependency_interrupts_the_wait`),
//! during a backoff and during a cooldown (`supervision.rs`:
//! `shutdown_during_backoff_interrupts_it_and_does_not_restart`,
//! `shutdown_during_cooldown_interrupts_it`), two signals in quick succession
//! (`signals.rs`: `a_second_signal_exits_at_once`), restart after shutdown and before
//! start (`supervision.rs`: `restart_errors_are_typed`), a type registered twice
//! (`dependencies.rs`: `unknown_duplicate_and_named_registrations_are_rejected`).
//!
//! # The limit of cooperative cancellation
//!
//! The runtime stops a serve by cancelling its token and, after `shutdown_timeout`,
//! aborting its task. Both only take effect when the task next reaches an `.await`: a
//! serve that spins without awaiting cannot be stopped by anything inside the process.
//! What the runtime does then: it stops waiting for it, cancels its run from outside its
//! task (a loop that checks `is_cancelled` between blocking calls ends), marks it
//! `aborted` in the report (which names it and makes the exit code non-zero), runs the
//! remaining hooks and lets `run_until_signal` return. A serve that never checks keeps
//! its thread busy, so the program must not wait for it:
//! dropping a multi-thread runtime (what `#[tokio::main]` does on return) waits for every
//! worker and hangs, while `Runtime::shutdown_background` (or exiting) ends the process.
//! A hook that blocks its thread is worse: the task that would time it out is the one
//! blocked, so only `Builder::shutdown_deadline` (or a second signal) ends the shutdown.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::testing::{Fault, Faults, Faulty, Point, TestApp};
use hassette_runtime::{
    BuildError, LookupError, RestartError, RestartSpec, StatusEvent, TimedOut, WaitError,
};
use hassette_tests::process::{Spawned, signal, spawn_serving, wait_for};
use hassette_tests::{Log, drain_events, ms, secs, settle};
use tokio::time::Instant;

/// Injected panics in these tests start with this; they are not printed.
const QUIET: &str = "quiet:";

fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if !message.starts_with(QUIET) {
                default(info);
            }
        }));
    });
}

/// Every event starts where the one before it (of the same service) ended, and is in the
/// transition table.
fn assert_valid_chains(events: &[StatusEvent]) {
    let mut last: std::collections::HashMap<&str, Status> = std::collections::HashMap::new();
    for e in events {
        let from = last.insert(&e.service, e.to).unwrap_or(Status::NotStarted);
        assert_eq!(e.from, from, "`{}` jumped: {e}", e.service);
        assert!(
            e.from.can_transition_to(e.to),
            "not in the transition table: {e}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Hooks that panic or never return.

/// Logs its hooks; serve runs until cancelled.
struct Worker {
    log: Log,
}

#[service(
    restart = "permanent",
    backoff(base = "1s"),
    startup_timeout = "2s",
    shutdown_timeout = "3s"
)]
impl Worker {
    async fn on_initialize(&self) {
        self.log.push("on_initialize");
    }
    async fn serve(&self, ctx: &ServiceContext) {
        self.log.push("serve");
        ctx.cancelled().await;
        self.log.push("serve:end");
    }
    async fn before_shutdown(&self) {
        self.log.push("before_shutdown");
    }
    async fn on_shutdown(&self) {
        self.log.push("on_shutdown");
    }
    async fn after_shutdown(&self) {
        self.log.push("after_shutdown");
    }
}

fn worker(faults: &Faults) -> (Log, TestApp) {
    let log = Log::default();
    let svc = Faulty::new(Worker { log: log.clone() }, faults);
    let t = TestApp::new(Hassette::builder().service(svc)).unwrap();
    (log, t)
}

#[tokio::test(start_paused = true)]
async fn a_panicking_before_shutdown_is_reported_and_the_stop_goes_on() {
    quiet_injected_panics();
    let faults = Faults::new();
    let (log, mut t) = worker(&faults);
    t.start().await.unwrap();
    faults.inject(
        "Worker",
        Point::BeforeShutdown,
        Fault::Panic(format!("{QUIET} flush")),
    );
    let began = Instant::now();
    let report = t.shutdown().await;
    assert_eq!(began.elapsed(), Duration::ZERO);
    // the panic replaced before_shutdown; serve was still cancelled, the rest still ran
    assert_eq!(
        log.lines(),
        [
            "on_initialize",
            "serve",
            "serve:end",
            "on_shutdown",
            "after_shutdown"
        ]
    );
    let s = &report.services[0];
    assert_eq!(s.status, Status::Stopped);
    assert_eq!(
        s.errors[0].to_string(),
        "before_shutdown: panicked: quiet: flush"
    );
    assert!(!s.aborted);
    // a hook's panic is an error, not a crash: the exit code stays zero
    assert!(report.is_success());
    assert_eq!(
        t.statuses("Worker"),
        [
            Status::Starting,
            Status::Running,
            Status::Stopping,
            Status::Stopped
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_before_shutdown_during_a_restart_does_not_stop_the_restart() {
    quiet_injected_panics();
    let faults = Faults::new();
    let (log, mut t) = worker(&faults);
    t.start().await.unwrap();
    faults.inject(
        "Worker",
        Point::BeforeShutdown,
        Fault::Panic(format!("{QUIET} flush")),
    );
    t.app().restart::<Faulty<Worker>>().await.unwrap();
    t.settle().await;
    assert_eq!(log.count("serve"), 2);
    assert_eq!(t.last_status("Worker"), Some(Status::Running));
    let report = t.shutdown().await;
    assert_eq!(report.services[0].restarts, 1);
    assert_eq!(
        report.services[0].errors[0].to_string(),
        "before_shutdown: panicked: quiet: flush"
    );
    assert_valid_chains(t.events());
}

#[tokio::test(start_paused = true)]
async fn an_initialize_hook_that_never_returns_fails_at_the_startup_timeout_then_restarts() {
    let faults = Faults::new();
    let (log, mut t) = worker(&faults);
    faults.inject("Worker", Point::BeforeInitialize, Fault::Hang);
    let began = Instant::now();
    let error = t.start().await.unwrap_err();
    assert_eq!(began.elapsed(), secs(2));
    assert_eq!(
        error.to_string(),
        "service `Worker` did not start: `before_initialize` failed: `before_initialize` did not finish within 2s"
    );
    assert_eq!(log.count("on_initialize"), 0);
    // a permanent service: restarted after its 1s backoff, and this time it runs
    t.advance(secs(1)).await;
    assert_eq!(t.last_status("Worker"), Some(Status::Running));
    assert_eq!(t.restart_delays("Worker"), [secs(1)]);
    let report = t.shutdown().await;
    assert!(report.is_success());
    let timed_out = report.services[0].errors[0]
        .error
        .downcast_ref::<TimedOut>()
        .copied();
    assert_eq!(timed_out, Some(TimedOut::new("before_initialize", secs(2))));
}

#[tokio::test(start_paused = true)]
async fn shutdown_hooks_that_never_return_are_each_cut_off_and_the_others_still_run() {
    let faults = Faults::new();
    let (log, mut t) = worker(&faults);
    t.start().await.unwrap();
    faults.inject("Worker", Point::BeforeShutdown, Fault::Hang);
    faults.inject("Worker", Point::AfterShutdown, Fault::Hang);
    let began = Instant::now();
    let report = t.shutdown().await;
    // two hooks, each cut off at the 3s shutdown timeout
    assert_eq!(began.elapsed(), secs(6));
    assert_eq!(log.count("serve:end"), 1);
    assert_eq!(log.count("on_shutdown"), 1);
    let s = &report.services[0];
    assert_eq!(s.status, Status::Stopped);
    let errors: Vec<String> = s.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "before_shutdown: `before_shutdown` did not finish within 3s",
            "after_shutdown: `after_shutdown` did not finish within 3s"
        ]
    );
    // hooks that time out are reported, but only an aborted serve marks the stop aborted
    assert!(!s.aborted);
    assert!(report.is_success());
}

#[tokio::test(start_paused = true)]
async fn a_serve_aborted_during_a_restart_is_an_error_but_not_the_final_stop() {
    let faults = Faults::new();
    let (log, mut t) = worker(&faults);
    t.start().await.unwrap();
    faults.inject("Worker", Point::Serve, Fault::Hang);
    t.settle().await;
    let began = Instant::now();
    t.app().restart::<Faulty<Worker>>().await.unwrap();
    assert_eq!(began.elapsed(), secs(3));
    assert_eq!(log.count("serve"), 2);
    let report = t.shutdown().await;
    let s = &report.services[0];
    assert_eq!(s.status, Status::Stopped);
    // the abort happened during the restart: it stays in the errors, but the final stop
    // was clean, so the exit code is 0
    assert!(!s.aborted, "{report}");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        s.errors[0].to_string(),
        "serve: `serve` did not finish within 3s"
    );
}

// ---------------------------------------------------------------------------------------
// A first start that fails: `run_until`, `run_until_signal` (signals.rs) and `TestApp` go
// on when its policy retries it, and end the app only when it does not.

/// Up (Running and ready) 3s after it begins.
struct SlowDb;

#[service(restart = "permanent")]
impl SlowDb {
    async fn on_initialize(&self) {
        tokio::time::sleep(secs(3)).await;
    }
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await
    }
}

/// Gives its dependency 2s, then fails its start; restarted after 1s.
struct Api;

#[service(
    restart = "permanent",
    depends_on(SlowDb),
    startup_timeout = "2s",
    backoff(base = "1s")
)]
impl Api {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await
    }
}

/// A job whose first start fails: temporary, so never retried.
struct Job;

#[service(restart = "temporary")]
impl Job {
    async fn on_initialize(&self) -> Result<(), BoxError> {
        Err("the config file is missing".into())
    }
    async fn serve(&self) {}
}

/// A permanent service whose start fails with an error its type says is not worth a
/// retry: exhausted at once.
struct Strict;

#[derive(Debug, thiserror::Error)]
#[error("the licence has expired")]
struct Expired;

#[service(restart = "permanent", non_retryable(Expired))]
impl Strict {
    async fn on_initialize(&self) -> Result<(), BoxError> {
        Err(Expired.into())
    }
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await
    }
}

#[tokio::test(start_paused = true)]
async fn run_until_goes_on_when_a_slow_dependency_fails_a_first_start_that_is_retried() {
    let app = Hassette::builder()
        .service(SlowDb)
        .service(Api)
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn({
        let app = app.clone();
        async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
        }
    });
    // Api's first start fails at 2s (SlowDb is up at 3s); its restart at 3s finds it up
    tokio::time::sleep(secs(10)).await;
    assert!(!run.is_finished(), "run_until ended: {:?}", run.await);
    assert!(!app.is_shutting_down());
    assert_eq!(app.status::<Api>().unwrap(), Status::Running);
    let _ = stop.send(());
    let report = run.await.unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(
        report.reason.as_deref(),
        Some("the run_until future completed")
    );
    assert_eq!(report.service("Api").unwrap().restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn run_until_ends_at_once_when_a_first_start_will_not_be_retried() {
    for (builder, error) in [
        (
            Hassette::builder().service(SlowDb).service(Job),
            "service `Job` did not start: `on_initialize` failed: the config file is missing",
        ),
        // a permanent service exhausted at once crashes, and the crash ends the app
        (
            Hassette::builder().service(SlowDb).service(Strict),
            "service `Strict` crashed",
        ),
        // the error is the one that ends the app, though Api's came first in order
        (
            Hassette::builder()
                .service(Api)
                .service(SlowDb)
                .service(Job),
            "service `Job` did not start: `on_initialize` failed: the config file is missing",
        ),
    ] {
        let app = builder.build().unwrap();
        let began = Instant::now();
        let report = app.run_until(std::future::pending()).await;
        // the start returns once SlowDb's has ended (it does not watch the cancellation)
        assert_eq!(began.elapsed(), secs(3));
        assert_eq!(report.reason.as_deref(), Some(error), "{report}");
        // the run ended in failure, as `run_until_signal`'s exit code says: by the crash,
        // or by the start that failed (Job is temporary: it ends ExhaustedDead)
        assert!(!report.is_success(), "{report}");
        assert_eq!(report.start_failed, error.contains("`Job`"), "{report}");
    }
}

#[tokio::test(start_paused = true)]
async fn test_app_follows_the_same_rule_for_a_failed_first_start() {
    // retried: the app goes on, and Api recovers
    let mut t = TestApp::new(Hassette::builder().service(SlowDb).service(Api)).unwrap();
    let error = t.start().await.unwrap_err();
    assert!(!error.ends_the_app(), "{error}");
    t.advance(secs(10)).await;
    assert!(!t.app().is_shutting_down());
    assert_eq!(t.last_status("Api"), Some(Status::Running));
    assert!(t.shutdown().await.is_success());

    // not retried: the app ends, as under run_until and run_until_signal
    let mut t = TestApp::new(Hassette::builder().service(Job)).unwrap();
    let error = t.start().await.unwrap_err();
    assert!(error.ends_the_app(), "{error}");
    assert!(t.app().is_shutting_down());
    let report = t.shutdown().await;
    assert_eq!(report.reason, Some(error.to_string()));
}

// ---------------------------------------------------------------------------------------
// A serve that never awaits, and a hook that blocks its thread: in a real process on a
// multi-thread runtime (see tests/src/bin/busy_probe.rs).

fn spawn_busy(mode: &str) -> Spawned {
    let child = spawn_serving(env!("CARGO_BIN_EXE_busy_probe"), mode);
    if mode.contains("busy") {
        // serve has reached its loop
        child.wait_stdout("spinning", Duration::from_secs(10));
    }
    child
}

#[test]
fn a_busy_serve_is_aborted_reported_and_the_process_exits_non_zero() {
    // A worker that never yields can, in rare schedules (about 1 run in 100 on a loaded
    // 2-core machine, before and after the engine's hardening alike), leave tokio's I/O
    // driver unturned, so the SIGTERM is never seen: the known limit of the ignored test
    // below. One more try keeps this test about the runtime's behaviour, not that
    // schedule; two hangs in a row still fail it.
    let attempt = || {
        let child = spawn_busy("yield-busy");
        signal(&child, "-TERM");
        wait_for(child, Duration::from_secs(5))
    };
    let (code, stderr, took) = attempt()
        .or_else(attempt)
        .expect("the process did not exit, twice");
    assert_eq!(code, Some(1), "{stderr}");
    // `serve` runs in its supervisor's task, so no timer of that task can fire while it
    // spins: the stop gives the supervisor its whole stop budget (6 x the 300ms shutdown
    // timeout + 100ms + 1s), then cuts it off. Bounded, and not more.
    assert!(took < Duration::from_secs(5), "took {took:?}: {stderr}");
    assert!(
        stderr.contains("service did not finish its stop"),
        "{stderr}"
    );
    assert!(
        stderr.contains("supervisor: its stop did not finish within 2.9s: code that never awaits holds its thread (aborted)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("exiting with failure: `Busy` had to be aborted"),
        "{stderr}"
    );
    // the serve still spins: run_until_signal exits rather than return into a runtime
    // drop that would wait for that thread forever
    assert!(
        stderr.contains("never reached an `.await`; exiting without waiting"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("busy_probe: run_until_signal returned"),
        "{stderr}"
    );
}

#[test]
fn a_busy_serve_with_a_shutdown_deadline_always_lets_the_process_exit() {
    let child = spawn_busy("busy+deadline");
    signal(&child, "-TERM");
    let (code, stderr, took) =
        wait_for(child, Duration::from_secs(10)).expect("the process did not exit");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(took < Duration::from_secs(4), "took {took:?}: {stderr}");
    assert!(
        stderr.contains("exiting with failure: `Busy` had to be aborted"),
        "{stderr}"
    );
}

#[test]
fn a_hook_blocking_its_thread_is_cut_off_by_the_shutdown_deadline() {
    let child = spawn_busy("hook+deadline");
    signal(&child, "-TERM");
    let (code, stderr, took) =
        wait_for(child, Duration::from_secs(10)).expect("the process did not exit");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(took < Duration::from_secs(4), "took {took:?}: {stderr}");
    assert!(
        stderr.contains("supervisor: shutdown deadline exceeded (aborted)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "exiting with failure: `Busy` had to be aborted, the shutdown deadline ran out"
        ),
        "{stderr}"
    );
}

#[test]
fn without_a_deadline_a_hook_blocking_its_thread_needs_the_second_signal() {
    let child = spawn_busy("hook");
    signal(&child, "-TERM");
    // the stop has reached the hook, which blocks its thread: no timeout can cut it off
    child.wait_stderr("from=running to=stopping", Duration::from_secs(10));
    signal(&child, "-TERM");
    let (code, stderr, _) =
        wait_for(child, Duration::from_secs(10)).expect("the second signal did not end it");
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        stderr.contains("received SIGTERM again: exiting at once"),
        "{stderr}"
    );
}

#[test]
fn a_busy_serve_under_tokio_main_still_lets_the_process_exit() {
    // `run_until_signal` sees that the aborted serve still holds its thread and exits the
    // process itself, instead of returning into a runtime drop that would wait forever.
    let child = spawn_busy("yield-busy+drop");
    signal(&child, "-TERM");
    // It takes about 3 s (the serve's cut-off); 10 s leaves room for a loaded machine.
    let (code, stderr, _) = wait_for(child, Duration::from_secs(10))
        .expect("the process hung after run_until_signal returned");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("exiting without waiting for its thread"),
        "{stderr}"
    );
}

/// Blocks its thread in a loop that checks `is_cancelled` between blocking calls; hands
/// its context out as it begins, and says when the loop ends.
struct Blocked {
    began: std::sync::mpsc::Sender<ServiceContext>,
    ended: std::sync::mpsc::Sender<()>,
}

#[service(restart = "permanent", shutdown_timeout = "100ms")]
impl Blocked {
    async fn serve(&self, ctx: &ServiceContext) {
        let _ = self.began.send(ctx.clone());
        while !ctx.is_cancelled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.ended.send(());
    }
}

#[test]
fn a_blocked_serve_sees_its_cancellation_once_the_stop_cuts_it_off() {
    // The service's task runs on a runtime of its own, whose one worker its serve blocks;
    // the app's stop runs on a paused clock here, so the cut-off comes at once in real
    // time. Nothing of the service's task can run meanwhile: the cancellation must come
    // from the stop.
    let services = Background(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    ));
    let stop = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let (began, began_rx) = std::sync::mpsc::channel();
    let (ended, ended_rx) = std::sync::mpsc::channel();
    let app = Hassette::builder()
        .service(Blocked { began, ended })
        .build()
        .unwrap();
    let starting = app.clone();
    services
        .handle()
        .spawn(async move { starting.start().await });
    let ctx = began_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("serve did not begin");
    let report = stop.block_on(async {
        let cancelled = tokio::spawn(ctx.cancelled_owned());
        let began = Instant::now();
        let report = app.shutdown().await;
        // the whole stop budget (6 x 100ms + 100ms + 1s), then the cut-off
        assert_eq!(began.elapsed(), ms(1700));
        assert!(ctx.is_cancelled(), "the cut-off did not cancel the run");
        settle().await;
        assert!(cancelled.is_finished(), "`cancelled()` is still pending");
        report
    });
    assert!(report.services[0].aborted, "{report}");
    ended_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocked loop never saw its cancellation");
    // the loop ended, so the aborted task gives its worker back
    let (free, free_rx) = std::sync::mpsc::channel();
    services.handle().spawn(async move { free.send(()) });
    free_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the worker is still held");
}

/// A runtime left behind (not waited for) when it is dropped: a failed test must not
/// hang on a worker that its blocked serve holds.
struct Background(Option<tokio::runtime::Runtime>);

impl Background {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().unwrap().handle()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[test]
#[ignore = "known limit (intermittent, about 1 run in 10-25): with a serve that spins at once and no shutdown_deadline, the stop can stall until a second signal; set shutdown_deadline for services that may never yield"]
fn a_busy_serve_without_a_deadline_always_lets_the_process_exit() {
    for _ in 0..30 {
        let child = spawn_busy("busy");
        signal(&child, "-TERM");
        let (code, stderr, _) =
            wait_for(child, Duration::from_secs(5)).expect("the shutdown never progressed");
        assert_eq!(code, Some(1), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------
// 10 000 services failing at random for a simulated minute.

/// The specs of the chaos services, by `K`.
const CHAOS_SPECS: [RestartSpec; 3] = [
    RestartSpec {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        budget_intensity: 1000,
        budget_period: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(2),
        startup_timeout: Duration::from_secs(1),
        ..RestartSpec::new(RestartType::Permanent)
    },
    RestartSpec {
        backoff_base: Duration::ZERO,
        budget_intensity: 3,
        budget_period: Duration::from_secs(10),
        cooldown: Duration::from_secs(5),
        max_cooldown_cycles: 2,
        shutdown_timeout: Duration::from_secs(1),
        startup_timeout: Duration::from_secs(1),
        ..RestartSpec::new(RestartType::Transient)
    },
    RestartSpec {
        shutdown_timeout: Duration::from_secs(3),
        startup_timeout: Duration::from_secs(1),
        ..RestartSpec::new(RestartType::Temporary)
    },
];

/// Fails at random (from its own seeded generator): errors and panics in serve, errors in
/// `on_initialize`, panics in `before_shutdown`; counts the failures it caused and
/// whether two of its hooks ever overlapped.
struct Chaos<const K: usize> {
    rng: AtomicU64,
    failures: Arc<AtomicU64>,
    in_hook: AtomicUsize,
    overlaps: Arc<AtomicU64>,
}

impl<const K: usize> Chaos<K> {
    fn new(seed: u64, failures: &Arc<AtomicU64>, overlaps: &Arc<AtomicU64>) -> Self {
        Chaos {
            rng: AtomicU64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            failures: failures.clone(),
            in_hook: AtomicUsize::new(0),
            overlaps: overlaps.clone(),
        }
    }

    /// xorshift64: a number in `0..n`.
    fn roll(&self, n: u64) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        x % n
    }

    fn enter(&self) {
        if self.in_hook.fetch_add(1, Ordering::SeqCst) != 0 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn leave(&self) {
        self.in_hook.fetch_sub(1, Ordering::SeqCst);
    }

    fn fail(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

impl<const K: usize> Hooks for Chaos<K> {
    async fn on_initialize(&self, _: &ServiceContext) -> Result<(), BoxError> {
        self.enter();
        let fail = self.roll(100) < 3;
        self.leave();
        if fail {
            self.fail();
            return Err("chaos: could not connect".into());
        }
        Ok(())
    }

    async fn before_shutdown(&self, _: &ServiceContext) -> Result<(), BoxError> {
        self.enter();
        tokio::time::sleep(Duration::from_millis(self.roll(200))).await;
        let panic = self.roll(100) < 3;
        self.leave();
        if panic {
            self.fail();
            panic!("{QUIET} chaos in before_shutdown");
        }
        Ok(())
    }
}

impl<const K: usize> Service for Chaos<K> {
    const RESTART_SPEC: RestartSpec = CHAOS_SPECS[K];

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let after = Duration::from_millis(self.roll(10_000));
        tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            () = tokio::time::sleep(after) => {}
        }
        match self.roll(10) {
            0..=3 => {
                self.fail();
                Err("chaos: connection reset".into())
            }
            4 | 5 => {
                self.fail();
                panic!("{QUIET} chaos in serve")
            }
            // a clean return: permanent services are never given one (see
            // `a_clean_return_that_exhausts_a_permanent_service_crashes_it`)
            6 if K != 0 => Ok(()),
            _ => {
                ctx.cancelled().await;
                Ok(())
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_services_failing_at_random_for_a_minute_keep_every_invariant() {
    quiet_injected_panics();
    const N: usize = 10_000;
    let overlaps = Arc::new(AtomicU64::new(0));
    let mut failures = Vec::with_capacity(N);
    let mut builder = Hassette::builder().event_capacity(1 << 20);
    for i in 0..N {
        let caused = Arc::new(AtomicU64::new(0));
        let name = format!("chaos-{i}");
        let seed = i as u64 + 1;
        builder = match i % 3 {
            0 => builder.service_named(name, Chaos::<0>::new(seed, &caused, &overlaps)),
            1 => builder.service_named(name, Chaos::<1>::new(seed, &caused, &overlaps)),
            _ => builder.service_named(name, Chaos::<2>::new(seed, &caused, &overlaps)),
        };
        failures.push(caused);
    }
    let app = builder.build().unwrap();
    let mut rx = app.events();
    let mut events = Vec::new();
    let t0 = Instant::now();
    // some services fail to start: that is part of the chaos
    let _ = app.start().await;
    for _ in 0..60 {
        tokio::time::sleep(secs(1)).await;
        events.extend(drain_events(&mut rx));
    }
    assert_eq!(t0.elapsed(), secs(60));
    let caused: u64 = failures.iter().map(|f| f.load(Ordering::Relaxed)).sum();
    assert!(caused > 10_000, "only {caused} failures in a minute");
    let began = Instant::now();
    let report = app.shutdown().await;
    let took = began.elapsed();
    settle().await;
    events.extend(drain_events(&mut rx));

    assert_valid_chains(&events);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two hooks overlapped");
    // one wave: the slowest service bounds it (an initialize in flight, then at most two
    // stops of five timeouts each)
    let bound = CHAOS_SPECS
        .iter()
        .map(|s| s.startup_timeout + 10 * s.shutdown_timeout)
        .max()
        .unwrap();
    assert!(took <= bound, "the shutdown took {took:?}");
    assert!(report.is_success(), "{report}");
    let mut last = std::collections::HashMap::new();
    for e in &events {
        last.insert(e.service.clone(), e.to);
    }
    for (s, caused) in report.services.iter().zip(&failures) {
        assert!(s.status.is_terminal(), "{} ended {}", s.name, s.status);
        assert_eq!(last.get(&s.name), Some(&s.status), "{}", s.name);
        assert!(!s.aborted, "{} was aborted", s.name);
        // every failure it caused is in its report (counted past the kept ones)
        assert_eq!(
            s.error_count,
            caused.load(Ordering::Relaxed),
            "{}: {:?}",
            s.name,
            s.errors
        );
        assert_ne!(s.status, Status::Crashed);
    }
    // every restart type was exercised to its end
    for status in [
        Status::ExhaustedDead,
        Status::ExhaustedCooling,
        Status::Crashed,
    ] {
        let seen = events.iter().any(|e| e.to == status);
        assert_eq!(seen, status != Status::Crashed, "{status}");
    }
}

// ---------------------------------------------------------------------------------------
// Bad input at run time: a typed error with a clear message, never a panic.

struct Nobody;

#[tokio::test(start_paused = true)]
async fn bad_input_at_run_time_is_a_typed_error_with_a_clear_message() {
    let faults = Faults::new();
    let log = Log::default();
    let twice = Hassette::builder()
        .service(Worker { log: log.clone() })
        .service(Worker { log: log.clone() })
        .build()
        .unwrap_err();
    assert!(matches!(twice, BuildError::DuplicateType { .. }));
    assert_eq!(
        twice.to_string(),
        "`faults::Worker` is registered twice; register many instances of one type with `Builder::service_named`"
    );

    let (_, mut t) = worker(&faults);
    let app = t.app().clone();
    let unknown = app.status::<Nobody>().unwrap_err();
    assert_eq!(
        unknown,
        LookupError::NotRegistered {
            type_name: "faults::Nobody"
        }
    );
    assert_eq!(
        unknown.to_string(),
        "`faults::Nobody` is not registered; add it with `Builder::service` or `Builder::resource`"
    );
    assert_eq!(
        app.status_by_name("ghost").unwrap_err().to_string(),
        "no service is named `ghost`"
    );
    assert!(matches!(
        app.wait_ready::<Nobody>().await.unwrap_err(),
        WaitError::Lookup(LookupError::NotRegistered { .. })
    ));
    assert_eq!(
        app.restart::<Nobody>().await.unwrap_err().to_string(),
        "`faults::Nobody` is not registered; add it with `Builder::service` or `Builder::resource`"
    );
    assert_eq!(
        app.restart_by_name("ghost").await.unwrap_err(),
        RestartError::Lookup(LookupError::UnknownName {
            name: "ghost".into()
        })
    );

    // restart while the shutdown is under way (a slow before_shutdown holds it)
    t.start().await.unwrap();
    faults.inject("Worker", Point::BeforeShutdown, Fault::Delay(secs(2)));
    let stopping = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    settle().await;
    assert_eq!(app.status::<Faulty<Worker>>().unwrap(), Status::Stopping);
    let during = app.restart::<Faulty<Worker>>().await.unwrap_err();
    assert_eq!(
        during,
        RestartError::ShuttingDown {
            service: "Worker".into()
        }
    );
    assert_eq!(
        during.to_string(),
        "cannot restart `Worker`: the application is shutting down"
    );
    let report = stopping.await.unwrap();
    assert_eq!(report.services[0].restarts, 0);
    assert_eq!(report.services[0].status, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_flight_when_the_shutdown_begins_returns_a_typed_error() {
    let faults = Faults::new();
    let (_, mut t) = worker(&faults);
    t.start().await.unwrap();
    // the restart's new run hangs in on_initialize, so the restart is still waiting
    faults.inject("Worker", Point::OnInitialize, Fault::Hang);
    let restarting = tokio::spawn({
        let app = t.app().clone();
        async move { app.restart::<Faulty<Worker>>().await }
    });
    t.advance(ms(500)).await;
    assert!(!restarting.is_finished());
    let report = t.shutdown().await;
    let error = restarting.await.unwrap().unwrap_err();
    assert_eq!(
        error,
        RestartError::ShuttingDown {
            service: "Worker".into()
        }
    );
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_valid_chains(t.events());
}

// ---------------------------------------------------------------------------------------
// Bugs found by the property test (tests/tests/properties.rs). Each is the minimal case.

/// Returns a fatal error when it is cancelled.
struct FatalOnStop;

#[service(restart = "permanent", backoff(base = "1s"))]
impl FatalOnStop {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Err(Fatal::new("the disk is gone").into())
    }
}

#[tokio::test(start_paused = true)]
async fn a_fatal_serve_error_during_a_restart_stops_the_restart() {
    let mut t = TestApp::new(Hassette::builder().service(FatalOnStop)).unwrap();
    t.start().await.unwrap();
    let restart = t.app().restart::<FatalOnStop>().await;
    t.settle().await;
    assert_valid_chains(t.events());
    assert!(restart.is_err(), "the crashed service was restarted");
    let report = t.shutdown().await;
    let s = &report.services[0];
    assert_eq!(s.status, Status::Crashed, "{report}");
    assert_eq!(s.restarts, 0, "{report}");
    assert!(!s.errors.iter().any(|e| e.what == "supervisor"), "{report}");
    assert_valid_chains(t.events());
}

/// Returns `Ok` at once, every time.
struct Quitter;

#[service(
    restart = "permanent",
    backoff(base = "1s"),
    budget(intensity = 1, period = "1m")
)]
impl Quitter {
    async fn serve(&self) {}
}

#[tokio::test(start_paused = true)]
async fn a_clean_return_that_exhausts_a_permanent_service_crashes_it() {
    let mut t = TestApp::new(Hassette::builder().service(Quitter)).unwrap();
    t.start().await.unwrap();
    // returns, restarts after 1s, returns again: the budget of one restart is used up
    t.advance(secs(2)).await;
    assert_valid_chains(t.events());
    let report = t.shutdown().await;
    let s = &report.services[0];
    assert_eq!(s.status, Status::Crashed, "{report}");
    assert_eq!(s.restarts, 1, "{report}");
    assert!(!s.errors.iter().any(|e| e.what == "supervisor"), "{report}");
    assert_eq!(
        report.reason.as_deref(),
        Some("service `Quitter` crashed"),
        "{report}"
    );
}
