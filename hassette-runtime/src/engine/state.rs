//! The state one app shares between its handle, its supervisors and its stop task, and
//! the stop's entry (the start, the other protocol that runs once per app, is `start`'s).
//!
//! Protocol:
//! - The first `begin_shutdown` (see `shutdown`) keeps its reason, sets `shutting_down`,
//!   cancels `stopping` and spawns the one stop task; every call waits for its report in
//!   the `report` watch.
//! - A call made from inside one of the app's own services (see `inside`) never waits for
//!   the caller's own run: `start` returns at once (see `start`), `shutdown` once the stop
//!   reaches the caller or one of its ancestors, a restart of the caller itself or of one
//!   of its ancestors once it is asked for.
//! - Locks (numbered in `engine`'s header): `tasks` is (L3), taken (by `start` and the
//!   stop) before a unit's state (L4); `reason` is taken alone. No lock is held across an
//!   `.await`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

use super::bus::EventBus;
use super::group::Group;
use super::readiness::WaitGraph;
use super::registry::Registry;
use super::unit::Unit;
use crate::{RestartError, ShutdownReport, StartError, Status, WaitError};

/// What `build` hands the engine.
pub(crate) struct AppParts {
    pub(crate) registry: Registry,
    /// Unit ids grouped by dependency depth: wave 0 depends on nothing.
    pub(crate) waves: Vec<Vec<usize>>,
    pub(crate) events: Arc<EventBus>,
    pub(crate) shutdown_deadline: Option<Duration>,
    pub(crate) groups: Vec<Group>,
}

/// One app's shared state (the handle, every supervisor and the stop task hold it).
pub(crate) struct AppState {
    pub(super) registry: Registry,
    pub(super) waits: WaitGraph,
    /// Unit ids grouped by dependency depth: wave 0 depends on nothing.
    pub(super) waves: Vec<Vec<usize>>,
    /// The supervisor tasks of each wave, so the stop waits for a whole wave at once.
    pub(super) wave_tasks: Vec<TaskTracker>,
    /// The supervisor tasks of the units added while the app runs (not children).
    pub(super) added_tasks: TaskTracker,
    /// The supervisor tasks of children, which their parents stop.
    pub(super) child_tasks: TaskTracker,
    pub(super) events: Arc<EventBus>,
    /// Cancelled when the shutdown begins: backoffs, cooldowns and waits stop at once.
    pub(super) stopping: CancellationToken,
    /// Set just before `stopping` is cancelled, for the hot paths that only ask whether
    /// the shutdown has begun: a token's `is_cancelled` takes a lock that every service
    /// would share.
    pub(super) shutting_down: AtomicBool,
    pub(super) shutdown_deadline: Option<Duration>,
    pub(super) tasks: Mutex<Vec<Option<JoinHandle<()>>>>,
    /// Set by the first `start`, which spawns the one task that starts everything.
    pub(super) start_begun: AtomicBool,
    /// The start's outcome, once that task has it.
    pub(super) started: watch::Sender<Option<Result<(), StartError>>>,
    /// The shutdown's report, once the one stop task (spawned by the first
    /// `begin_shutdown`) has it.
    pub(super) report: watch::Sender<Option<ShutdownReport>>,
    /// The first shutdown reason; set exactly once, by the call that spawns the stop task.
    pub(super) reason: Mutex<Option<String>>,
    /// When the `shutdown_deadline` runs out: set when the stop begins. Every wait of a
    /// stop ends by then at the latest.
    pub(super) hard_deadline: OnceLock<Instant>,
    /// Cancelled when the `shutdown_deadline` runs out: every wait of a stop ends at once,
    /// also one that began before the shutdown (a restart's stop in flight) and so could
    /// not know `hard_deadline` when it chose its own.
    pub(super) cut_off: CancellationToken,
    /// A supervisor was cut off while its thread was held by code that never yields: a
    /// tokio runtime being dropped would wait for that thread forever.
    pub(super) stuck: AtomicBool,
    /// A start failed that will not be retried, and began the shutdown (see
    /// `Hassette::start_or_stop`): the report is not a success.
    pub(super) start_failed: AtomicBool,
    pub(super) groups: Vec<Group>,
    /// The reload in flight (see `reload`).
    pub(super) reloads: super::reload::Reloads,
}

