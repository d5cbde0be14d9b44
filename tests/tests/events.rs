//! The event stream: a bounded broadcast whose default capacity grows with the number of
//! services, clamped capacities, and an exact count of what a lagging subscriber missed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;

use hassette_runtime::{
    BoxError, Hassette, Hooks, RestartSpec, RestartType, Service, ServiceContext, Status, service,
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

/// Runs until cancelled.
struct Idle;

#[service(restart = "temporary")]
impl Idle {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn five_thousand_added_services_lose_no_event_with_the_default_capacity() {
    const N: usize = 5_000;
    let app = Hassette::builder().build().unwrap();
    // Subscribed while the app has no service at all (the capacity is the least, 1024),
    // and read only once all of them run.
    let mut events = app.events();
    let mut readiness = app.readiness_events();
    app.start().await.unwrap();
    let mut handles = Vec::with_capacity(N);
    for i in 0..N {
        handles.push(app.add_named(format!("svc-{i}"), Idle).await.unwrap());
    }
    for handle in &handles {
        handle.wait_ready().await.unwrap();
    }
    // A subscriber that arrives now has room for them too.
    let mut late = app.events();
    for handle in &handles[..N / 2] {
        handle.stop().await.unwrap();
    }

    let mut seen = BTreeMap::new();
    loop {
        match events.try_recv() {
            Ok(event) => *seen.entry((event.from, event.to)).or_insert(0) += 1,
            Err(TryRecvError::Empty) => break,
            Err(other) => panic!("the early subscriber lost events: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            ((Status::NotStarted, Status::Starting), N),
            ((Status::Starting, Status::Running), N),
            ((Status::Running, Status::Stopping), N / 2),
            ((Status::Stopping, Status::Stopped), N / 2),
        ])
    );
    let mut ready = 0;
    loop {
        match readiness.try_recv() {
            Ok(event) => ready += usize::from(event.ready),
            Err(TryRecvError::Empty) => break,
            Err(other) => panic!("the readiness subscriber lost events: {other:?}"),
        }
    }
    assert_eq!(ready, N);
    let late = drain_events(&mut late);
    assert_eq!(late.len(), N, "{:?}", late.first());
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn services_that_come_and_go_leave_no_room_behind() {
    const CYCLES: usize = 2_000;
    let app = Hassette::builder().build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    for i in 0..CYCLES {
        let handle = app.add_named(format!("conn-{i}"), Idle).await.unwrap();
        handle.wait_ready().await.unwrap();
        handle.stop().await.unwrap();
    }
    // 4 events each (Starting, Running, Stopping, Stopped), 8 000 in all. Never more than
    // one service was live, so the capacity stayed the least, 1024: a removed service
    // leaves no room behind.
    let missed = 4 * CYCLES as u64 - 1024;
    assert!(
        matches!(events.try_recv(), Err(TryRecvError::Lagged(n)) if n == missed),
        "expected {missed} missed"
    );
    assert_eq!(drain(&mut events).len(), 1024);
    app.shutdown().await;
}

/// Adds `n` idle services from its own `serve`: the stream grows from inside the app.
struct Spawner(usize);

#[service(restart = "temporary")]
impl Spawner {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        for i in 0..self.0 {
            ctx.app().add_named(format!("inner-{i}"), Idle).await?;
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_receive_dropped_half_way_while_the_stream_grows_loses_no_event() {
    const N: usize = 1_500; // past a quarter of 1024 and of 2048: two bigger channels
    let app = Hassette::builder().service(Spawner(N)).build().unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    // A receive that has to wait is dropped half-way (while the services are added),
    // and the next one goes on where it stopped, across each switch of channel.
    let (mut running, mut dropped) = (0, 0);
    while running < N + 1 {
        // polled once: a receive that would wait is dropped there, half-way
        let Some(received) = events.recv().now_or_never() else {
            dropped += 1;
            tokio::task::yield_now().await;
            continue;
        };
        match received {
            Ok(event) => running += usize::from(event.to == Status::Running),
            Err(error) => panic!("a receiver dropped half-way lost events: {error:?}"),
        }
    }
    assert!(dropped > 0, "no receive was dropped half-way");
    assert_eq!(app.snapshot().len(), N + 1);
    assert!(app.shutdown().await.is_success());
}
