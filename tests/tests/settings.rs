//! Feature `serde`: `Overrides` read from a settings file (JSON here; the README's recipe
//! and `examples/settings_file.rs` use TOML), with the attribute's keys, lists as tables
//! and its duration grammar; unknown keys refused with "did you mean"; each value checked
//! by the attribute's rule as it is read, the error naming the file's key.

use std::time::Duration;

use hassette_runtime::{BuildError, Hassette, Overrides, RestartSpec, RestartType, parse_duration};
use hassette_tests::*;
use serde_json::json;

profile!(Trans, RestartType::Transient);

fn read(value: serde_json::Value) -> Result<Overrides, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[test]
fn every_key_reads_as_the_attribute_writes_it() {
    let overrides = read(json!({
        "startup_timeout": "10s",
        "shutdown_timeout": "1m30s",
        "stable_after": "2m",
        "backoff": { "base": "250ms", "multiplier": 1.5, "max": "30s", "jitter": 0.2 },
        "budget": { "intensity": 10, "period": "1h" },
        "cooldown": "5m",
        "max_cooldown_cycles": 3,
        "max_children": 100,
        "critical": false,
        "watchdog": "10s",
    }))
    .unwrap();
    let built = Overrides::new()
        .startup_timeout(secs(10))
        .shutdown_timeout(secs(90))
        .stable_after(secs(120))
        .backoff_base(ms(250))
        .backoff_multiplier(1.5)
        .backoff_max(secs(30))
        .backoff_jitter(0.2)
        .budget_intensity(10)
        .budget_period(secs(3600))
        .cooldown(secs(300))
        .max_cooldown_cycles(3)
        .max_children(100)
        .critical(false)
        .watchdog(secs(10));
    assert_eq!(overrides, built);
    // A whole number is a multiplier too; an empty table changes nothing.
    let whole = read(json!({ "backoff": { "multiplier": 2 } })).unwrap();
    assert_eq!(whole, Overrides::new().backoff_multiplier(2.0));
    assert_eq!(read(json!({})).unwrap(), Overrides::new());
    // And it applies as the same overrides do.
    let spec = overrides
        .apply("w", &RestartSpec::new(RestartType::Transient))
        .unwrap();
    assert_eq!(spec.backoff_base, ms(250));
    assert_eq!(spec.budget_period, parse_duration("1h").unwrap());
}

#[test]
fn critical_reads_as_a_bool_and_nothing_else() {
    assert_eq!(
        read(json!({ "critical": true })).unwrap(),
        Overrides::new().critical(true)
    );
    for bad in [json!("false"), json!(0), json!(null)] {
        let error = read(json!({ "critical": bad })).unwrap_err();
        assert!(error.contains("expected a boolean"), "{bad}: {error}");
    }
    let typo = read(json!({ "critcal": false })).unwrap_err();
    assert!(typo.ends_with("did you mean `critical`?"), "{typo}");
}

#[test]
fn a_bad_value_is_refused_as_it_is_read_naming_the_file_s_key() {
    let cases = [
        (
            json!({ "backoff": { "multiplier": 0.5 } }),
            "`backoff.multiplier` is 0.5, less than 1.0, so each delay would be shorter than \
             the last; write `multiplier = 1.0` for a constant delay, or more to grow it",
        ),
        (
            json!({ "budget": { "period": "0s" } }),
            "`budget.period` must be longer than zero; write the window the restarts are \
             counted in, like `period = \"5m\"`",
        ),
        (
            json!({ "budget": { "intensity": 0 } }),
            "`budget.intensity` must be at least 1",
        ),
        (
            json!({ "backoff": { "jitter": 1.5 } }),
            "`backoff.jitter` is 1.5, more than 1.0",
        ),
        (
            json!({ "backoff": { "base": "10s", "max": "1s" } }),
            "`backoff.max` is 1s, less than backoff.base 10s; make `backoff.max` at least as \
             long as `backoff.base`",
        ),
        (
            json!({ "watchdog": "0s" }),
            "`watchdog` must be longer than zero: a watchdog of 0 fails every run; write the \
             longest a run may go without `ctx.heartbeat()`, like `watchdog = \"10s\"`",
        ),
        (
            json!({ "max_children": 0 }),
            "`max_children` must be at least 1: a limit of 0 would refuse every child",
        ),
        (
            json!({ "shutdown_timeout": "5 seconds" }),
            "invalid duration `\"5 seconds\"` for `shutdown_timeout`: it contains a space; \
             write a whole number and a unit",
        ),
        (
            json!({ "backoff": { "base": "1.5s" } }),
            "invalid duration `\"1.5s\"` for `backoff.base`: it has a fraction",
        ),
        (
            json!({ "startup_timeout": 30 }),
            "`startup_timeout` must be a string with a unit; write `\"30s\"` for 30 seconds",
        ),
    ];
    for (value, expected) in cases {
        let error = read(value.clone()).unwrap_err();
        assert!(error.starts_with(expected), "{value}: {error}");
    }
}

#[test]
fn an_unknown_key_is_refused_with_did_you_mean() {
    let cases = [
        (
            json!({ "shutdown_timout": "1s" }),
            "unknown key `shutdown_timout` in a service's settings; did you mean \
             `shutdown_timeout`?",
        ),
        (
            json!({ "backoff": { "jiter": 0.2 } }),
            "unknown key `jiter` in `backoff`; did you mean `jitter`?",
        ),
        (
            json!({ "backoff_base": "1s" }),
            "unknown key `backoff_base` in a service's settings; write it in the table of \
             `backoff`: `backoff = { base = \"2s\" }`",
        ),
        (
            json!({ "restart": "permanent" }),
            "`restart` is not a setting: it is declared with the type, in `#[service(...)]`",
        ),
        (
            json!({ "colour": "red" }),
            "unknown key `colour` in a service's settings; the keys are `startup_timeout`,",
        ),
        (
            json!({ "budget": { "window": "1m" } }),
            "unknown key `window` in `budget`; the keys are `intensity` or `period`",
        ),
    ];
    for (value, expected) in cases {
        let error = read(value.clone()).unwrap_err();
        assert!(error.starts_with(expected), "{value}: {error}");
    }
    // A format that allows a key twice: the second is refused.
    let twice: Result<Overrides, _> =
        serde_json::from_str(r#"{ "cooldown": "1s", "cooldown": "2s" }"#);
    let error = twice.unwrap_err().to_string();
    assert!(error.starts_with("`cooldown` is given twice"), "{error}");
}

/// What needs the declared spec is checked where the overrides meet it: at `build()`,
/// naming the service.
#[test]
fn what_depends_on_the_service_is_checked_at_build() {
    let log = Log::default();
    let build = |value| {
        Hassette::builder()
            .service_named("w", Probe::<Trans>::new("w", &log))
            .service_named("t", TempProbe::new("t", &log))
            .configure("w", read(value).unwrap())
            .build()
            .map(drop)
    };
    // The base alone, above the declared max.
    let error = build(json!({ "backoff": { "base": "2m" } })).unwrap_err();
    let BuildError::Config(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!((&*error.service, error.key), ("w", "backoff_base"));
    build(json!({ "backoff": { "base": "2m", "max": "10m" } })).unwrap();
    // A temporary service has no backoff to set.
    let error = Hassette::builder()
        .service_named("t", TempProbe::new("t", &log))
        .configure("t", read(json!({ "backoff": { "jitter": 0.1 } })).unwrap())
        .build()
        .map(drop)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "service `t`: `backoff_jitter` contradicts `restart = \"temporary\"`: a temporary \
         service is never restarted; leave it out"
    );
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
