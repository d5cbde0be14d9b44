//! Critical per unit and scoped degradation: a child counts for readiness only when it
//! says so, a failure of a unit that is not critical never spreads, and the app says it
//! is degraded while one is down; the exit code is non-zero only when a critical unit
//! failed.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use hassette_runtime::{
    BoxError, ChildExhausted, Hassette, Overrides, RestartType, ServiceContext, ServiceSnapshot,
    Status, Strategy, service,
};
use hassette_tests::*;

profile!(Kid, RestartType::Permanent, { backoff_base: secs(1) });
// Fails for good at its second failure (a budget of one restart).
profile!(Lamp, RestartType::Permanent, { backoff_base: ms(10), budget_intensity: 1 });
profile!(OneShot, RestartType::Temporary);

/// The snapshot of `name`.
fn snap(app: &Hassette, name: &str) -> ServiceSnapshot {
    let all = app.snapshot();
    let found = all.iter().find(|s| &*s.name == name);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no `{name}` in {all:?}"))
}

/// Whether every unit counts as ready (what `/readyz` and `READY=1` ask).
fn app_ready(app: &Hassette) -> bool {
    app.snapshot().iter().all(ServiceSnapshot::counts_as_ready)
}

/// A hub whose first run adds a lamp that always fails (with `overrides`) and a fan.
struct Hub {
    log: Log,
    runs: AtomicU32,
    lamp: Overrides,
}

impl Hub {
    fn new(log: &Log, lamp: Overrides) -> Self {
        Hub {
            log: log.clone(),
            runs: AtomicU32::new(0),
            lamp,
        }
    }
}

#[service(restart = "permanent", backoff(base = "1s"))]
impl Hub {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push("hub:serve");
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            let lamp = Probe::<Lamp>::new("lamp", &self.log).always("serve", Act::Err);
            ctx.add_child_named_with("lamp", lamp, self.lamp.clone())
                .await?;
            ctx.add_child_named("fan", Probe::<Kid>::new("fan", &self.log))
                .await?;
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_that_is_not_critical_exhausts_alone_and_the_app_stays_ready() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Hub::new(&log, Overrides::new()))
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(2)).await;
    let lamp = snap(&app, "Hub/lamp");
    assert_eq!(lamp.status, Status::ExhaustedDead, "{lamp:?}");
    assert!(!lamp.critical, "a child is not critical unless it says so");
    assert!(lamp.degrades());
    assert_eq!(lamp.waiting, None, "done for: it waits for nothing");
    assert_eq!(app.status_by_name("Hub").unwrap(), Status::Running);
    assert_eq!(app.status_by_name("Hub/fan").unwrap(), Status::Running);
    assert!(app_ready(&app), "{:?}", app.snapshot());
    assert!(!app.is_shutting_down());
    let events = drain(&mut events);
    assert!(
        !events.iter().any(|e| e.starts_with("Hub: ")
            && !e.contains("NotStarted")
            && !e.contains("Starting -> Running")),
        "the hub never left Running: {events:?}"
    );
    assert_eq!(log.count("hub:serve"), 1);
    let report = app.shutdown().await;
    assert!(report.degraded, "{report}");
    assert!(report.is_success(), "{report}");
    assert_eq!(report.exit_code(), ExitCode::SUCCESS);
    let lamp = report.service("Hub/lamp").unwrap();
    assert!(!lamp.critical && lamp.degrades(), "{lamp}");
    assert!(
        report
            .to_string()
            .contains("degraded: 1 not critical and down (Hub/lamp)"),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_made_critical_by_an_override_still_fails_its_parent() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Hub::new(&log, Overrides::new().critical(true)))
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(ms(500)).await;
    assert!(snap(&app, "Hub/lamp").critical);
    let events = drain_events(&mut events);
    let failed = events
        .iter()
        .find(|e| &*e.service == "Hub" && e.to == Status::Failed)
        .expect("the hub failed");
    let cause = failed.error.as_ref().unwrap();
    let exhausted = cause.downcast_ref::<ChildExhausted>().expect("the lamp's");
    assert_eq!(&*exhausted.child, "Hub/lamp");
    // Its parent's restart is not the app's crash.
    assert!(!app.is_shutting_down());
    let report = app.shutdown().await;
    assert!(!report.degraded, "{report}");
}

