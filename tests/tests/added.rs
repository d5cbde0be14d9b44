//! Services added and removed while the app runs: `Hassette::add`, `add_named`, `handle`,
//! `remove` and `ServiceHandle`.

use hassette_runtime::{
    AddError, Hassette, LookupError, RemoveError, RestartError, RestartType, Status,
};
use hassette_tests::*;

profile!(Perm, RestartType::Permanent, { backoff_base: secs(1) });
profile!(Trans, RestartType::Transient);
profile!(NeedsTemp, RestartType::Temporary, depends_on = [Probe<Temp>]);
profile!(NeedsTrans, RestartType::Temporary, depends_on = [Probe<Trans>]);
profile!(NeedsNobody, RestartType::Temporary, depends_on = [Probe<Nobody>]);
profile!(Nobody, RestartType::Temporary);

async fn started(builder: hassette_runtime::Builder) -> Hassette {
    let app = builder.build().unwrap();
    app.start().await.unwrap();
    app
}

#[tokio::test(start_paused = true)]
async fn an_added_service_runs_its_lifecycle_and_is_in_every_view() {
    let log = Log::default();
    let app = started(Hassette::builder().service(TempProbe::new("static", &log))).await;
    let mut events = app.events();
    let conn = app
        .add_named("conn-1", Probe::<Perm>::new("conn", &log))
        .await
        .unwrap();
    assert_eq!(&**conn.name(), "conn-1");
    conn.wait_ready().await.unwrap();
    assert_eq!(conn.status(), Status::Running);
    assert_eq!(app.status_by_name("conn-1").unwrap(), Status::Running);
    let names: Vec<String> = app.snapshot().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["Probe<Temp>", "conn-1"]);
    assert_eq!(app.statuses().len(), 2);
    assert_eq!(&**app.handle("conn-1").unwrap().name(), "conn-1");

    let report = conn.stop().await.unwrap();
    assert_eq!(report.status, Status::Stopped);
    assert_eq!(
        log.of("conn"),
        [
            "before_initialize",
            "on_initialize",
            "status-in-after_initialize:starting",
            "after_initialize",
            "serve",
            "before_shutdown",
            "serve:end",
            "on_shutdown",
            "after_shutdown",
        ]
    );
    assert_eq!(
        drain(&mut events),
        [
            "conn-1: NotStarted -> Starting",
            "conn-1: Starting -> Running",
            "conn-1: Running -> Stopping",
            "conn-1: Stopping -> Stopped",
        ]
    );
    // Gone from every view, and the name is free again.
    assert!(matches!(
        app.status_by_name("conn-1"),
        Err(LookupError::UnknownName { .. })
    ));
    assert_eq!(app.snapshot().len(), 1);
    app.add_named("conn-1", Probe::<Perm>::new("conn", &log))
        .await
        .unwrap();
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 1);
    assert_eq!(report.services.len(), 2);
    assert_eq!(report.service("conn-1").unwrap().status, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn the_value_of_a_named_instance_is_reached_through_its_handle() {
    let log = Log::default();
    let app =
        started(Hassette::builder().service_named("worker-1", TempProbe::new("w", &log))).await;
    let handle = app.handle("worker-1").unwrap();
    assert!(handle.service::<TempProbe>().is_some());
    assert!(handle.service::<Probe<Perm>>().is_none());
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn bad_additions_are_typed_errors() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(TempProbe::new("static", &log))
        .service_named("taken", Probe::<Perm>::new("t", &log))
        .build()
        .unwrap();
    assert!(matches!(
        app.add_named("early", Probe::<Perm>::new("e", &log)).await,
        Err(AddError::NotStarted { .. })
    ));
    app.start().await.unwrap();
    let error = app
        .add_named("taken", Probe::<Perm>::new("t", &log))
        .await
        .unwrap_err();
    assert!(matches!(error, AddError::NameTaken { ref name } if &**name == "taken"));
    // The static one instance of `TempProbe` is taken by type; by name it may be added.
    assert!(matches!(
        app.add(TempProbe::new("again", &log)).await,
        Err(AddError::TypeTaken { .. })
    ));
    app.add_named("temp-2", TempProbe::new("again", &log))
        .await
        .unwrap();
    app.add(Probe::<Trans>::new("one", &log)).await.unwrap();
    assert!(matches!(
        app.add(Probe::<Trans>::new("two", &log)).await,
        Err(AddError::TypeTaken { .. })
    ));
    let error = app
        .add_named("orphan", Probe::<NeedsNobody>::new("o", &log))
        .await
        .unwrap_err();
    assert!(
        matches!(error, AddError::Dependency { .. }),
        "{error}: {error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("cannot add `orphan`: its dependency")
    );
    // A failed addition leaves nothing behind.
    assert!(app.handle("orphan").is_err());

    let stopping = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    while !app.is_shutting_down() {
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        app.add_named("late", Probe::<Perm>::new("l", &log)).await,
        Err(AddError::ShuttingDown { .. })
    ));
    stopping.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn bad_removals_are_typed_errors() {
    let log = Log::default();
    let app = started(Hassette::builder().service(TempProbe::new("static", &log))).await;
    assert!(matches!(
        app.remove("nobody").await,
        Err(RemoveError::Lookup(LookupError::UnknownName { .. }))
    ));
    assert!(matches!(
        app.remove("Probe<Temp>").await,
        Err(RemoveError::Static { .. })
    ));
    let trans = app.add(Probe::<Trans>::new("trans", &log)).await.unwrap();
    let user = app
        .add_named("user", Probe::<NeedsTrans>::new("user", &log))
        .await
        .unwrap();
    let error = trans.stop().await.unwrap_err();
    assert_eq!(
        error,
        RemoveError::Dependants {
            service: trans.name().clone(),
            dependants: "user".into()
        }
    );
    assert_eq!(trans.status(), Status::Running);
    // Once its dependant is gone, it goes too.
    user.stop().await.unwrap();
    trans.stop().await.unwrap();
    // A second stop of a removed service returns its final report again.
    assert_eq!(trans.stop().await.unwrap().status, Status::Stopped);
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, 2);
}

