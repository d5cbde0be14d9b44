//! What an operator sees: `retry_at` and the budget in the snapshot and the events, and
//! services that are not critical.

use hassette_runtime::{BoxError, Hassette, RestartType, ServiceContext, Status, service};
use hassette_tests::*;
use tokio::time::Instant;

profile!(Backoff, RestartType::Permanent, { backoff_base: secs(2), budget_intensity: 3 });
profile!(Cools, RestartType::Transient, {
    backoff_base: ms(100),
    budget_intensity: 1,
    cooldown: secs(30)
});

#[tokio::test(start_paused = true)]
async fn the_snapshot_says_when_the_next_restart_comes_and_how_much_budget_is_used() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Backoff>::new("b", &log).then("serve", [Act::Err, Act::Err]))
        .build()
        .unwrap();
    let began = Instant::now();
    app.start().await.unwrap();
    settle().await;
    let snap = &app.snapshot()[0];
    assert_eq!(snap.status, Status::Failed);
    assert_eq!(snap.retry_at, Some(began + secs(2)));
    assert_eq!(snap.budget_used, 1);
    // The second failure: 4s of backoff, two restarts in the window.
    tokio::time::sleep(secs(2)).await;
    settle().await;
    let snap = &app.snapshot()[0];
    assert_eq!(snap.retry_at, Some(began + secs(2 + 4)));
    assert_eq!(snap.budget_used, 2);
    tokio::time::sleep(secs(4)).await;
    settle().await;
    let snap = &app.snapshot()[0];
    assert_eq!(snap.status, Status::Running);
    assert_eq!(snap.retry_at, None);
    // An operator's restart gives a fresh budget.
    app.restart::<Probe<Backoff>>().await.unwrap();
    assert_eq!(app.snapshot()[0].budget_used, 0);
    app.shutdown().await;
}

profile!(EverySecond, RestartType::Permanent, {
    backoff_base: secs(1),
    backoff_max: secs(1),
    budget_intensity: 5,
    budget_period: secs(300)
});

#[tokio::test(start_paused = true)]
async fn the_budget_used_is_counted_live_not_as_of_the_last_failure() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<EverySecond>::new("b", &log).then("serve", [Act::Err; 3]))
        .build()
        .unwrap();
    let began = Instant::now();
    app.start().await.unwrap();
    // Failures at 0, 1 and 2 s, each restarted a second later; then it runs.
    let used_at = |ms: u64| {
        let app = &app;
        async move {
            tokio::time::sleep_until(began + std::time::Duration::from_millis(ms)).await;
            settle().await;
            let snap = &app.snapshot()[0];
            assert_eq!(snap.status, Status::Running, "at {ms} ms");
            snap.budget_used
        }
    };
    assert_eq!(used_at(100_000).await, 3);
    assert_eq!(app.snapshot()[0].restarts, 3);
    // A restart leaves the window one period after its failure.
    assert_eq!(used_at(300_500).await, 2);
    assert_eq!(used_at(301_500).await, 1);
    assert_eq!(used_at(350_000).await, 0);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_cooling_event_says_when_the_cooldown_ends() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Cools>::new("c", &log).always("serve", Act::Err))
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    tokio::time::sleep(ms(150)).await;
    let cooling = drain_events(&mut events)
        .into_iter()
        .find(|e| e.to == Status::ExhaustedCooling)
        .expect("it cools down");
    assert_eq!(cooling.retry_at, Some(cooling.at + secs(30)));
    assert_eq!(app.snapshot()[0].retry_at, cooling.retry_at);
    // Other events carry none.
    app.shutdown().await;
    assert!(
        drain_events(&mut events)
            .iter()
            .all(|e| e.retry_at.is_none())
    );
}

/// A background worker that is never ready: not critical.
struct Sidecar;

