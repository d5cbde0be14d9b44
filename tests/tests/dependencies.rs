//! Dependency waves, build-time checks, readiness waits and wait-for cycles.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hassette_runtime::{
    BoxError, BuildError, Hassette, Hooks, LookupError, ReadyMode, RestartSpec, RestartType,
    Service, ServiceContext, StartFailure, Status, WaitError,
};
use hassette_tests::*;

profile!(A, RestartType::Temporary);
profile!(B, RestartType::Temporary, depends_on = [Probe<A>]);
profile!(C, RestartType::Temporary, depends_on = [Probe<B>, Probe<A>]);
profile!(Loop1, RestartType::Temporary, depends_on = [Probe<Loop2>]);
profile!(Loop2, RestartType::Temporary, depends_on = [Probe<Loop3>]);
profile!(Loop3, RestartType::Temporary, depends_on = [Probe<Loop1>]);
profile!(Lazy, RestartType::Temporary, { ready: ReadyMode::Manual });
profile!(NeedsLazy, RestartType::Temporary, { startup_timeout: secs(7) }, depends_on = [Probe<Lazy>]);

#[tokio::test(start_paused = true)]
async fn services_start_in_dependency_waves_and_stop_in_reverse() {
    let log = Log::default();
    // registered in reverse on purpose: the order comes from depends_on
    let app = Hassette::builder()
        .service(Probe::<C>::new("c", &log))
        .service(Probe::<B>::new("b", &log))
        .service(Probe::<A>::new("a", &log))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Probe<C>>().await.unwrap();
    let starts: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.ends_with(":serve"))
        .collect();
    assert_eq!(starts, ["a:serve", "b:serve", "c:serve"]);
    let pos = |l: &str| log.lines().iter().position(|x| x == l).unwrap();
    assert!(
        pos("a:serve") < pos("b:before_initialize"),
        "b begins only once a runs"
    );
    app.shutdown().await;
    let stops: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.ends_with(":after_shutdown"))
        .collect();
    assert_eq!(
        stops,
        ["c:after_shutdown", "b:after_shutdown", "a:after_shutdown"]
    );
    assert!(
        pos("b:after_shutdown") < pos("a:before_shutdown"),
        "a stops only once b has stopped"
    );
}

#[test]
fn a_dependency_cycle_is_rejected_and_named() {
    let log = Log::default();
    let error = Hassette::builder()
        .service(Probe::<Loop1>::new("1", &log))
        .service(Probe::<Loop2>::new("2", &log))
        .service(Probe::<Loop3>::new("3", &log))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "dependency cycle: Probe<Loop1> -> Probe<Loop2> -> Probe<Loop3> -> Probe<Loop1>; remove one `depends_on` of the cycle"
    );
}

#[test]
fn unknown_duplicate_and_named_registrations_are_rejected() {
    let log = Log::default();
    let unknown = Hassette::builder()
        .service(Probe::<B>::new("b", &log))
        .build()
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        format!(
            "service `Probe<B>` depends on `{}`, which is not registered; register it with `Builder::service` or `Builder::resource`",
            std::any::type_name::<Probe<A>>()
        )
    );
    let twice = Hassette::builder()
        .service(Probe::<A>::new("a", &log))
        .service(Probe::<A>::new("a", &log))
        .build()
        .unwrap_err();
    assert!(matches!(twice, BuildError::DuplicateType { .. }), "{twice}");
    let same_name = Hassette::builder()
        .service_named("x", Probe::<A>::new("a", &log))
        .service_named("x", Probe::<A>::new("a", &log))
        .build()
        .unwrap_err();
    assert_eq!(
        same_name.to_string(),
        "two services are named `x`; each name must be unique"
    );
    let named_dep = Hassette::builder()
        .service_named("a1", Probe::<A>::new("a", &log))
        .service(Probe::<B>::new("b", &log))
        .build()
        .unwrap_err();
    assert!(
        matches!(named_dep, BuildError::NamedDependency { .. }),
        "{named_dep}"
    );
}

