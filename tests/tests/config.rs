//! Configuration at run time: `Overrides` through `Builder::configure`,
//! `Hassette::add_named_with` and `ServiceContext::add_child_named_with`.

use std::time::Duration;

use hassette_runtime::{
    AddError, BuildError, ConfigError, Hassette, Overrides, RestartType, Status,
};
use hassette_tests::*;
use tokio::time::Instant;

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
        (Overrides::new().max_children(0), "max_children"),
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
        "service `w`: `backoff_jitter` is 1.5, but it must be from 0.0 (no jitter) to 1.0: \
         each delay d is drawn from [d·(1−jitter), d]"
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