/// A service that is never ready (`ready = "manual"`, it never says so).
struct Dim(Log);

#[service(restart = "permanent", ready = "manual")]
impl Dim {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.0.push("dim:serve");
        ctx.cancelled().await;
        Ok(())
    }
}

/// A hub whose children are never ready: one left as it is, one made critical.
struct Dimmer {
    log: Log,
    critical: bool,
}

#[service(restart = "permanent")]
impl Dimmer {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let overrides = match self.critical {
            true => Overrides::new().critical(true),
            false => Overrides::new(),
        };
        ctx.add_child_named_with("dim", Dim(self.log.clone()), overrides)
            .await?;
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_counts_for_readiness_only_when_it_says_so() {
    for critical in [false, true] {
        let log = Log::default();
        let app = Hassette::builder()
            .service(Dimmer {
                log: log.clone(),
                critical,
            })
            .build()
            .unwrap();
        app.start().await.unwrap();
        settle().await;
        assert_eq!(log.count("dim:serve"), 1);
        let dim = snap(&app, "Dimmer/dim");
        assert_eq!((dim.status, dim.ready), (Status::Running, false));
        assert_eq!(dim.critical, critical);
        assert_eq!(app_ready(&app), !critical, "{:?}", app.snapshot());
        assert!(!dim.degrades(), "running: nothing is down");
        let _ = app.shutdown().await;
    }
}

/// A top-level service that fails for good at its second failure; `critical` as given.
struct Worker;

#[service(
    restart = "permanent",
    backoff(base = "10ms"),
    budget(intensity = 1, period = "1m")
)]
impl Worker {
    async fn serve(&self) -> Result<(), BoxError> {
        Err(Oops("worker failed").into())
    }
}

struct Keeper;

#[service(restart = "permanent")]
impl Keeper {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_exit_code_is_non_zero_only_when_a_critical_unit_failed() {
    // Not critical (an override at build): the app runs on until its stop, degraded.
    let app = Hassette::builder()
        .service(Keeper)
        .service(Worker)
        .configure("Worker", Overrides::new().critical(false))
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let report = app.run_until(tokio::time::sleep(secs(10))).await;
    assert_eq!(t0.elapsed(), secs(10), "{report}");
    assert_eq!(
        report.service("Worker").unwrap().status,
        Status::ExhaustedDead
    );
    assert!(report.degraded, "{report}");
    assert_eq!(report.exit_code(), ExitCode::SUCCESS, "{report}");