#[tokio::test(start_paused = true)]
async fn an_added_service_waits_for_its_static_dependency_and_stops_before_it() {
    let log = Log::default();
    let app = started(Hassette::builder().service(TempProbe::new("db", &log))).await;
    app.add_named("api", Probe::<NeedsTemp>::new("api", &log))
        .await
        .unwrap();
    app.wait_ready_by_name("api").await.unwrap();
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    let lines = log.lines();
    let pos = |l: &str| lines.iter().position(|x| x == l).unwrap();
    assert!(pos("db:serve") < pos("api:before_initialize"));
    assert!(pos("api:after_shutdown") < pos("db:before_shutdown"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_start_is_an_error_and_the_service_stays_supervised() {
    let log = Log::default();
    let app = started(Hassette::builder()).await;
    let error = app
        .add_named(
            "flaky",
            Probe::<Perm>::new("flaky", &log).then("on_initialize", [Act::Err]),
        )
        .await
        .unwrap_err();
    let AddError::Start(start) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(&*start.service, "flaky");
    assert!(
        error
            .to_string()
            .starts_with("added `flaky`, but `on_initialize` failed")
    );
    assert_eq!(app.status_by_name("flaky").unwrap(), Status::Failed);
    // Its policy restarts it after the backoff.
    app.wait_ready_by_name("flaky").await.unwrap();
    assert_eq!(app.handle("flaky").unwrap().status(), Status::Running);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_temporary_added_service_is_removed_once_it_has_ended() {
    let log = Log::default();
    let app = started(Hassette::builder()).await;
    let job = app
        .add_named(
            "job",
            TempProbe::new("job", &log).then("serve", [Act::Return]),
        )
        .await
        .unwrap();
    let failing = app
        .add_named(
            "bad-job",
            TempProbe::new("bad", &log).then("serve", [Act::Err]),
        )
        .await
        .unwrap();
    settle().await;
    assert!(app.handle("job").is_err());
    assert!(app.handle("bad-job").is_err());
    assert_eq!(job.status(), Status::Stopped);
    assert_eq!(failing.status(), Status::ExhaustedDead);
    let report = app.shutdown().await;
    // A removed failure is counted, and does not fail the app.
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 2);
    assert_eq!(report.removed.failed, 1);
    assert_eq!(&*report.removed.last_failures[0].name, "bad-job");
    assert!(
        report
            .to_string()
            .contains("removed while running: 2 (1 failed")
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_and_dropped_stops_remove_once() {
    let log = Log::default();
    let app = started(Hassette::builder()).await;
    let slow = app
        .add_named(
            "slow",
            Probe::<Perm>::new("slow", &log).then("on_shutdown", [Act::Sleep(secs(2))]),
        )
        .await
        .unwrap();
    // A stop dropped half-way still removes it.
    assert!(tokio::time::timeout(ms(500), slow.stop()).await.is_err());
    let (a, b) = tokio::join!(slow.stop(), app.remove("slow"));
    assert_eq!(a.unwrap().status, Status::Stopped);
    assert_eq!(b.unwrap().status, Status::Stopped);
    assert_eq!(log.count("slow:on_shutdown"), 1);
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, 1);
}

/// A job that removes itself from inside its own `serve`.
struct SelfRemoving;

#[hassette_runtime::service(restart = "permanent")]
impl SelfRemoving {
    async fn serve(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        // Cannot wait for its own stop: the report as of the request.
        let report = ctx.app().remove("self-removing").await?;
        assert_eq!(report.status, Status::Running);
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_that_removes_itself_does_not_wait_for_itself() {
    let app = started(Hassette::builder()).await;
    let handle = app.add_named("self-removing", SelfRemoving).await.unwrap();
    let report = tokio::time::timeout(secs(5), handle.stop())
        .await
        .expect("no self-deadlock")
        .unwrap();
    assert_eq!(report.status, Status::Stopped);
    assert!(!report.aborted);
    assert!(app.handle("self-removing").is_err());
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_removal_racing_a_restart_or_the_shutdown_ends_cleanly() {
    let log = Log::default();
    let app = started(Hassette::builder()).await;
    let a = app
        .add_named("a", Probe::<Perm>::new("a", &log))
        .await
        .unwrap();
    let (restarted, removed) = tokio::join!(a.restart(), a.stop());
    // The restart either ran first or was cut short by the stop; never a hang or a panic.
    assert!(
        matches!(restarted, Ok(()) | Err(RestartError::Removed { .. })),
        "{restarted:?}"
    );
    assert_eq!(removed.unwrap().status, Status::Stopped);
    assert!(app.handle("a").is_err());

    let b = app
        .add_named(
            "b",
            Probe::<Perm>::new("b", &log).then("on_shutdown", [Act::Sleep(secs(1))]),
        )
        .await
        .unwrap();
    let (removed, report) = tokio::join!(b.stop(), app.shutdown());
    assert_eq!(removed.unwrap().status, Status::Stopped);
    assert!(report.is_success(), "{report}");
    assert_eq!(log.count("b:on_shutdown"), 1);
    // Counted once: as removed (the removal began first) and not also as live.
    assert_eq!(report.removed.count + report.services.len() as u64, 2);
    assert_eq!(report.removed.count, 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_added_service_fails_alone() {
    let log = Log::default();
    let app = started(Hassette::builder().service(TempProbe::new("static", &log))).await;
    let bad = app
        .add_named(
            "bad",
            Probe::<Trans>::new("bad", &log).always("serve", Act::Panic),
        )
        .await
        .unwrap();
    settle().await;
    assert_eq!(app.status::<TempProbe>().unwrap(), Status::Running);
    assert_ne!(bad.status(), Status::Running);
    let report = bad.stop().await.unwrap();
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.to_string().contains("kaboom"))
    );
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_thousand_add_and_remove_cycles_leave_nothing_behind() {
    let log = Log::default();
    let app = started(Hassette::builder().service(TempProbe::new("static", &log))).await;
    for round in 0..1000 {
        let name = format!("conn-{}", round % 3);
        let conn = app
            .add_named(name, Probe::<Perm>::new("c", &log))
            .await
            .unwrap();
        conn.stop().await.unwrap();
    }
    assert_eq!(app.snapshot().len(), 1);
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, 1000);
    assert_eq!(report.removed.failed, 0);
    assert_eq!(report.services.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_removal_after_the_shutdown_stopped_the_service_returns_at_once() {
    let log = Log::default();
    let app = started(
        Hassette::builder()
            .service(Probe::<Perm>::new("static", &log).then("on_shutdown", [Act::Sleep(secs(1))])),
    )
    .await;
    let conn = app
        .add_named("conn", TempProbe::new("conn", &log))
        .await
        .unwrap();
    let stopping = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    // The added service stops first; the static one takes a second more.
    while conn.status() != Status::Stopped {
        tokio::task::yield_now().await;
    }
    settle().await;
    let report = tokio::time::timeout(ms(1), conn.stop())
        .await
        .expect("no supervisor is left to wait for")
        .unwrap();
    assert_eq!(report.status, Status::Stopped);
    let report = stopping.await.unwrap();
    assert_eq!(report.removed.count, 1);
    assert!(report.service("conn").is_none());
}

#[tokio::test(start_paused = true)]
async fn an_add_dropped_half_way_still_adds_and_two_at_once_add_one() {
    let log = Log::default();
    let app = started(Hassette::builder()).await;
    // Dropped while its first initialize (a slow on_initialize) runs.
    let slow = Probe::<Perm>::new("slow", &log).then("on_initialize", [Act::Sleep(secs(1))]);
    assert!(
        tokio::time::timeout(ms(10), app.add_named("slow", slow))
            .await
            .is_err()
    );
    app.wait_ready_by_name("slow").await.unwrap();
    assert_eq!(log.count("slow:on_initialize"), 1);

    let (a, b) = tokio::join!(
        app.add_named("twin", Probe::<Perm>::new("a", &log)),
        app.add_named("twin", Probe::<Perm>::new("b", &log)),
    );
    let taken = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(AddError::NameTaken { .. })))
        .count();
    assert_eq!((a.is_ok() || b.is_ok(), taken), (true, 1));
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.services.len(), 2);
}

/// Depends on [`Host`], which adds it from its own `on_initialize`.
struct Dependent;

#[hassette_runtime::service(restart = "permanent", depends_on(Host))]
impl Dependent {
    async fn serve(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// What an `add` awaited inside a service returned, and how long it took.
type Added = std::sync::Mutex<Option<(Result<String, AddError>, std::time::Duration)>>;

/// Awaits `add` of its dependant in `on_initialize`: a wait-for cycle (it waits for the
/// dependant's start, which waits for it to be ready).
#[derive(Default)]
struct Host {
    added: Added,
}

#[hassette_runtime::service(restart = "permanent")]
impl Host {
    async fn on_initialize(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        let t0 = tokio::time::Instant::now();
        let added = ctx.app().add(Dependent).await;
        let added = added.map(|handle| handle.name().to_string());
        *self.added.lock().unwrap() = Some((added, t0.elapsed()));
        Ok(())
    }

    async fn serve(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_add_awaited_in_on_initialize_of_a_dependant_is_a_wait_cycle_at_once() {
    let app = Hassette::builder()
        .service(Host::default())
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    // Not held up to the startup timeout (30s) by the cycle.
    tokio::time::timeout(secs(3600), app.start())
        .await
        .expect("no hang")
        .unwrap();
    assert_eq!(t0.elapsed(), secs(0));
    let host = app.handle("Host").unwrap().service::<Host>().unwrap();
    let (added, took) = host.added.lock().unwrap().take().expect("add returned");
    assert_eq!(took, secs(0), "add returned at once");
    let error = added.unwrap_err();
    assert!(matches!(error, AddError::WaitCycle { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("`Host` waits for `Dependent` while `Dependent` waits for `Host`"),
        "{text}"
    );
    assert!(
        text.contains("wait cycle Host -> Dependent -> Host"),
        "{text}"
    );
    // The dependant stays registered, and starts once the host is ready: no failure.
    app.wait_ready_by_name("Dependent").await.unwrap();
    assert_eq!(t0.elapsed(), secs(0));
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    let dependent = report.service("Dependent").unwrap();
    assert_eq!(
        (dependent.restarts, dependent.error_count),
        (0, 0),
        "{report}"
    );
    assert_eq!(report.service("Host").unwrap().error_count, 0, "{report}");
}

/// Waits for `Starter` to be ready from its `on_initialize` (after `delay`), and keeps
/// what the wait returned.
struct Waiter {
    delay: std::time::Duration,
    waited: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

#[hassette_runtime::service(restart = "permanent", backoff(base = "1s"))]
impl Waiter {
    async fn on_initialize(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        tokio::time::sleep(self.delay).await;
        let waited = ctx.wait_ready_by_name("Starter").await;
        let text = waited
            .as_ref()
            .map_or_else(ToString::to_string, |()| "ok".into());
        self.waited.lock().unwrap().get_or_insert(text);
        Ok(waited?)
    }

    async fn serve(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// `ready = "manual"`: adds a [`Waiter`] from `serve` before it says it is ready, under
/// `limit` (`None`: awaited to the end), keeps what `add` returned, then is ready 20ms
/// later.
struct Starter {
    limit: Option<std::time::Duration>,
    waiter: std::sync::Mutex<Option<Waiter>>,
    added: Added,
}

#[hassette_runtime::service(restart = "permanent", ready = "manual")]
impl Starter {
    async fn serve(
        &self,
        ctx: &hassette_runtime::ServiceContext,
    ) -> Result<(), hassette_runtime::BoxError> {
        let waiter = self.waiter.lock().unwrap().take();
        if let Some(waiter) = waiter {
            let t0 = tokio::time::Instant::now();
            let app = ctx.app();
            let add = app.add_named("waiter", waiter);
            let added = match self.limit {
                Some(limit) => match tokio::time::timeout(limit, add).await {
                    Ok(added) => added.map(|h| h.name().to_string()),
                    Err(_) => Ok("dropped".to_owned()),
                },
                None => add.await.map(|h| h.name().to_string()),
            };
            *self.added.lock().unwrap() = Some((added, t0.elapsed()));
        }
        tokio::time::sleep(ms(20)).await;
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

/// An app with a [`Starter`] adding a [`Waiter`]; what the waiter's wait returned.
async fn starter(
    limit: Option<std::time::Duration>,
    delay: std::time::Duration,
) -> (Hassette, std::sync::Arc<std::sync::Mutex<Option<String>>>) {
    let waited = std::sync::Arc::default();
    let waiter = Waiter {
        delay,
        waited: std::sync::Arc::clone(&waited),
    };
    let starter = Starter {
        limit,
        waiter: std::sync::Mutex::new(Some(waiter)),
        added: Added::default(),
    };
    let app = started(Hassette::builder().service(starter)).await;
    app.wait_ready_by_name("Starter").await.unwrap();
    (app, waited)
}

fn added_by_starter(app: &Hassette) -> (Result<String, AddError>, std::time::Duration) {
    let starter = app.handle("Starter").unwrap().service::<Starter>().unwrap();
    let added = starter.added.lock().unwrap().take();
    added.expect("add returned")
}

#[tokio::test(start_paused = true)]
async fn an_add_whose_start_waits_for_the_caller_in_a_hook_returns_the_cycle_at_once() {
    let (app, waited) = starter(None, secs(0)).await;
    let (added, took) = added_by_starter(&app);
    assert_eq!(took, secs(0), "add returned at once");
    let error = added.unwrap_err();
    assert!(matches!(error, AddError::Start(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("wait cycle waiter -> Starter -> waiter"),
        "{error}"
    );
    let waited = waited.lock().unwrap().clone().unwrap();
    assert!(waited.contains("wait cycle"), "{waited}");
    // Its policy starts it again after its backoff, once the starter is ready.
    app.wait_ready_by_name("waiter").await.unwrap();
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn an_add_dropped_half_way_leaves_no_wait_behind() {
    // The add is dropped at 1ms; the waiter waits for the starter from 10ms on: had the
    // dropped add left its wait in the graph, that wait would be a cycle.
    let (app, waited) = starter(Some(ms(1)), ms(10)).await;
    let (added, took) = added_by_starter(&app);
    assert_eq!(added.unwrap(), "dropped");
    assert_eq!(took, ms(1));
    app.wait_ready_by_name("waiter").await.unwrap();
    assert_eq!(waited.lock().unwrap().as_deref(), Some("ok"));
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.service("waiter").unwrap().error_count, 0, "{report}");
}
