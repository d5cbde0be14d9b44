//! Configuration at run time: `Overrides` through `Builder::configure`,
//! `Hassette::add_named_with` and `ServiceContext::add_child_named_with`; and the one rule
//! set that checks every spec (attribute, hand-written `RESTART_SPEC`, overridden, a
//! group's budget) at `build()` and `add()`.

use std::sync::Mutex;
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{
    AddError, BuildError, ConfigError, Hassette, Overrides, RestartSpec, RestartType, Status,
    Strategy,
};
use hassette_tests::*;
use tokio::time::{Instant, timeout};

profile!(Perm, RestartType::Permanent, { backoff_base: secs(1) });
profile!(Trans, RestartType::Transient);

fn config_error(error: BuildError) -> ConfigError {
    match error {
        BuildError::Config(error) => error,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_override_replaces_the_declared_backoff() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named("w", Probe::<Perm>::new("w", &log).then("serve", [Act::Err]))
        .configure("w", Overrides::new().backoff_base(ms(100)))
        .build()
        .unwrap();
    let began = Instant::now();
    app.start().await.unwrap();
    app.wait_ready_by_name("w").await.unwrap();
    // Restarted after 100 ms, not the declared second.
    assert_eq!(began.elapsed(), ms(100));
    assert_eq!(log.count("w:serve"), 2);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_override_replaces_the_declared_shutdown_timeout() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named(
            "w",
            Probe::<Perm>::new("w", &log).always("serve", Act::Hang),
        )
        .configure("w", Overrides::new().shutdown_timeout(ms(300)))
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let began = Instant::now();
    let report = app.shutdown().await;
    assert_eq!(began.elapsed(), ms(300));
    assert!(report.services[0].aborted);
}

#[test]
fn bad_overrides_are_build_errors_that_name_the_service_and_the_key() {
    let log = Log::default();
    let build = |overrides: Overrides| {
        Hassette::builder()
            .service_named("w", Probe::<Trans>::new("w", &log))
            .configure("w", overrides)
            .build()
            .map(drop)
    };
    let cases = [
        (
            Overrides::new().backoff_multiplier(0.5),
            "backoff_multiplier",
        ),
        (
            Overrides::new().backoff_multiplier(f64::NAN),
            "backoff_multiplier",
        ),
        (Overrides::new().backoff_base(secs(120)), "backoff_base"),
        (Overrides::new().backoff_max(ms(1)), "backoff_max"),
        (Overrides::new().budget_intensity(0), "budget_intensity"),
        // Not "unlimited restarts": refused, as the attribute refuses it.
        (
            Overrides::new().budget_period(Duration::ZERO),
            "budget_period",
        ),
        (Overrides::new().max_children(0), "max_children"),
        (Overrides::new().watchdog(Duration::ZERO), "watchdog"),
        (Overrides::new().backoff_jitter(1.5), "backoff_jitter"),
        (Overrides::new().backoff_jitter(-0.1), "backoff_jitter"),
        (Overrides::new().backoff_jitter(f64::NAN), "backoff_jitter"),
        (
            Overrides::new().backoff_jitter(f64::INFINITY),
            "backoff_jitter",
        ),
    ];
    for (overrides, key) in cases {
        let error = config_error(build(overrides).unwrap_err());
        assert_eq!(error.key, key);
        assert_eq!(&*error.service, "w");
        assert!(error.to_string().starts_with("service `w`: `"), "{error}");
    }
    // The ends of the jitter's range are fine.
    build(Overrides::new().backoff_jitter(0.0)).unwrap();
    build(Overrides::new().backoff_jitter(1.0)).unwrap();
    // Durations up to `Duration::MAX` are "no limit", not an error.
    build(Overrides::new().shutdown_timeout(std::time::Duration::MAX)).unwrap();
    build(Overrides::new().backoff_max(std::time::Duration::MAX)).unwrap();

    // A key that means nothing for the service.
    let temp = Hassette::builder()
        .service_named("t", TempProbe::new("t", &log))
        .configure("t", Overrides::new().budget_period(secs(1)))
        .build()
        .unwrap_err();
    assert!(temp.to_string().contains("temporary service"), "{temp}");
    let perm = Hassette::builder()
        .service_named("p", Probe::<Perm>::new("p", &log))
        .configure("p", Overrides::new().cooldown(secs(1)))
        .build()
        .unwrap_err();
    assert_eq!(config_error(perm).key, "cooldown");
    let resource = Hassette::builder()
        .resource(TempProbe::new("r", &log))
        .configure("Probe<Temp>", Overrides::new().backoff_base(secs(1)))
        .build()
        .unwrap_err();
    assert!(
        resource
            .to_string()
            .contains("resources are never restarted"),
        "{resource}"
    );

    let unknown = Hassette::builder()
        .service_named("w", Probe::<Trans>::new("w", &log))
        .configure("v", Overrides::new().shutdown_timeout(secs(1)))
        .build()
        .unwrap_err();
    assert!(matches!(unknown, BuildError::UnknownConfigured { ref name } if &**name == "v"));
}

#[tokio::test(start_paused = true)]
async fn an_added_service_takes_overrides_and_refuses_bad_ones() {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let error = app
        .add_named_with(
            "bad",
            Probe::<Perm>::new("bad", &log),
            Overrides::new().budget_intensity(0),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        AddError::Config(ConfigError {
            key: "budget_intensity",
            ..
        })
    ));
    assert!(app.handle("bad").is_err());
    assert!(log.lines().is_empty());

    let flaky = app
        .add_named_with(
            "flaky",
            Probe::<Perm>::new("flaky", &log).then("serve", [Act::Err]),
            Overrides::new().backoff_base(ms(50)),
        )
        .await
        .unwrap();
    let began = Instant::now();
    flaky.wait_ready().await.unwrap();
    assert_eq!(began.elapsed(), ms(50));
    assert_eq!(flaky.status(), Status::Running);
    app.shutdown().await;
}

