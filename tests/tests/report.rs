//! The report says why: a permanent service that keeps returning `Ok`, a dependant that
//! timed out on a `ready = "manual"` service that never marked itself ready, a `serve`
//! that panicked while it was dropped, and `ServiceReport`'s own line.

use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{
    NAME_COLUMN_WIDTH, Panicked, ReadyMode, ServiceReport, StartFailure, TimedOut,
};
use hassette_tests::*;
use tokio::time::{Instant, timeout};

/// Anything in these tests finishes well within this (simulated) time; more is a hang.
const HANG: Duration = Duration::from_secs(100_000);

/// Every error of a report, as `what: error`.
fn errors(report: &ServiceReport) -> Vec<String> {
    report.errors.iter().map(ToString::to_string).collect()
}

// ---------------------------------------------------------------------------------------
// (a) A permanent service whose `serve` returns `Ok`.

profile!(Quick, RestartType::Permanent, { backoff_base: ms(100) });

const RETURNED_OK: &str =
    "returned Ok 6 times within 5m; a permanent service is restarted after every return";

#[tokio::test(start_paused = true)]
async fn a_permanent_service_that_keeps_returning_ok_is_told_why_it_crashed() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named(
            "ticker",
            Probe::<Quick>::new("ticker", &log).always("serve", Act::Return),
        )
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    timeout(HANG, app.shutdown_begun()).await.unwrap();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    let svc = report.service("ticker").unwrap();
    assert_eq!(svc.status, Status::Crashed);
    // The budget's 5 restarts, then the 6th return within the 5 minutes crashes it.
    assert_eq!(svc.restarts, 5);
    assert_eq!(log.count("ticker:serve"), 6);
    assert_eq!(errors(svc), [format!("serve: {RETURNED_OK}")]);
    assert_eq!(svc.error_count, 1);
    // The crash's event says it too.
    let crashed = drain_events(&mut events)
        .into_iter()
        .find(|e| e.to == Status::Crashed)
        .unwrap();
    assert_eq!(crashed.error.unwrap().to_string(), RETURNED_OK);
    assert_eq!(
        svc.to_string(),
        format!(
            "ticker: crashed, 5 restarts, 1 error, stop took 0.0ns, last error: serve: \
             {RETURNED_OK}"
        )
    );
    let table = report.to_string();
    let row = table.lines().nth(1).unwrap();
    assert!(row.ends_with(&format!("  serve: {RETURNED_OK}")), "{table}");
}

#[tokio::test(start_paused = true)]
async fn a_permanent_service_that_failed_then_returned_ok_says_how_many_of_its_ends_were_returns() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named(
            "ticker",
            Probe::<Quick>::new("ticker", &log)
                .then("serve", [Act::Return, Act::Err, Act::Err])
                .always("serve", Act::Return),
        )
        .build()
        .unwrap();
    app.start().await.unwrap();
    timeout(HANG, app.shutdown_begun()).await.unwrap();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    let svc = report.service("ticker").unwrap();
    assert_eq!(svc.status, Status::Crashed);
    assert_eq!(
        errors(svc),
        [
            "serve: serve failed",
            "serve: serve failed",
            "serve: returned Ok the last 3 of 6 times it ended within 5m; a permanent service \
             is restarted after every return",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// (b) A dependant that times out on a `ready = "manual"` service that never said so.

profile!(Lazy, RestartType::Temporary, { ready: ReadyMode::Manual });
profile!(NeedsLazy, RestartType::Temporary, { startup_timeout: secs(7) }, depends_on = [Probe<Lazy>]);
profile!(Slow, RestartType::Temporary, { startup_timeout: secs(60) });
profile!(NeedsSlow, RestartType::Temporary, { startup_timeout: secs(7) }, depends_on = [Probe<Slow>]);

#[tokio::test(start_paused = true)]
async fn a_dependant_timing_out_on_a_manual_service_that_never_marked_ready_is_told_so() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Lazy>::new("lazy", &log))
        .service(Probe::<NeedsLazy>::new("needy", &log))
        .build()
        .unwrap();
    let began = Instant::now();
    let error = timeout(HANG, app.start()).await.unwrap().unwrap_err();
    assert_eq!(began.elapsed(), secs(7));
    assert_eq!(
        app.status::<Probe<Lazy>>().unwrap(),
        Status::Running,
        "running, not ready"
    );
    let expected = "dependency `Probe<Lazy>` is running but not ready: it has `ready = \
                    \"manual\"` and never called `ctx.mark_ready()` within 7s (or withdrew it \
                    with `ctx.mark_not_ready`); call it once the service can serve, or raise \
                    `startup_timeout`";
    assert_eq!(
        error.to_string(),
        format!("service `Probe<NeedsLazy>` did not start: {expected}")
    );
    assert!(matches!(
        error.failure,
        StartFailure::DependencyTimeout { .. }
    ));
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    let needy = report.service("Probe<NeedsLazy>").unwrap();
    assert_eq!(errors(needy), [format!("startup: {expected}")]);
    // The table cuts it after `ERROR_COLUMN_WIDTH` chars; what matters comes first.
    let table = report.to_string();
    assert!(
        table.contains(
            "startup: dependency `Probe<Lazy>` is running but not ready: it has `ready = \
             \"manual\"` and never called"
        ),
        "{table}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dependant_timing_out_on_a_slow_start_keeps_the_slow_message() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Slow>::new("slow", &log).then("on_initialize", [Act::Sleep(secs(30))]))
        .service(Probe::<NeedsSlow>::new("needy", &log))
        .build()
        .unwrap();
    let error = timeout(HANG, app.start()).await.unwrap().unwrap_err();
    assert_eq!(
        error.to_string(),
        "service `Probe<NeedsSlow>` did not start: dependency `Probe<Slow>` was not running \
         and ready within 7s; check why it is slow, or raise `startup_timeout`"
    );
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// (c) A `serve` that panics while it is dropped at its timeout.

/// Panics when dropped: a `serve` holding it panics while it is dropped.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("poisoned while dropped");
    }
}

