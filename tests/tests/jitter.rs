//! Backoff jitter on the paused clock, through the public API: each restart's delay is
//! drawn within `[d·(1−j), d]` of its backoff `d`; the Failed event's `retry_at` and the
//! snapshot show the delay actually waited (one draw per restart); services that failed
//! together restart apart; no jitter gives exactly the plain delays; the budget and the
//! cooldown are not jittered.
//!
//! The tests cannot flake: the bounds hold for every draw, and what shows that jitter
//! happens asks so little of 50 draws (not all equal, some cut by more than a quarter
//! and some by less) that chance fails it about once in 10^15 runs.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hassette_runtime::{
    BoxError, Hassette, RestartSpec, RestartType, Service, ServiceContext, Status, StatusEvent,
    service,
};
use hassette_tests::*;
use tokio::time::Instant;

profile!(Half, RestartType::Permanent, {
    backoff_base: secs(1), backoff_max: secs(8), backoff_jitter: 0.5,
    budget_intensity: 100, budget_period: secs(3600)
});
profile!(Full, RestartType::Permanent, { backoff_base: secs(1), backoff_jitter: 1.0 });
profile!(NoJitter, RestartType::Permanent, {
    backoff_base: secs(1), backoff_max: secs(10), backoff_jitter: 0.0,
    budget_intensity: 10, budget_period: secs(300)
});
profile!(Cools, RestartType::Transient, {
    backoff_base: secs(1), backoff_multiplier: 1.0, backoff_jitter: 1.0,
    budget_intensity: 2, budget_period: secs(60), cooldown: secs(100), max_cooldown_cycles: 2
});

fn spec_of<T: Service>() -> RestartSpec {
    T::RESTART_SPEC
}

/// A name for the `i`th of many probes.
fn name(i: usize) -> &'static str {
    Box::leak(format!("s{i}").into_boxed_str())
}

/// One restart: the Failed event, and when the service was Starting again.
struct Restart {
    failed: StatusEvent,
    starting: Instant,
}

impl Restart {
    /// The delay the supervisor chose, as the Failed event shows it.
    fn planned(&self) -> Duration {
        self.failed
            .retry_at
            .expect("a restart's Failed event has retry_at")
            - self.failed.at
    }

    /// The delay waited, measured on the paused clock.
    fn waited(&self) -> Duration {
        self.starting - self.failed.at
    }
}

/// Each service's restarts, in order.
fn restarts(events: Vec<StatusEvent>) -> HashMap<String, Vec<Restart>> {
    let mut failed: HashMap<String, StatusEvent> = HashMap::new();
    let mut out: HashMap<String, Vec<Restart>> = HashMap::new();
    for event in events {
        let service = event.service.to_string();
        match event.to {
            Status::Failed => {
                failed.insert(service, event);
            }
            Status::Starting => {
                if let Some(failed) = failed.remove(&service) {
                    let starting = event.at;
                    out.entry(service)
                        .or_default()
                        .push(Restart { failed, starting });
                }
            }
            _ => {}
        }
    }
    out
}

