//! Children: `ServiceContext::add_child` and `add_child_named`.

use std::sync::atomic::{AtomicU32, Ordering};

use hassette_runtime::{
    AddError, BoxError, ChildExhausted, Hassette, RestartType, ServiceContext, ServiceHandle,
    Status, service,
};
use hassette_tests::*;
use tokio::sync::Mutex;

profile!(Kid, RestartType::Permanent, { backoff_base: secs(1) });
// Declared critical: its exhaustion fails its parent (a child is not critical otherwise).
profile!(Fragile, RestartType::Permanent, { backoff_base: ms(10), budget_intensity: 2, critical: Some(true) });

/// A parent that adds two children in `on_initialize` and one in `serve`.
struct Parent {
    log: Log,
    runs: AtomicU32,
    late: Mutex<Option<ServiceHandle>>,
}

#[service(restart = "permanent", backoff(base = "1s"))]
impl Parent {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        self.log.push(format!("parent:on_initialize:{run}"));
        if run == 0 {
            let first = ctx
                .add_child_named("a", Probe::<Kid>::new("a", &self.log))
                .await?;
            // Added during initialize: it waits for the parent's `after_initialize`.
            assert_eq!(first.status(), Status::NotStarted);
            ctx.add_child_named("b", Probe::<Kid>::new("b", &self.log))
                .await?;
        }
        Ok(())
    }

    async fn after_initialize(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push("parent:after_initialize");
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push("parent:serve");
        let mut late = self.late.lock().await;
        if late.is_none() {
            let child = ctx
                .add_child_named("c", Probe::<Kid>::new("c", &self.log))
                .await?;
            // Added while running: started at once.
            assert_ne!(child.status(), Status::NotStarted);
            *late = Some(child);
        }
        drop(late);
        ctx.cancelled().await;
        self.log.push("parent:serve:end");
        Ok(())
    }

    async fn on_shutdown(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push("parent:on_shutdown");
        Ok(())
    }
}

fn parent(log: &Log) -> Parent {
    Parent {
        log: log.clone(),
        runs: AtomicU32::new(0),
        late: Mutex::new(None),
    }
}