#[test]
fn a_jitter_override_is_checked_by_the_attribute_s_rule() {
    let spec = hassette_runtime::RestartSpec::new(RestartType::Transient);
    let jittered = Overrides::new()
        .backoff_jitter(0.3)
        .apply("w", &spec)
        .unwrap();
    assert_eq!(jittered.backoff_jitter, 0.3);
    let error = Overrides::new()
        .backoff_jitter(1.5)
        .apply("w", &spec)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "service `w`: `backoff_jitter` is 1.5, more than 1.0, so a delay would be cut by \
         more than its length; write a fraction from 0.0 to 1.0, like 0.2: each delay is then \
         drawn from 80% to 100% of its backoff"
    );
    // Not for a service that is never restarted, nor for a resource.
    let log = Log::default();
    let temp = Hassette::builder()
        .service_named("t", TempProbe::new("t", &log))
        .configure("t", Overrides::new().backoff_jitter(0.2))
        .build()
        .unwrap_err();
    let temp = config_error(temp);
    assert_eq!((&*temp.service, temp.key), ("t", "backoff_jitter"));
    assert!(temp.to_string().contains("temporary service"), "{temp}");
    let resource = Hassette::builder()
        .resource(TempProbe::new("r", &log))
        .configure("Probe<Temp>", Overrides::new().backoff_jitter(0.2))
        .build()
        .unwrap_err();
    assert_eq!(config_error(resource).key, "backoff_jitter");
}

