//! Property test: random sequences of operations against random sets of services with
//! different restart specs (in random supervision groups, with or without a random
//! `shutdown_deadline`), and the invariants that must hold whatever happened.
//!
//! The operations: `start()` (in a task of its own, so it may run during the next ones,
//! or twice at once); `start()` dropped half-way under `tokio::time::timeout` (a zero,
//! short or long limit) and called again later; inject an error, a fatal error, a panic,
//! a hang, a delay or a clean return into `serve` or any hook; arm an act that the next
//! call of `serve` (also one already running) or of a hook does from inside the app,
//! itself or in a `ctx.spawn` child: `ctx.shutdown_app(reason)`, await
//! `ctx.app().shutdown()`, or await `ctx.app().restart_by_name(its own name)`; advance the
//! paused clock; `restart_by_name`, or two of one service at once; `shutdown()` dropped
//! half-way under a timeout (the shutdown goes on, and so do the operations); add a
//! service at run time (with children, and grandchildren) or remove one; `ensure_child`
//! or `remove_child` on such a service's context; arm a call that a child or grandchild
//! makes on an ancestor from its `serve` (restart it, stop it through its handle, remove
//! it, or `remove_child` / `ensure_child` of its own line through the ancestor's
//! context); and last `shutdown()`, or two at once (as a signal
//! arriving during a shutdown), then one more. Every case records into a `metrics`
//! recorder (feature `metrics`, installed once for this binary), rendered after it.
//!
//! The invariants:
//!
//! 1. every status change is in the transition table, and the changes of one service form
//!    one chain (each event starts where the one before it ended);
//! 2. after shutdown every service rests in a terminal status (or NotStarted, never
//!    started, or Failed, its start having failed and it never ran), the same in its
//!    events, its report and `status_by_name`, and nothing moves any more: no event, no
//!    hook, no serve;
//! 3. no hook of one service runs while another of its hooks runs, and no two `serve`s of
//!    one service run at once;
//! 4. the shutdown (the report's `took`, from the moment it began) finishes within the sum
//!    over the dependency waves of the largest per-service bound (an in-flight
//!    initialize, `startup_timeout`, plus two stops of five `shutdown_timeout`s each: a
//!    restart's stop in flight, then the final one); with a deadline, within the deadline
//!    plus the abort grace, and `deadline_exceeded` says whether it ran out;
//! 5. every failure that struck (an error, a panic, a hook or serve cut off by its timeout)
//!    is in the service's report with the right hook name, and each one of serve or an
//!    initialize hook is in the events (but for the "closed" ones: a serve failing while
//!    its run is stopped anyway, and an initialize hook interrupted by the shutdown whose
//!    stop then ended Crashed, whose event carries the crash);
//! 6. the report's restart count is the number of restarts in the events;
//! 7. the exit code is non-zero exactly when a service crashed, its final stop aborted a
//!    serve or cut off a child task, or the deadline ran out, whoever began the shutdown
//!    (`shutdown_app` included);
//! 8. with the services in random supervision groups (none, one top-level group, or one
//!    with a nested group; random strategies and budgets): a group restart stops the
//!    siblings one after the other in reverse registration order and initializes them in
//!    registration order, each after the one before it; a member stopped by its group is
//!    restarted within the time a group restart can take; an exhausted top-level group
//!    ends with a member Crashed and a failure exit code (the two bugs this found, a clean
//!    exit that exhausted the group and a stale report, have regression tests at the end);
//! 9. no task alive after shutdown returned: every hook, serve and child future ever
//!    created (counted from its creation to its drop) has been dropped at the very moment
//!    the outermost `shutdown()` returns, and still after the tasks settle; then, before
//!    the clock moves, every `start`/`restart`/`shutdown` call of the operations has
//!    returned (a call's task needs one poll to see its outcome, hence the settle);
//! 10. one outcome for every caller: every `start()` that returned returned the same; every
//!     `shutdown()` outside the app (two at once, one dropped half-way that finished
//!     anyway, one called after the end) returned the same report (its `Display` and its
//!     `took`); two restarts of one service at once returned the same, and, where nothing
//!     else could restart it meanwhile (no failure, no clean exit, no other request, no
//!     group), it entered Starting at most once for them;
//! 11. calls from inside do not wait on themselves: `shutdown()` awaited from inside
//!     returns the report, or one with no services and the report's reason; `restart` of
//!     itself returns `Ok` (or "shutting down"); no serve is aborted while it awaits one of
//!     them (unless the shutdown deadline cut everything off); the first `shutdown_app`
//!     reason given before the shutdown began is the report's reason;
//! 12. no panic anywhere: none outside the injected ones (the panic hook records any
//!     other, in the runtime's tasks included: a `debug_assert` on a transition, say), no
//!     call task panicked, and no report holds a `supervisor` error (a supervisor task
//!     that panicked, or that did not answer the shutdown);
//! 13. services added at run time (`add_named`, each adding up to two children from its
//!     `serve`, each of which may add a grandchild) and removed (`remove`), and children
//!     added-or-got (`ensure_child`) and removed (`remove_child`) through a parent's
//!     context, from outside or from inside the family, at random moments of the start,
//!     the faults and the shutdown: every unit that got registered is in the report,
//!     live, or counted among the removed, no name is there twice (nor in a parent's
//!     `children()` before the shutdown, each of which is registered), a removal's report
//!     is final, and every such call returns; among them, units
//!     that are not critical and run out of restarts (`Op::Exhaust`: at the top level, or
//!     a child of a critical host), whose failure never spreads: none crashes, no host
//!     fails for one, and the app does not shut down for one;
//! 14. a call from inside a family does not wait on itself: a child's or grandchild's
//!     restart, stop or removal of an ancestor, and its `remove_child` or `ensure_child`
//!     of its own line, returns at the instant it was made (the answer as of the request), its serve is never dropped while it awaits one, and no
//!     unit added at run time (whose serve ends at its cancellation) has a stop that was
//!     cut off, unless the shutdown deadline ran out.
//!
//! Each case runs on its own current-thread runtime with a paused clock, so it is exact
//! and deterministic: a failure prints the shrunk scenario (services and operations),
//! which replays the same way. 1 000 cases by default; `PROPTEST_CASES=10000` for more,
//! `PROPTEST_RNG_SEED=<n>` to pin the random seed.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::Poll;
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::testing::{Fault, Faults, Faulty, Injected, Point, TestApp};
use hassette_runtime::{
    CutOff, Dependency, GroupBuilder, KEPT_ERRORS, RestartSpec, ShutdownReport, StatusEvent,
    Strategy as GroupStrategy, TimedOut,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------
// The services: one type per restart spec, each wrapped in `Faulty` (injection) and
// `Tracked` (what each hook and serve call did, and whether two ran at once).

/// A service type under test: injected by `Faulty`, observed by `Tracked`.
type Svc<T> = Tracked<Faulty<T>>;

/// A service added at run time (`Op::Add`): serves until cancelled; its `serve` first
/// adds `children` children (`dyn-3/kid-0`, ...), each with a grandchild (`dyn-3/kid-0/g`)
/// when `grandchildren` says so, counting the ones added.
struct Dyn {
    children: u8,
    grandchildren: bool,
    kin: Arc<Kinship>,
    registered: Arc<AtomicUsize>,
}

#[service(
    restart = "permanent",
    backoff(base = "10ms"),
    startup_timeout = "1s",
    shutdown_timeout = "100ms"
)]
impl Dyn {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.kin.serves(ctx);
        for k in 0..self.children {
            let kid = Kid {
                grandchild: self.grandchildren,
                kin: self.kin.clone(),
                registered: self.registered.clone(),
                token: 0,
            };
            add_child(ctx, &format!("kid-{k}"), kid, &self.registered).await;
        }
        ctx.cancelled().await;
        Ok(())
    }
}

/// Adds a child, counting it when it got registered.
async fn add_child(ctx: &ServiceContext, name: &str, kid: Kid, registered: &AtomicUsize) {
    use hassette_runtime::AddError;
    match ctx.add_child_named(name, kid).await {
        Ok(_) | Err(AddError::Start(_) | AddError::WaitCycle { .. }) => {
            registered.fetch_add(1, Ordering::SeqCst);
        }
        Err(_) => {}
    }
}

/// A unit whose failure must not spread (`Op::Exhaust`): fails at every run and is out of
/// restarts at its second failure; added at the top level with `critical(false)`, or as
/// the child of a [`LampHost`] (a child is not critical unless it says so).
struct Lamp;

#[service(
    restart = "permanent",
    backoff(base = "10ms"),
    budget(intensity = 1, period = "1m"),
    startup_timeout = "1s",
    shutdown_timeout = "100ms"
)]
impl Lamp {
    async fn serve(&self) -> Result<(), BoxError> {
        Err("the lamp burnt out".into())
    }
}

/// A critical unit added at run time whose first run adds a [`Lamp`] child, `bulb`
/// (`Op::Exhaust`): the bulb's exhaustion must leave it running.
struct LampHost {
    registered: Arc<AtomicUsize>,
    runs: AtomicUsize,
}

#[service(
    restart = "permanent",
    backoff(base = "10ms"),
    startup_timeout = "1s",
    shutdown_timeout = "100ms"
)]
impl LampHost {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        use hassette_runtime::AddError;
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            match ctx.add_child_named("bulb", Lamp).await {
                Ok(_) | Err(AddError::Start(_) | AddError::WaitCycle { .. }) => {
                    self.registered.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {}
            }
        }
        ctx.cancelled().await;
        Ok(())
    }
}

/// A child of [`Dyn`], or a grandchild (`g`, which has no child of its own): serves
/// until cancelled, and meanwhile makes the family calls armed for it (`Op::Family`),
/// also while it runs already.
struct Kid {
    grandchild: bool,
    kin: Arc<Kinship>,
    registered: Arc<AtomicUsize>,
    /// Which `ensure_child` made it (0: added by `add_child`).
    token: usize,
}

#[service(
    restart = "transient",
    startup_timeout = "1s",
    shutdown_timeout = "100ms"
)]
impl Kid {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        // subscribed first: an arming from now on is seen
        let mut bell = self.kin.bell.subscribe();
        self.kin.serves(ctx);
        if self.grandchild {
            let g = Kid {
                grandchild: false,
                kin: self.kin.clone(),
                registered: self.registered.clone(),
                token: 0,
            };
            add_child(ctx, "g", g, &self.registered).await;
        }
        loop {
            while let Some((call, target)) = self.kin.take(ctx.name()) {
                self.kin.call(ctx, call, &target, &self.registered).await;
            }
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                rung = bell.changed() => if rung.is_err() {
                    ctx.cancelled().await;
                    return Ok(());
                },
            }
        }
    }
}

/// What a child or grandchild added at run time does to an ancestor (`Op::Family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FamilyCall {
    /// `app.restart_by_name(ancestor)`.
    Restart,
    /// `app.handle(ancestor)?.stop()`.
    Stop,
    /// `app.remove(ancestor)`.
    Remove,
    /// `ancestor_ctx.remove_child(..)` of the ancestor's child on the caller's line (the
    /// caller itself, or its parent).
    RemoveChild,
    /// `ancestor_ctx.ensure_child(..)` of the ancestor's child on the caller's line.
    EnsureChild,
}