/// Restart number `attempt` (1-based) of a service with `spec` kept its bounds: the
/// planned and the waited delay within `[d·(1−j), d]`, and the wait is the planned one
/// (the timer wakes on the next millisecond, and `d` is whole milliseconds).
fn assert_within_bounds(spec: &RestartSpec, attempt: u32, restart: &Restart) {
    let d = spec.backoff_delay(attempt);
    let lower = d.mul_f64(1.0 - spec.backoff_jitter);
    let (planned, waited) = (restart.planned(), restart.waited());
    assert!(
        lower <= planned && planned <= d,
        "attempt {attempt}: planned {planned:?} outside [{lower:?}, {d:?}]"
    );
    assert!(
        lower <= waited && waited <= d,
        "attempt {attempt}: waited {waited:?} outside [{lower:?}, {d:?}]"
    );
    assert!(
        waited >= planned && waited - planned < ms(1),
        "attempt {attempt}: waited {waited:?}, but retry_at said {planned:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_delay_is_drawn_within_its_backoff_and_retry_at_is_the_delay_waited() {
    const SERVICES: usize = 5;
    const FAILURES: usize = 10;
    let log = Log::default();
    let mut builder = Hassette::builder().event_capacity(16_384);
    for i in 0..SERVICES {
        let probe = Probe::<Half>::new(name(i), &log).then("serve", [Act::Err; FAILURES]);
        builder = builder.service_named(name(i), probe);
    }
    let app = builder.build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    // The longest possible wait: 1 + 2 + 4 + 8 * 7 seconds.
    tokio::time::sleep(secs(120)).await;
    let by_service = restarts(drain_events(&mut rx));
    let spec = spec_of::<Probe<Half>>();

    let mut ratios = Vec::new();
    let mut planned = BTreeSet::new();
    assert_eq!(by_service.len(), SERVICES);
    for (service, restarts) in &by_service {
        assert_eq!(restarts.len(), FAILURES, "{service}");
        for (attempt, restart) in (1..).zip(restarts) {
            assert_within_bounds(&spec, attempt, restart);
            ratios
                .push(restart.planned().as_secs_f64() / spec.backoff_delay(attempt).as_secs_f64());
            planned.insert(restart.planned());
        }
    }
    // Jitter happens: 50 draws are not all alike, and they spread over [0.5, 1].
    assert!(
        planned.len() >= 25,
        "{} distinct delays of 50",
        planned.len()
    );
    assert!(ratios.iter().any(|&r| r < 0.75), "{ratios:?}");
    assert!(ratios.iter().any(|&r| r > 0.75), "{ratios:?}");
    for i in 0..SERVICES {
        assert_eq!(app.status_by_name(name(i)).unwrap(), Status::Running);
    }
    let report = app.shutdown().await;
    assert!(
        report
            .services
            .iter()
            .all(|s| s.restarts == FAILURES as u64)
    );
}

#[tokio::test(start_paused = true)]
async fn services_that_fail_together_restart_apart() {
    const SERVICES: usize = 50;
    let starts = |jittered: bool| async move {
        let log = Log::default();
        let mut builder = Hassette::builder().event_capacity(16_384);
        for i in 0..SERVICES {
            builder = if jittered {
                builder.service_named(
                    name(i),
                    Probe::<Full>::new(name(i), &log).then("serve", [Act::Err]),
                )
            } else {
                builder.service_named(
                    name(i),
                    Probe::<NoJitter>::new(name(i), &log).then("serve", [Act::Err]),
                )
            };
        }
        let app = builder.build().unwrap();
        let mut rx = app.events();
        let t0 = Instant::now();
        app.start().await.unwrap();
        tokio::time::sleep(secs(2)).await;
        let by_service = restarts(drain_events(&mut rx));
        app.shutdown().await;
        assert_eq!(by_service.len(), SERVICES);
        by_service
            .values()
            .map(|r| {
                assert_eq!(r.len(), 1);
                assert_eq!(r[0].failed.at, t0, "they all fail together");
                r[0].starting - t0
            })
            .collect::<Vec<_>>()
    };
    // Without jitter, all 50 restart in the same instant, one second later.
    let plain = starts(false).await;
    assert!(plain.iter().all(|&d| d == secs(1)), "{plain:?}");
    // With `jitter = 1.0`, anywhere within that second.
    let spread = starts(true).await;
    assert!(spread.iter().all(|&d| d <= secs(1)), "{spread:?}");
    let distinct: BTreeSet<Duration> = spread.iter().copied().collect();
    assert!(
        distinct.len() >= 10,
        "{} distinct restart times of 50",
        distinct.len()
    );
    assert!(spread.iter().any(|&d| d < ms(500)) && spread.iter().any(|&d| d > ms(500)));
}

#[tokio::test(start_paused = true)]
async fn no_jitter_gives_exactly_the_plain_delays() {
    let log = Log::default();
    let probe = Probe::<NoJitter>::new("p", &log).then("serve", [Act::Err; 6]);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(100)).await;
    let by_service = restarts(drain_events(&mut rx));
    let restarts = &by_service["Probe<NoJitter>"];
    let waited: Vec<Duration> = restarts.iter().map(Restart::waited).collect();
    let planned: Vec<Duration> = restarts.iter().map(Restart::planned).collect();
    assert_eq!(waited, [1, 2, 4, 8, 10, 10].map(secs));
    assert_eq!(planned, waited);
    // The default is no jitter.
    assert_eq!(RestartSpec::new(RestartType::Permanent).backoff_jitter, 0.0);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_shows_the_jittered_retry_time_of_the_event() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Half>::new("h", &log).then("serve", [Act::Err, Act::Err]))
        .build()
        .unwrap();
    let mut rx = app.events();
    let spec = spec_of::<Probe<Half>>();
    app.start().await.unwrap();
    for attempt in 1..=2 {
        settle().await;
        let failed = drain_events(&mut rx)
            .into_iter()
            .rfind(|e| e.to == Status::Failed)
            .expect("it failed");
        let retry_at = failed.retry_at.expect("the Failed event says when");
        let d = spec.backoff_delay(attempt);
        assert!(retry_at - failed.at >= d / 2 && retry_at - failed.at <= d);
        let snap = &app.snapshot()[0];
        assert_eq!(snap.status, Status::Failed);
        assert_eq!(snap.retry_at, Some(retry_at));
        // Still waiting just before it, restarted just after.
        if let Some(before) = retry_at.checked_sub(ms(2)).filter(|&t| t > Instant::now()) {
            tokio::time::sleep_until(before).await;
            settle().await;
            assert_eq!(app.snapshot()[0].status, Status::Failed);
        }
        tokio::time::sleep_until(retry_at + ms(1)).await;
    }
    settle().await;
    let snap = &app.snapshot()[0];
    assert_eq!(snap.status, Status::Running);
    assert_eq!(snap.retry_at, None);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_budget_and_the_cooldown_are_not_jittered() {
    let log = Log::default();
    let probe = Probe::<Cools>::new("p", &log).always("serve", Act::Err);
    let app = Hassette::builder().service(probe).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(1000)).await;
    let events = drain_events(&mut rx);
    // 2 restarts allowed, the third failure exhausts: as without jitter.
    let exhausted: Vec<&StatusEvent> = events
        .iter()
        .filter(|e| matches!(e.to, Status::ExhaustedCooling | Status::ExhaustedDead))
        .collect();
    let marks: Vec<Status> = exhausted.iter().map(|e| e.to).collect();
    assert_eq!(
        marks,
        [
            Status::ExhaustedCooling,
            Status::ExhaustedCooling,
            Status::ExhaustedDead
        ]
    );
    for cooling in &exhausted[..2] {
        // The cooldown is exact, and the restart after it is at once.
        assert_eq!(cooling.retry_at, Some(cooling.at + secs(100)));
        let next = events
            .iter()
            .find(|e| e.from == Status::ExhaustedCooling && e.at >= cooling.at)
            .unwrap();
        assert_eq!(
            (next.to, next.at),
            (Status::Starting, cooling.at + secs(100))
        );
    }
    let failures_before_first = events
        .iter()
        .take_while(|e| e.to != Status::ExhaustedCooling)
        .filter(|e| e.to == Status::Failed)
        .count();
    assert_eq!(failures_before_first, 3);
    assert_eq!(log.count("p:serve"), 9);
    // The backoffs within each budget were jittered and kept their bounds.
    let spec = spec_of::<Probe<Cools>>();
    for restart in restarts(events).values().flatten() {
        if restart.failed.retry_at.is_some() {
            assert!(restart.planned() <= spec.backoff_base);
        }
    }
    app.shutdown().await;
}