impl AppState {
    pub(crate) fn new(parts: AppParts) -> Arc<Self> {
        let count = parts.registry.units.len();
        Arc::new(AppState {
            registry: parts.registry,
            waits: WaitGraph::default(),
            wave_tasks: parts.waves.iter().map(|_| TaskTracker::new()).collect(),
            waves: parts.waves,
            added_tasks: TaskTracker::new(),
            child_tasks: TaskTracker::new(),
            events: parts.events,
            stopping: CancellationToken::new(),
            shutting_down: AtomicBool::new(false),
            shutdown_deadline: parts.shutdown_deadline,
            tasks: Mutex::new((0..count).map(|_| None).collect()),
            start_begun: AtomicBool::new(false),
            started: watch::channel(None).0,
            report: watch::channel(None).0,
            hard_deadline: OnceLock::new(),
            cut_off: CancellationToken::new(),
            reason: Mutex::new(None),
            stuck: AtomicBool::new(false),
            start_failed: AtomicBool::new(false),
            groups: parts.groups,
            reloads: super::reload::Reloads::default(),
        })
    }

    /// The registered units, found by type or name.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn events(&self) -> &EventBus {
        &self.events
    }

    /// Completes when the shutdown begins.
    pub(crate) fn shutdown_begun(&self) -> WaitForCancellationFuture<'_> {
        self.stopping.cancelled()
    }

    /// Waits until `target` is Running and ready, or the shutdown begins (see
    /// `readiness`: a wait that could never end is an error).
    pub(crate) async fn wait_up(
        &self,
        waiter: Option<&Arc<Unit>>,
        target: &Arc<Unit>,
    ) -> Result<(), WaitError> {
        self.waits
            .wait_up(&self.registry, &self.stopping, waiter, target)
            .await
    }

    /// Whether a supervisor was cut off while code that never yields held its thread.
    pub(crate) fn is_stuck(&self) -> bool {
        self.stuck.load(Ordering::Relaxed)
    }

    /// Begins the shutdown and waits for its report; from inside a service, only until
    /// the stop reaches it or one of its ancestors (see the module's header).
    pub(crate) async fn shutdown(self: &Arc<Self>, reason: String) -> ShutdownReport {
        self.begin_shutdown(reason);
        let lineage = super::inside::lineage(&self.registry);
        if !lineage.is_empty() {
            // The stop has reached the caller once its wave is told to stop, or once it has
            // reached one of its ancestors, whose stop stops it (and may first wait for
            // what the caller does now: its own start, say, which a parent's
            // `add_child` awaits).
            let reached = lineage.iter().map(|unit| Box::pin(unit.stop_reached()));
            futures_util::future::select_all(reached).await;
            return self
                .report
                .borrow()
                .clone()
                .unwrap_or_else(|| ShutdownReport {
                    reason: self.reason(),
                    ..ShutdownReport::default()
                });
        }
        self.wait_stopped().await
    }

    /// An operator restart: joins the one pending or in flight, or asks for a new one,
    /// and waits for the run it starts to leave Starting.
    pub(crate) async fn restart(self: &Arc<Self>, unit: &Arc<Unit>) -> Result<(), RestartError> {
        let service = || unit.name.clone();
        if unit.restart_type().is_none() {
            return Err(RestartError::Resource { service: service() });
        }
        if self.is_stopping() {
            return Err(RestartError::ShuttingDown { service: service() });
        }
        if unit.is_stop_requested() {
            return Err(RestartError::Removed { service: service() });
        }
        if !self.start_begun.load(Ordering::Acquire) {
            return Err(RestartError::NotStarted { service: service() });
        }
        let (mut target, base) = {
            let now = unit.state();
            match now.restart_in_flight() {
                true => (Some(now.restart_run), now.restart_run),
                false => (None, now.restart_run),
            }
        };
        if target.is_none() {
            unit.request_restart();
        }
        if super::inside::from_family_of(&self.registry, unit) {
            // The service restarts itself or an ancestor: the new run cannot begin before
            // this one ends, nor the ancestor's before it has stopped the caller.
            return Ok(());
        }
        let ended = unit.wait_for(|now| {
            if target.is_none() && !now.restart_pending() && now.restart_run > base {
                target = Some(now.restart_run);
            }
            // The run the restart started has left Starting (or a later run has begun).
            let started = target.is_some_and(|run| {
                now.generation > run || (now.generation == run && now.status != Status::Starting)
            });
            match (started, now.stop_requested()) {
                (true, _) => Some(Some(now.status)),
                // Removed (or reached by the app's stop) before it restarted.
                (false, true) => Some(None),
                (false, false) => None,
            }
        });
        tokio::select! {
            biased;
            () = self.stopping.cancelled() => Err(RestartError::ShuttingDown { service: service() }),
            status = ended => match status {
                Some(Status::Running) => Ok(()),
                Some(status) => Err(RestartError::Failed { service: service(), status }),
                None => Err(RestartError::Removed { service: service() }),
            },
        }
    }
}