/// The family calls armed for the units added at run time, by the caller's full name,
/// and what each one did.
struct Kinship {
    armed: Mutex<HashMap<String, VecDeque<(FamilyCall, String)>>>,
    /// Rung by every arming, so that a serve that runs already sees it.
    bell: tokio::sync::watch::Sender<u64>,
    /// Every call made: the caller, the call, and how long it took (`None`: the caller's
    /// serve was dropped while it awaited it).
    made: Mutex<Vec<(String, String, Option<Duration>)>>,
    /// The context of the current run of every unit added at run time, by its name (for
    /// `ensure_child` and `remove_child`).
    contexts: Mutex<HashMap<String, ServiceContext>>,
    /// The last token given to a `Kid` made by `ensure_child`.
    tokens: AtomicUsize,
}

impl Default for Kinship {
    fn default() -> Self {
        Kinship {
            armed: Mutex::default(),
            bell: tokio::sync::watch::channel(0).0,
            made: Mutex::default(),
            contexts: Mutex::default(),
            tokens: AtomicUsize::new(0),
        }
    }
}

impl Kinship {
    fn arm(&self, caller: String, call: FamilyCall, target: String) {
        let mut armed = self.armed.lock().unwrap();
        armed.entry(caller).or_default().push_back((call, target));
        drop(armed);
        self.bell.send_modify(|n| *n += 1);
    }

    /// The run of `ctx` serves: its context is the one to call.
    fn serves(&self, ctx: &ServiceContext) {
        let mut contexts = self.contexts.lock().unwrap();
        contexts.insert(ctx.name().to_owned(), ctx.clone());
    }

    /// The context of the current (or last) run of `name`.
    fn context(&self, name: &str) -> Option<ServiceContext> {
        self.contexts.lock().unwrap().get(name).cloned()
    }

    /// The context of `dyn-{n % 4}` if it has served, else of the `n`-th of those that
    /// have (by name), if any.
    fn pick(&self, n: u8) -> Option<(String, ServiceContext)> {
        let contexts = self.contexts.lock().unwrap();
        let wanted = format!("dyn-{}", n % 4);
        if let Some(ctx) = contexts.get(&wanted) {
            return Some((wanted, ctx.clone()));
        }
        let mut dyns: Vec<_> = contexts
            .iter()
            .filter(|(name, _)| !name.contains('/'))
            .collect();
        dyns.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let (name, ctx) = dyns.get(usize::from(n) % dyns.len().max(1))?;
        Some(((*name).clone(), (*ctx).clone()))
    }

    /// `ctx.ensure_child(name)` of a `Kid` (with a grandchild when `grandchild`):
    /// `added` when the call registered its own (counted in `registered`), `got` when
    /// it got a live one, or the error.
    async fn ensure(
        self: &Arc<Self>,
        ctx: &ServiceContext,
        name: &str,
        grandchild: bool,
        registered: &Arc<AtomicUsize>,
    ) -> String {
        use hassette_runtime::AddError;
        let token = self.tokens.fetch_add(1, Ordering::SeqCst) + 1;
        let kid = || Kid {
            grandchild,
            kin: self.clone(),
            registered: registered.clone(),
            token,
        };
        match ctx.ensure_child(name, kid).await {
            Ok(handle)
                if handle
                    .service::<Kid>()
                    .is_some_and(|kid| kid.token == token) =>
            {
                registered.fetch_add(1, Ordering::SeqCst);
                "added".to_owned()
            }
            Ok(_) => "got".to_owned(),
            Err(e @ (AddError::Start(_) | AddError::WaitCycle { .. })) => {
                registered.fetch_add(1, Ordering::SeqCst);
                e.to_string()
            }
            Err(e) => e.to_string(),
        }
    }

    fn take(&self, caller: &str) -> Option<(FamilyCall, String)> {
        self.armed.lock().unwrap().get_mut(caller)?.pop_front()
    }

    /// Makes `call` on `target` from inside the serve of `ctx`.
    async fn call(
        self: &Arc<Self>,
        ctx: &ServiceContext,
        call: FamilyCall,
        target: &str,
        registered: &Arc<AtomicUsize>,
    ) {
        let mut made = Made {
            kin: self,
            caller: ctx.name().to_owned(),
            what: format!("{call:?} {target}"),
            began: Instant::now(),
            took: None,
        };
        let app = ctx.app();
        // any answer will do (the ancestor may be gone, or stopping): what counts is
        // the time it took
        match call {
            FamilyCall::Restart => drop(app.restart_by_name(target).await),
            FamilyCall::Stop => {
                if let Ok(ancestor) = app.handle(target) {
                    drop(ancestor.stop().await);
                }
            }
            FamilyCall::Remove => drop(app.remove(target).await),
            FamilyCall::RemoveChild | FamilyCall::EnsureChild => {
                // The target's child on the caller's line: `target/<short>/...`.
                let line = ctx.name().strip_prefix(target).and_then(|rest| {
                    let rest = rest.strip_prefix('/')?;
                    Some(rest.split('/').next().unwrap_or(rest).to_owned())
                });
                if let (Some(short), Some(ancestor)) = (line, self.context(target)) {
                    if call == FamilyCall::RemoveChild {
                        drop(ancestor.remove_child(&short).await);
                    } else {
                        drop(self.ensure(&ancestor, &short, false, registered).await);
                    }
                }
            }
        }
        made.took = Some(made.began.elapsed());
    }
}

/// Records a family call as it ends, or as the caller's serve drops it.
struct Made<'a> {
    kin: &'a Kinship,
    caller: String,
    what: String,
    began: Instant,
    took: Option<Duration>,
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        let record = (
            std::mem::take(&mut self.caller),
            std::mem::take(&mut self.what),
            self.took,
        );
        self.kin.made.lock().unwrap().push(record);
    }
}

/// The most a stop of the services added at run time takes: a [`Dyn`], its two children
/// and their grandchildren, one after the other, each a start plus ten
/// `shutdown_timeout`s.
const DYN_BOUND: Duration = Duration::from_secs(1 + 5);

struct Perm;
#[service(
    restart = "permanent",
    backoff(base = "100ms", max = "1s"),
    budget(intensity = 3, period = "10s"),
    startup_timeout = "2s",
    shutdown_timeout = "1s",
    stable_after = "2s"
)]
impl Perm {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

struct Trans;
#[service(
    restart = "transient",
    backoff(base = "0s"),
    budget(intensity = 2, period = "5s"),
    cooldown = "3s",
    max_cooldown_cycles = 2,
    startup_timeout = "1s",
    shutdown_timeout = "2s"
)]
impl Trans {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Every injected error exhausts it at once; it cools down forever.
struct TransNr;
#[service(
    restart = "transient",
    backoff(base = "500ms", multiplier = 3.0, max = "5s"),
    budget(intensity = 1, period = "1m"),
    cooldown = "1s",
    max_cooldown_cycles = 0,
    non_retryable(Injected),
    startup_timeout = "3s",
    shutdown_timeout = "3s"
)]
impl TransNr {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

struct Temp;
#[service(restart = "temporary", startup_timeout = "3s", shutdown_timeout = "1s")]
impl Temp {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Ready 300ms after serve begins; a serve delayed past its 1s startup timeout fails.
struct Manual;
#[service(
    restart = "permanent",
    ready = "manual",
    backoff(base = "250ms", max = "2s"),
    budget(intensity = 4, period = "30s"),
    startup_timeout = "1s",
    shutdown_timeout = "1s"
)]
impl Manual {
    async fn serve(&self, ctx: &ServiceContext) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ctx.mark_ready();
        ctx.cancelled().await;
    }
}

/// The one dependency, registered by type.
struct Root;
#[service(
    restart = "permanent",
    name = "root",
    backoff(base = "1s"),
    budget(intensity = 2, period = "1m"),
    startup_timeout = "2s",
    shutdown_timeout = "2s"
)]
impl Root {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Depends on `root`; many instances, by name.
struct Leaf;
#[service(
    restart = "transient",
    depends_on(Svc<Root>),
    backoff(base = "200ms"),
    cooldown = "2s",
    max_cooldown_cycles = 1,
    startup_timeout = "2s",
    shutdown_timeout = "1s"
)]
impl Leaf {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// What one call of a hook or serve did, seen from outside the fault injection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Returned this error (its `Display`).
    Err(String),
    /// Panicked with this message.
    Panicked(String),
    /// Dropped before it finished: a hook cut off by its timeout, or an aborted serve.
    Dropped,
}

impl Outcome {
    fn is_failure(&self) -> bool {
        *self != Outcome::Ok
    }
}

#[derive(Debug, Clone)]
struct Call {
    what: &'static str,
    outcome: Outcome,
    /// Whether the run was live when the call ended: Starting or Running, not asked to
    /// stop, no hook running. A serve failing then must be published as an event.
    live: bool,
    /// When it ended.
    at: Instant,
    /// Where it ended in the journal.
    pos: usize,
}

/// What one service instance's calls did.
struct Track {
    name: Arc<str>,
    /// The case's journal, shared by every instance.
    journal: Arc<Journal>,
    hooks: AtomicUsize,
    serves: AtomicUsize,
    calls: Mutex<Vec<Call>>,
    violations: Mutex<Vec<String>>,
    /// Hook, serve and child futures created and not dropped yet (counted from the
    /// moment the future exists, not from its first poll), and how many were created.
    alive: AtomicUsize,
    created: AtomicUsize,
    /// The instructions armed for each point: what the next call there does from inside.
    acts: Mutex<HashMap<Point, VecDeque<Armed>>>,
    /// Wakes a running `serve` when an act is armed for it.
    acts_changed: Notify,
    /// Calls from inside (`shutdown()`, `restart`) that `serve` itself awaits right now.
    serve_inside: AtomicUsize,
}

