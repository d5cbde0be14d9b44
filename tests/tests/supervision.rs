//! Restart policies on the paused clock: exact delays, budgets, exhaustion, cooldowns.

use std::time::Duration;

use hassette_runtime::{Hassette, RestartType, Status, StatusEvent};
use hassette_tests::*;
use tokio::time::Instant;

profile!(Backoff, RestartType::Permanent, {
    backoff_base: secs(1), backoff_max: secs(10), budget_intensity: 10, budget_period: secs(300)
});
profile!(Budget3, RestartType::Permanent, {
    backoff_base: secs(1), backoff_multiplier: 1.0, budget_intensity: 3, budget_period: secs(60)
});
profile!(Trans, RestartType::Transient, {
    backoff_base: secs(1), backoff_multiplier: 1.0, budget_intensity: 2, budget_period: secs(60),
    cooldown: secs(100), max_cooldown_cycles: 2
});
profile!(TransForever, RestartType::Transient, {
    backoff_base: Duration::ZERO, budget_intensity: 1, cooldown: secs(10)
});
profile!(Perm, RestartType::Permanent, { backoff_base: secs(1), backoff_multiplier: 1.0 });
profile!(PermBoom, RestartType::Permanent, { backoff_base: secs(1) }, boom_fatal = true);
profile!(TransBoomNr, RestartType::Transient, { backoff_base: secs(1), cooldown: secs(50) }, boom_non_retryable = true);
profile!(Manual, RestartType::Permanent, {
    backoff_base: secs(1), startup_timeout: secs(5), ready: hassette_runtime::ReadyMode::Manual
});
profile!(Stable, RestartType::Permanent, {
    backoff_base: secs(1), backoff_max: secs(100), stable_after: secs(60), budget_intensity: 100
});
profile!(Zero, RestartType::Permanent, { backoff_base: Duration::ZERO, budget_intensity: 2000 });

/// `(status, seconds since t0)` for every event of the run.
fn timeline(events: &[StatusEvent], t0: Instant) -> Vec<(Status, u64)> {
    events
        .iter()
        .map(|e| (e.to, (e.at - t0).as_secs()))
        .collect()
}