#[tokio::test(start_paused = true)]
async fn a_jitter_override_spreads_the_restarts() {
    // 20 services that fail together, each with `backoff_jitter(1.0)` in place of none:
    // each restarts within its one-second backoff, and not all in the same instant (all
    // 20 in one millisecond: a chance of 1 in 10^57).
    let log = Log::default();
    let names: Vec<&'static str> = (0..20)
        .map(|i| &*Box::leak(format!("w{i}").into_boxed_str()))
        .collect();
    let mut builder = Hassette::builder().event_capacity(4096);
    for &name in &names {
        builder = builder
            .service_named(
                name,
                Probe::<Perm>::new(name, &log).then("serve", [Act::Err]),
            )
            .configure(name, Overrides::new().backoff_jitter(1.0));
    }
    let app = builder.build().unwrap();
    let mut rx = app.events();
    let began = Instant::now();
    app.start().await.unwrap();
    tokio::time::sleep(secs(2)).await;
    let restarted: Vec<Duration> = drain_events(&mut rx)
        .iter()
        .filter(|e| e.from == Status::Failed && e.to == Status::Starting)
        .map(|e| e.at - began)
        .collect();
    assert_eq!(restarted.len(), names.len());
    assert!(restarted.iter().all(|&d| d <= secs(1)), "{restarted:?}");
    assert!(
        restarted.iter().any(|&d| d != restarted[0]),
        "{restarted:?}"
    );
    for &name in &names {
        assert_eq!(app.status_by_name(name).unwrap(), Status::Running, "{name}");
    }
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// One rule set: hand-written specs, overrides and group budgets, at build() and add().

// Hand-written `RESTART_SPEC`s (what a user implementing `Service` by hand writes), each
// breaking one rule of the attribute.
profile!(Flood, RestartType::Permanent, { backoff_base: Duration::ZERO, budget_period: Duration::ZERO });
profile!(NoBudget, RestartType::Transient, { budget_intensity: 0 });
profile!(Shrinking, RestartType::Permanent, { backoff_multiplier: 0.5 });
profile!(Inverted, RestartType::Permanent, { backoff_base: secs(10), backoff_max: secs(1) });
profile!(OverCut, RestartType::Transient, { backoff_jitter: 1.5 });
profile!(NanJitter, RestartType::Transient, { backoff_jitter: f64::NAN });
// A temporary service is never restarted: its budget and backoff are never read, so any
// values there are fine (the attribute refuses writing them at all).
profile!(TempOdd, RestartType::Temporary, {
    budget_intensity: 0,
    budget_period: Duration::ZERO,
    backoff_multiplier: 0.0,
    backoff_max: Duration::ZERO,
});

/// The error `Overrides` gives for `overrides` on the defaults of `restart`: the message
/// every other path must repeat.
fn override_error(restart: RestartType, overrides: Overrides) -> ConfigError {
    overrides
        .apply("w", &RestartSpec::new(restart))
        .expect_err("the override breaks a rule")
}

#[test]
fn a_hand_written_spec_is_checked_at_build_by_the_attribute_s_rules_with_the_same_messages() {
    let log = Log::default();
    fn build<P: Profile>(log: &Log) -> Result<Hassette, BuildError> {
        Hassette::builder()
            .service_named("w", Probe::<P>::new("w", log))
            .build()
    }
    let cases = [
        (
            build::<Flood>(&log).map(drop),
            override_error(
                RestartType::Permanent,
                Overrides::new().budget_period(Duration::ZERO),
            ),
        ),
        (
            build::<NoBudget>(&log).map(drop),
            override_error(RestartType::Transient, Overrides::new().budget_intensity(0)),
        ),
        (
            build::<Shrinking>(&log).map(drop),
            override_error(
                RestartType::Permanent,
                Overrides::new().backoff_multiplier(0.5),
            ),
        ),
        (
            build::<Inverted>(&log).map(drop),
            override_error(
                RestartType::Permanent,
                Overrides::new().backoff_base(secs(10)).backoff_max(secs(1)),
            ),
        ),
        (
            build::<OverCut>(&log).map(drop),
            override_error(RestartType::Transient, Overrides::new().backoff_jitter(1.5)),
        ),
        (
            build::<NanJitter>(&log).map(drop),
            override_error(
                RestartType::Transient,
                Overrides::new().backoff_jitter(f64::NAN),
            ),
        ),
    ];
    for (built, expected) in cases {
        let error = config_error(built.expect_err("a spec that breaks a rule is refused"));
        assert_eq!(&*error.service, "w");
        // The same key and the same words as the override's error.
        assert_eq!(error, expected);
    }
    assert_eq!(
        override_error(
            RestartType::Permanent,
            Overrides::new().budget_period(Duration::ZERO)
        )
        .to_string(),
        "service `w`: `budget_period` must be longer than zero; write the window the \
         restarts are counted in, like 5m"
    );
    build::<TempOdd>(&log).unwrap();
}

/// A service whose `serve` adds a child and hands the result to the test.
struct Parent {
    log: Log,
    overrides: Option<Overrides>,
    result: Mutex<Option<tokio::sync::oneshot::Sender<Result<(), AddError>>>>,
}

#[service(restart = "temporary")]
impl Parent {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let kid = Probe::<Flood>::new("kid", &self.log);
        let added = match self.overrides.clone() {
            Some(overrides) => ctx.add_child_named_with("kid", kid, overrides).await,
            None => ctx.add_child_named("kid", kid).await,
        };
        let tx = self.result.lock().unwrap().take();
        if let Some(tx) = tx {
            let _ = tx.send(added.map(drop));
        }
        ctx.cancelled().await;
        Ok(())
    }
}

