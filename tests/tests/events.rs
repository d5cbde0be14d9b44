//! The event stream: a bounded broadcast whose default capacity grows with the number of
//! services, clamped capacities, and an exact count of what a lagging subscriber missed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hassette_runtime::{
    BoxError, Hassette, Hooks, RestartSpec, RestartType, Service, ServiceContext, Status,
};
use hassette_tests::*;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, watch};

/// What the [`FailOnce`] services of one test share.
struct Storm {
    go: watch::Receiver<bool>,
    restarted: AtomicUsize,
    services: usize,
    all_restarted: Notify,
}

/// A permanent service with zero backoff: its first run waits for the storm's signal and
/// fails; its second run counts itself and then runs until cancelled.
struct FailOnce {
    storm: Arc<Storm>,
    runs: AtomicUsize,
}

impl Hooks for FailOnce {}

impl Service for FailOnce {
    const RESTART_SPEC: RestartSpec = RestartSpec {
        backoff_base: Duration::ZERO,
        ..RestartSpec::new(RestartType::Permanent)
    };

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = self.storm.go.clone().wait_for(|go| *go).await;
            return Err(Oops("storm").into());
        }
        if self.storm.restarted.fetch_add(1, Ordering::SeqCst) + 1 == self.storm.services {
            self.storm.all_restarted.notify_one();
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_services_failing_at_once_lose_no_event_with_the_default_capacity() {
    const N: usize = 10_000;
    let (go, signal) = watch::channel(false);
    let storm = Arc::new(Storm {
        go: signal,
        restarted: AtomicUsize::new(0),
        services: N,
        all_restarted: Notify::new(),
    });
    let names: Vec<String> = (0..N).map(|i| format!("svc-{i}")).collect();
    let mut builder = Hassette::builder();
    for name in &names {
        let service = FailOnce {
            storm: Arc::clone(&storm),
            runs: AtomicUsize::new(0),
        };
        builder = builder.service_named(name.clone(), service);
    }
    let app = builder.build().unwrap();
    app.start().await.unwrap();
    for name in &names {
        app.wait_ready_by_name(name).await.unwrap();
    }
    // a subscriber that does not read while all of them fail and restart
    let mut events = app.events();
    go.send_replace(true);
    storm.all_restarted.notified().await;
    let mut seen = BTreeMap::new();
    loop {
        match events.try_recv() {
            Ok(event) => *seen.entry((event.from, event.to)).or_insert(0) += 1,
            Err(TryRecvError::Empty) => break,
            Err(other) => panic!("the subscriber lost events: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            ((Status::Starting, Status::Running), N),
            ((Status::Running, Status::Failed), N),
            ((Status::Failed, Status::Starting), N),
        ])
    );
    let report = app.shutdown().await;
    assert!(report.services.iter().all(|s| s.restarts == 1), "{report}");
}

#[tokio::test(start_paused = true)]
async fn an_event_capacity_of_usize_max_is_clamped_not_a_panic() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Temp>::new("a", &log))
        .event_capacity(usize::MAX)
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    app.wait_ready::<Probe<Temp>>().await.unwrap();
    app.shutdown().await;
    assert_eq!(
        drain(&mut events),
        [
            "Probe<Temp>: NotStarted -> Starting",
            "Probe<Temp>: Starting -> Running",
            "Probe<Temp>: Running -> Stopping",
            "Probe<Temp>: Stopping -> Stopped",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_lagging_subscriber_is_told_exactly_how_many_events_it_missed() {
    let log = Log::default();
    let mut builder = Hassette::builder().event_capacity(4);
    for name in ["a", "b", "c"] {
        builder = builder.service_named(name, Probe::<Temp>::new(name, &log));
    }
    let app = builder.build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    for name in ["a", "b", "c"] {
        app.wait_ready_by_name(name).await.unwrap();
    }
    app.shutdown().await;
    // 12 changes (Starting, Running, Stopping, Stopped for each of 3), 4 kept
    assert!(matches!(events.recv().await, Err(RecvError::Lagged(8))));
    assert_eq!(drain(&mut events).len(), 4, "then the last 4, in order");
    assert!(
        app.snapshot().iter().all(|s| s.status == Status::Stopped),
        "the snapshot has every service's state to resync from"
    );
    // a capacity of zero is one slot, not a panic
    let one = Hassette::builder().event_capacity(0).build().unwrap();
    drop(one.events());
}