#[tokio::test(start_paused = true)]
async fn instances_registered_by_name_are_found_by_name_only() {
    let log = Log::default();
    let app = Hassette::builder()
        .service_named("w1", Probe::<A>::new("w1", &log))
        .service_named("w2", Probe::<A>::new("w2", &log))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready_by_name("w2").await.unwrap();
    assert_eq!(app.status_by_name("w1").unwrap(), Status::Running);
    let typed = app.status::<Probe<A>>().unwrap_err();
    assert!(matches!(typed, LookupError::RegisteredByName { .. }));
    assert!(
        typed
            .to_string()
            .contains("look it up with `status_by_name`"),
        "{typed}"
    );
    assert_eq!(
        app.status_by_name("w3").unwrap_err().to_string(),
        "no service is named `w3`"
    );
    app.restart_by_name("w1").await.unwrap();
    assert_eq!(log.count("w1:on_initialize"), 2);
    assert_eq!(log.count("w2:on_initialize"), 1);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_dependency_not_ready_within_the_dependants_startup_timeout_fails_it() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<Lazy>::new("lazy", &log))
        .service(Probe::<NeedsLazy>::new("needy", &log))
        .build()
        .unwrap();
    let began = tokio::time::Instant::now();
    let error = app.start().await.unwrap_err();
    assert_eq!(began.elapsed(), secs(7));
    assert_eq!(
        error.to_string(),
        "service `Probe<NeedsLazy>` did not start: dependency `Probe<Lazy>` is running but not \
         ready: it has `ready = \"manual\"` and never called `ctx.mark_ready()` within 7s (or \
         withdrew it with `ctx.mark_not_ready`); call it once the service can serve, or raise \
         `startup_timeout`"
    );
    assert_eq!(
        app.status::<Probe<NeedsLazy>>().unwrap(),
        Status::ExhaustedDead
    );
    assert_eq!(log.count("needy:before_initialize"), 0);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_crashed_dependency_ends_the_wait_at_once() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<A>::new("a", &log).then("on_initialize", [Act::Fatal]))
        .service(Probe::<B>::new("b", &log))
        .build()
        .unwrap();
    let began = tokio::time::Instant::now();
    let _ = app.start().await;
    assert_eq!(began.elapsed(), secs(0));
    assert_eq!(log.count("b:before_initialize"), 0);
    let report = app.shutdown().await;
    assert_eq!(report.services[0].status, Status::Crashed);
    assert_ne!(report.services[1].status, Status::Running);
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_waiting_for_a_dependency_interrupts_the_wait() {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Probe::<A>::new("a", &log).then("before_initialize", [Act::Sleep(secs(10))]))
        .service(Probe::<B>::new("b", &log))
        .build()
        .unwrap();
    let start = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(secs(1)).await;
    let report = app.shutdown().await;
    let error = start.await.unwrap().unwrap_err();
    // both were cut short: `a` in its hook, `b` waiting for `a`
    assert_eq!(&*error.service, "Probe<A>");
    assert!(matches!(error.failure, StartFailure::Interrupted));
    assert_eq!(report.services[1].status, Status::Stopped);
    assert!(
        log.of("b").is_empty(),
        "no hook of b ran: {:?}",
        log.of("b")
    );
    // a's slow hook was allowed to finish, then a stopped normally
    assert_eq!(log.count("a:after_shutdown"), 1);
}

/// Waits in `on_initialize` for the service named `other` (a wait-for cycle when the
/// other does the same).
struct Waiter {
    other: &'static str,
    outcome: Arc<std::sync::Mutex<Option<Result<(), WaitError>>>>,
}

impl Hooks for Waiter {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let result = ctx.wait_ready_by_name(self.other).await;
        *self.outcome.lock().unwrap() = Some(result.clone());
        Ok(result?)
    }
}