/// The delays between each Failed and the Starting that follows it.
fn restart_delays(events: &[StatusEvent]) -> Vec<Duration> {
    let mut delays = Vec::new();
    let mut failed_at = None;
    for e in events {
        match e.to {
            Status::Failed => failed_at = Some(e.at),
            Status::Starting => {
                if let Some(t) = failed_at.take() {
                    delays.push(e.at - t);
                }
            }
            _ => {}
        }
    }
    delays
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_from_base_and_saturates_at_max() {
    let log = Log::default();
    let probe = Probe::<Backoff>::new("p", &log).then("serve", [Act::Err; 6]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(100)).await;
    let events = drain_events(&mut rx);
    assert_eq!(restart_delays(&events), [1, 2, 4, 8, 10, 10].map(secs));
    assert_eq!(app.status::<Probe<Backoff>>().unwrap(), Status::Running);
    // a restart is Failed -> Starting -> Running: the stop hooks ran silently at the failure
    assert_eq!(log.count("p:on_shutdown"), 6);
    let report = app.shutdown().await;
    assert_eq!(report.services[0].restarts, 6);
    assert_eq!(report.services[0].error_count, 6);
}

#[tokio::test(start_paused = true)]
async fn the_failure_after_intensity_restarts_within_period_exhausts_a_permanent_service() {
    let log = Log::default();
    let probe = Probe::<Budget3>::new("p", &log).always("serve", Act::Err);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    tokio::time::sleep(secs(30)).await;
    let events = drain_events(&mut rx);
    let failures = events.iter().filter(|e| e.to == Status::Failed).count();
    assert_eq!(failures, 4, "3 restarts allowed, the 4th failure exhausts");
    let last = events.last().unwrap();
    assert_eq!((last.from, last.to), (Status::Failed, Status::Crashed));
    assert_eq!(timeline(&events, t0).last(), Some(&(Status::Crashed, 3)));
    // a permanent service's exhaustion takes the app down with a failure code
    let report = app.shutdown().await;
    assert_eq!(
        report.reason.as_deref(),
        Some("service `Probe<Budget3>` crashed")
    );
    assert_eq!(report.exit_code(), std::process::ExitCode::FAILURE);
}

#[tokio::test(start_paused = true)]
async fn failures_spread_wider_than_the_period_never_exhaust() {
    let log = Log::default();
    // each run takes 25s to initialize and then fails: 26s between failures, so at most
    // 2 restarts ever fall within the 60s window
    let probe = Probe::<Budget3>::new("p", &log)
        .always("before_initialize", Act::Sleep(secs(25)))
        .always("serve", Act::Err);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(secs(600)).await;
    let events = drain_events(&mut rx);
    assert_eq!(events.iter().filter(|e| e.to == Status::Failed).count(), 23);
    assert!(!events.iter().any(|e| e.to == Status::Crashed));
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn temporary_failure_is_failed_then_exhausted_dead_at_once() {
    let log = Log::default();
    let probe = TempProbe::new("p", &log).then("serve", [Act::Err]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    settle().await;
    let tail: Vec<_> = drain(&mut rx).split_off(2);
    assert_eq!(
        tail,
        [
            "Probe<Temp>: Running -> Failed",
            "Probe<Temp>: Failed -> ExhaustedDead"
        ]
    );
    assert_eq!(log.count("p:serve"), 1);
    let report = app.shutdown().await;
    assert_eq!(report.services[0].status, Status::ExhaustedDead);
    assert!(
        report.is_success(),
        "an exhausted temporary service is not a crash"
    );
}

#[tokio::test(start_paused = true)]
async fn transient_exhaustion_cools_down_then_retries_with_a_fresh_budget_until_dead() {
    let log = Log::default();
    let probe = Probe::<Trans>::new("p", &log).always("serve", Act::Err);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    tokio::time::sleep(secs(1000)).await;
    let events = drain_events(&mut rx);
    let marks: Vec<(Status, u64)> = timeline(&events, t0)
        .into_iter()
        .filter(|(s, _)| matches!(s, Status::ExhaustedCooling | Status::ExhaustedDead))
        .collect();
    // 2 restarts (1s apart) then exhaustion at 2s; cooldown 100s; a fresh budget each time;
    // after max_cooldown_cycles = 2 cooldowns the next exhaustion is final
    assert_eq!(
        marks,
        [
            (Status::ExhaustedCooling, 2),
            (Status::ExhaustedCooling, 104),
            (Status::ExhaustedDead, 206)
        ]
    );
    let after_cooldown = events
        .iter()
        .find(|e| e.from == Status::ExhaustedCooling)
        .unwrap();
    assert_eq!(
        after_cooldown.to,
        Status::Starting,
        "after a cooldown the service restarts at once"
    );
    assert_eq!(log.count("p:serve"), 9);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn max_cooldown_cycles_zero_cools_down_forever() {
    let log = Log::default();
    let probe = Probe::<TransForever>::new("p", &log).always("serve", Act::Err);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(1000)).await;
    let events = drain_events(&mut rx);
    assert!(
        events
            .iter()
            .filter(|e| e.to == Status::ExhaustedCooling)
            .count()
            >= 90
    );
    assert!(!events.iter().any(|e| e.to == Status::ExhaustedDead));
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_listed_fatal_type_crashes_without_restart() {
    let log = Log::default();
    let probe = Probe::<PermBoom>::new("p", &log).then("serve", [Act::Boom]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(drain(&mut rx)[2], "Probe<PermBoom>: Running -> Crashed");
    assert_eq!(log.count("p:serve"), 1);
    let report = app.shutdown().await;
    assert_eq!(report.services[0].status, Status::Crashed);
}

#[tokio::test(start_paused = true)]
async fn fatal_wrapper_crashes_a_permanent_service_without_restart() {
    let log = Log::default();
    let probe = Probe::<Perm>::new("p", &log).then("serve", [Act::Fatal]);
    let app = Hassette::builder().service(probe).build().unwrap();
    app.start().await.unwrap();
    let report = app.shutdown().await;
    assert_eq!(log.count("p:serve"), 1);
    assert_eq!(report.services[0].status, Status::Crashed);
    assert_eq!(
        report.services[0].errors[0].error.to_string(),
        "fatal: fatal serve"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fatal_hook_error_crashes_at_once_as_a_fatal_serve_error_does() {
    let log = Log::default();
    let probe = Probe::<Perm>::new("p", &log).then("on_initialize", [Act::Fatal]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    assert!(app.start().await.is_err());
    settle().await;
    assert_eq!(
        drain(&mut rx),
        [
            "Probe<Perm>: NotStarted -> Starting",
            // one sequence for a fatal error, wherever it comes from: no Failed first
            "Probe<Perm>: Starting -> Crashed",
        ]
    );
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_goes_straight_to_exhaustion() {
    let log = Log::default();
    let probe = Probe::<TransBoomNr>::new("p", &log).then("serve", [Act::Boom]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    tokio::time::sleep(secs(51)).await;
    let events = drain_events(&mut rx);
    assert_eq!(
        timeline(&events, t0),
        [
            (Status::Starting, 0),
            (Status::Running, 0),
            (Status::Failed, 0),
            (Status::ExhaustedCooling, 0),
            (Status::Starting, 50),
            (Status::Running, 50),
        ]
    );
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_not_ready_within_startup_timeout_is_failed() {
    let log = Log::default();
    // ready = manual: the first run marks ready after 1s; the second never does
    let probe =
        Probe::<Manual>::new("p", &log).then("serve", [Act::ReadyAfter(secs(1)), Act::Hang]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    let t0 = Instant::now();
    app.start().await.unwrap();
    app.wait_ready::<Probe<Manual>>().await.unwrap();
    assert_eq!(t0.elapsed(), secs(1));
    app.restart::<Probe<Manual>>().await.unwrap();
    let restarted = Instant::now();
    tokio::time::sleep(secs(20)).await;
    let events = drain_events(&mut rx);
    let failed = events.iter().find(|e| e.to == Status::Failed).unwrap();
    assert_eq!(failed.from, Status::Running);
    assert_eq!(failed.at - restarted, secs(5));
    assert_eq!(
        failed.error.as_ref().unwrap().to_string(),
        "`startup` did not finish within 5s"
    );
    app.shutdown().await;
}

async fn delays_around_a_healthy_run(healthy: Duration) -> Vec<Duration> {
    let log = Log::default();
    let probe = Probe::<Stable>::new("p", &log).then(
        "serve",
        [
            Act::Err,
            Act::Err,
            Act::Err,
            Act::ErrAfter(healthy),
            Act::Err,
        ],
    );
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(200)).await;
    app.shutdown().await;
    restart_delays(&drain_events(&mut rx))
}

#[tokio::test(start_paused = true)]
async fn the_attempt_count_resets_after_stable_after_of_healthy_running() {
    assert_eq!(
        delays_around_a_healthy_run(secs(70)).await,
        [1, 2, 4, 1, 2].map(secs)
    );
    assert_eq!(
        delays_around_a_healthy_run(secs(59)).await,
        [1, 2, 4, 8, 16].map(secs)
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_backoff_interrupts_it_and_does_not_restart() {
    let log = Log::default();
    let probe = Probe::<Backoff>::new("p", &log).then("serve", [Act::Err]);
    let app = Hassette::builder().service(probe).build().unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(ms(500)).await; // in the middle of the 1s backoff
    let began = Instant::now();
    let report = app.shutdown().await;
    assert_eq!(began.elapsed(), Duration::ZERO);
    assert_eq!(log.count("p:serve"), 1);
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_eq!(report.services[0].restarts, 0);
    tokio::time::sleep(secs(10)).await;
    assert_eq!(log.count("p:serve"), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_cooldown_interrupts_it() {
    let log = Log::default();
    let probe = Probe::<TransBoomNr>::new("p", &log).then("serve", [Act::Boom]);
    let app = Hassette::builder().service(probe).build().unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(secs(10)).await;
    assert_eq!(
        app.status::<Probe<TransBoomNr>>().unwrap(),
        Status::ExhaustedCooling
    );
    let began = Instant::now();
    let report = app.shutdown().await;
    assert_eq!(began.elapsed(), Duration::ZERO);
    assert_eq!(report.services[0].status, Status::Stopped);
    assert_eq!(log.count("p:serve"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_clean_return_restarts_only_permanent_services() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Perm>::new("perm", &log).then("serve", [Act::Return]))
        .service(Probe::<Trans>::new("trans", &log).then("serve", [Act::Return]))
        .service(TempProbe::new("temp", &log).then("serve", [Act::Return]))
        .build()
        .unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(secs(5)).await;
    assert_eq!(log.count("perm:serve"), 2);
    assert_eq!(log.count("trans:serve"), 1);
    assert_eq!(log.count("temp:serve"), 1);
    assert_eq!(app.status::<Probe<Perm>>().unwrap(), Status::Running);
    assert_eq!(app.status::<Probe<Trans>>().unwrap(), Status::Stopped);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn manual_restart_stops_and_initializes_the_same_value() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Perm>::new("p", &log))
        .build()
        .unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    app.wait_ready::<Probe<Perm>>().await.unwrap();
    app.restart::<Probe<Perm>>().await.unwrap();
    assert_eq!(
        drain(&mut rx)[2..],
        [
            "Probe<Perm>: Running -> Stopping",
            "Probe<Perm>: Stopping -> Stopped",
            "Probe<Perm>: Stopped -> Starting",
            "Probe<Perm>: Starting -> Running",
        ]
    );
    assert_eq!(log.count("p:on_initialize"), 2);
    assert_eq!(log.count("p:on_shutdown"), 1);
    let report = app.shutdown().await;
    assert_eq!(report.services[0].restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn restart_errors_are_typed() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Perm>::new("p", &log))
        .build()
        .unwrap();
    let not_started = app.restart::<Probe<Perm>>().await.unwrap_err();
    assert!(matches!(
        not_started,
        hassette_runtime::RestartError::NotStarted { .. }
    ));
    assert!(matches!(
        app.restart::<TempProbe>().await.unwrap_err(),
        hassette_runtime::RestartError::Lookup(_)
    ));
    app.start().await.unwrap();
    app.shutdown().await;
    let late = app.restart::<Probe<Perm>>().await.unwrap_err();
    assert_eq!(
        late.to_string(),
        "cannot restart `Probe<Perm>`: the application is shutting down"
    );
}

#[tokio::test(start_paused = true)]
async fn zero_backoff_restarts_at_once_and_the_delay_never_overflows() {
    let log = Log::default();
    // past 1024 attempts, 2^attempt overflows: a zero base must still mean "at once"
    let probe = Probe::<Zero>::new("p", &log).then("serve", [Act::Err; 1500]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let t0 = Instant::now();
    app.start().await.unwrap();
    settle().await;
    tokio::time::sleep(ms(1)).await;
    assert_eq!(log.count("p:serve"), 1501);
    assert!(t0.elapsed() <= ms(1));
    assert_eq!(app.status::<Probe<Zero>>().unwrap(), Status::Running);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_services_failing_and_restarting_all_end_running() {
    let log = Log::default();
    let mut builder = Hassette::builder();
    for i in 0..10_000 {
        let name: &'static str = Box::leak(format!("w{i}").into_boxed_str());
        builder = builder.service_named(
            name,
            Probe::<Perm>::new(name, &log).then("serve", [Act::Err, Act::Err]),
        );
    }
    let app = builder.build().unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(secs(5)).await;
    let statuses = app.statuses();
    assert_eq!(statuses.len(), 10_000);
    assert!(statuses.iter().all(|(_, s)| *s == Status::Running));
    let report = app.shutdown().await;
    assert!(
        report
            .services
            .iter()
            .all(|s| s.restarts == 2 && s.status == Status::Stopped)
    );
}
