//! The supervisor's handle on its app: the narrow view a supervisor (and the lifecycle
//! driver it runs) has of the app state, instead of the whole of it.
//!
//! Protocol:
//! - A supervisor reads the stop's signals (has the shutdown begun, its deadline, the
//!   cut-off), waits for its dependencies (the wait-for graph), talks to its group's
//!   coordinator through the group's channel, starts and stops its own children, fails
//!   its parent (a child's escalation), begins the app's shutdown (a crash) and begins
//!   or completes its own unit's removal. That is all it may do: it never adds a unit,
//!   nor starts or stops one that is neither its own nor its child; each method takes
//!   only the locks its owner's protocol says (see `engine`'s lock order).
//! - The one way to the whole app is the run's [`ServiceContext`] ([`context`]), which
//!   is the service's own API, not the supervisor's.
//!
//! [`context`]: SupervisorHandle::context

use std::sync::Arc;

use super::group::GroupEvent;
use super::state::AppState;
use super::stop::StopSignals;
use super::unit::Unit;
use crate::{ServiceContext, SharedError, WaitError};

/// What a supervisor may do with its app (see the module's header).
pub(crate) struct SupervisorHandle {
    app: Arc<AppState>,
}

impl SupervisorHandle {
    /// The handle of a supervisor of `app`.
    pub(super) fn new(app: Arc<AppState>) -> Self {
        SupervisorHandle { app }
    }

    /// The stop's signals: whether the shutdown has begun, its deadline, the cut-off.
    pub(super) fn stop(&self) -> &StopSignals {
        self.app.stop_state().signals()
    }

    /// Whether the app's shutdown has begun.
    pub(super) fn is_stopping(&self) -> bool {
        self.app.is_stopping()
    }

    /// Begins the app's shutdown (a service crashed); the first reason is kept.
    pub(super) fn begin_shutdown(&self, reason: String) {
        self.app.begin_shutdown(reason);
    }

    /// The unit with this id (a dependency), if it is still there.
    pub(super) fn unit(&self, id: usize) -> Option<Arc<Unit>> {
        self.app.registry().get(id)
    }

    /// The parent of a child unit.
    pub(super) fn parent_of(&self, unit: &Unit) -> Option<Arc<Unit>> {
        self.app.registry().parent_of(unit)
    }

    /// Waits until the dependency `target` is up (see `readiness`).
    pub(super) async fn wait_up(
        &self,
        waiter: &Arc<Unit>,
        target: &Arc<Unit>,
    ) -> Result<(), WaitError> {
        self.app.wait_up(Some(waiter), target).await
    }

    /// Tells group `group`'s coordinator (see `group`).
    pub(super) fn tell_group(&self, group: usize, event: GroupEvent) {
        if let Some(group) = self.app.groups().get(group) {
            group.send(event);
        }
    }

    /// The run is past `after_initialize`: starts its children (see `family`).
    pub(super) fn launch_children(&self, parent: &Unit) {
        self.app.launch_children(parent);
    }

    /// The run stops: stops its children (see `family`).
    pub(super) async fn stop_children(&self, parent: &Unit) {
        self.app.stop_children(parent).await;
    }

    /// A child exhausted its budget: fails its parent's run (see `family`).
    pub(super) fn escalate(&self, child: &Unit, error: SharedError) {
        self.app.escalate(child, error);
    }

    /// Whether `unit` was added while the app runs.
    pub(super) fn is_added(&self, unit: &Unit) -> bool {
        self.app.is_added(unit)
    }

    /// Begins the removal of the supervisor's own (added) unit (see `added`).
    pub(super) fn begin_removal(&self, unit: &Arc<Unit>) {
        let _ = self.app.begin_removal(unit);
    }

    /// The supervisor has ended: completes its unit's removal, if one was asked for.
    pub(super) fn removal_done(&self, unit: &Unit) {
        self.app.removal_done(unit);
    }

    /// The context of a new run of `unit`: the service's own API to its app.
    pub(super) fn context(&self, unit: Arc<Unit>) -> ServiceContext {
        ServiceContext::new(unit, self.app.clone())
    }
}