impl Track {
    fn new(name: Arc<str>, journal: Arc<Journal>) -> Self {
        Track {
            name,
            journal,
            hooks: AtomicUsize::default(),
            serves: AtomicUsize::default(),
            calls: Mutex::default(),
            violations: Mutex::default(),
            alive: AtomicUsize::default(),
            created: AtomicUsize::default(),
            acts: Mutex::default(),
            acts_changed: Notify::new(),
            serve_inside: AtomicUsize::default(),
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn arm(&self, point: Point, armed: Armed) {
        self.acts
            .lock()
            .unwrap()
            .entry(point)
            .or_default()
            .push_back(armed);
        self.acts_changed.notify_waiters();
    }

    fn take_act(&self, point: Point) -> Option<Armed> {
        self.acts
            .lock()
            .unwrap()
            .get_mut(&point)
            .and_then(VecDeque::pop_front)
    }

    /// Completes with the next act armed for `serve`.
    async fn next_serve_act(&self) -> Armed {
        loop {
            let changed = self.acts_changed.notified();
            if let Some(armed) = self.take_act(Point::Serve) {
                return armed;
            }
            changed.await;
        }
    }
}

/// Counts a hook, serve or child future as alive from its creation to its drop.
struct Life(Arc<Track>);

impl Life {
    fn new(track: &Arc<Track>) -> Self {
        track.alive.fetch_add(1, Ordering::SeqCst);
        track.created.fetch_add(1, Ordering::SeqCst);
        Life(track.clone())
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a service does from inside, on an instruction (`Op::Act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// `ctx.shutdown_app(reason)`, which returns at once.
    ShutdownApp,
    /// `ctx.app().shutdown().await`.
    AwaitShutdown,
    /// `ctx.app().restart_by_name(own name).await`.
    RestartSelf,
}

/// An act armed for the next call of a point; `in_child` does it in a `ctx.spawn` task
/// (which then waits for its run's cancellation) instead of in the call itself.
#[derive(Debug, Clone, Copy)]
struct Armed {
    act: Act,
    in_child: bool,
    /// The operation's index, for the shutdown reason.
    op: usize,
}

/// Counts a call from inside `serve` while it is awaited.
struct ServeInside<'a>(Option<&'a Track>);

impl Drop for ServeInside<'_> {
    fn drop(&mut self) {
        if let Some(track) = self.0 {
            track.serve_inside.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Does `armed` from inside the run of `ctx`: in the calling hook or serve (`serve` says
/// whether that is serve), or in a child task.
async fn perform(track: &Arc<Track>, ctx: &ServiceContext, armed: Armed, serve: bool) {
    if armed.in_child {
        let (track, child_ctx) = (track.clone(), ctx.clone());
        let life = Life::new(&track);
        // made before the spawn: a child dropped before its first poll counts too
        let child = ChildGuard {
            track: track.clone(),
            done: std::cell::Cell::new(false),
        };
        ctx.spawn(async move {
            let _life = life;
            act_now(&track, &child_ctx, armed, false).await;
            child_ctx.cancelled().await;
            child.done.set(true);
        });
    } else {
        act_now(track, ctx, armed, serve).await;
    }
}

async fn act_now(track: &Track, ctx: &ServiceContext, armed: Armed, serve: bool) {
    let journal = &track.journal;
    let app = ctx.app();
    let _inside = ServeInside(serve.then(|| {
        track.serve_inside.fetch_add(1, Ordering::SeqCst);
        track
    }));
    match armed.act {
        Act::ShutdownApp => {
            let reason = format!("app-{}", armed.op);
            journal
                .reasons
                .lock()
                .unwrap()
                .push((reason.clone(), app.is_shutting_down()));
            ctx.shutdown_app(reason);
        }
        Act::AwaitShutdown => {
            let report = app.shutdown().await;
            journal
                .inside_reports
                .lock()
                .unwrap()
                .push((track.name.clone(), report));
        }
        Act::RestartSelf => {
            journal.request(&track.name);
            let result = app.restart_by_name(ctx.name()).await;
            journal.inside_restarts.lock().unwrap().push((
                track.name.clone(),
                result.map_or_else(|e| e.to_string(), |()| "ok".to_owned()),
            ));
        }
    }
}

/// Counts a call in while it runs and records how it ended, also when it is dropped.
struct Guard<'a> {
    track: &'a Track,
    ctx: &'a ServiceContext,
    what: &'static str,
    serve: bool,
    outcome: Option<Outcome>,
}

impl<'a> Guard<'a> {
    fn enter(track: &'a Track, ctx: &'a ServiceContext, what: &'static str, serve: bool) -> Self {
        let counter = if serve { &track.serves } else { &track.hooks };
        track.journal.call(&track.name, what, false);
        let others = counter.fetch_add(1, Ordering::SeqCst);
        if others != 0 {
            let kind = if serve { "serve" } else { "hook" };
            track.violations.lock().unwrap().push(format!(
                "`{what}` began while {others} other {kind}(s) of the same service ran"
            ));
        }
        Guard {
            track,
            ctx,
            what,
            serve,
            outcome: None,
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let counter = if self.serve {
            &self.track.serves
        } else {
            &self.track.hooks
        };
        counter.fetch_sub(1, Ordering::SeqCst);
        let pos = self.track.journal.call(&self.track.name, self.what, true);
        let outcome = self.outcome.take().unwrap_or(Outcome::Dropped);
        // (the guard is dropped before the call's future: an act it awaited still counts)
        if self.serve
            && outcome == Outcome::Dropped
            && self.track.serve_inside.load(Ordering::SeqCst) != 0
        {
            self.track
                .journal
                .cut_while_inside
                .lock()
                .unwrap()
                .push((self.track.name.clone(), Instant::now()));
        }
        // a serve ending during `after_initialize` is seen once that hook returns, and
        // when the hook fails too, the hook's error is the one published
        let live = matches!(self.ctx.status(), Status::Starting | Status::Running)
            && !self.ctx.is_cancelled()
            && self.track.hooks.load(Ordering::SeqCst) == 0;
        self.track.calls.lock().unwrap().push(Call {
            what: self.what,
            outcome,
            live,
            at: Instant::now(),
            pos,
        });
    }
}

/// Records a child task dropped before it finished (cut off by its run's stop) as a
/// failure of `children`.
struct ChildGuard {
    track: Arc<Track>,
    done: std::cell::Cell<bool>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.done.get() {
            return;
        }
        let pos = self.track.journal.call(&self.track.name, "children", true);
        self.track.calls.lock().unwrap().push(Call {
            what: "children",
            outcome: Outcome::Dropped,
            live: false,
            at: Instant::now(),
            pos,
        });
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs `fut`, recording its outcome (a panic is recorded, then resumed).
async fn observe<F: Future<Output = Result<(), BoxError>>>(
    track: &Track,
    ctx: &ServiceContext,
    what: &'static str,
    serve: bool,
    fut: F,
) -> Result<(), BoxError> {
    // `fut` is declared first so that it is dropped after the guard
    let mut fut = std::pin::pin!(fut);
    let mut guard = Guard::enter(track, ctx, what, serve);
    let result = std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await;
    match result {
        Ok(result) => {
            guard.outcome = Some(match &result {
                Ok(()) => Outcome::Ok,
                Err(error) => Outcome::Err(error.to_string()),
            });
            result
        }
        Err(payload) => {
            guard.outcome = Some(Outcome::Panicked(panic_message(&*payload)));
            drop(guard);
            std::panic::resume_unwind(payload)
        }
    }
}

/// Observes every hook and serve call of the service it wraps.
struct Tracked<T> {
    inner: T,
    track: Arc<Track>,
}

impl<T: Service> Tracked<T> {
    /// A hook call: alive from now, does the act armed for `point` first, if any.
    fn hook(
        &self,
        point: Point,
        what: &'static str,
        ctx: &ServiceContext,
        inner: impl Future<Output = Result<(), BoxError>> + Send,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let life = Life::new(&self.track);
        async move {
            let _life = life;
            let armed = self.track.take_act(point);
            let fut = async {
                if let Some(armed) = armed {
                    perform(&self.track, ctx, armed, false).await;
                }
                inner.await
            };
            observe(&self.track, ctx, what, false, fut).await
        }
    }
}

impl<T: Service> Hooks for Tracked<T> {
    const DEPENDS_ON: &'static [Dependency] = T::DEPENDS_ON;

    fn display_name() -> Cow<'static, str> {
        T::display_name()
    }

    fn before_initialize(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let inner = self.inner.before_initialize(ctx);
        self.hook(Point::BeforeInitialize, "before_initialize", ctx, inner)
    }
    fn on_initialize(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let inner = self.inner.on_initialize(ctx);
        self.hook(Point::OnInitialize, "on_initialize", ctx, inner)
    }
    fn after_initialize(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let inner = self.inner.after_initialize(ctx);
        self.hook(Point::AfterInitialize, "after_initialize", ctx, inner)
    }
    fn before_shutdown(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let inner = self.inner.before_shutdown(ctx);
        self.hook(Point::BeforeShutdown, "before_shutdown", ctx, inner)
    }
    fn on_shutdown(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let inner = self.inner.on_shutdown(ctx);
        self.hook(Point::OnShutdown, "on_shutdown", ctx, inner)
    }
    fn after_shutdown(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let inner = self.inner.after_shutdown(ctx);
        self.hook(Point::AfterShutdown, "after_shutdown", ctx, inner)
    }
}

impl<T: Service> Service for Tracked<T> {
    const RESTART_SPEC: RestartSpec = T::RESTART_SPEC;

    /// The wrapped serve, and meanwhile every act armed for serve (also one armed while
    /// it runs), each done once.
    fn serve(&self, ctx: &ServiceContext) -> impl Future<Output = Result<(), BoxError>> + Send {
        let life = Life::new(&self.track);
        async move {
            let _life = life;
            let inner = self.inner.serve(ctx);
            let fut = async {
                let acts = async {
                    loop {
                        let armed = self.track.next_serve_act().await;
                        perform(&self.track, ctx, armed, true).await;
                    }
                };
                tokio::select! {
                    biased;
                    result = inner => result,
                    never = acts => never,
                }
            };
            observe(&self.track, ctx, "serve", true, fut).await
        }
    }

    fn is_fatal(error: &(dyn std::error::Error + 'static)) -> bool {
        T::is_fatal(error)
    }

    fn is_non_retryable(error: &(dyn std::error::Error + 'static)) -> bool {
        T::is_non_retryable(error)
    }
}

/// One entry of a case's journal.
#[derive(Debug, Clone)]
enum Entry {
    Event(StatusEvent),
    /// A hook or serve call of `service` began (`end` false) or ended.
    Call {
        service: Arc<str>,
        what: &'static str,
        end: bool,
    },
    /// A restart of `service` was asked for: by an operator or by the service itself.
    Request {
        service: Arc<str>,
    },
}

/// The status events and the hook calls of a case in the one order they happened: the
/// events are published synchronously, so draining them before recording each call
/// places every call exactly among them (the runtime is single-threaded).
#[derive(Default)]
struct Journal {
    rx: Mutex<Option<hassette_runtime::EventReceiver<StatusEvent>>>,
    entries: Mutex<Vec<Entry>>,
    /// Every `ctx.shutdown_app` call: its reason and whether the shutdown had begun.
    reasons: Mutex<Vec<(String, bool)>>,
    /// What `shutdown()` awaited from inside a service returned.
    inside_reports: Mutex<Vec<(Arc<str>, ShutdownReport)>>,
    /// What `restart_by_name` of its own name, awaited from inside a service, returned.
    inside_restarts: Mutex<Vec<(Arc<str>, String)>>,
    /// A serve dropped (aborted) while it awaited a call from inside, and when.
    cut_while_inside: Mutex<Vec<(Arc<str>, Instant)>>,
}

impl Journal {
    fn drain(&self) {
        let mut rx = self.rx.lock().unwrap();
        let Some(rx) = rx.as_mut() else { return };
        let mut entries = self.entries.lock().unwrap();
        while let Ok(event) = rx.try_recv() {
            entries.push(Entry::Event(event));
        }
    }

    /// Records a call's beginning or end; returns its position.
    fn call(&self, service: &Arc<str>, what: &'static str, end: bool) -> usize {
        self.drain();
        let mut entries = self.entries.lock().unwrap();
        entries.push(Entry::Call {
            service: service.clone(),
            what,
            end,
        });
        entries.len() - 1
    }

    /// Records a restart request; returns its position.
    fn request(&self, service: &Arc<str>) -> usize {
        self.drain();
        let mut entries = self.entries.lock().unwrap();
        entries.push(Entry::Request {
            service: service.clone(),
        });
        entries.len() - 1
    }

    /// The journal's length now.
    fn mark(&self) -> usize {
        self.drain();
        self.entries.lock().unwrap().len()
    }

    fn entries(&self) -> Vec<Entry> {
        self.drain();
        self.entries.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Perm,
    Trans,
    TransNr,
    Temp,
    Manual,
    Leaf,
    /// `root`, registered by type when the scenario has a `Leaf` or asks for it.
    Root,
}

impl Kind {
    fn spec(self) -> RestartSpec {
        match self {
            Kind::Root => <Svc<Root> as Service>::RESTART_SPEC,
            Kind::Perm => <Svc<Perm> as Service>::RESTART_SPEC,
            Kind::Trans => <Svc<Trans> as Service>::RESTART_SPEC,
            Kind::TransNr => <Svc<TransNr> as Service>::RESTART_SPEC,
            Kind::Temp => <Svc<Temp> as Service>::RESTART_SPEC,
            Kind::Manual => <Svc<Manual> as Service>::RESTART_SPEC,
            Kind::Leaf => <Svc<Leaf> as Service>::RESTART_SPEC,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    Error,
    Fatal,
    Panic,
    Hang,
    DelayMs(u64),
    Return,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `start()`, in a task of its own (so the next operations run during it).
    Start,
    /// `start()` under `tokio::time::timeout(limit_ms)` (dropped half-way when the limit
    /// runs out), then, `again_ms` later or when the shutdown begins, `start()` again; in
    /// a task of its own.
    StartDropped { limit_ms: u64, again_ms: u64 },
    /// Arm a fault for the next call of `point` of service `service % count`.
    Inject(u8, Point, FaultKind),
    /// Arm an act for the next call of `point` of service `service % count` (in `serve`,
    /// also one that runs already): the call does it from inside, or in a child task.
    Act(u8, Point, Act, bool),
    /// Move the paused clock.
    AdvanceMs(u64),
    /// `restart_by_name`, in a task of its own.
    Restart(u8),
    /// Two `restart_by_name` of one service at once, in a task of their own.
    RestartTwice(u8),
    /// `shutdown()` under `tokio::time::timeout(ms)`, in a task of its own: it begins
    /// the shutdown, and the operations go on during it.
    ShutdownDropped(u64),
    /// `add_named("dyn-{n % 4}", Dyn)` with `children % 3` children, each with a
    /// grandchild when `children / 3` is odd, in a task of its own.
    Add(u8, u8),
    /// `remove("dyn-{n % 4}")`, in a task of its own.
    Remove(u8),
    /// `ensure_child("kid-{k % 3}")` on the context of `dyn-{n % 4}` (its current or
    /// last run, once it served; else of another that served), with a grandchild when
    /// `k / 3` is odd, in a task of its own.
    EnsureChild(u8, u8),
    /// `remove_child("kid-{k % 3}")` on the context picked as for `EnsureChild`, in a
    /// task of its own.
    RemoveChild(u8, u8),
    /// Arm `call` for the serve of the `pick % n`-th of the `n` children and grandchildren
    /// added at run time that are registered now (in the snapshot's order), on its
    /// parent, or on its grandparent when it has one and `up` says so; with none yet, for
    /// `dyn-{pick % 4}/kid-0` (once it serves) on `dyn-{pick % 4}`.
    Family {
        pick: u8,
        up: bool,
        call: FamilyCall,
    },
    /// A unit that is not critical and runs out of restarts: `add_named_with(
    /// "dyn-lamp-{n % 2}", Lamp, critical(false))`, or, with `child`, a critical
    /// `LampHost` of that name whose child `bulb` (a `Lamp`) does; in a task of its own.
    /// Its failure never spreads: no crash, no failed host (checked at the end).
    Exhaust { n: u8, child: bool },
    /// `shutdown()`, or two at once (as a signal arriving during a shutdown); the last
    /// operation: the rest is not run.
    Shutdown { twice: bool },
}

#[derive(Debug, Clone)]
struct Scenario {
    /// The instances registered by name (`root` is added by type when any is a `Leaf`
    /// or `with_root` says so).
    services: Vec<Kind>,
    with_root: bool,
    /// `start()` before the operations.
    start_first: bool,
    ops: Vec<Op>,
    /// The supervision groups, if any.
    layout: Layout,
    /// Where each instance goes (by its index in `instances()`): 0 outside the groups,
    /// 1 in `top`, 2 in `inner` (in `top` when there is no `inner`).
    slots: Vec<u8>,
    /// The app's `shutdown_deadline`, if any.
    deadline_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupSpec {
    strategy: GroupStrategy,
    intensity: u32,
    period_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// No group.
    Flat,
    /// One top-level group, `top`.
    Top(GroupSpec),
    /// `top`, with a nested group `inner` among its members.
    Nested(GroupSpec, GroupSpec),
}

/// The registration tree: instances (by their index in `instances()`) and groups.
#[derive(Debug)]
enum Node {
    Unit(usize),
    Group(&'static str, GroupSpec, Vec<Node>),
}

impl Node {
    fn flatten(nodes: &[Node], out: &mut Vec<usize>) {
        for node in nodes {
            match node {
                Node::Unit(i) => out.push(*i),
                Node::Group(_, _, members) => Node::flatten(members, out),
            }
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Perm),
        Just(Kind::Trans),
        Just(Kind::TransNr),
        Just(Kind::Temp),
        Just(Kind::Manual),
        Just(Kind::Leaf),
    ]
}

fn group_spec() -> impl Strategy<Value = GroupSpec> {
    (
        prop_oneof![
            Just(GroupStrategy::OneForOne),
            Just(GroupStrategy::OneForAll),
            Just(GroupStrategy::RestForOne),
        ],
        1u32..=4,
        prop_oneof![Just(500u64), Just(5_000), Just(60_000)],
    )
        .prop_map(|(strategy, intensity, period_ms)| GroupSpec {
            strategy,
            intensity,
            period_ms,
        })
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        1 => Just(Layout::Flat),
        2 => group_spec().prop_map(Layout::Top),
        2 => (group_spec(), group_spec()).prop_map(|(top, inner)| Layout::Nested(top, inner)),
    ]
}

fn point() -> impl Strategy<Value = Point> {
    prop_oneof![
        3 => Just(Point::Serve),
        1 => Just(Point::BeforeInitialize),
        1 => Just(Point::OnInitialize),
        1 => Just(Point::AfterInitialize),
        1 => Just(Point::BeforeShutdown),
        1 => Just(Point::OnShutdown),
        1 => Just(Point::AfterShutdown),
    ]
}

fn fault() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        5 => Just(FaultKind::Error),
        1 => Just(FaultKind::Fatal),
        2 => Just(FaultKind::Panic),
        1 => Just(FaultKind::Hang),
        2 => (0u64..4000).prop_map(FaultKind::DelayMs),
        1 => Just(FaultKind::Return),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        Just(Act::ShutdownApp),
        Just(Act::AwaitShutdown),
        Just(Act::RestartSelf),
    ]
}

fn family_call() -> impl Strategy<Value = FamilyCall> {
    prop_oneof![
        Just(FamilyCall::Restart),
        Just(FamilyCall::Stop),
        Just(FamilyCall::Remove),
        Just(FamilyCall::RemoveChild),
        Just(FamilyCall::EnsureChild),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Start),
        1 => (prop_oneof![Just(0u64), 0u64..20, 0u64..3000], 0u64..2000)
            .prop_map(|(limit_ms, again_ms)| Op::StartDropped { limit_ms, again_ms }),
        12 => (any::<u8>(), point(), fault()).prop_map(|(s, p, f)| Op::Inject(s, p, f)),
        3 => (any::<u8>(), point(), act(), prop::bool::weighted(0.25))
            .prop_map(|(s, p, a, child)| Op::Act(s, p, a, child)),
        6 => prop_oneof![0u64..50, 0u64..6000].prop_map(Op::AdvanceMs),
        2 => any::<u8>().prop_map(Op::Restart),
        1 => any::<u8>().prop_map(Op::RestartTwice),
        1 => prop_oneof![Just(0u64), 0u64..20, 0u64..8000].prop_map(Op::ShutdownDropped),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(n, children)| Op::Add(n, children)),
        1 => any::<u8>().prop_map(Op::Remove),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(n, k)| Op::EnsureChild(n, k)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(n, k)| Op::RemoveChild(n, k)),
        3 => (any::<u8>(), any::<bool>(), family_call())
            .prop_map(|(pick, up, call)| Op::Family { pick, up, call }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(n, child)| Op::Exhaust { n, child }),
        2 => any::<bool>().prop_map(|twice| Op::Shutdown { twice }),
    ]
}

/// Random scenarios.
fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(kind(), 1..=6),
        any::<bool>(),
        prop::bool::weighted(0.85),
        prop::collection::vec(op(), 0..40),
        layout(),
        prop::collection::vec(prop_oneof![1 => Just(0u8), 2 => Just(1), 2 => Just(2)], 7),
        prop_oneof![
            4 => Just(None),
            1 => prop_oneof![Just(0u64), 0u64..500, 0u64..10_000].prop_map(Some),
        ],
    )
        .prop_map(
            |(services, with_root, start_first, ops, layout, slots, deadline_ms)| Scenario {
                services,
                with_root,
                start_first,
                ops,
                layout,
                slots,
                deadline_ms,
            },
        )
}

