//! The lifecycle of one service, in the exact order the README's lifecycle diagram gives.

use hassette_runtime::{Hassette, Panicked, StartFailure, Status, TimedOut};
use hassette_tests::*;

profile!(Slow, hassette_runtime::RestartType::Temporary, { shutdown_timeout: secs(3) });

#[tokio::test(start_paused = true)]
async fn hooks_run_in_order_and_initialize_returns_while_starting() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log))
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    settle().await;
    let report = app.shutdown().await;
    assert_eq!(
        log.of("p"),
        [
            "before_initialize",
            "on_initialize",
            "status-in-after_initialize:starting",
            "after_initialize",
            "serve",
            "before_shutdown",
            "serve:end",
            "on_shutdown",
            "after_shutdown",
        ]
    );
    assert_eq!(
        drain(&mut events),
        [
            "Probe<Temp>: NotStarted -> Starting",
            "Probe<Temp>: Starting -> Running",
            "Probe<Temp>: Running -> Stopping",
            "Probe<Temp>: Stopping -> Stopped",
        ]
    );
    assert_eq!(report.services[0].status, Status::Stopped);
    assert!(report.is_success());
}

#[tokio::test(start_paused = true)]
async fn before_shutdown_runs_while_serve_still_runs() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<TempProbe>().await.unwrap();
    app.shutdown().await;
    let lines = log.of("p");
    let pos = |l: &str| lines.iter().position(|x| x == l).unwrap();
    assert!(pos("before_shutdown") < pos("serve:end"));
    assert!(pos("serve:end") < pos("on_shutdown"));
}