struct Stuck;

#[service(restart = "permanent", shutdown_timeout = "1s")]
impl Stuck {
    async fn serve(&self) {
        let _guard = PanicsOnDrop;
        // Ignores cancellation: cut off after `shutdown_timeout`, and dropped.
        std::future::pending::<()>().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_serve_that_panics_while_dropped_at_its_timeout_is_in_the_report() {
    let app = Hassette::builder().service(Stuck).build().unwrap();
    app.start().await.unwrap();
    settle().await;
    let began = Instant::now();
    let report = timeout(HANG, app.shutdown()).await.unwrap();
    assert_eq!(began.elapsed(), secs(1));
    let svc = report.service("Stuck").unwrap();
    assert!(svc.aborted);
    assert_eq!(
        errors(svc),
        [
            "serve: panicked: poisoned while dropped (when it was dropped)",
            "serve: `serve` did not finish within 1s",
        ]
    );
    let panic = svc.errors[0].error.downcast_ref::<Panicked>().unwrap();
    assert_eq!(
        panic.message(),
        "poisoned while dropped (when it was dropped)"
    );
    assert!(svc.errors[1].error.downcast_ref::<TimedOut>().is_some());
    assert_eq!(svc.error_count, 2);
}

// ---------------------------------------------------------------------------------------
// (d) `ServiceReport`'s own line.

#[test]
fn a_service_report_is_one_bounded_line_with_the_table_s_cells() {
    let mut db = ServiceReport::new("db".into());
    assert_eq!(
        db.to_string(),
        "db: not started, 0 restarts, 0 errors, stop took 0.0ns, last error: -"
    );
    db.status = Status::Stopped;
    db.restarts = 1;
    db.stop_took = ms(12);
    db.aborted = true;
    assert_eq!(
        db.to_string(),
        "db: stopped, 1 restart, 0 errors, stop took 12.0ms, last error: - (aborted)"
    );
    // A huge name with control characters is cut and escaped, as in the table: never a
    // panic, never a second line.
    let name = format!("evil\n\u{1b}[2J{}", "n".repeat(100_000));
    let line = ServiceReport::new(name.into()).to_string();
    assert_eq!(line.lines().count(), 1);
    let shown = line.split(": ").next().unwrap();
    assert_eq!(shown.chars().count(), NAME_COLUMN_WIDTH);
    assert!(shown.starts_with("evil\\n\\u{1b}[2J"), "{shown}");
    assert!(shown.ends_with('…'));
    assert!(line.len() < 200, "{} bytes", line.len());
}