impl Scenario {
    /// The kinds of the registered instances, in registration order.
    fn instances(&self) -> Vec<Kind> {
        let root = self.with_root || self.services.contains(&Kind::Leaf);
        root.then_some(Kind::Root)
            .into_iter()
            .chain(self.services.iter().copied())
            .collect()
    }

    /// Which group instance `i` is in: 0 none, 1 `top` (directly), 2 `inner`.
    fn slot(&self, i: usize) -> u8 {
        match self.layout {
            Layout::Flat => 0,
            Layout::Top(_) => self.slots[i].min(1),
            Layout::Nested(..) => self.slots[i].min(2),
        }
    }

    /// What to register, in order: a group goes where its first member is, so `root`
    /// (the first instance) comes before every leaf, in a group or not.
    fn tree(&self) -> Vec<Node> {
        let (mut out, mut top, mut inner) = (Vec::new(), Vec::new(), Vec::new());
        let (mut top_at, mut inner_at) = (None, None);
        for i in 0..self.instances().len() {
            match self.slot(i) {
                0 => out.push(Node::Unit(i)),
                1 => {
                    top_at.get_or_insert(out.len());
                    top.push(Node::Unit(i));
                }
                _ => {
                    top_at.get_or_insert(out.len());
                    inner_at.get_or_insert(top.len());
                    inner.push(Node::Unit(i));
                }
            }
        }
        if let (Some(at), Layout::Nested(_, spec)) = (inner_at, self.layout) {
            top.insert(at, Node::Group("inner", spec, inner));
        }
        if let (Some(at), Layout::Top(spec) | Layout::Nested(spec, _)) = (top_at, self.layout) {
            out.insert(at, Node::Group("top", spec, top));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Panics: injected ones are expected (and kept quiet); any other one, inside the runtime's
// tasks included, fails the case.

const INJECTED: &str = "injected-";

thread_local! {
    static UNEXPECTED_PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// Set while a case runs: its panics are part of its verdict, not printed.
    static IN_CASE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = panic_message(info.payload());
            if message.starts_with(INJECTED) {
                return;
            }
            // the runtime's own tasks catch panics: keep them for the case's verdict
            let location = info.location().map(ToString::to_string).unwrap_or_default();
            UNEXPECTED_PANICS.with(|p| {
                p.borrow_mut().push(format!("{message} (at {location})"));
            });
            if !IN_CASE.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------
// Running a scenario.

struct Instance {
    name: Arc<str>,
    kind: Kind,
    track: Arc<Track>,
    /// 0 outside the groups, 1 in `top` (directly), 2 in `inner`.
    slot: u8,
}

/// The app's builder or a group's.
trait Register: Sized {
    fn add<T: Service>(self, name: Option<&str>, svc: T) -> Self;
    fn nest(self, name: &str, spec: GroupSpec, members: &[Node], cx: &Registering<'_>) -> Self;
}

impl Register for hassette_runtime::Builder {
    fn add<T: Service>(self, name: Option<&str>, svc: T) -> Self {
        match name {
            Some(name) => self.service_named(name, svc),
            None => self.service(svc),
        }
    }
    fn nest(self, name: &str, spec: GroupSpec, members: &[Node], cx: &Registering<'_>) -> Self {
        self.group(name, spec.strategy, |g| {
            let g = g.budget(spec.intensity, Duration::from_millis(spec.period_ms));
            add_nodes(g, members, cx)
        })
    }
}

impl Register for GroupBuilder {
    fn add<T: Service>(self, name: Option<&str>, svc: T) -> Self {
        match name {
            Some(name) => self.service_named(name, svc),
            None => self.service(svc),
        }
    }
    fn nest(self, name: &str, spec: GroupSpec, members: &[Node], cx: &Registering<'_>) -> Self {
        self.group(name, spec.strategy, |g| {
            let g = g.budget(spec.intensity, Duration::from_millis(spec.period_ms));
            add_nodes(g, members, cx)
        })
    }
}

/// What registering needs: the instances (in `instances()` order) and the faults.
struct Registering<'a> {
    instances: &'a [Instance],
    faults: &'a Faults,
}

fn add_nodes<B: Register>(mut b: B, nodes: &[Node], cx: &Registering<'_>) -> B {
    for node in nodes {
        b = match node {
            Node::Unit(i) => {
                let instance = &cx.instances[*i];
                let named = Some(&*instance.name);
                match instance.kind {
                    Kind::Root => register(b, None, Root, cx.faults, &instance.track),
                    Kind::Perm => register(b, named, Perm, cx.faults, &instance.track),
                    Kind::Trans => register(b, named, Trans, cx.faults, &instance.track),
                    Kind::TransNr => register(b, named, TransNr, cx.faults, &instance.track),
                    Kind::Temp => register(b, named, Temp, cx.faults, &instance.track),
                    Kind::Manual => register(b, named, Manual, cx.faults, &instance.track),
                    Kind::Leaf => register(b, named, Leaf, cx.faults, &instance.track),
                }
            }
            Node::Group(name, spec, members) => b.nest(name, *spec, members, cx),
        };
    }
    b
}

fn register<B: Register, T: Service>(
    builder: B,
    name: Option<&str>,
    inner: T,
    faults: &Faults,
    track: &Arc<Track>,
) -> B {
    let svc = Tracked {
        inner: Faulty::new(inner, faults),
        track: track.clone(),
    };
    builder.add(name, svc)
}

fn fault_for(kind: FaultKind, message: &str) -> Fault {
    match kind {
        FaultKind::Error => Fault::Error(message.to_owned()),
        FaultKind::Fatal => Fault::Fatal(message.to_owned()),
        FaultKind::Panic => Fault::Panic(message.to_owned()),
        FaultKind::Hang => Fault::Hang,
        FaultKind::DelayMs(ms) => Fault::Delay(Duration::from_millis(ms)),
        FaultKind::Return => Fault::Return,
    }
}

/// How long the runtime waits for a task it aborted (`hassette_runtime`'s `ABORT_GRACE`).
const ABORT_GRACE: Duration = Duration::from_millis(100);

/// Runs the scenario and checks every invariant; the error says which one broke and how.
async fn run(s: &Scenario) -> Result<(), String> {
    let case_began = Instant::now();
    let faults = Faults::new();
    let journal = Arc::new(Journal::default());
    let mut instances: Vec<Instance> = s
        .instances()
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let name: Arc<str> = match kind {
                Kind::Root => "root".into(),
                _ => format!("{kind:?}-{i}").to_lowercase().into(),
            };
            Instance {
                track: Arc::new(Track::new(name.clone(), journal.clone())),
                name,
                kind,
                slot: s.slot(i),
            }
        })
        .collect();
    let tree = s.tree();
    let builder = add_nodes(
        hassette_runtime::Hassette::builder(),
        &tree,
        &Registering {
            instances: &instances,
            faults: &faults,
        },
    );
    // from here on, the instances are in registration order
    let mut order = Vec::new();
    Node::flatten(&tree, &mut order);
    let mut slots: Vec<Option<Instance>> = instances.drain(..).map(Some).collect();
    let instances: Vec<Instance> = order.iter().filter_map(|&i| slots[i].take()).collect();

    let builder = match s.deadline_ms {
        Some(ms) => builder.shutdown_deadline(Duration::from_millis(ms)),
        None => builder,
    };
    let mut t = TestApp::new(builder).map_err(|e| format!("build failed: {e}"))?;
    let app = t.app().clone();
    *journal.rx.lock().unwrap() = Some(app.events());
    // when the shutdown begins (a call, a crash or an exhausted group): the runtime is
    // single-threaded and the clock paused, so this task runs at that very instant
    let shutdown_at = {
        let app = app.clone();
        tokio::spawn(async move {
            app.shutdown_begun().await;
            Instant::now()
        })
    };
    // Every call of the operations, each in a task of its own: `Ok(what it returned)`,
    // or `Err(a broken invariant it saw)`.
    type Calls = Vec<(String, JoinHandle<Result<String, String>>)>;
    let mut calls: Calls = Vec::new();
    // What every `start()` that returned returned.
    let starts: Arc<Mutex<Vec<String>>> = Arc::default();
    // Every report a `shutdown()` outside the app returned, and which call it was.
    let reports: Arc<Mutex<Vec<(&'static str, ShutdownReport)>>> = Arc::default();
    // Two restarts of one service at once: the service and their journal window.
    type Window = (Arc<str>, usize, usize);
    let windows: Arc<Mutex<Vec<Window>>> = Arc::default();
    async fn start_outcome(app: &hassette_runtime::Hassette) -> String {
        match app.start().await {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }
    let start = |calls: &mut Calls| {
        let (app, starts) = (app.clone(), starts.clone());
        calls.push((
            "start".into(),
            tokio::spawn(async move {
                let outcome = start_outcome(&app).await;
                starts.lock().unwrap().push(outcome.clone());
                Ok(outcome)
            }),
        ));
    };
    let restart_text = |result: Result<(), hassette_runtime::RestartError>| match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    if s.start_first {
        start(&mut calls);
        t.settle().await;
    }
    // Every unit added at run time that got registered (parents and children).
    let registered: Arc<AtomicUsize> = Arc::default();
    let kin: Arc<Kinship> = Arc::default();
    let mut added_any = false;
    let mut twice = false;
    for (i, op) in s.ops.iter().enumerate() {
        match *op {
            Op::Start => {
                start(&mut calls);
                t.settle().await;
            }
            Op::StartDropped { limit_ms, again_ms } => {
                let (app, starts) = (app.clone(), starts.clone());
                calls.push((
                    format!("start dropped after {limit_ms}ms, then again"),
                    tokio::spawn(async move {
                        let limit = Duration::from_millis(limit_ms);
                        if let Ok(first) = tokio::time::timeout(limit, start_outcome(&app)).await {
                            starts.lock().unwrap().push(first);
                        }
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(again_ms)) => {}
                            () = app.shutdown_begun() => {}
                        }
                        let again = start_outcome(&app).await;
                        starts.lock().unwrap().push(again.clone());
                        Ok(again)
                    }),
                ));
                t.settle().await;
            }
            Op::Inject(svc, point, kind) => {
                let target = &instances[usize::from(svc) % instances.len()];
                faults.inject(
                    &target.name,
                    point,
                    fault_for(kind, &format!("{INJECTED}{i}")),
                );
                t.settle().await;
            }
            Op::Act(svc, point, act, in_child) => {
                let target = &instances[usize::from(svc) % instances.len()];
                target.track.arm(
                    point,
                    Armed {
                        act,
                        in_child,
                        op: i,
                    },
                );
                t.settle().await;
            }
            Op::AdvanceMs(ms) => t.advance(Duration::from_millis(ms)).await,
            Op::Restart(svc) => {
                let name = instances[usize::from(svc) % instances.len()].name.clone();
                let (app, journal) = (app.clone(), journal.clone());
                calls.push((
                    format!("restart {name}"),
                    tokio::spawn(async move {
                        journal.request(&name);
                        Ok(restart_text(app.restart_by_name(&name).await))
                    }),
                ));
                t.settle().await;
            }
            Op::RestartTwice(svc) => {
                let name = instances[usize::from(svc) % instances.len()].name.clone();
                let (app, journal, windows) = (app.clone(), journal.clone(), windows.clone());
                calls.push((
                    format!("two restarts of {name} at once"),
                    tokio::spawn(async move {
                        let begin = journal.request(&name);
                        let (a, b) =
                            tokio::join!(app.restart_by_name(&name), app.restart_by_name(&name));
                        let end = journal.mark();
                        windows.lock().unwrap().push((name.clone(), begin, end));
                        let (a, b) = (restart_text(a), restart_text(b));
                        if a == b {
                            Ok(a)
                        } else {
                            Err(format!(
                                "two restarts of `{name}` at once returned `{a}` and `{b}`"
                            ))
                        }
                    }),
                ));
                t.settle().await;
            }
            Op::ShutdownDropped(ms) => {
                let (app, reports) = (app.clone(), reports.clone());
                calls.push((
                    format!("shutdown dropped after {ms}ms"),
                    tokio::spawn(async move {
                        let limit = Duration::from_millis(ms);
                        match tokio::time::timeout(limit, app.shutdown()).await {
                            Ok(report) => {
                                let what = "a shutdown that finished within its timeout";
                                reports.lock().unwrap().push((what, report));
                                Ok("report".to_owned())
                            }
                            Err(_) => Ok("dropped".to_owned()),
                        }
                    }),
                ));
                t.settle().await;
            }
            Op::Add(n, children) => {
                let (app, registered, kin) = (app.clone(), registered.clone(), kin.clone());
                added_any = true;
                calls.push((
                    format!("add dyn-{}", n % 4),
                    tokio::spawn(async move {
                        let dyn_ = Dyn {
                            children: children % 3,
                            grandchildren: children / 3 % 2 == 1,
                            kin,
                            registered: registered.clone(),
                        };
                        match app.add_named(format!("dyn-{}", n % 4), dyn_).await {
                            Ok(_) => {
                                registered.fetch_add(1, Ordering::SeqCst);
                                Ok("added".to_owned())
                            }
                            Err(
                                e @ (hassette_runtime::AddError::Start(_)
                                | hassette_runtime::AddError::WaitCycle { .. }),
                            ) => {
                                registered.fetch_add(1, Ordering::SeqCst);
                                Ok(e.to_string())
                            }
                            Err(e) => Ok(e.to_string()),
                        }
                    }),
                ));
                t.settle().await;
            }
            Op::Remove(n) => {
                let app = app.clone();
                calls.push((
                    format!("remove dyn-{}", n % 4),
                    tokio::spawn(async move {
                        match app.remove(&format!("dyn-{}", n % 4)).await {
                            Ok(report)
                                if report.status.is_terminal()
                                    || report.status == Status::NotStarted =>
                            {
                                Ok("removed".to_owned())
                            }
                            Ok(report) => Err(format!(
                                "`{}` was removed, but its report says {}",
                                report.name, report.status
                            )),
                            Err(e) => Ok(e.to_string()),
                        }
                    }),
                ));
                t.settle().await;
            }
            Op::EnsureChild(n, k) => {
                let Some((parent, ctx)) = kin.pick(n) else {
                    continue;
                };
                let (registered, kin) = (registered.clone(), kin.clone());
                let name = format!("kid-{}", k % 3);
                calls.push((
                    format!("ensure_child {parent}/{name}"),
                    tokio::spawn(async move {
                        Ok(kin.ensure(&ctx, &name, k / 3 % 2 == 1, &registered).await)
                    }),
                ));
                t.settle().await;
            }
            Op::RemoveChild(n, k) => {
                let Some((parent, ctx)) = kin.pick(n) else {
                    continue;
                };
                let name = format!("kid-{}", k % 3);
                calls.push((
                    format!("remove_child {parent}/{name}"),
                    tokio::spawn(async move {
                        match ctx.remove_child(&name).await {
                            Ok(report)
                                if report.status.is_terminal()
                                    || report.status == Status::NotStarted =>
                            {
                                Ok("removed".to_owned())
                            }
                            Ok(report) => Err(format!(
                                "`{}` was removed, but its report says {}",
                                report.name, report.status
                            )),
                            Err(e) => Ok(e.to_string()),
                        }
                    }),
                ));
                t.settle().await;
            }
            Op::Family { pick, up, call } => {
                let kin_now: Vec<Arc<str>> = app
                    .snapshot()
                    .into_iter()
                    .map(|snapshot| snapshot.name)
                    .filter(|name| name.starts_with("dyn-") && name.contains('/'))
                    .collect();
                let (caller, target) = match kin_now.is_empty() {
                    true => {
                        let parent = format!("dyn-{}", pick % 4);
                        (format!("{parent}/kid-0"), parent)
                    }
                    false => {
                        let caller = &kin_now[usize::from(pick) % kin_now.len()];
                        let parent = caller.rsplit_once('/').map_or("", |(parent, _)| parent);
                        let target = match (up, parent.rsplit_once('/')) {
                            (true, Some((grandparent, _))) => grandparent,
                            _ => parent,
                        };
                        (caller.to_string(), target.to_owned())
                    }
                };
                kin.arm(caller, call, target);
                t.settle().await;
            }
            Op::Exhaust { n, child } => {
                let (app, registered) = (app.clone(), registered.clone());
                added_any = true;
                let name = format!("dyn-lamp-{}", n % 2);
                calls.push((
                    format!("add {name} (child: {child})"),
                    tokio::spawn(async move {
                        let added = match child {
                            true => {
                                let host = LampHost {
                                    registered: registered.clone(),
                                    runs: AtomicUsize::new(0),
                                };
                                app.add_named(name, host).await
                            }
                            false => {
                                let overrides = hassette_runtime::Overrides::new().critical(false);
                                app.add_named_with(name, Lamp, overrides).await
                            }
                        };
                        match added {
                            Ok(_) => {
                                registered.fetch_add(1, Ordering::SeqCst);
                                Ok("added".to_owned())
                            }
                            Err(
                                e @ (hassette_runtime::AddError::Start(_)
                                | hassette_runtime::AddError::WaitCycle { .. }),
                            ) => {
                                registered.fetch_add(1, Ordering::SeqCst);
                                Ok(e.to_string())
                            }
                            Err(e) => Ok(e.to_string()),
                        }
                    }),
                ));
                t.settle().await;
            }
            Op::Shutdown { twice: both } => {
                twice = both;
                break;
            }
        }
    }

    // 13. the tree before the shutdown: every service added at run time lists each of
    // its children once, each one registered under its parent's name
    let mut tree = Vec::new();
    let contexts: Vec<(String, ServiceContext)> = kin
        .contexts
        .lock()
        .unwrap()
        .iter()
        .map(|(name, ctx)| (name.clone(), ctx.clone()))
        .collect();
    for (parent, ctx) in contexts {
        let mut listed: Vec<String> = ctx
            .children()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        for child in &listed {
            if !child.starts_with(&format!("{parent}/")) || app.handle(child).is_err() {
                tree.push(format!(
                    "`{parent}` lists `{child}`, which is not its registered child"
                ));
            }
        }
        listed.sort_unstable();
        if let Some(twice) = listed.windows(2).find(|w| w[0] == w[1]) {
            tree.push(format!("`{parent}` lists `{}` twice", twice[0]));
        }
    }
    // The shutdown: the outermost call, whose return is checked at once.
    let began = Instant::now();
    let report = if twice {
        let (a, b) = tokio::join!(app.shutdown(), app.shutdown());
        reports
            .lock()
            .unwrap()
            .push(("the second of two at once", b));
        a
    } else {
        app.shutdown().await
    };
    // 9. right after it returned, before anything else runs: every hook, serve and child
    // future ever created has been dropped (checked again after a settle)
    let alive = |when: &str| {
        instances
            .iter()
            .filter_map(|i| {
                let alive = i.track.alive.load(Ordering::SeqCst);
                (alive != 0).then(|| {
                    format!(
                        "`{}`: {alive} of its {} hook, serve and child futures still alive {when}",
                        i.name,
                        i.track.created.load(Ordering::SeqCst)
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    let alive_at_return = alive("when the shutdown returned");
    t.settle().await;
    let alive_after_settle = alive("after the shutdown returned and the tasks settled");
    let later = app.shutdown().await;
    reports
        .lock()
        .unwrap()
        .push(("a shutdown after it returned", later));
    let events_at_shutdown = t.events().len();
    // 9. every call has returned, without the clock moving
    let mut returned = Vec::new();
    for (what, call) in calls {
        if !call.is_finished() {
            returned.push(format!("`{what}` did not return after the shutdown"));
            call.abort();
            continue;
        }
        match call.await {
            Ok(Ok(result)) if result.is_empty() => {
                returned.push(format!("`{what}` returned an empty error"));
            }
            Ok(Ok(_)) => {}
            Ok(Err(broken)) => returned.push(broken),
            Err(e) => returned.push(format!("`{what}` panicked: {e}")),
        }
    }
    // Nothing may move any more.
    t.advance(Duration::from_secs(120)).await;
    let events: Vec<StatusEvent> = t.events().to_vec();
    let shutdown_at = shutdown_at.await.unwrap_or(began).min(began);

    let mut problems = String::new();
    let mut fail = |line: String| {
        let _ = writeln!(problems, "- {line}");
    };

    for line in tree {
        fail(line);
    }
    if events.len() != events_at_shutdown {
        fail(format!(
            "{} events after the shutdown returned: {:?}",
            events.len() - events_at_shutdown,
            &events[events_at_shutdown..]
        ));
    }
    for line in alive_at_return
        .into_iter()
        .chain(alive_after_settle)
        .chain(returned)
    {
        fail(line);
    }

    // 10. one outcome for every caller
    let starts = std::mem::take(&mut *starts.lock().unwrap());
    if starts.iter().any(|o| *o != starts[0]) {
        fail(format!(
            "the calls of `start()` returned different outcomes: {starts:?}"
        ));
    }
    let same = |r: &ShutdownReport| r.to_string() == report.to_string() && r.took == report.took;
    for (what, other) in reports.lock().unwrap().iter() {
        if !same(other) {
            fail(format!(
                "{what} returned another report (took {:?}, not {:?}):\n{other}",
                other.took, report.took
            ));
        }
    }
    // 11. what the calls from inside returned
    for (name, inside) in journal.inside_reports.lock().unwrap().iter() {
        if !(same(inside) || (inside.services.is_empty() && inside.reason == report.reason)) {
            fail(format!(
                "`{name}` awaited `shutdown()` from inside and got neither the report nor its reason (reason {:?}):\n{inside}",
                inside.reason
            ));
        }
    }
    for (name, result) in journal.inside_restarts.lock().unwrap().iter() {
        let shutting_down = hassette_runtime::RestartError::ShuttingDown {
            service: name.clone(),
        }
        .to_string();
        if *result != "ok" && *result != shutting_down {
            fail(format!(
                "`{name}` restarting itself from inside got `{result}`"
            ));
        }
    }
    // 11. the first reason given before the shutdown began is the report's
    let first_reason = journal
        .reasons
        .lock()
        .unwrap()
        .iter()
        .find(|(_, begun)| !begun)
        .map(|(reason, _)| reason.clone());
    if first_reason.is_some() && report.reason != first_reason {
        fail(format!(
            "`shutdown_app({:?})` began the shutdown, but the report's reason is {:?}",
            first_reason.unwrap_or_default(),
            report.reason
        ));
    }
    // 11. an inside call does not wait on itself: no serve is aborted while it awaits one
    // (unless the shutdown deadline cut everything off)
    let hard_deadline = s
        .deadline_ms
        .map(|ms| shutdown_at + Duration::from_millis(ms));
    for (name, at) in journal.cut_while_inside.lock().unwrap().iter() {
        if hard_deadline.is_none_or(|d| *at < d) {
            fail(format!(
                "`{name}`: serve was aborted while it awaited a call from inside (at {:?})",
                *at - case_began
            ));
        }
    }
    let entries = journal.entries();
    // 10. two restarts of one service at once are one restart: where nothing else can
    // restart it (no failure, no clean exit, no other request, no group), it enters
    // Starting at most once while they run
    for (name, begin, end) in windows.lock().unwrap().iter() {
        if instances.iter().any(|i| i.name == *name && i.slot != 0) {
            continue;
        }
        let (mut quiet, mut starting) = (true, 0);
        for e in &entries[begin + 1..*end] {
            match e {
                Entry::Request { service, .. } if service == name => quiet = false,
                Entry::Event(e) if e.service == *name => match e.to {
                    Status::Starting => starting += 1,
                    Status::Running | Status::Stopping => {}
                    Status::Stopped if e.from == Status::Stopping => {}
                    _ => quiet = false,
                },
                _ => {}
            }
        }
        if quiet && starting > 1 {
            fail(format!(
                "two restarts of `{name}` at once started it {starting} times"
            ));
        }
    }
    // 13. nothing added at run time is lost: every unit that got registered is in the
    // report, live, or in the totals of removed units, and no name is there twice
    let live_added = report
        .services
        .iter()
        .filter(|sr| sr.name.starts_with("dyn-"))
        .count() as u64;
    let registered = registered.load(Ordering::SeqCst) as u64;
    if live_added + report.removed.count != registered {
        fail(format!(
            "{registered} units were added at run time, but the report has {live_added} live and {} removed",
            report.removed.count
        ));
    }
    // 13b. a failure of a unit that is not critical never spreads: no lamp crashed, no
    // host failed for its bulb, and the shutdown is not for one of them
    for e in events.iter().filter(|e| e.service.starts_with("dyn-lamp-")) {
        let for_a_bulb = e.error.as_ref().is_some_and(|error| {
            error
                .downcast_ref::<hassette_runtime::ChildExhausted>()
                .is_some()
        });
        if e.to == Status::Crashed || for_a_bulb {
            fail(format!(
                "`{}` went {} -> {} ({:?}): a unit that is not critical spread its failure",
                e.service, e.from, e.to, e.error
            ));
        }
    }
    if report
        .reason
        .as_deref()
        .is_some_and(|reason| reason.contains("dyn-lamp-"))
    {
        fail(format!(
            "the app shut down for a unit that is not critical: {:?}",
            report.reason
        ));
    }
    // 14. a call from inside a family gets its answer at once, and its caller is not cut
    // off for it
    for (caller, what, took) in kin.made.lock().unwrap().iter() {
        match took {
            Some(took) if took.is_zero() => {}
            Some(took) => fail(format!(
                "`{caller}`: `{what}` took {took:?}; a call on an ancestor answers at once"
            )),
            None => fail(format!(
                "`{caller}`: its serve was dropped while it awaited `{what}`"
            )),
        }
    }
    if !report.deadline_exceeded {
        let added = report.services.iter().chain(&report.removed.last_failures);
        for sr in added.filter(|sr| sr.name.starts_with("dyn-") && sr.aborted) {
            fail(format!(
                "`{}`, added at run time, had its stop cut off:\n{sr:?}",
                sr.name
            ));
        }
    }
    let mut names: Vec<&str> = report.services.iter().map(|sr| &*sr.name).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        fail(format!("`{}` is in the report twice", twice[0]));
    }
    // 12. no panic in the runtime's tasks: no supervisor lost (a panicked supervisor
    // task is reported as a `supervisor` error)
    for sr in &report.services {
        for e in sr.errors.iter().filter(|e| e.what == "supervisor") {
            fail(format!("`{}`: {e}", sr.name));
        }
    }

    // 4. the time bound: the waves stop one after the other; with a deadline, everything
    // is cut off when it runs out
    let bound = |late: bool| {
        instances
            .iter()
            // the leaves depend on root: they stop first, then the others
            .filter(|i| (i.kind == Kind::Leaf) == late)
            .map(|i| {
                let spec = i.kind.spec();
                spec.startup_timeout + 10 * spec.shutdown_timeout
            })
            .max()
            .unwrap_or_default()
    };
    let mut limit = bound(true) + bound(false);
    if added_any {
        limit += DYN_BOUND;
    }
    let took = report.took;
    if let Some(ms) = s.deadline_ms {
        let deadline = Duration::from_millis(ms);
        limit = limit.min(deadline + ABORT_GRACE);
        if report.deadline_exceeded != (took >= deadline) && took != deadline {
            fail(format!(
                "the shutdown took {took:?} with a deadline of {deadline:?}, yet deadline_exceeded = {}",
                report.deadline_exceeded
            ));
        }
    } else if report.deadline_exceeded {
        fail("deadline_exceeded without a deadline".to_owned());
    }
    if took > limit {
        fail(format!(
            "the shutdown took {took:?}, more than the bound {limit:?}"
        ));
    }

    let stopping_since = events
        .iter()
        .filter(|e| e.to == Status::Crashed)
        .map(|e| e.at)
        .min()
        .unwrap_or(began)
        .min(shutdown_at);
    // whether `name`'s next event after journal position `pos` is a stop (a group's or an
    // operator's restart) rather than a failure: a serve that failed at the instant its
    // run was asked to stop is then cleaned up by that stop, reported but not published
    let stopped_next = |name: &str, pos: usize| {
        entries[pos + 1..]
            .iter()
            .find_map(|e| match e {
                Entry::Event(e) if &*e.service == name => Some(e.to == Status::Stopping),
                Entry::Event(_) | Entry::Call { .. } | Entry::Request { .. } => None,
            })
            .unwrap_or(false)
    };
    let mut expect_failure = false;
    for (id, instance) in instances.iter().enumerate() {
        let name = &*instance.name;
        let mine: Vec<&StatusEvent> = events.iter().filter(|e| &*e.service == name).collect();
        // 1. the table, and one chain
        let mut last = Status::NotStarted;
        for e in &mine {
            if e.from != last {
                fail(format!(
                    "`{name}`: event {e} does not start where the last one ended ({last})"
                ));
            }
            if !e.from.can_transition_to(e.to) {
                fail(format!(
                    "`{name}`: {} -> {} is not in the transition table",
                    e.from, e.to
                ));
            }
            last = e.to;
        }
        // 2. a terminal status, the same everywhere
        let Some(sr) = report.service(name) else {
            fail(format!("`{name}` is missing from the report"));
            continue;
        };
        if report.services.get(id).map(|r| &*r.name) != Some(name) {
            fail(format!(
                "`{name}` is not at its registration index in the report"
            ));
        }
        let now = app.status_by_name(name).map_err(|e| e.to_string())?;
        if sr.status != last || now != last {
            fail(format!(
                "`{name}`: the events end {last}, the report says {}, status_by_name {now}",
                sr.status
            ));
        }
        // A service whose start failed, and which never ran, stays Failed.
        let never_ran = !mine.iter().any(|e| e.to == Status::Running);
        if !(last.is_terminal()
            || (last == Status::NotStarted && mine.is_empty())
            || (last == Status::Failed && never_ran))
        {
            fail(format!("`{name}` ended {last} after the shutdown"));
        }
        // 3. one hook at a time, one serve at a time, none left running
        for v in instance.track.violations.lock().unwrap().iter() {
            fail(format!("`{name}`: {v}"));
        }
        let (hooks, serves) = (
            instance.track.hooks.load(Ordering::SeqCst),
            instance.track.serves.load(Ordering::SeqCst),
        );
        if hooks != 0 || serves != 0 {
            fail(format!(
                "`{name}`: {hooks} hook(s) and {serves} serve(s) still running after the shutdown"
            ));
        }
        // 6. restarts: its own and those along with its parent or group, together
        let starts = mine.iter().filter(|e| e.to == Status::Starting).count() as u64;
        if sr.restarts + sr.collateral_restarts != starts.saturating_sub(1) {
            fail(format!(
                "`{name}`: the report counts {} restarts and {} along with others, the events {}",
                sr.restarts,
                sr.collateral_restarts,
                starts.saturating_sub(1)
            ));
        }
        // 5. every failure reported, those of serve and initialize also in the events
        let failures: Vec<Call> = instance
            .track
            .calls()
            .into_iter()
            // a child cut off by a stop counts only for `aborted` (below): one dropped
            // before its first poll, or spawned after the run's children were closed, is
            // not waited for, so the report need not name it
            .filter(|c| c.outcome.is_failure() && c.what != "children")
            .collect();
        if (sr.error_count as usize) < failures.len() {
            fail(format!(
                "`{name}`: {} failures struck, the report counts {} errors ({:?})",
                failures.len(),
                sr.error_count,
                failures
            ));
        }
        let matches = |what: &str, error: &(dyn std::error::Error + 'static), call: &Call| {
            what == call.what
                && match &call.outcome {
                    Outcome::Err(text) => error.to_string() == *text,
                    Outcome::Panicked(message) => {
                        error.to_string() == format!("panicked: {message}")
                    }
                    // cut off by its own timeout, or by the shutdown deadline
                    Outcome::Dropped => {
                        error
                            .downcast_ref::<TimedOut>()
                            .is_some_and(|t| t.what == call.what)
                            || error
                                .downcast_ref::<CutOff>()
                                .is_some_and(|c| c.what == call.what)
                    }
                    Outcome::Ok => false,
                }
        };
        if (sr.error_count as usize) <= KEPT_ERRORS {
            for call in &failures {
                if !sr.errors.iter().any(|r| matches(r.what, &*r.error, call)) {
                    fail(format!(
                        "`{name}`: the failure {call:?} is not in the report ({:?})",
                        sr.errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                    ));
                }
            }
        }
        for call in &failures {
            let in_events = mine.iter().any(|e| {
                e.error
                    .as_ref()
                    .is_some_and(|error| matches(call.what, &**error, call))
            });
            let startup = matches!(
                call.what,
                "serve" | "before_initialize" | "on_initialize" | "after_initialize"
            );
            // a serve failing while its run is stopped anyway (or after the run failed
            // otherwise) is reported but not published; so is an aborted serve
            // (the app stops once something crashed: a serve failing at that instant or
            // later is "closed" as the app stops, reported but not published)
            // An initialize hook that the shutdown interrupted is "closed" too (kept in the
            // report and logged with the service's name, as the contract asks): its error
            // is published with the stop's Stopped event, but a stop that ends Crashed
            // publishes the crash's error instead.
            let crashed_next = || {
                let mut next = entries[call.pos + 1..].iter().filter_map(|e| match e {
                    Entry::Event(e) if &*e.service == name => Some(e.to),
                    _ => None,
                });
                (next.next(), next.next()) == (Some(Status::Stopping), Some(Status::Crashed))
            };
            let interrupted_then_crashed =
                call.what != "serve" && call.at >= shutdown_at && crashed_next();
            let published = (call.what != "serve" && !interrupted_then_crashed)
                || (call.live && call.at < stopping_since && !stopped_next(name, call.pos));
            if startup && published && !in_events {
                fail(format!("`{name}`: the failure {call:?} is in no event"));
            }
        }
        // 7. what makes the exit code non-zero
        let crashed = mine.iter().any(|e| e.to == Status::Crashed);
        // `aborted` describes the final stop: a serve aborted during a restart, after
        // which a new run began, stays only in the errors
        let began_again = |pos: usize| {
            entries[pos + 1..].iter().any(
                |e| matches!(e, Entry::Event(e) if &*e.service == name && e.to == Status::Starting),
            )
        };
        let serve_aborted = failures
            .iter()
            .any(|c| c.what == "serve" && c.outcome == Outcome::Dropped && !began_again(c.pos));
        let child_cut =
            instance.track.calls().iter().any(|c| {
                c.what == "children" && c.outcome == Outcome::Dropped && !began_again(c.pos)
            });
        // a serve aborted by the final stop flags it; a child cut off may (when the stop
        // was still waiting for it), and nothing else does
        let aborted = serve_aborted || (child_cut && sr.aborted);
        if sr.aborted != aborted {
            fail(format!(
                "`{name}`: the report says aborted = {}, but a serve was aborted: {aborted}",
                sr.aborted
            ));
        }
        expect_failure |= crashed || aborted;
    }
    // (a shutdown begun by `shutdown_app` too: a success unless something crashed, was
    // aborted, or the deadline ran out)
    expect_failure |= report.deadline_exceeded;
    if report.is_success() == expect_failure {
        fail(format!(
            "the report says success = {}, expected {}",
            report.is_success(),
            !expect_failure
        ));
    }
    if (report.exit_code() == std::process::ExitCode::SUCCESS) != report.is_success() {
        fail("the exit code disagrees with is_success".to_owned());
    }
    check_groups(s, &instances, &entries, &report, shutdown_at, &mut fail);
    let panics = UNEXPECTED_PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for p in panics {
        fail(format!("unexpected panic: {p}"));
    }

    if problems.is_empty() {
        Ok(())
    } else {
        let mut timeline = String::new();
        for e in &events {
            let _ = writeln!(timeline, "  {:>8?} {e}", e.at - case_began);
        }
        Err(format!(
            "{problems}\nreport:\n{report}\nevents (time since the case began; the shutdown began at {:?}, was called at {:?}):\n{timeline}",
            shutdown_at - case_began,
            began - case_began
        ))
    }
}

/// A group stop: a member stopped (Starting or Running → Stopping → Stopped) by its
/// group for a group restart, and what followed.
#[derive(Debug)]
struct GroupStop {
    /// The member's registration index.
    unit: usize,
    /// Journal positions: its → Stopping, its → Stopped, its → Starting (the group's
    /// resume) and the end of that initialize.
    begin: usize,
    end: usize,
    resume: Option<usize>,
    init_end: Option<usize>,
    stopped_at: Instant,
    resumed_at: Option<Instant>,
}

/// Finds the group stops in the journal. A member's stop before the shutdown is the
/// group's unless its Stopped is at once followed by its Starting, which is what an
/// operator's restart does (stop, then initialize, with no `.await` between); a group
/// stop can look like that too (the group resumes the member it stopped last, first),
/// and is then left out.
fn group_stops(
    instances: &[Instance],
    entries: &[Entry],
    shutdown_at: Instant,
    fail: &mut impl FnMut(String),
) -> Vec<GroupStop> {
    let events: Vec<(usize, &StatusEvent)> = entries
        .iter()
        .enumerate()
        .filter_map(|(pos, e)| match e {
            Entry::Event(e) => Some((pos, e)),
            Entry::Call { .. } | Entry::Request { .. } => None,
        })
        .collect();
    let mut stops = Vec::new();
    for (k, &(begin, e)) in events.iter().enumerate() {
        let Some(unit) = instances.iter().position(|i| i.name == e.service) else {
            continue;
        };
        if instances[unit].slot == 0
            || e.to != Status::Stopping
            || !matches!(e.from, Status::Starting | Status::Running)
        {
            continue;
        }
        let mine = |from: usize| {
            events[from..]
                .iter()
                .enumerate()
                .find(|(_, (_, x))| x.service == e.service)
                .map(|(j, &(pos, x))| (from + j, pos, x))
        };
        let Some((j, end, stopped)) = mine(k + 1) else {
            continue;
        };
        if stopped.to != Status::Stopped || stopped.at >= shutdown_at {
            continue;
        }
        if events
            .get(j + 1)
            .is_some_and(|(_, next)| next.service == e.service && next.to == Status::Starting)
        {
            continue;
        }
        let (mut resume, mut resumed_at, mut init_end) = (None, None, None);
        if let Some((_, pos, next)) = mine(j + 1) {
            if next.to == Status::Starting {
                resume = Some(pos);
                resumed_at = Some(next.at);
                init_end = entries[pos + 1..]
                    .iter()
                    .position(|x| match x {
                        Entry::Event(x) => {
                            x.service == e.service
                                && matches!(
                                    x.to,
                                    Status::Failed
                                        | Status::Stopping
                                        | Status::Stopped
                                        | Status::Crashed
                                )
                        }
                        Entry::Call { service, what, end } => {
                            *service == e.service && *what == "after_initialize" && *end
                        }
                        Entry::Request { .. } => false,
                    })
                    .map(|p| pos + 1 + p);
            } else {
                fail(format!(
                    "`{}`: stopped by its group, then {} -> {} instead of the group's restart",
                    e.service, next.from, next.to
                ));
            }
        }
        stops.push(GroupStop {
            unit,
            begin,
            end,
            resume,
            init_end,
            stopped_at: stopped.at,
            resumed_at,
        });
    }
    stops
}

/// Invariant 8, the groups. In a group restart the siblings stop one after the other in reverse
/// registration order, then initialize one after the other in registration order (checked
/// with one group: two coordinators may work at once). A member stopped by its group is
/// restarted within the time the group restart can take. An exhausted group shuts the
/// app down only with one of its members Crashed, and a failure exit code.
fn check_groups(
    s: &Scenario,
    instances: &[Instance],
    entries: &[Entry],
    report: &ShutdownReport,
    shutdown_at: Instant,
    fail: &mut impl FnMut(String),
) {
    let name = |unit: usize| &*instances[unit].name;
    let stops = group_stops(instances, entries, shutdown_at, fail);
    if matches!(s.layout, Layout::Top(_)) {
        for a in &stops {
            for b in &stops {
                if b.begin <= a.begin || b.begin > a.resume.unwrap_or(usize::MAX) {
                    continue;
                }
                // b was stopped while a waited for the group: the same group restart
                let (na, nb) = (name(a.unit), name(b.unit));
                if b.unit >= a.unit {
                    fail(format!(
                        "the group stopped `{na}`, then `{nb}` (registered after it) in the same restart"
                    ));
                }
                if b.begin < a.end {
                    fail(format!(
                        "the group stopped `{nb}` while `{na}` was still stopping"
                    ));
                }
                if let Some(resume) = a.resume {
                    match b.init_end {
                        Some(init_end) if init_end < resume => {}
                        _ => fail(format!(
                            "the group initialized `{na}` before `{nb}` (registered before it) had initialized"
                        )),
                    }
                }
            }
        }
    }
    // a group restart takes at most one stop and one initialize of each member
    let bound: Duration = instances
        .iter()
        .filter(|i| i.slot != 0)
        .map(|i| {
            let spec = i.kind.spec();
            5 * spec.shutdown_timeout + Duration::from_millis(100) + 2 * spec.startup_timeout
        })
        .sum::<Duration>()
        + Duration::from_secs(1);
    for stop in &stops {
        let until = stop.resumed_at.unwrap_or(shutdown_at);
        if until > stop.stopped_at + bound {
            fail(format!(
                "`{}` was stopped by its group and waited {:?} for its restart (more than the bound {bound:?})",
                name(stop.unit),
                until - stop.stopped_at
            ));
        }
    }
    // (b)
    if let Some(group) = report.reason.as_deref().and_then(|r| {
        r.strip_prefix("group `")
            .and_then(|r| r.strip_suffix("` exhausted its restart budget"))
    }) {
        if group != "top" {
            fail(format!("the nested group `{group}` shut the app down"));
        }
        let crashed = report.services.iter().any(|sr| {
            sr.status == Status::Crashed
                && instances.iter().any(|i| i.name == sr.name && i.slot != 0)
        });
        if !crashed {
            fail(format!(
                "group `{group}` exhausted its budget and shut the app down, but none of its members crashed"
            ));
        }
        if report.is_success() {
            fail(format!(
                "group `{group}` exhausted its budget, yet the report says success"
            ));
        }
    }
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        // about 8 s in a debug build on 2 cores (3 000 cases: about 23 s)
        .unwrap_or(1000);
    Config {
        // the printed scenario is the reproduction; keep the source tree clean
        failure_persistence: None,
        ..Config::with_cases(cases)
    }
}

/// The `metrics` recorder every case records into: installed once for this binary (the
/// recorder is global). Its series are not counted here, only exercised: every hundredth
/// case renders it as a scrape would (rendering after every case tripled the run time).
fn recorder() -> &'static hassette_runtime::metrics::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<hassette_runtime::metrics::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        hassette_runtime::metrics::PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder of this test binary")
    })
}

/// Renders the recorder every hundredth case.
fn scrape_now_and_then() {
    static CASES: AtomicUsize = AtomicUsize::new(0);
    if CASES.fetch_add(1, Ordering::Relaxed).is_multiple_of(100) {
        let recorder = recorder();
        recorder.run_upkeep();
        drop(recorder.render());
    }
}

fn run_case(s: &Scenario) -> Result<(), TestCaseError> {
    install_panic_hook();
    recorder();
    UNEXPECTED_PANICS.with(|p| p.borrow_mut().clear());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    IN_CASE.with(|c| c.set(true));
    let result = rt.block_on(run(s));
    IN_CASE.with(|c| c.set(false));
    scrape_now_and_then();
    result.map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_operations_keep_every_invariant(s in scenario()) {
        run_case(&s)?;
    }
}

/// Regression (found by the property test): a permanent member whose serve returns `Ok`
/// waits for its group restart Stopped, not Failed; when that restart is the one that
/// exhausts the top-level group, the member must still end Crashed and the exit code be a
/// failure.
#[test]
fn a_top_level_group_exhausted_by_a_clean_exit_crashes_the_member() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let faults = Faults::new();
        let track = Arc::new(Track::new("perm".into(), Arc::default()));
        let svc = Tracked {
            inner: Faulty::new(Perm, &faults),
            track,
        };
        let builder =
            hassette_runtime::Hassette::builder().group("top", GroupStrategy::OneForOne, |g| {
                g.budget(1, Duration::from_secs(60))
                    .service_named("perm", svc)
            });
        let mut t = TestApp::new(builder).unwrap();
        t.start().await.unwrap();
        // two clean returns of serve: the group restarts it once, the second exhausts it
        faults.inject("perm", Point::Serve, Fault::Return);
        faults.inject("perm", Point::Serve, Fault::Return);
        t.advance(Duration::from_secs(5)).await;
        assert!(t.app().is_shutting_down());
        let report = t.app().shutdown().await;
        assert_eq!(
            report.reason.as_deref(),
            Some("group `top` exhausted its restart budget")
        );
        assert_eq!(report.service("perm").unwrap().status, Status::Crashed);
        assert!(!report.is_success());
    });
}

/// Regression (found by the property test): two members of a OneForAll group fail at
/// once and both report to the group; the first report restarts both, so the second is
/// stale and must be dropped: one group restart, no exhaustion.
#[test]
fn a_stale_group_report_is_dropped() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let faults = Faults::new();
        let svc = |name: &str| Tracked {
            inner: Faulty::new(Perm, &faults),
            track: Arc::new(Track::new(name.into(), Arc::default())),
        };
        let builder =
            hassette_runtime::Hassette::builder().group("top", GroupStrategy::OneForAll, |g| {
                g.budget(1, Duration::from_secs(60))
                    .service_named("a", svc("a"))
                    .service_named("b", svc("b"))
            });
        let mut t = TestApp::new(builder).unwrap();
        t.start().await.unwrap();
        faults.inject("a", Point::Serve, Fault::Error("injected-a".into()));
        faults.inject("b", Point::Serve, Fault::Error("injected-b".into()));
        t.advance(Duration::from_secs(1)).await;
        let shut_down = t.app().is_shutting_down();
        let report = t.app().shutdown().await;
        let crashed = report.services.iter().any(|s| s.status == Status::Crashed);
        assert!(
            !shut_down || (crashed && !report.is_success()),
            "the group shut the app down with nothing crashed:\n{report}"
        );
        let restarts: Vec<u64> = report.services.iter().map(|s| s.restarts).collect();
        assert_eq!(restarts, [1, 1], "one group restart for the two failures");
    });
}