#[tokio::test(start_paused = true)]
async fn serve_returning_ok_ends_stopped_and_cleans_up_without_stopping() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("serve", [Act::Return]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(app.status::<TempProbe>().unwrap(), Status::Stopped);
    assert_eq!(
        drain(&mut events),
        [
            "Probe<Temp>: NotStarted -> Starting",
            "Probe<Temp>: Starting -> Running",
            "Probe<Temp>: Running -> Stopped",
        ]
    );
    // the stop hooks ran once, at once; the app's shutdown does not run them again
    assert_eq!(log.count("p:on_shutdown"), 1);
    let report = app.shutdown().await;
    assert_eq!(log.count("p:on_shutdown"), 1);
    assert_eq!(report.services[0].status, Status::Stopped);
    assert!(drain(&mut events).is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancelled_serve_ends_stopped() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<TempProbe>().await.unwrap();
    let report = app.shutdown().await;
    assert_eq!(report.services[0].status, Status::Stopped);
    assert!(report.services[0].errors.is_empty());
    assert!(!report.services[0].aborted);
}

#[tokio::test(start_paused = true)]
async fn serve_error_is_failed_with_the_error() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("serve", [Act::Err]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    settle().await;
    let events = drain_events(&mut events);
    let failed = events
        .iter()
        .find(|e| e.to == Status::Failed)
        .expect("a Failed event");
    assert_eq!(failed.from, Status::Running);
    assert_eq!(failed.error.as_ref().unwrap().to_string(), "serve failed");
    let report = app.shutdown().await;
    assert_eq!(report.services[0].errors[0].what, "serve");
    assert_eq!(
        report.services[0].errors[0].error.to_string(),
        "serve failed"
    );
}

#[tokio::test(start_paused = true)]
async fn fatal_serve_crashes_and_shuts_the_app_down() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("serve", [Act::Fatal]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(
        drain(&mut events),
        [
            "Probe<Temp>: NotStarted -> Starting",
            "Probe<Temp>: Starting -> Running",
            "Probe<Temp>: Running -> Crashed",
        ]
    );
    // nobody called shutdown: the crash did
    let report = app.shutdown().await;
    assert_eq!(
        report.reason.as_deref(),
        Some("service `Probe<Temp>` crashed")
    );
    assert_eq!(report.services[0].status, Status::Crashed);
    assert!(!report.is_success());
    assert_eq!(report.exit_code(), std::process::ExitCode::FAILURE);
    assert_eq!(log.count("p:after_shutdown"), 1);
}

#[tokio::test(start_paused = true)]
async fn panicking_serve_is_failed_and_keeps_the_message() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("serve", [Act::Panic]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    settle().await;
    let failed = drain_events(&mut events)
        .into_iter()
        .find(|e| e.to == Status::Failed)
        .unwrap();
    let error = failed.error.unwrap();
    assert_eq!(
        error.downcast_ref::<Panicked>().unwrap().message(),
        "kaboom"
    );
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn closed_error_during_shutdown_is_stopped_and_reported() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("serve", [Act::ClosedOnCancel]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    app.wait_ready::<TempProbe>().await.unwrap();
    let report = app.shutdown().await;
    let last = drain_events(&mut events).pop().unwrap();
    assert_eq!((last.from, last.to), (Status::Stopping, Status::Stopped));
    assert_eq!(last.error.unwrap().to_string(), "channel closed");
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_eq!(
        report.services[0].errors[0].error.to_string(),
        "channel closed"
    );
    assert!(report.is_success());
}

#[tokio::test(start_paused = true)]
async fn failing_on_initialize_skips_the_rest_and_start_names_it() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("on_initialize", [Act::Err]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let error = app.start().await.unwrap_err();
    assert_eq!(&*error.service, "Probe<Temp>");
    assert!(matches!(
        error.failure,
        StartFailure::Hook {
            hook: "on_initialize",
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "service `Probe<Temp>` did not start: `on_initialize` failed: hook failed"
    );
    settle().await;
    assert!(
        !log.lines()
            .iter()
            .any(|l| l == "p:after_initialize" || l == "p:serve")
    );
    assert_eq!(app.status::<TempProbe>().unwrap(), Status::ExhaustedDead);
    app.shutdown().await;
    // the stop hooks clean up after the half-done start
    assert_eq!(log.count("p:on_shutdown"), 1);
}

#[tokio::test(start_paused = true)]
async fn panicking_hook_counts_as_its_error() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("before_initialize", [Act::Panic]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let error = app.start().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "service `Probe<Temp>` did not start: `before_initialize` failed: panicked: kaboom"
    );
    assert_eq!(log.count("p:on_initialize"), 0);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn failing_before_shutdown_still_runs_the_other_stop_hooks() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log)
        .then("before_shutdown", [Act::Err])
        .then("on_shutdown", [Act::Panic]);
    let app = Hassette::builder().service(probe).build().unwrap();
    app.start().await.unwrap();
    app.wait_ready::<TempProbe>().await.unwrap();
    let report = app.shutdown().await;
    assert_eq!(
        log.of("p")[5..],
        [
            "before_shutdown",
            "serve:end",
            "on_shutdown",
            "after_shutdown"
        ]
    );
    let s = &report.services[0];
    assert_eq!(s.status, Status::Stopped);
    let errors: Vec<String> = s.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "before_shutdown: hook failed",
            "on_shutdown: panicked: kaboom"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn serve_ignoring_cancellation_is_aborted_after_shutdown_timeout() {
    let log = Log::default();
    let probe = Probe::<Slow>::new("p", &log).then("serve", [Act::Hang]);
    let app = Hassette::builder().service(probe).build().unwrap();
    app.start().await.unwrap();
    settle().await;
    let began = tokio::time::Instant::now();
    let report = app.shutdown().await;
    assert_eq!(began.elapsed(), secs(3));
    let s = &report.services[0];
    assert!(s.aborted);
    assert_eq!(s.status, Status::Stopped);
    assert_eq!(
        s.errors[0].error.downcast_ref::<TimedOut>(),
        Some(&TimedOut::new("serve", secs(3)))
    );
    assert!(!report.is_success());
    assert!(report.to_string().contains("(aborted)"), "{report}");
    // the hooks after serve still ran
    assert_eq!(log.count("p:after_shutdown"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_shutdown_hook_is_bounded_by_shutdown_timeout() {
    let log = Log::default();
    let probe = Probe::<Slow>::new("p", &log).then("on_shutdown", [Act::Hang]);
    let app = Hassette::builder().service(probe).build().unwrap();
    app.start().await.unwrap();
    let began = tokio::time::Instant::now();
    let report = app.shutdown().await;
    assert_eq!(began.elapsed(), secs(3));
    assert_eq!(
        report.services[0].errors[0].to_string(),
        "on_shutdown: `on_shutdown` did not finish within 3s"
    );
    assert_eq!(log.count("p:after_shutdown"), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_twice_returns_the_same_report_and_runs_hooks_once() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log))
        .build()
        .unwrap();
    app.start().await.unwrap();
    let (a, b) = tokio::join!(app.shutdown(), app.shutdown());
    let c = app.shutdown().await;
    assert_eq!(log.count("p:before_shutdown"), 1);
    for r in [&a, &b, &c] {
        assert_eq!(r.services[0].status, Status::Stopped);
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_without_start_reports_not_started() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("p", &log))
        .build()
        .unwrap();
    let report = app.shutdown().await;
    assert_eq!(report.services[0].status, Status::NotStarted);
    assert!(log.lines().is_empty());
    let error = app.start().await.unwrap_err();
    assert!(matches!(error.failure, StartFailure::Interrupted));
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_a_slow_initialize_hook_lets_it_finish_then_stops() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("on_initialize", [Act::Sleep(secs(2))]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(secs(1)).await;
    assert_eq!(app.status::<TempProbe>().unwrap(), Status::Starting);
    let began = tokio::time::Instant::now();
    let report = app.shutdown().await;
    // the hook finished (it ignores cancellation, and 1s is within shutdown_timeout),
    // then the start ended: the hooks after it did not run, the stop hooks did
    assert_eq!(began.elapsed(), secs(1));
    let error = starting.await.unwrap().unwrap_err();
    assert!(matches!(error.failure, StartFailure::Interrupted));
    assert_eq!(report.services[0].status, Status::Stopped);
    assert!(report.is_success(), "{report}");
    assert_eq!(log.count("p:after_initialize"), 0);
    assert_eq!(log.count("p:serve"), 0);
    assert_eq!(log.count("p:after_shutdown"), 1);
}

#[tokio::test(start_paused = true)]
async fn an_initialize_hook_slower_than_startup_timeout_fails() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("on_initialize", [Act::Hang]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let began = tokio::time::Instant::now();
    let error = app.start().await.unwrap_err();
    assert_eq!(began.elapsed(), secs(30));
    assert_eq!(
        error.to_string(),
        "service `Probe<Temp>` did not start: `on_initialize` failed: `on_initialize` did not finish within 30s"
    );
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// A run's cancellation: `ctx.cancelled()` dropped half-way and awaited again, two waits
// at once, and a `cancellation_token()` taken before the stop and one taken after it.

mod cancellation {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use hassette_runtime::prelude::*;

    /// Asks a token taken in `serve` whether it is cancelled.
    pub(crate) type Probe = Box<dyn Fn() -> bool + Send>;

    #[derive(Default)]
    pub(crate) struct Seen {
        pub(crate) early: Option<Probe>,
        pub(crate) late_was_cancelled: Option<bool>,
        pub(crate) both_waits_ended: bool,
        pub(crate) dropped_wait_timed_out: bool,
    }

    /// Takes a token in `serve` when `.1`, otherwise only in `on_shutdown`, after the
    /// stop (a run's token is made once, at its first ask).
    pub(crate) struct Waiter(pub(crate) Arc<Mutex<Seen>>, pub(crate) bool);

    #[service(restart = "temporary")]
    impl Waiter {
        async fn serve(&self, ctx: &ServiceContext) {
            if self.1 {
                let early = ctx.cancellation_token();
                self.0.lock().unwrap().early = Some(Box::new(move || early.is_cancelled()));
            }
            // a wait dropped half-way, then awaited again from scratch
            let dropped = tokio::time::timeout(Duration::from_millis(10), ctx.cancelled()).await;
            self.0.lock().unwrap().dropped_wait_timed_out = dropped.is_err();
            // two waits at once
            tokio::join!(ctx.cancelled(), ctx.cancelled());
            self.0.lock().unwrap().both_waits_ended = ctx.is_cancelled();
        }

        async fn on_shutdown(&self, ctx: &ServiceContext) {
            let late = ctx.cancellation_token();
            self.0.lock().unwrap().late_was_cancelled = Some(late.is_cancelled());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_runs_cancellation_reaches_every_wait_and_every_token_made_before_or_after_it() {
    use cancellation::*;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let late = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let app = Hassette::builder()
        .service_named("early", Waiter(seen.clone(), true))
        .service_named("late", Waiter(late.clone(), false))
        .build()
        .unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    let seen = seen.lock().unwrap();
    assert!(
        seen.dropped_wait_timed_out,
        "the first wait ended before the stop"
    );
    assert!(
        seen.both_waits_ended,
        "two waits at once both end at the stop"
    );
    let early = seen.early.as_ref().expect("serve took a token");
    assert!(early(), "a token taken before the stop is cancelled by it");
    let late = late.lock().unwrap();
    assert!(late.early.is_none());
    assert_eq!(
        late.late_was_cancelled,
        Some(true),
        "a token first made after the stop is cancelled"
    );
}

/// Hands an owned cancellation future to a task of its own, as axum's
/// `with_graceful_shutdown` keeps one.
struct Handover(std::sync::Arc<tokio::sync::Notify>);

#[hassette_runtime::service(restart = "temporary")]
impl Handover {
    async fn serve(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        // One dropped half-way first: it takes nothing away from the next.
        let _ = tokio::time::timeout(ms(1), ctx.cancelled_owned()).await;
        let stop = ctx.cancelled_owned();
        let told = self.0.clone();
        let task = tokio::spawn(async move {
            stop.await;
            told.notify_one();
        });
        ctx.cancelled().await;
        task.await?;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_owned_cancellation_future_completes_when_the_run_is_stopped() {
    let told = std::sync::Arc::new(tokio::sync::Notify::new());
    let app = Hassette::builder()
        .service(Handover(told.clone()))
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    tokio::time::timeout(ms(1), told.notified())
        .await
        .expect("the spawned task saw the cancellation");
}