impl Service for Waiter {
    const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_for_cycle_is_an_error_naming_both_not_a_hang() {
    let (x, y) = (Arc::default(), Arc::default());
    let app = Hassette::builder()
        .service_named(
            "x",
            Waiter {
                other: "y",
                outcome: Arc::clone(&x),
            },
        )
        .service_named(
            "y",
            Waiter {
                other: "x",
                outcome: Arc::clone(&y),
            },
        )
        .build()
        .unwrap();
    let began = tokio::time::Instant::now();
    let error = app.start().await.unwrap_err();
    assert_eq!(
        began.elapsed(),
        secs(0),
        "detected at once, not after a timeout"
    );
    // y's wait closes the cycle and fails with an error naming both
    let cycle = y.lock().unwrap().clone().unwrap().unwrap_err();
    assert_eq!(
        cycle.to_string(),
        "`y` waits for `x` while `x` waits for `y` (wait cycle y -> x -> y); a service must not wait on a dependant's or parent's readiness during its own start"
    );
    // x's wait ends too: y is temporary and failed, so it will never be ready
    assert!(matches!(
        x.lock().unwrap().clone(),
        Some(Err(WaitError::Ended { .. }))
    ));
    assert_eq!(
        error.to_string(),
        "service `x` did not start: `on_initialize` failed: `y` will not become ready: it is exhausted (dead)"
    );
    app.shutdown().await;
}

/// Counts its children, which must be cancelled and awaited at shutdown.
struct Parent(Arc<AtomicUsize>);

impl Hooks for Parent {}

impl Service for Parent {
    const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        for _ in 0..3 {
            let (child, done) = (ctx.clone(), Arc::clone(&self.0));
            ctx.spawn(async move {
                child.cancelled().await;
                tokio::time::sleep(secs(1)).await;
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        // a child that ignores cancellation is dropped after shutdown_timeout
        ctx.spawn(std::future::pending());
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn children_are_cancelled_awaited_and_dropped_after_the_timeout() {
    let done = Arc::new(AtomicUsize::new(0));
    let app = Hassette::builder()
        .service(Parent(Arc::clone(&done)))
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    let began = tokio::time::Instant::now();
    let report = app.shutdown().await;
    assert_eq!(done.load(Ordering::SeqCst), 3);
    assert_eq!(began.elapsed(), secs(5));
    let s = &report.services[0];
    assert!(s.aborted);
    assert_eq!(
        s.errors[0].to_string(),
        "children: `children` did not finish within 5s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_resource_runs_once_its_hooks_finish_and_is_never_restarted() {
    let log = Log::default();
    let app = Hassette::builder()
        .resource(Probe::<A>::new("r", &log).then("after_initialize", [Act::Sleep(secs(2))]))
        .build()
        .unwrap();
    let mut rx = app.events();
    app.start().await.unwrap();
    assert_eq!(app.status::<Probe<A>>().unwrap(), Status::Running);
    app.wait_ready::<Probe<A>>().await.unwrap();
    let report = app.shutdown().await;
    assert_eq!(
        log.of("r")[..3],
        [
            "before_initialize",
            "on_initialize",
            "status-in-after_initialize:starting"
        ]
    );
    assert!(!log.lines().iter().any(|l| l == "r:serve"));
    assert_eq!(drain(&mut rx).len(), 4);
    assert_eq!(report.services[0].status, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn ctx_service_hands_out_the_shared_value() {
    struct Reader(Arc<std::sync::Mutex<Option<usize>>>);
    impl Hooks for Reader {
        async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            let parent = ctx.service::<Parent>()?;
            *self.0.lock().unwrap() = Some(parent.0.load(Ordering::SeqCst));
            Ok(())
        }
    }
    impl Service for Reader {
        const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);
        async fn serve(&self, _: &ServiceContext) -> Result<(), BoxError> {
            Ok(())
        }
    }
    let seen = Arc::default();
    let app = Hassette::builder()
        .service(Parent(Arc::new(AtomicUsize::new(42))))
        .service(Reader(Arc::clone(&seen)))
        .build()
        .unwrap();
    app.start().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(42));
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn waiting_for_dependencies_does_not_eat_into_the_startup_timeout() {
    let log = Log::default();
    // the dependency is ready after 5s; then the dependant's own start takes 4s, within
    // its 7s startup timeout counted from the moment the dependency was up
    let app = Hassette::builder()
        .service(Probe::<Lazy>::new("lazy", &log).then("serve", [Act::ReadyAfter(secs(5))]))
        .service(
            Probe::<NeedsLazy>::new("needy", &log).then("on_initialize", [Act::Sleep(secs(4))]),
        )
        .build()
        .unwrap();
    let began = tokio::time::Instant::now();
    app.start().await.unwrap();
    assert_eq!(began.elapsed(), secs(9));
    app.wait_ready::<Probe<NeedsLazy>>().await.unwrap();
    app.shutdown().await;
}

/// A link of a chain: waits in `on_initialize`, by name, for the link before it. The
/// first link holds back until every other one waits, so the whole chain of waits is in
/// the wait-for graph at once.
struct Link {
    prev: Option<String>,
    links: usize,
    waiting: Arc<AtomicUsize>,
    all_waiting: Arc<tokio::sync::Notify>,
}

impl Hooks for Link {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        match &self.prev {
            None => self.all_waiting.notified().await,
            Some(prev) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) + 2 == self.links {
                    self.all_waiting.notify_one();
                }
                ctx.wait_ready_by_name(prev).await?;
            }
        }
        Ok(())
    }
}

impl Service for Link {
    const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_long_chain_of_run_time_waits_all_get_ready() {
    const N: usize = 2_000;
    let waiting = Arc::new(AtomicUsize::new(0));
    let all_waiting = Arc::new(tokio::sync::Notify::new());
    let mut builder = Hassette::builder();
    for i in 0..N {
        let link = Link {
            prev: i.checked_sub(1).map(|p| format!("link-{p}")),
            links: N,
            waiting: Arc::clone(&waiting),
            all_waiting: Arc::clone(&all_waiting),
        };
        builder = builder.service_named(format!("link-{i}"), link);
    }
    let app = builder.build().unwrap();
    app.start().await.unwrap();
    assert_eq!(waiting.load(Ordering::SeqCst), N - 1, "every link waited");
    for i in 0..N {
        let name = format!("link-{i}");
        app.wait_ready_by_name(&name).await.unwrap();
        assert_eq!(app.status_by_name(&name).unwrap(), Status::Running);
    }
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_wait_for_cycle_of_three_is_named_whole() {
    let outcomes: [Arc<std::sync::Mutex<_>>; 3] = Default::default();
    let mut builder = Hassette::builder();
    for (name, other, outcome) in [("x", "y", 0), ("y", "z", 1), ("z", "x", 2)] {
        let outcome = Arc::clone(&outcomes[outcome]);
        builder = builder.service_named(name, Waiter { other, outcome });
    }
    let app = builder.build().unwrap();
    let _ = app.start().await;
    let cycles: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o.lock().unwrap().clone() {
            Some(Err(WaitError::Cycle { cycle, .. })) => Some(cycle),
            _ => None,
        })
        .collect();
    assert_eq!(
        cycles.len(),
        1,
        "exactly one wait closes the cycle: {cycles:?}"
    );
    assert!(
        ["x -> y -> z -> x", "y -> z -> x -> y", "z -> x -> y -> z"].contains(&&*cycles[0]),
        "{cycles:?}"
    );
    app.shutdown().await;
}