fn add_error_key(error: &AddError) -> (&str, &'static str) {
    match error {
        AddError::Config(error) => (&error.service, error.key),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_hand_written_spec_is_checked_at_add_and_at_add_child() {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();

    let by_name = app
        .add_named("flood", Probe::<Flood>::new("flood", &log))
        .await
        .unwrap_err();
    assert_eq!(add_error_key(&by_name), ("flood", "budget_period"));
    let by_type = app
        .add(Probe::<Flood>::new("flood", &log))
        .await
        .unwrap_err();
    assert_eq!(add_error_key(&by_type), ("Probe<Flood>", "budget_period"));
    assert!(app.handle("flood").is_err());
    assert!(app.handle("Probe<Flood>").is_err());

    // A child is named by its full name, with or without overrides.
    for overrides in [None, Some(Overrides::new().shutdown_timeout(secs(1)))] {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let parent = Parent {
            log: log.clone(),
            overrides,
            result: Mutex::new(Some(tx)),
        };
        let handle = app.add_named("hub", parent).await.unwrap();
        let added = timeout(secs(60), rx).await.unwrap().unwrap();
        let error = added.unwrap_err();
        assert_eq!(add_error_key(&error), ("hub/kid", "budget_period"));
        assert!(
            error
                .to_string()
                .starts_with("service `hub/kid`: `budget_period` must be longer than zero"),
            "{error}"
        );
        assert!(app.handle("hub/kid").is_err());
        handle.stop().await.unwrap();
    }
    // An override that breaks a rule names the child by its full name too.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let parent = Parent {
        log: log.clone(),
        overrides: Some(Overrides::new().budget_intensity(0)),
        result: Mutex::new(Some(tx)),
    };
    let handle = app.add_named("hub", parent).await.unwrap();
    let error = timeout(secs(60), rx).await.unwrap().unwrap().unwrap_err();
    assert_eq!(add_error_key(&error).0, "hub/kid");
    handle.stop().await.unwrap();

    assert!(log.lines().is_empty(), "{:?}", log.lines());
    app.shutdown().await;
}

#[test]
fn a_group_budget_is_checked_by_the_same_rules_not_clamped() {
    let log = Log::default();
    let build = |intensity: u32, period: Duration| {
        Hassette::builder()
            .group("pipeline", Strategy::OneForAll, |g| {
                g.budget(intensity, period)
                    .service_named("w", Probe::<Perm>::new("w", &log))
            })
            .build()
            .map(drop)
    };
    let zero = build(0, secs(60)).unwrap_err();
    let reason =
        override_error(RestartType::Permanent, Overrides::new().budget_intensity(0)).reason;
    assert_eq!(
        zero.to_string(),
        format!("group `pipeline`: `budget_intensity` {reason}")
    );
    let instant = build(3, Duration::ZERO).unwrap_err();
    let reason = override_error(
        RestartType::Permanent,
        Overrides::new().budget_period(Duration::ZERO),
    )
    .reason;
    assert_eq!(
        instant.to_string(),
        format!("group `pipeline`: `budget_period` {reason}")
    );
    build(1, ms(1)).unwrap();
}

#[test]
fn a_later_configure_replaces_a_bad_earlier_one() {
    let log = Log::default();
    Hassette::builder()
        .service_named("w", Probe::<Trans>::new("w", &log))
        .configure("w", Overrides::new().budget_intensity(0))
        .configure("w", Overrides::new().shutdown_timeout(ms(300)))
        .build()
        .unwrap();
    // and a bad later one is refused whatever came before
    let error = Hassette::builder()
        .service_named("w", Probe::<Trans>::new("w", &log))
        .configure("w", Overrides::new().shutdown_timeout(ms(300)))
        .configure("w", Overrides::new().budget_intensity(0))
        .build()
        .unwrap_err();
    assert_eq!(config_error(error).key, "budget_intensity");
}

#[tokio::test(start_paused = true)]
async fn a_later_configure_replaces_the_earlier_one_entirely() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named("w", Probe::<Perm>::new("w", &log).then("serve", [Act::Err]))
        .configure("w", Overrides::new().backoff_base(ms(100)))
        .configure("w", Overrides::new().shutdown_timeout(ms(300)))
        .build()
        .unwrap();
    let began = Instant::now();
    app.start().await.unwrap();
    timeout(secs(60), app.wait_ready_by_name("w"))
        .await
        .unwrap()
        .unwrap();
    // The declared second, not the replaced 100 ms.
    assert_eq!(began.elapsed(), secs(1));
    assert_eq!(log.count("w:serve"), 2);
    app.shutdown().await;
}

#[test]
fn a_critical_override_is_for_services_and_refused_for_a_resource() {
    let log = Log::default();
    let resource = Hassette::builder()
        .resource(TempProbe::new("r", &log))
        .configure("Probe<Temp>", Overrides::new().critical(false))
        .build()
        .unwrap_err();
    let error = config_error(resource);
    assert_eq!((&*error.service, error.key), ("Probe<Temp>", "critical"));
    assert!(
        error
            .to_string()
            .contains("a resource always holds back readiness"),
        "{error}"
    );
    // Any restart type takes it; the spec then says it was declared.
    for restart in [RestartType::Permanent, RestartType::Temporary] {
        let spec = Overrides::new()
            .critical(false)
            .apply("s", &RestartSpec::new(restart))
            .unwrap();
        assert_eq!(spec.critical, Some(false));
    }
}
