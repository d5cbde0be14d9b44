//! Application-level behaviour: the report, the shutdown deadline, logging and the event
//! stream's content.

use hassette_runtime::{Hassette, RestartType, Status};
use hassette_tests::*;

profile!(Stubborn, RestartType::Temporary, { shutdown_timeout: secs(60) });

#[tokio::test(start_paused = true)]
async fn the_total_shutdown_deadline_bounds_the_whole_stop() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Stubborn>::new("p", &log).then("serve", [Act::Hang]))
        .service(TempProbe::new("q", &log))
        .shutdown_deadline(secs(10))
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let began = tokio::time::Instant::now();
    let report = app.shutdown().await;
    assert_eq!(began.elapsed(), secs(10));
    assert!(report.deadline_exceeded);
    assert!(!report.is_success());
    let stuck = report.service("Probe<Stubborn>").unwrap();
    assert!(stuck.aborted);
    assert_eq!(stuck.status, Status::Stopped);
    assert_eq!(
        stuck.errors[0].to_string(),
        "serve: `serve` was cut off: the shutdown deadline ran out"
    );
    // The other service had stopped cleanly at once: its report stays clean.
    let clean = report.service("Probe<Temp>").unwrap();
    assert!(!clean.aborted, "{report}");
    assert_eq!(clean.status, Status::Stopped);
    assert!(
        report.to_string().contains("(deadline exceeded)"),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_report_prints_a_table() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log).then("before_shutdown", [Act::Err]))
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let report = app.shutdown().await;
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "service      status               restarts  errors  stop took  last error"
    );
    assert_eq!(
        lines[1],
        "Probe<Temp>  stopped                     0       1      0.0ns  before_shutdown: hook failed"
    );
    assert_eq!(lines[2], "shutdown took 0.0ns; reason: shutdown requested");
}

#[tokio::test(start_paused = true)]
async fn events_carry_the_time_and_the_error() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log).then("serve", [Act::ErrAfter(secs(3))]))
        .build()
        .unwrap();
    let mut rx = app.events();
    let t0 = tokio::time::Instant::now();
    app.start().await.unwrap();
    tokio::time::sleep(secs(5)).await;
    let failed = drain_events(&mut rx)
        .into_iter()
        .find(|e| e.to == Status::Failed)
        .unwrap();
    assert_eq!(failed.at - t0, secs(3));
    assert_eq!(
        failed.to_string(),
        "Probe<Temp>: running -> failed (serve failed)"
    );
    app.shutdown().await;
}

profile!(Once, RestartType::Permanent, { backoff_base: secs(1) });

#[tokio::test(start_paused = true)]
async fn the_snapshot_shows_status_readiness_restarts_and_the_last_error() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Once>::new("p", &log).then("serve", [Act::Err]))
        .build()
        .unwrap();
    assert!(!app.is_shutting_down());
    app.start().await.unwrap();
    settle().await;
    let failed = &app.snapshot()[0];
    assert_eq!(
        (failed.status, failed.ready, failed.restarts),
        (Status::Failed, false, 0)
    );
    tokio::time::sleep(secs(2)).await;
    let snapshot = app.snapshot();
    let s = &snapshot[0];
    assert_eq!(&*s.name, "Probe<Once>");
    assert_eq!((s.status, s.ready, s.restarts), (Status::Running, true, 1));
    assert_eq!(s.last_error.as_ref().unwrap().to_string(), "serve failed");
    let stopper = app.clone();
    let (report, ()) = tokio::join!(stopper.shutdown(), app.shutdown_begun());
    assert!(app.is_shutting_down());
    assert!(report.is_success());
}

#[tokio::test(start_paused = true)]
async fn a_finished_one_shot_job_counts_as_ready_but_an_exhausted_one_does_not() {
    let log = Log::default();
    profile!(Job, RestartType::Transient);
    let app = Hassette::builder()
        .service_named(
            "migrate",
            TempProbe::new("m", &log).then("serve", [Act::Return]),
        )
        .service_named(
            "broken",
            TempProbe::new("b", &log).then("serve", [Act::Err]),
        )
        .service_named(
            "job",
            Probe::<Job>::new("j", &log).then("serve", [Act::Return]),
        )
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let snapshot = app.snapshot();
    let by_name = |n: &str| snapshot.iter().find(|s| &*s.name == n).unwrap();
    assert!(by_name("migrate").finished && by_name("migrate").counts_as_ready());
    assert!(by_name("job").finished && by_name("job").counts_as_ready());
    assert_eq!(by_name("broken").status, Status::ExhaustedDead);
    assert!(!by_name("broken").finished && !by_name("broken").counts_as_ready());
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn run_until_runs_the_app_until_its_future_completes() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log))
        .build()
        .unwrap();
    let began = tokio::time::Instant::now();
    let report = app.run_until(tokio::time::sleep(secs(5))).await;
    assert_eq!(began.elapsed(), secs(5));
    assert!(report.is_success(), "{report}");
    assert_eq!(
        report.reason.as_deref(),
        Some("the run_until future completed")
    );
    assert_eq!(log.count("p:after_shutdown"), 1);
    // The same report to a later call.
    assert_eq!(app.shutdown().await.to_string(), report.to_string());
}

#[tokio::test(start_paused = true)]
async fn run_until_ends_with_the_app_when_a_crash_stops_it_first() {
    profile!(Brittle, RestartType::Permanent, { budget_intensity: 1, backoff_base: secs(1) });
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Brittle>::new("b", &log).always("serve", Act::Err))
        .build()
        .unwrap();
    let report = app.run_until(std::future::pending()).await;
    assert!(!report.is_success());
    assert!(
        report
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("crashed")),
        "{report}"
    );
}

/// Awaits `run_until` of its own app from inside its `serve`.
struct Stopper;

#[hassette_runtime::service(restart = "temporary")]
impl Stopper {
    async fn serve(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        // From inside, it cannot wait for its own stop: it returns once the stop reaches it.
        let _ = ctx.app().run_until(std::future::ready(())).await;
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn run_until_from_inside_a_service_does_not_wait_on_itself() {
    let app = Hassette::builder().service(Stopper).build().unwrap();
    let (a, b) = tokio::join!(
        app.run_until(std::future::pending()),
        app.run_until(std::future::pending())
    );
    assert!(a.is_success(), "{a}");
    assert!(!a.services[0].aborted);
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.reason.as_deref(), Some("the run_until future completed"));
}