/// Regression (found by the property test): a stop under way when the shutdown begins
/// (here an operator's restart, waiting for a serve that takes 500ms to notice its
/// cancellation) chose its deadlines before the shutdown deadline existed. The deadline
/// must still cut it off when it runs out: the supervisor answers at once (no
/// `supervisor: shutdown deadline exceeded` error, no lost report), the serve is aborted
/// and the shutdown takes the deadline, not the deadline plus the abort grace.
#[test]
fn the_shutdown_deadline_cuts_off_a_restart_in_flight() {
    struct SlowStop;
    #[service(restart = "permanent", shutdown_timeout = "1s")]
    impl SlowStop {
        async fn serve(&self, ctx: &ServiceContext) {
            ctx.cancelled().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let builder = hassette_runtime::Hassette::builder()
            .service_named("slow", SlowStop)
            .shutdown_deadline(Duration::from_millis(50));
        let mut t = TestApp::new(builder).unwrap();
        t.start().await.unwrap();
        let app = t.app().clone();
        let restart = tokio::spawn(async move { app.restart_by_name("slow").await });
        t.settle().await;
        assert_eq!(t.last_status("slow"), Some(Status::Stopping));
        let report = t.app().shutdown().await;
        let slow = report.service("slow").unwrap();
        assert!(
            slow.errors.iter().all(|e| e.what != "supervisor"),
            "the supervisor was lost:\n{report}"
        );
        assert_eq!(slow.status, Status::Stopped);
        assert!(slow.aborted, "{report}");
        assert!(report.deadline_exceeded);
        assert_eq!(report.took, Duration::from_millis(50), "{report}");
        assert!(restart.await.unwrap().is_err());
    });
}