    // Critical (a top-level unit's default): its exhaustion crashes the app.
    let app = Hassette::builder()
        .service(Keeper)
        .service(Worker)
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let report = app.run_until(tokio::time::sleep(secs(10))).await;
    assert!(t0.elapsed() < secs(1), "{report}");
    assert_eq!(report.service("Worker").unwrap().status, Status::Crashed);
    assert!(!report.degraded, "{report}");
    assert_eq!(report.exit_code(), ExitCode::FAILURE, "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_first_start_of_a_unit_that_is_not_critical_does_not_end_the_app() {
    profile!(Refused, RestartType::Permanent, { budget_intensity: 1 }, boom_non_retryable = true);
    let log = Log::default();
    let app = Hassette::builder()
        .service(Keeper)
        .service_named(
            "sidecar",
            Probe::<Refused>::new("sidecar", &log).then("on_initialize", [Act::Boom]),
        )
        .configure("sidecar", Overrides::new().critical(false))
        .build()
        .unwrap();
    let error = app.start().await.unwrap_err();
    assert!(!error.ends_the_app(), "{error}");
    let report = app.run_until(tokio::time::sleep(secs(1))).await;
    assert_eq!(
        report.service("sidecar").unwrap().status,
        Status::ExhaustedDead
    );
    assert!(!report.start_failed && report.degraded, "{report}");
    assert_eq!(report.exit_code(), ExitCode::SUCCESS, "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_temporary_unit_that_is_not_critical_is_removed_when_it_fails() {
    let log = Log::default();
    let app = Hassette::builder().service(Keeper).build().unwrap();
    app.start().await.unwrap();
    let probe = Probe::<OneShot>::new("job", &log).then("serve", [Act::Err]);
    app.add_named_with("job", probe, Overrides::new().critical(false))
        .await
        .unwrap();
    tokio::time::sleep(secs(1)).await;
    assert!(app.handle("job").is_err(), "removed once dead");
    assert!(!app.is_shutting_down());
    let report = app.shutdown().await;
    assert_eq!(report.removed.failed, 1, "{report}");
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_group_whose_failures_are_all_of_units_that_are_not_critical_does_not_crash_the_app() {
    profile!(Bulb, RestartType::Permanent, { backoff_base: ms(10), budget_intensity: 100 });
    let log = Log::default();
    let app = Hassette::builder()
        .group("room", Strategy::OneForOne, |g| {
            g.service(Keeper)
                .service_named(
                    "bulb",
                    Probe::<Bulb>::new("bulb", &log).always("serve", Act::Err),
                )
                .budget(1, secs(60))
        })
        .configure("bulb", Overrides::new().critical(false))
        .build()
        .unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(secs(1)).await;
    // The group's budget (one restart) ran out at the bulb's second failure.
    assert_eq!(log.count("bulb:serve"), 2);
    assert_eq!(app.status_by_name("bulb").unwrap(), Status::ExhaustedDead);
    assert_eq!(app.status::<Keeper>().unwrap(), Status::Running);
    assert!(!app.is_shutting_down());
    assert!(app_ready(&app));
    assert_eq!(
        snap(&app, "bulb").waiting,
        None,
        "no longer waits for its group"
    );
    // An operator may start it again: it answers, and the bulb runs (and fails) once more.
    let restarted = tokio::time::timeout(secs(5), app.restart_by_name("bulb")).await;
    assert!(restarted.is_ok(), "an operator's restart of it hangs");
    tokio::time::sleep(secs(1)).await;
    assert_eq!(log.count("bulb:serve"), 3);
    let report = app.shutdown().await;
    assert!(report.degraded && report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_member_that_is_not_critical_and_out_of_its_own_budget_is_dead_alone() {
    let log = Log::default();
    let app = Hassette::builder()
        .group("room", Strategy::OneForAll, |g| {
            g.service(Keeper).service_named(
                "bulb",
                Probe::<Lamp>::new("bulb", &log).always("serve", Act::Err),
            )
        })
        .configure("bulb", Overrides::new().critical(false))
        .build()
        .unwrap();
    app.start().await.unwrap();
    tokio::time::sleep(secs(1)).await;
    assert_eq!(app.status_by_name("bulb").unwrap(), Status::ExhaustedDead);
    assert_eq!(app.status::<Keeper>().unwrap(), Status::Running);
    assert!(!app.is_shutting_down());
    let report = app.shutdown().await;
    // The keeper restarted once along with the bulb's group, not for itself.
    let keeper = report.service("Keeper").unwrap();
    assert_eq!(
        (keeper.restarts, keeper.collateral_restarts),
        (0, 1),
        "{report}"
    );
    assert!(report.degraded && report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_permanent_unit_that_is_not_critical_and_keeps_returning_ends_exhausted_dead() {
    profile!(Quitter, RestartType::Permanent, { backoff_base: ms(10), budget_intensity: 1 });
    let log = Log::default();
    let app = Hassette::builder()
        .service(Keeper)
        .service_named(
            "quitter",
            Probe::<Quitter>::new("quitter", &log).always("serve", Act::Return),
        )
        .configure("quitter", Overrides::new().critical(false))
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(1)).await;
    assert_eq!(log.count("quitter:serve"), 2);
    let quitter = snap(&app, "quitter");
    assert_eq!(quitter.status, Status::ExhaustedDead, "{quitter:?}");
    assert!(quitter.degrades());
    let dead = drain_events(&mut events)
        .into_iter()
        .find(|e| e.to == Status::ExhaustedDead)
        .expect("an event");
    assert_eq!(dead.from, Status::Stopped);
    let error = dead.error.expect("why").to_string();
    assert!(error.contains("returned Ok 2 times"), "{error}");
    assert!(!app.is_shutting_down());
    let report = app.shutdown().await;
    assert!(report.is_success() && report.degraded, "{report}");
}