#[service(restart = "permanent", ready = "manual", critical = false)]
impl Sidecar {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// The same, critical.
struct Core;

#[service(restart = "permanent", ready = "manual")]
impl Core {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_that_is_not_critical_does_not_hold_back_readiness_but_shows() {
    let app = Hassette::builder()
        .service(Sidecar)
        .service(Core)
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Core>().await.unwrap();
    let snapshot = app.snapshot();
    let sidecar = snapshot.iter().find(|s| &*s.name == "Sidecar").unwrap();
    assert!(!sidecar.critical);
    assert!(!sidecar.ready);
    assert_eq!(sidecar.status, Status::Running);
    assert!(sidecar.counts_as_ready());
    let core = snapshot.iter().find(|s| &*s.name == "Core").unwrap();
    assert!(core.critical);
    // What `/readyz` and systemd's READY=1 ask.
    assert!(snapshot.iter().all(|s| s.counts_as_ready()));
    app.shutdown().await;
}

/// Ready by hand, then not ready for a reason, then ready again.
struct Broker;

#[service(restart = "permanent", ready = "manual")]
impl Broker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.mark_ready();
        tokio::time::sleep(secs(1)).await;
        ctx.mark_not_ready("reconnecting");
        tokio::time::sleep(secs(1)).await;
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_changes_are_events_with_their_reason() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Broker)
        .service(Probe::<Backoff>::new("auto", &log).then("serve", [Act::Err]))
        .build()
        .unwrap();
    let mut readiness = app.readiness_events();
    app.start().await.unwrap();
    tokio::time::sleep(secs(3)).await;
    app.shutdown().await;
    let mut seen = Vec::new();
    while let Ok(event) = readiness.try_recv() {
        seen.push(event.to_string());
    }
    assert_eq!(
        seen,
        [
            "Broker: ready",
            // Ready as its serve began (`ready = "auto"`), then its run failed.
            "Probe<Backoff>: ready",
            "Probe<Backoff>: not ready (failed)",
            "Broker: not ready (reconnecting)",
            "Probe<Backoff>: ready",
            "Broker: ready",
            "Broker: not ready (stopping)",
            "Probe<Backoff>: not ready (stopping)",
        ],
        "{seen:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_failed_event_says_when_the_restart_comes_and_the_backoff_runs_from_the_failure() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(
            Probe::<Backoff>::new("b", &log)
                .then("serve", [Act::Err])
                .then("on_shutdown", [Act::Sleep(secs(1))]),
        )
        .build()
        .unwrap();
    let mut events = app.events();
    let began = Instant::now();
    app.start().await.unwrap();
    settle().await;
    let failed = drain_events(&mut events)
        .into_iter()
        .find(|e| e.to == Status::Failed)
        .expect("it failed");
    assert_eq!(failed.retry_at, Some(failed.at + secs(2)));
    // The clean-up (a one-second on_shutdown) runs inside the two seconds of backoff.
    app.wait_ready::<Probe<Backoff>>().await.unwrap();
    assert_eq!(log.count("b:serve"), 2);
    assert_eq!(Instant::now() - began, secs(2));
    app.shutdown().await;
}

profile!(Quick, RestartType::Permanent, { backoff_base: ms(100) });

#[tokio::test(start_paused = true)]
async fn a_backoff_that_ran_out_during_the_clean_up_leaves_no_retry_at_once_restarted() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(
            Probe::<Quick>::new("q", &log)
                .then("serve", [Act::Err])
                .then("on_shutdown", [Act::Sleep(secs(1))]),
        )
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    settle().await;
    let failed = drain_events(&mut events)
        .into_iter()
        .find(|e| e.to == Status::Failed)
        .expect("it failed");
    assert_eq!(failed.retry_at, Some(failed.at + ms(100)));
    // The one-second clean-up outlasts the 100ms backoff: the restart comes at once.
    app.wait_ready::<Probe<Quick>>().await.unwrap();
    assert_eq!(Instant::now() - failed.at, secs(1));
    let snap = &app.snapshot()[0];
    assert_eq!((snap.status, snap.restarts), (Status::Running, 1));
    assert_eq!(snap.retry_at, None);
    app.shutdown().await;
}
