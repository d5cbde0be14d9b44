//! Feature `serde`: the JSON of a shutdown report, a snapshot, status and readiness events
//! and every status, field by field, on the paused clock (so every duration is exact).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hassette_runtime::{
    BoxError, EventReceiver, Hassette, Hooks, ReadinessEvent, RestartSpec, RestartType, Service,
    ServiceContext, ServiceReport, ShutdownReport, Status, StatusEvent,
};
use serde_json::{Value, json};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A permanent service with a 2s backoff: its first run fails after one second with
/// "connection refused\nretrying" (a line break, kept whole in the JSON); later runs serve
/// until cancelled. Its shutdown takes 250ms.
#[derive(Default)]
struct Flaky {
    runs: AtomicUsize,
}

impl Hooks for Flaky {
    async fn on_shutdown(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok(())
    }
}

impl Service for Flaky {
    const RESTART_SPEC: RestartSpec = RestartSpec {
        backoff_base: Duration::from_secs(2),
        ..RestartSpec::new(RestartType::Permanent)
    };

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            tokio::time::sleep(secs(1)).await;
            return Err(std::io::Error::other("connection refused\nretrying").into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

/// A temporary service that fails at once: added at run time, it ends exhausted and
/// takes itself out of the app, so it is one of the report's `removed.last_failures`.
struct OneShot;

impl Hooks for OneShot {}

impl Service for OneShot {
    const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);

    async fn serve(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        Err("gone".into())
    }
}

/// The next event for which `pick` is true.
async fn next_where<E: Clone>(events: &mut EventReceiver<E>, pick: impl Fn(&E) -> bool) -> E {
    loop {
        let event = events.recv().await.expect("the event stream ended");
        if pick(&event) {
            return event;
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

#[tokio::test(start_paused = true)]
async fn a_failure_and_a_shutdown_serialize_to_exact_json() {
    let app = Hassette::builder()
        .service(Flaky::default())
        .build()
        .unwrap();
    let mut events = app.events();
    let mut readiness = app.readiness_events();
    app.start().await.unwrap();
    let ready: ReadinessEvent = next_where(&mut readiness, |e| e.ready).await;
    assert_eq!(
        to_json(&ready),
        json!({"service": "Flaky", "ready": true, "reason": null, "age_secs": 0.0})
    );

    let failed: StatusEvent = next_where(&mut events, |e| e.to == Status::Failed).await;
    let expected_event = |age: f64, retry_in: f64| {
        json!({
            "service": "Flaky",
            "from": "running",
            "to": "failed",
            "error": "connection refused\nretrying",
            "age_secs": age,
            "retry_in_secs": retry_in,
        })
    };
    assert_eq!(to_json(&failed), expected_event(0.0, 2.0));
    let not_ready = next_where(&mut readiness, |e| !e.ready).await;
    assert_eq!(
        to_json(&not_ready),
        json!({"service": "Flaky", "ready": false, "reason": "failed", "age_secs": 0.0})
    );

    // Half a second into the backoff: the instants are relative to the serialization.
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(to_json(&failed), expected_event(0.5, 1.5));
    let snapshot = app.snapshot();
    assert_eq!(
        to_json(&snapshot),
        json!([{
            "name": "Flaky",
            "status": "failed",
            "ready": false,
            "restarts": 0,
            "collateral_restarts": 0,
            "last_error": "connection refused\nretrying",
            "finished": false,
            "critical": true,
            "retry_in_secs": 1.5,
            "budget_used": 0,
            "waiting": {"kind": "backoff", "retry_in_secs": 1.5},
            "budget_intensity": 5,
            "uptime_secs": null,
            "parent": null,
            "group": null,
        }])
    );
    // Past the restart time, the wait left is 0, never negative; once restarted, none.
    tokio::time::advance(secs(5)).await;
    assert_eq!(to_json(&failed), expected_event(5.5, 0.0));
    next_where(&mut events, |e| e.to == Status::Running).await;
    let snapshot = to_json(&app.snapshot()[0]);
    assert_eq!(snapshot["status"], "running");
    assert_eq!(snapshot["ready"], true);
    assert_eq!(snapshot["restarts"], 1);
    assert_eq!(snapshot["retry_in_secs"], Value::Null);
    assert_eq!(snapshot["budget_used"], 1);
    // Up at once (auto ready), so its uptime is 0 on the paused clock; then it grows.
    assert_eq!(snapshot["uptime_secs"], 0.0);
    tokio::time::advance(Duration::from_millis(2500)).await;
    assert_eq!(to_json(&app.snapshot()[0])["uptime_secs"], 2.5);

    app.add_named("conn-1", OneShot).await.unwrap();
    next_where(&mut events, |e| e.to == Status::ExhaustedDead).await;
    // Done for good, it takes itself out of the app.
    tokio::time::sleep(secs(1)).await;
    assert!(app.handle("conn-1").is_err());

    let report = app.shutdown().await;
    assert_eq!(
        to_json(&report),
        json!({
            "services": [{
                "name": "Flaky",
                "status": "stopped",
                "errors": [{"what": "serve", "error": "connection refused\nretrying"}],
                "error_count": 1,
                "restarts": 1,
                "collateral_restarts": 0,
                "critical": true,
                "aborted": false,
                "stop_took_secs": 0.25,
            }],
            "took_secs": 0.25,
            "deadline_exceeded": false,
            "reason": "shutdown requested",
            "start_failed": false,
            "removed": {
                "count": 1,
                "failed": 1,
                "restarts": 0,
                "errors": 1,
                "last_failures": [{
                    "name": "conn-1",
                    "status": "exhausted_dead",
                    "errors": [{"what": "serve", "error": "gone"}],
                    "error_count": 1,
                    "restarts": 0,
                    "collateral_restarts": 0,
                    "critical": true,
                    "aborted": false,
                    "stop_took_secs": 0.0,
                }],
            },
            "degraded": false,
        })
    );
    // And it is text a dashboard parses back.
    let text = serde_json::to_string(&report).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        to_json(&report)
    );
}

#[test]
fn every_status_serializes_as_its_snake_case_key() {
    let names: Vec<Value> = Status::ALL.iter().map(to_json).collect();
    assert_eq!(
        names,
        [
            "not_started",
            "starting",
            "running",
            "stopping",
            "stopped",
            "failed",
            "crashed",
            "exhausted_cooling",
            "exhausted_dead",
        ]
    );
    for status in Status::ALL {
        assert_eq!(to_json(&status), status.key());
    }
}

#[test]
fn empty_and_huge_names_serialize_whole_and_escaped() {
    let huge = format!("{}\n\"\u{1b}[2J\u{202e}🦀", "n".repeat(100_000));
    let mut report = ShutdownReport::default();
    report.services.push(ServiceReport::new("".into()));
    report
        .services
        .push(ServiceReport::new(huge.as_str().into()));
    report.took = Duration::from_millis(1_500);
    let value = to_json(&report);
    assert_eq!(value["services"][0]["name"], "");
    assert_eq!(value["services"][0]["status"], "not_started");
    assert_eq!(value["services"][1]["name"], huge.as_str());
    assert_eq!(value["services"][1]["stop_took_secs"], 0.0);
    assert_eq!(value["took_secs"], 1.5);
    assert_eq!(value["reason"], Value::Null);
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        text.contains(r#"\n\"\u001b[2J"#),
        "control characters are escaped"
    );
    assert!(!text.contains('\n') && !text.contains('\u{1b}'));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
}
