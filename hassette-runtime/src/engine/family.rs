//! Children: services a running service adds with `ServiceContext::add_child`, owned by
//! it, started after it and stopped before it.
//!
//! Protocol:
//! - A child is an added unit (see `added`) whose table entry names its parent; the
//!   parent's `Family` (in `unit`) lists its children in order of addition. A family's lock is (L1
//!   in `engine`'s lock order), taken before the registry's `added` table (L2).
//! - The parent's run decides when its children run. The parent's `LAUNCHED` flag is
//!   set once the run's `after_initialize` is done ([`AppState::launch_children`]):
//!   children added before (during the initialize hooks) wait for it, those added after
//!   start at once. `add_child` reads the flag under the family's lock; the launch sets
//!   it first and takes that lock second, so a child is launched by one or the other,
//!   never by neither. The flag is cleared when the run leaves Running (and when it
//!   stops, after `serve` has ended and before `on_shutdown`, under the family's lock,
//!   in [`AppState::stop_children`]); then the children are stopped
//!   one at a time, the last added first; each keeps its place, and the next run of the
//!   parent initializes them again. A child's supervisor task lives for one run of the
//!   parent: stopping a child ends it, launching one spawns a new one (with a fresh
//!   policy), so no supervisor ever waits for its parent.
//! - A child initialized again by its parent's next run restarts along with it
//!   (`Unit::start_along`): counted apart from its own restarts.
//! - A critical child that exhausts its budget ([`AppState::escalate`]) leaves its error in the
//!   parent's family and rings the parent's doorbell with `CHILD_FAILED`: the parent's
//!   supervisor fails its run, and its own policy restarts it, with its children.
//! - Removing a parent removes its children with it, once its supervisor (which stopped
//!   them) has ended; removing a child takes it out of its parent's list.
//! - A parent's children are listed (`children_of`) and found by their short name
//!   (`child_of`) under its family's lock alone: the order of addition and a name index
//!   of that parent's own children, never a scan of the table. A child enters its
//!   family as it enters the table and leaves both at once (see `added`'s `forget`),
//!   so a listing never holds a removed child nor one name twice.
//! - Since a parent's stop waits for its children's, a call from a child (or a deeper
//!   descendant) that would wait for an ancestor's stop (its restart, its removal, the
//!   app's shutdown) would wait for itself: it gets its answer as of the request (see
//!   `inside`).
//! - State: a family's list is the parent unit's (`unit::Family`), a child's table entry
//!   and its supervisor's tracker the unit table's (`registry`); this module owns no
//!   state of its own and goes through theirs.

use std::sync::Arc;

use super::first_start::FirstStarts;
use super::handle::SupervisorHandle;
use super::state::AppState;
use super::unit::Unit;
use crate::{ChildExhausted, SharedError};

impl AppState {
    /// The parent's run is past `after_initialize`: starts every child that is not
    /// running.
    pub(crate) fn launch_children(self: &Arc<Self>, parent: &Unit) {
        parent.set_launched(true);
        let Some(family) = parent.family() else {
            return;
        };
        let kin = family.lock();
        let mut added = self.registry().added_mut(); // (L2)
        for child in kin.iter() {
            added.launch(child.id, || {
                child.clear_stop();
                // A child that ran before restarts along with its parent: not its own restart.
                child.start_along();
                // Nobody waits for a child's first start: its parent goes on.
                let starts = Arc::new(FirstStarts::default());
                let first = starts.entry(child);
                let app = SupervisorHandle::new(self.clone());
                let tasks = self.registry().supervisors(true);
                super::supervisor::launch(child.clone(), app, first, tasks)
            });
        }
    }

    /// The parent's run stops: stops its children, the last added first, each within
    /// its stop budget.
    pub(crate) async fn stop_children(&self, parent: &Unit) {
        let Some(family) = parent.family() else {
            return;
        };
        let children = {
            let kin = family.lock();
            parent.set_launched(false);
            kin.iter().cloned().collect::<Vec<_>>()
        };
        for child in children.iter().rev() {
            let task = self.registry().added_mut().take_task(child.id); // (L2)
            child.request_stop();
            if let Some(task) = task {
                self.await_supervisor(child, task).await;
            }
        }
    }

    /// The children of `parent` now, in order of addition: only its own family is
    /// looked at.
    pub(crate) fn children_of(&self, parent: &Unit) -> Vec<Arc<Unit>> {
        parent
            .family()
            .map(|family| family.lock().iter().cloned().collect()) // (L1)
            .unwrap_or_default()
    }

    /// The child of `parent` whose short name (as given to `add_child_named`) is
    /// `name`; allocates nothing.
    pub(crate) fn child_of(&self, parent: &Unit, name: &str) -> Option<Arc<Unit>> {
        parent.family()?.lock().find(name).cloned() // (L1)
    }

    /// A child exhausted its budget: its parent's run fails (see the module's header).
    pub(crate) fn escalate(&self, child: &Unit, error: SharedError) {
        let Some(parent) = self.registry().parent_of(child) else {
            return;
        };
        let Some(family) = parent.family() else {
            return;
        };
        tracing::warn!(service = %parent.name, child = %child.name, %error, "a child exhausted its restarts; failing its parent");
        family.lock().escalated = Some(Arc::new(ChildExhausted {
            child: child.name.clone(),
            error,
        }));
        parent.ring_child_failed();
    }
}
