//! Why a unit is not running (`ServiceSnapshot::waiting`), and restart counts that are
//! the unit's own (`restarts`) apart from those along with its parent or group
//! (`collateral_restarts`).

use std::sync::atomic::{AtomicU32, Ordering};

use hassette_runtime::{
    BoxError, Hassette, RestartType, ServiceContext, ServiceSnapshot, Status, Strategy, Waiting,
    service,
};
use hassette_tests::*;
use serde_json::{Value, json};

profile!(Kid, RestartType::Permanent, { backoff_base: secs(1) });

fn snap(app: &Hassette, name: &str) -> ServiceSnapshot {
    let all = app.snapshot();
    let found = all.iter().find(|s| &*s.name == name);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no `{name}` in {all:?}"))
}

/// `waiting` of `name`, in its serde form (as `/status` shows it).
fn waiting_json(app: &Hassette, name: &str) -> Value {
    serde_json::to_value(snap(app, name)).unwrap()["waiting"].clone()
}

#[tokio::test(start_paused = true)]
async fn a_failed_service_waits_for_its_backoff() {
    profile!(Flaky, RestartType::Permanent, { backoff_base: secs(2) });
    let log = Log::default();
    let app = Hassette::builder()
        .service_named(
            "flaky",
            Probe::<Flaky>::new("flaky", &log).then("serve", [Act::Err]),
        )
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let flaky = snap(&app, "flaky");
    assert_eq!(flaky.status, Status::Failed);
    let retry_at = flaky.retry_at.expect("a restart is due");
    assert_eq!(flaky.waiting, Some(Waiting::Backoff { retry_at }));
    tokio::time::advance(ms(500)).await;
    assert_eq!(
        waiting_json(&app, "flaky"),
        json!({"kind": "backoff", "retry_in_secs": 1.5})
    );
    tokio::time::sleep(secs(2)).await;
    let flaky = snap(&app, "flaky");
    assert_eq!((flaky.status, flaky.waiting), (Status::Running, None));
    assert_eq!(waiting_json(&app, "flaky"), Value::Null);
    let _ = app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_transient_service_waits_for_its_cooldown() {
    profile!(Cooler, RestartType::Transient, { cooldown: secs(300) }, boom_non_retryable = true);
    let log = Log::default();
    let app = Hassette::builder()
        .service_named(
            "cooler",
            Probe::<Cooler>::new("cooler", &log).then("serve", [Act::Boom]),
        )
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let cooler = snap(&app, "cooler");
    assert_eq!(cooler.status, Status::ExhaustedCooling);
    let retry_at = cooler.retry_at.expect("the cooldown's end");
    assert_eq!(cooler.waiting, Some(Waiting::Cooldown { retry_at }));
    assert_eq!(
        waiting_json(&app, "cooler"),
        json!({"kind": "cooldown", "retry_in_secs": 300.0})
    );
    let _ = app.shutdown().await;
}

/// Running, never ready.
struct Gate;

#[service(restart = "permanent", ready = "manual")]
impl Gate {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

struct Dependant;

#[service(restart = "permanent", depends_on(Gate), startup_timeout = "1m")]
impl Dependant {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_dependant_waits_for_its_dependency_by_name() {
    let app = Hassette::builder()
        .service(Gate)
        .service(Dependant)
        .build()
        .unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(secs(1)).await;
    let dependant = snap(&app, "Dependant");
    assert_eq!(dependant.status, Status::Starting);
    let gate: std::sync::Arc<str> = "Gate".into();
    assert_eq!(dependant.waiting, Some(Waiting::Dependency { name: gate }));
    assert_eq!(
        waiting_json(&app, "Dependant"),
        json!({"kind": "dependency", "on": "Gate"})
    );
    assert_eq!(
        snap(&app, "Gate").waiting,
        None,
        "running: it waits for nothing"
    );
    // Its startup timeout ends the wait: Failed, it waits for its backoff now.
    tokio::time::sleep(secs(60)).await;
    assert_eq!(snap(&app, "Dependant").status, Status::Failed);
    let waiting = waiting_json(&app, "Dependant");
    assert_eq!(waiting["kind"], "backoff", "{waiting}");
    let _ = app.shutdown().await;
    let _ = starting.await;
}

/// Adds `kid` in its first initialize; its first run fails after 1s, then it runs.
struct Hub {
    log: Log,
    runs: AtomicU32,
}

#[service(restart = "permanent", backoff(base = "1s"))]
impl Hub {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.load(Ordering::SeqCst) == 0 {
            ctx.add_child_named("kid", Probe::<Kid>::new("kid", &self.log))
                .await?;
        }
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            tokio::time::sleep(secs(1)).await;
            return Err(Oops("hub lost its link").into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_waits_for_its_parents_restart_and_counts_it_apart() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Hub {
            log: log.clone(),
            runs: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    settle().await;
    assert_eq!(snap(&app, "Hub/kid").status, Status::Running);
    // The hub fails at 1s and waits 1s for its restart: its child is stopped meanwhile.
    tokio::time::sleep(ms(1_500)).await;
    assert_eq!(snap(&app, "Hub").status, Status::Failed);
    let kid = snap(&app, "Hub/kid");
    assert_eq!(kid.status, Status::Stopped);
    let hub: std::sync::Arc<str> = "Hub".into();
    assert_eq!(kid.waiting, Some(Waiting::Parent { name: hub }));
    assert_eq!(
        waiting_json(&app, "Hub/kid"),
        json!({"kind": "parent", "on": "Hub"})
    );
    tokio::time::sleep(secs(1)).await;
    let kid = snap(&app, "Hub/kid");
    assert_eq!((kid.status, kid.waiting), (Status::Running, None));
    // The hub's restart is its own; the kid's is along with it.
    assert_eq!((kid.restarts, kid.collateral_restarts), (0, 1));
    let hub = snap(&app, "Hub");
    assert_eq!((hub.restarts, hub.collateral_restarts), (1, 0));
    // Every time the kid was stopped, it said what it waited for: the events show it
    // stopped once, for its parent's restart, and started again.
    let kid_events: Vec<String> = drain(&mut events)
        .into_iter()
        .filter(|e| e.starts_with("Hub/kid: "))
        .collect();
    assert_eq!(
        kid_events,
        [
            "Hub/kid: NotStarted -> Starting",
            "Hub/kid: Starting -> Running",
            "Hub/kid: Running -> Stopping",
            "Hub/kid: Stopping -> Stopped",
            "Hub/kid: Stopped -> Starting",
            "Hub/kid: Starting -> Running",
        ]
    );
    // An operator's restart of the kid is its own.
    app.restart_by_name("Hub/kid").await.unwrap();
    let kid = snap(&app, "Hub/kid");
    assert_eq!((kid.restarts, kid.collateral_restarts), (1, 1));
    let report = app.shutdown().await;
    let kid = report.service("Hub/kid").unwrap();
    assert_eq!((kid.restarts, kid.collateral_restarts), (1, 1), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_child_added_during_its_parents_start_waits_for_its_parent() {
    /// Adds `kid` in `on_initialize`, then takes 1s in `after_initialize`.
    struct Slow(Log);
    #[service(restart = "permanent")]
    impl Slow {
        async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            ctx.add_child_named("kid", Probe::<Kid>::new("kid", &self.0))
                .await?;
            Ok(())
        }
        async fn after_initialize(&self) {
            tokio::time::sleep(secs(1)).await;
        }
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            ctx.cancelled().await;
            Ok(())
        }
    }
    let app = Hassette::builder()
        .service(Slow(Log::default()))
        .build()
        .unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(ms(500)).await;
    let kid = snap(&app, "Slow/kid");
    assert_eq!(kid.status, Status::NotStarted);
    assert_eq!(
        waiting_json(&app, "Slow/kid"),
        json!({"kind": "parent", "on": "Slow"})
    );
    starting.await.unwrap().unwrap();
    settle().await;
    assert_eq!(snap(&app, "Slow/kid").waiting, None);
    let _ = app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_member_waits_for_its_group_and_counts_a_restart_for_another_apart() {
    profile!(Member, RestartType::Permanent, { backoff_base: ms(100) });
    let log = Log::default();
    let app = Hassette::builder()
        .group("room", Strategy::OneForAll, |g| {
            // `first` takes 1s to start again, so `second` waits for the group meanwhile.
            g.service_named(
                "first",
                Probe::<Member>::new("first", &log)
                    .then("before_initialize", [Act::Ok, Act::Sleep(secs(1))]),
            )
            .service_named(
                "second",
                Probe::<Member>::new("second", &log).then("serve", [Act::Err]),
            )
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    // second fails at once, waits its 100ms backoff, then the group restarts both.
    tokio::time::sleep(ms(50)).await;
    assert_eq!(
        waiting_json(&app, "second"),
        json!({"kind": "backoff", "retry_in_secs": 0.05})
    );
    tokio::time::sleep(ms(500)).await;
    assert_eq!(snap(&app, "first").status, Status::Starting);
    let room: std::sync::Arc<str> = "room".into();
    assert_eq!(
        snap(&app, "second").waiting,
        Some(Waiting::Group { name: room })
    );
    assert_eq!(
        waiting_json(&app, "second"),
        json!({"kind": "group", "on": "room"})
    );
    tokio::time::sleep(secs(1)).await;
    let (first, second) = (snap(&app, "first"), snap(&app, "second"));
    assert_eq!(
        (first.status, second.status),
        (Status::Running, Status::Running)
    );
    assert_eq!(second.waiting, None);
    assert_eq!((first.restarts, first.collateral_restarts), (0, 1));
    assert_eq!((second.restarts, second.collateral_restarts), (1, 0));
    let _ = app.shutdown().await;
}