/// Fails its first `fail_first` runs.
struct Flaky {
    runs: AtomicU32,
    fail_first: u32,
}

#[service(
    restart = "permanent",
    backoff(base = "1s", max = "8s", jitter = 0.5),
    budget(intensity = 100, period = "1h")
)]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.fetch_add(1, Ordering::Relaxed) < self.fail_first {
            return Err("flaky".into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_attribute_s_jitter_reaches_the_supervisor() {
    let spec = spec_of::<Flaky>();
    assert_eq!(spec.backoff_jitter, 0.5);
    assert_eq!(
        spec,
        RestartSpec {
            backoff_base: secs(1),
            backoff_max: secs(8),
            backoff_jitter: 0.5,
            budget_intensity: 100,
            budget_period: secs(3600),
            ..RestartSpec::new(RestartType::Permanent)
        }
    );
    let flaky = Flaky {
        runs: AtomicU32::new(0),
        fail_first: 6,
    };
    let app = Hassette::builder().service(flaky).build().unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(60)).await;
    let by_service = restarts(drain_events(&mut rx));
    let restarts = &by_service["Flaky"];
    assert_eq!(restarts.len(), 6);
    for (attempt, restart) in (1..).zip(restarts) {
        assert_within_bounds(&spec, attempt, restart);
    }
    assert_eq!(app.status::<Flaky>().unwrap(), Status::Running);
    app.shutdown().await;
}
