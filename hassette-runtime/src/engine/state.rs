//! The state one app shares between its handle, its supervisors and its stop task: a
//! small struct of parts, each a type owned (defined, implemented, its fields private)
//! by one module, which everyone else goes through: the unit table and the added units'
//! trackers (`registry`), the start (`first_start::AppStart`), the stop (`stop::Stop`,
//! whose procedure is `shutdown`'s), the waits (`readiness::WaitGraph`), the groups
//! (`group`) and the event bus (`bus`). Supervisors see it through
//! `handle::SupervisorHandle` only. Also here: the operator's restart.
//!
//! Protocol:
//! - The first `begin_shutdown` (see `shutdown`) keeps its reason, lets the drain run
//!   (see `drain`), then sets `shutting_down`, cancels `stopping` and spawns the one stop
//!   task; every call waits for its report in the `report` watch.
//! - A call made from inside one of the app's own services (see `inside`) never waits for
//!   the caller's own run: `start` returns at once (see `start`), `shutdown` once the stop
//!   reaches the caller or one of its ancestors (see `shutdown`), a restart of the caller
//!   itself or of one of its ancestors once it is asked for.
//! - An operator's restart joins the one pending or in flight (the unit's `restart_run`
//!   says which), or asks for a new one, and waits for the run it starts to leave
//!   Starting; the shutdown ends that wait.
//! - Locks: none here (each part takes its own, numbered in `engine`'s header).

use std::sync::Arc;
use std::time::Duration;

use super::bus::EventBus;
use super::drain::Drain;
use super::first_start::AppStart;
use super::group::Group;
use super::readiness::WaitGraph;
use super::registry::Registry;
use super::stop::Stop;
use super::unit::Unit;
use crate::listen::Listeners;
use crate::{RestartError, Status, WaitError};

/// What `build` hands the engine.
pub(crate) struct AppParts {
    pub(crate) registry: Registry,
    /// Unit ids grouped by dependency depth: wave 0 depends on nothing.
    pub(crate) waves: Vec<Vec<usize>>,
    pub(crate) events: Arc<EventBus>,
    pub(crate) shutdown_deadline: Option<Duration>,
    pub(crate) groups: Vec<Group>,
    /// `Builder::drain`'s period (zero: none).
    pub(crate) drain: Duration,
    pub(crate) listeners: Listeners,
}

/// One app's shared state (the handle, every supervisor and the stop task hold it): its
/// parts (see the module's header).
pub(crate) struct AppState {
    registry: Registry,
    start: AppStart,
    stop: Stop,
    waits: WaitGraph,
    groups: Vec<Group>,
    events: Arc<EventBus>,
    /// The time between the shutdown's beginning and the stop (see `drain`).
    drain: Drain,
    /// `Builder::listener`'s listeners, opened by the start.
    listeners: Listeners,
    /// The reload in flight (see `reload`).
    reloads: super::reloads::Reloads,
}

impl AppState {
    pub(crate) fn new(parts: AppParts) -> Arc<Self> {
        let count = parts.registry.statics().len();
        Arc::new(AppState {
            registry: parts.registry,
            start: AppStart::default(),
            stop: Stop::new(parts.waves, count, parts.shutdown_deadline),
            waits: WaitGraph::default(),
            groups: parts.groups,
            events: parts.events,
            drain: Drain::new(parts.drain),
            listeners: parts.listeners,
            reloads: super::reloads::Reloads::default(),
        })
    }

    /// The registered units, found by type or name.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn events(&self) -> &EventBus {
        &self.events
    }

    /// The event bus, for a new unit to publish on.
    pub(super) fn bus(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// The app's start (see `first_start`).
    pub(crate) fn start_state(&self) -> &AppStart {
        &self.start
    }

    /// The stop's signals and records (see `stop`).
    pub(crate) fn stop_state(&self) -> &Stop {
        &self.stop
    }

    /// The wait-for graph (see `readiness`).
    pub(super) fn waits(&self) -> &WaitGraph {
        &self.waits
    }

    /// The supervision groups, by id (see `group`).
    pub(super) fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The name of the group `unit` is a member of (the innermost one), if any.
    pub(crate) fn group_of(&self, unit: &Unit) -> Option<Arc<str>> {
        let link = unit.link.as_deref()?;
        self.groups
            .get(link.group)
            .map(|group| group.name().clone())
    }

    /// The reloads (see `reloads`).
    pub(super) fn reloads(&self) -> &super::reloads::Reloads {
        &self.reloads
    }

    /// The drain (see `drain`).
    pub(super) fn drain(&self) -> &Drain {
        &self.drain
    }

    /// `Builder::listener`'s listeners (see `listen`).
    pub(crate) fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    /// Waits until `target` is Running and ready, or the shutdown begins (see
    /// `readiness`: a wait that could never end is an error).
    pub(crate) async fn wait_up(
        &self,
        waiter: Option<&Arc<Unit>>,
        target: &Arc<Unit>,
    ) -> Result<(), WaitError> {
        self.waits
            .wait_up(&self.registry, self.stop.token(), waiter, target)
            .await
    }

    /// An operator restart: joins the one pending or in flight, or asks for a new one,
    /// and waits for the run it starts to leave Starting.
    pub(crate) async fn restart(self: &Arc<Self>, unit: &Arc<Unit>) -> Result<(), RestartError> {
        let service = || unit.name.clone();
        if unit.restart_type().is_none() {
            return Err(RestartError::Resource { service: service() });
        }
        if self.stop.signals().is_stopping() {
            return Err(RestartError::ShuttingDown { service: service() });
        }
        if unit.is_stop_requested() {
            return Err(RestartError::Removed { service: service() });
        }
        if !self.start.is_begun() {
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
            match (started, unit.is_stop_requested()) {
                (true, _) => Some(Some(now.status)),
                // Removed (or reached by the app's stop) before it restarted.
                (false, true) => Some(None),
                (false, false) => None,
            }
        });
        tokio::select! {
            biased;
            () = self.stop.signals().begun() => Err(RestartError::ShuttingDown { service: service() }),
            status = ended => match status {
                Some(Status::Running) => Ok(()),
                Some(status) => Err(RestartError::Failed { service: service(), status }),
                None => Err(RestartError::Removed { service: service() }),
            },
        }
    }
}