fn position(lines: &[String], line: &str) -> usize {
    lines
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no `{line}` in {lines:#?}"))
}

#[tokio::test(start_paused = true)]
async fn children_start_after_the_parent_and_stop_before_its_on_shutdown_in_reverse_order() {
    let log = Log::default();
    let app = Hassette::builder().service(parent(&log)).build().unwrap();
    app.start().await.unwrap();
    app.wait_ready_by_name("Parent/c").await.unwrap();
    app.wait_ready_by_name("Parent/a").await.unwrap();
    assert_eq!(app.status_by_name("Parent/b").unwrap(), Status::Running);
    let names: Vec<String> = app.snapshot().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["Parent", "Parent/a", "Parent/b", "Parent/c"]);

    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    let lines = log.lines();
    let at = |l: &str| position(&lines, l);
    assert!(at("parent:after_initialize") < at("a:before_initialize"));
    assert!(at("parent:after_initialize") < at("b:before_initialize"));
    // Stopped after serve ended, before on_shutdown, the last added first.
    assert!(at("parent:serve:end") < at("c:before_shutdown"));
    assert!(at("c:after_shutdown") < at("b:before_shutdown"));
    assert!(at("b:after_shutdown") < at("a:before_shutdown"));
    assert!(at("a:after_shutdown") < at("parent:on_shutdown"));
    // The children are in the report, by their full names.
    assert_eq!(report.service("Parent/a").unwrap().status, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_parent_restart_stops_its_children_and_initializes_them_again() {
    let log = Log::default();
    let app = Hassette::builder().service(parent(&log)).build().unwrap();
    app.start().await.unwrap();
    app.wait_ready_by_name("Parent/c").await.unwrap();
    app.restart::<Parent>().await.unwrap();
    app.wait_ready_by_name("Parent/a").await.unwrap();
    app.wait_ready_by_name("Parent/c").await.unwrap();
    assert_eq!(log.count("a:before_initialize"), 2);
    assert_eq!(log.count("c:before_initialize"), 2);
    let lines = log.lines();
    let second_init = position(&lines, "parent:on_initialize:1");
    let a_stop = position(&lines, "a:after_shutdown");
    assert!(a_stop < second_init);
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn removing_a_parent_removes_its_children() {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let hub = app.add_named("hub", parent(&log)).await.unwrap();
    app.wait_ready_by_name("hub/c").await.unwrap();
    hub.stop().await.unwrap();
    assert!(app.handle("hub/a").is_err());
    assert!(app.snapshot().is_empty());
    // The names are free again.
    app.add_named("hub", parent(&Log::default())).await.unwrap();
    let report = app.shutdown().await;
    assert_eq!(report.removed.count, 4);
}

/// A hub whose one child fails every run.
struct Hub {
    log: Log,
    limit_checked: AtomicU32,
}

#[service(restart = "permanent", backoff(base = "5s"), max_children = 2)]
impl Hub {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push("hub:serve");
        // The children are added by the first run; the next runs initialize them again.
        if self.limit_checked.fetch_add(1, Ordering::SeqCst) == 0 {
            ctx.add_child_named(
                "flaky",
                Probe::<Fragile>::new("flaky", &self.log).always("serve", Act::Err),
            )
            .await?;
            let taken = ctx
                .add_child_named("flaky", Probe::<Kid>::new("flaky", &self.log))
                .await;
            assert!(
                matches!(taken, Err(AddError::NameTaken { .. })),
                "{taken:?}"
            );
            ctx.add_child_named("second", Probe::<Kid>::new("second", &self.log))
                .await?;
            let third = ctx
                .add_child_named("third", Probe::<Kid>::new("third", &self.log))
                .await;
            let Err(AddError::ChildLimit { limit, .. }) = third else {
                panic!("{third:?}")
            };
            assert_eq!(limit, 2);
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_critical_child_that_exhausts_its_budget_fails_its_parent_which_restarts_with_its_children()
 {
    let log = Log::default();
    let app = Hassette::builder()
        .service(Hub {
            log: log.clone(),
            limit_checked: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    // The child fails three times (budget 2), then the hub fails and, after its own
    // backoff, runs again with its children.
    tokio::time::sleep(secs(6)).await;
    let events = drain_events(&mut events);
    let hub_failed = events
        .iter()
        .find(|e| &*e.service == "Hub" && e.to == Status::Failed)
        .expect("the hub failed");
    let cause = hub_failed.error.as_ref().unwrap();
    let exhausted = cause
        .downcast_ref::<ChildExhausted>()
        .expect("a child's exhaustion");
    assert_eq!(&*exhausted.child, "Hub/flaky");
    assert!(log.count("hub:serve") >= 2);
    assert_eq!(log.count("second:before_initialize"), 2);
    // Not an app crash.
    assert!(!app.is_shutting_down());
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_temporary_child_that_ended_is_removed_and_others_fail_alone() {
    struct Acceptor(Log);
    #[service(restart = "permanent")]
    impl Acceptor {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            ctx.add_child_named(
                "ok",
                TempProbe::new("ok", &self.0).then("serve", [Act::Return]),
            )
            .await?;
            ctx.add_child_named(
                "bad",
                TempProbe::new("bad", &self.0).then("serve", [Act::Panic]),
            )
            .await?;
            ctx.cancelled().await;
            Ok(())
        }
    }
    let log = Log::default();
    let app = Hassette::builder()
        .service(Acceptor(log.clone()))
        .build()
        .unwrap();
    app.start().await.unwrap();
    settle().await;
    assert!(app.handle("Acceptor/ok").is_err());
    assert!(app.handle("Acceptor/bad").is_err());
    assert_eq!(app.status::<Acceptor>().unwrap(), Status::Running);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 2);
    assert_eq!(report.removed.failed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_child_cannot_be_added_to_a_parent_that_stops() {
    struct Late(Log, Mutex<Option<AddError>>);
    #[service(restart = "temporary")]
    impl Late {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            ctx.cancelled().await;
            Ok(())
        }
        async fn on_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            let added = ctx
                .add_child_named("late", TempProbe::new("late", &self.0))
                .await;
            *self.1.lock().await = added.err();
            Ok(())
        }
    }
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let late = app
        .add_named("late-parent", Late(log.clone(), Mutex::new(None)))
        .await
        .unwrap();
    let value = late.service::<Late>().unwrap();
    late.stop().await.unwrap();
    let error = value.1.lock().await.take().expect("refused");
    assert!(
        matches!(error, AddError::ParentStopping { .. }),
        "{error:?}"
    );
    assert!(log.lines().is_empty());
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_name_that_collides_with_a_child_path_is_taken() {
    let log = Log::default();
    let app = Hassette::builder().service(parent(&log)).build().unwrap();
    app.start().await.unwrap();
    app.wait_ready_by_name("Parent/a").await.unwrap();
    let error = app
        .add_named("Parent/a", TempProbe::new("x", &log))
        .await
        .unwrap_err();
    assert!(matches!(error, AddError::NameTaken { ref name } if &**name == "Parent/a"));
    app.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn huge_and_empty_names_are_only_names() {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let huge = "n".repeat(100_000);
    app.add_named(huge.clone(), TempProbe::new("huge", &log))
        .await
        .unwrap();
    app.add_named("", TempProbe::new("empty", &log))
        .await
        .unwrap();
    assert_eq!(app.handle(&huge).unwrap().status(), Status::Running);
    assert_eq!(app.status_by_name("").unwrap(), Status::Running);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert!(report.to_string().lines().all(|l| l.chars().count() < 400));
}

// ---------------------------------------------------------------------------------------
// Calls from inside a family: a child (or grandchild) restarts, stops or removes an
// ancestor. The call cannot wait for the ancestor's stop, which stops the caller first:
// it gets its answer as of the request at once, and the caller is neither aborted nor
// blamed. On the paused clock, a call that waited on itself takes the caller's
// `shutdown_timeout` (5s).

/// What a child does to an ancestor, once, from its `serve`.
#[derive(Debug, Clone, Copy)]
enum FamilyCall {
    /// `app.restart_by_name(ancestor)`.
    Restart,
    /// `app.remove(ancestor)`.
    Remove,
    /// `app.handle(ancestor)?.stop()`.
    Stop,
    /// `app.shutdown()`.
    Shutdown,
}

/// A child that makes one call on `target` the first time its `serve` runs, and logs
/// `kid:Call -> outcome after elapsed`; then serves until cancelled.
struct Kin {
    target: &'static str,
    call: FamilyCall,
    log: Log,
    fired: std::sync::atomic::AtomicBool,
}

#[service(restart = "permanent")]
impl Kin {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if !self.fired.swap(true, Ordering::SeqCst) {
            let app = ctx.app();
            let t0 = tokio::time::Instant::now();
            let outcome = match self.call {
                FamilyCall::Restart => format!("{:?}", app.restart_by_name(self.target).await),
                FamilyCall::Remove => {
                    format!("{:?}", app.remove(self.target).await.map(|r| r.status))
                }
                FamilyCall::Stop => {
                    let ancestor = app.handle(self.target)?;
                    format!("{:?}", ancestor.stop().await.map(|r| r.status))
                }
                FamilyCall::Shutdown => format!("{:?}", app.shutdown().await.reason),
            };
            let took = t0.elapsed();
            self.log
                .push(format!("kid:{:?} -> {outcome} after {took:?}", self.call));
        }
        ctx.cancelled().await;
        Ok(())
    }
}

/// The handles of the children the [`Elder`]s added, in order of addition.
type Handles = std::sync::Arc<std::sync::Mutex<Vec<ServiceHandle>>>;

/// Whom an [`Elder`] adds.
enum Next {
    Kin(Kin),
    Elder(Box<Elder>),
}

/// An ancestor: its first `serve` adds its one child (a [`Kin`] or another `Elder`) and
/// keeps its handle; every run serves until cancelled.
struct Elder {
    name: &'static str,
    next: std::sync::Mutex<Option<Next>>,
    handles: Handles,
}

#[service(restart = "permanent")]
impl Elder {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let next = self.next.lock().unwrap().take();
        let child = match next {
            Some(Next::Kin(kin)) => Some(ctx.add_child_named("kid", kin).await?),
            Some(Next::Elder(elder)) => Some(ctx.add_child_named(elder.name, *elder).await?),
            None => None,
        };
        if let Some(child) = child {
            self.handles.lock().unwrap().push(child);
        }
        ctx.cancelled().await;
        Ok(())
    }
}

/// Adds `parent` with `kid` under it (`depth` 1) or under `parent/mid` (`depth` 2); `kid`
/// makes `call` on `parent`.
async fn family(app: &Hassette, call: FamilyCall, depth: usize, log: &Log) -> Handles {
    let handles = Handles::default();
    let kin = Kin {
        target: "parent",
        call,
        log: log.clone(),
        fired: std::sync::atomic::AtomicBool::new(false),
    };
    let mut next = Next::Kin(kin);
    for name in ["mid", "parent"].into_iter().skip(2 - depth) {
        next = Next::Elder(Box::new(Elder {
            name,
            next: std::sync::Mutex::new(Some(next)),
            handles: handles.clone(),
        }));
    }
    let Next::Elder(parent) = next else {
        unreachable!("depth is 1 or 2")
    };
    app.add_named("parent", *parent).await.unwrap();
    handles
}

/// The family's call returned at once, with `outcome`.
fn assert_answered_at_once(log: &Log, call: &str, outcome: &str) {
    assert_eq!(
        log.lines(),
        [format!("kid:{call} -> {outcome} after 0ns")],
        "the call returned at once"
    );
}

/// A report of the caller's: stopped cleanly, not aborted, nothing blamed on it.
fn assert_not_blamed(report: &hassette_runtime::ServiceReport) {
    assert_eq!(report.status, Status::Stopped, "{report:?}");
    assert!(!report.aborted, "{report:?}");
    assert_eq!(report.error_count, 0, "{report:?}");
    assert!(
        report
            .errors
            .iter()
            .all(|e| !e.error.to_string().contains("did not finish")),
        "{report:?}"
    );
}

/// When `service` entered `to` (the first time), as an offset from `t0`.
fn entered(
    events: &[hassette_runtime::StatusEvent],
    service: &str,
    to: Status,
    t0: tokio::time::Instant,
) -> std::time::Duration {
    events
        .iter()
        .find(|e| &*e.service == service && e.to == to)
        .unwrap_or_else(|| panic!("`{service}` never entered {to:?}"))
        .at
        - t0
}

async fn restarted_at_once(depth: usize, kid: &str) {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let mut events = app.events();
    let t0 = tokio::time::Instant::now();
    family(&app, FamilyCall::Restart, depth, &log).await;
    tokio::time::sleep(secs(30)).await;
    assert_answered_at_once(&log, "Restart", "Ok(())");
    // The parent restarted at once, not after the caller's serve was cut off.
    let events = drain_events(&mut events);
    let stopped = entered(&events, "parent", Status::Stopped, t0);
    assert_eq!(stopped, secs(0), "the parent's stop began at once");
    assert_eq!(app.status_by_name("parent").unwrap(), Status::Running);
    assert_eq!(app.status_by_name(kid).unwrap(), Status::Running);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.service("parent").unwrap().restarts, 1, "{report}");
    assert_not_blamed(report.service(kid).unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_child_that_restarts_its_parent_gets_its_answer_at_once() {
    restarted_at_once(1, "parent/kid").await;
}

#[tokio::test(start_paused = true)]
async fn a_grandchild_that_restarts_its_grandparent_gets_its_answer_at_once() {
    restarted_at_once(2, "parent/mid/kid").await;
}

async fn removed_at_once(call: FamilyCall) {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let mut events = app.events();
    let t0 = tokio::time::Instant::now();
    let handles = family(&app, call, 1, &log).await;
    tokio::time::sleep(secs(30)).await;
    // The report as of the request: the parent was still running.
    assert_answered_at_once(&log, &format!("{call:?}"), "Ok(Running)");
    let events = drain_events(&mut events);
    assert_eq!(entered(&events, "parent", Status::Stopped, t0), secs(0));
    assert!(app.handle("parent").is_err(), "the parent was removed");
    assert!(app.handle("parent/kid").is_err(), "with its child");
    // The child's final report, from its handle.
    let kid = handles.lock().unwrap()[0].clone();
    assert_not_blamed(&kid.stop().await.unwrap());
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.removed.count, 2, "{report}");
    assert_eq!(report.removed.failed, 0, "{report}");
    assert_eq!(report.removed.errors, 0, "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_child_that_removes_its_parent_gets_its_answer_at_once() {
    removed_at_once(FamilyCall::Remove).await;
}

#[tokio::test(start_paused = true)]
async fn a_child_that_stops_its_parent_through_its_handle_gets_its_answer_at_once() {
    removed_at_once(FamilyCall::Stop).await;
}

#[tokio::test(start_paused = true)]
async fn a_child_that_shuts_the_app_down_gets_its_answer_at_once() {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let t0 = tokio::time::Instant::now();
    family(&app, FamilyCall::Shutdown, 1, &log).await;
    app.shutdown_begun().await;
    let report = app.shutdown().await;
    assert_eq!(t0.elapsed(), secs(0), "{report}");
    assert!(report.is_success(), "{report}");
    let reason = report.reason.clone().unwrap();
    assert_answered_at_once(&log, "Shutdown", &format!("{:?}", Some(reason)));
    assert_not_blamed(report.service("parent/kid").unwrap());
    assert_not_blamed(report.service("parent").unwrap());
}

/// A child whose `on_initialize` shuts the app down, and its parent, which adds it from
/// `serve` and so waits for that initialize.
struct ShutsDownInInit(Log);

#[service(restart = "permanent")]
impl ShutsDownInInit {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let t0 = tokio::time::Instant::now();
        let reason = ctx.app().shutdown().await.reason;
        let took = t0.elapsed();
        self.0
            .push(format!("kid:Shutdown -> {reason:?} after {took:?}"));
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

struct AddsInServe(Log);

#[service(restart = "permanent")]
impl AddsInServe {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let added = ctx
            .add_child_named("kid", ShutsDownInInit(self.0.clone()))
            .await;
        self.0.push(format!("parent: {:?}", added.map(|_| ())));
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_that_shuts_the_app_down_while_its_parent_adds_it_gets_its_answer_at_once() {
    let log = Log::default();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let t0 = tokio::time::Instant::now();
    app.add_named("parent", AddsInServe(log.clone()))
        .await
        .unwrap();
    let report = app.shutdown().await;
    // The stop reached the parent, whose stop stops the child: the child's call returns
    // then, its start is interrupted, and the parent's `add_child` says so.
    assert_eq!(t0.elapsed(), secs(0), "{report}");
    let reason = report.reason.clone().unwrap();
    assert_eq!(
        log.lines(),
        [
            format!("kid:Shutdown -> {:?} after 0ns", Some(reason)),
            "parent: Err(Start(StartError { service: \"parent/kid\", failure: Interrupted, retried: false, contained: true }))"
                .to_owned(),
        ]
    );
    assert!(report.is_success(), "{report}");
    assert!(!report.service("parent").unwrap().aborted, "{report}");
    assert_eq!(report.service("parent").unwrap().error_count, 0, "{report}");
}

// ---------------------------------------------------------------------------------------
// A child that depends on its parent: no wait-for cycle hangs.

/// Depends on its parent, a [`Nursery`] or a [`LateNursery`].
struct Needy;

#[service(restart = "permanent", depends_on(Nursery))]
impl Needy {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

struct NeedsLate;

#[service(restart = "permanent", depends_on(LateNursery))]
impl NeedsLate {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// What `add_child` returned, and how long it took.
type AddedChild = std::sync::Mutex<Option<(Result<String, AddError>, std::time::Duration)>>;

/// Adds its dependant child in `on_initialize`: the child waits for the parent's
/// `after_initialize`, so nothing waits for it.
#[derive(Default)]
struct Nursery {
    added: AddedChild,
}

#[service(restart = "permanent")]
impl Nursery {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let t0 = tokio::time::Instant::now();
        let added = ctx.add_child(Needy).await;
        let added = added.map(|child| child.name().to_string());
        *self.added.lock().unwrap() = Some((added, t0.elapsed()));
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// `ready = "manual"`: awaits `add_child` of its dependant in `serve` before it says it
/// is ready, a wait-for cycle.
#[derive(Default)]
struct LateNursery {
    added: AddedChild,
}

#[service(restart = "permanent", ready = "manual")]
impl LateNursery {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let t0 = tokio::time::Instant::now();
        let added = ctx.add_child(NeedsLate).await;
        let added = added.map(|child| child.name().to_string());
        *self.added.lock().unwrap() = Some((added, t0.elapsed()));
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_added_in_on_initialize_that_depends_on_its_parent_starts_after_it() {
    let app = Hassette::builder()
        .service(Nursery::default())
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    tokio::time::timeout(secs(3600), app.start())
        .await
        .expect("no hang")
        .unwrap();
    app.wait_ready_by_name("Nursery/Needy").await.unwrap();
    assert_eq!(t0.elapsed(), secs(0));
    let nursery = app.handle("Nursery").unwrap().service::<Nursery>().unwrap();
    let (added, took) = nursery.added.lock().unwrap().take().unwrap();
    assert_eq!(added.unwrap(), "Nursery/Needy");
    assert_eq!(took, secs(0));
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.service("Nursery/Needy").unwrap().error_count, 0);
}

#[tokio::test(start_paused = true)]
async fn a_parent_that_awaits_a_dependant_child_before_it_is_ready_gets_the_cycle_at_once() {
    let app = Hassette::builder()
        .service(LateNursery::default())
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    tokio::time::timeout(secs(3600), app.start())
        .await
        .expect("no hang")
        .unwrap();
    app.wait_ready::<LateNursery>().await.unwrap();
    assert_eq!(t0.elapsed(), secs(0), "not held up to the startup timeout");
    let nursery = app.handle("LateNursery").unwrap();
    let nursery = nursery.service::<LateNursery>().unwrap();
    let (added, took) = nursery.added.lock().unwrap().take().unwrap();
    assert_eq!(took, secs(0));
    let error = added.unwrap_err();
    let AddError::WaitCycle { service, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(&**service, "LateNursery/NeedsLate");
    assert!(
        error
            .to_string()
            .contains("wait cycle LateNursery -> LateNursery/NeedsLate -> LateNursery"),
        "{error}"
    );
    // The child stays, and starts once its parent is ready.
    app.wait_ready_by_name("LateNursery/NeedsLate")
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), secs(0));
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.service("LateNursery").unwrap().error_count, 0);
}
