//! Services added and removed while the app runs.
//!
//! Protocol:
//! - [`AppState::add`] claims the name (and the type, for the one instance of a type),
//!   resolves the dependencies, makes the unit and spawns its supervisor, all under the
//!   write lock of the registry's `added` table, where it also checks that the shutdown
//!   has not begun. The stop task takes the same lock to collect the added units after
//!   it has set `shutting_down`: an addition either happens before (and the stop sees
//!   it) or sees the flag (and is refused). Then `add` waits for the unit's first start,
//!   as `start()` waits for the static ones; a failed start leaves it supervised. Awaited
//!   inside a service, that wait is an edge of the wait-for graph (see `readiness`): a
//!   start that waits, through its dependencies, for the caller is a cycle, and `add`
//!   returns it at once while the unit goes on starting. A child is entered in its
//!   parent's family under the family's lock, held from before the table's until after
//!   (see `family`). For add-or-get (`ensure`), a name found taken under the table's lock
//!   gives back the unit that holds it (and the addition, unused) instead of an error.
//! - A removal happens once per unit, and not in the caller's future (so a `remove()`
//!   future dropped half-way still completes it): the first caller marks the unit's
//!   table entry `removing` and rings the unit's stop; every caller waits for the unit's
//!   `removed` flag (a wait on its state, as for its status: no channel per removal).
//!   The unit's own supervisor, as it ends, takes the unit out of the table and out of
//!   its parent's family at once (the family's lock held with the table's), counts its
//!   report into the totals of removed units, then sets the flag (`removal_done`): until
//!   the report is final, every view still shows the unit, and each caller reads that
//!   final report from the unit. Once it is out of the table, the event bus (which
//!   sizes the streams by the live count) and its observer (feature `metrics`'s, which
//!   forgets its series) are told, outside every lock. A caller waits at most the
//!   unit's stop budget; then it cuts the supervisor off (held by code that never
//!   yields, as the shutdown does) and completes the removal itself.
//! - A unit that others depend on (`depends_on`, counted in `dependants`) is not
//!   removed. A service removing itself or an ancestor (from its hooks, `serve` or
//!   `ctx.spawn` tasks) does not wait for that stop, which stops the caller first: it
//!   gets the report as of the request.
//! - An added unit's id is never reused (see `registry`), so a stale id finds nothing.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::bus::Observed;
use super::driver::deadline_in;
use super::first_start::FirstStarts;
use super::handle::SupervisorHandle;
use super::registry::{AddedTable, RemovalStart};
use super::shutdown::stop_budget;
use super::state::AppState;
use super::unit::{Family, Kin, Unit, UnitInit};
use crate::{AddError, Dependency, RemoveError, ServiceReport};

/// What `register` did: entered a new unit (with the first-start latch to wait for,
/// unless it waits for its parent), or found the name held (asked for by `ensure`).
enum Registered {
    New(Arc<Unit>, Option<Arc<FirstStarts>>),
    Held(Arc<Unit>, Addition),
}

/// What [`AppState::add_or_held`] did: added a unit (its first start done), or found the
/// name held by `.0` (the addition given back, unused).
pub(super) enum Claimed {
    New(Arc<Unit>),
    Held(Arc<Unit>, Addition),
}

/// What a new unit is: how it is registered, besides its [`UnitInit`].
pub(crate) struct Addition {
    pub(crate) init: UnitInit,
    pub(crate) depends_on: &'static [Dependency],
    /// Added as the one instance of its type (`add`), found by type too.
    pub(crate) by_type: bool,
}

/// Whether `parent` (whose family's lock `kin` is held) takes one more child named
/// `service`: not while it stops, nor past its `max_children`.
fn admit_child(parent: &Unit, kin: &Kin, service: &Arc<str>) -> Result<(), AddError> {
    if parent.is_stop_requested() {
        return Err(AddError::ParentStopping {
            service: service.clone(),
            parent: parent.name.clone(),
        });
    }
    if let Some(limit) = parent.spec().max_children
        && kin.len() >= limit.get() as usize
    {
        return Err(AddError::ChildLimit {
            service: service.clone(),
            parent: parent.name.clone(),
            limit: limit.get() as usize,
        });
    }
    Ok(())
}

/// `addition` as a child of `parent`: named `parent/name`, found by name only.
pub(super) fn as_child(parent: &Unit, mut addition: Addition) -> Addition {
    addition.init.name = format!("{}/{}", parent.name, addition.init.name).into();
    addition.init.child = true;
    addition.by_type = false;
    addition
}

impl AppState {
    /// Registers, starts and supervises a unit while the app runs (see the module's
    /// header); returns once its first initialize is done.
    pub(crate) async fn add(self: &Arc<Self>, addition: Addition) -> Result<Arc<Unit>, AddError> {
        self.add_to(None, addition).await
    }

    /// Adds a child of `parent` (see `family`): named `parent/name`; it starts at once,
    /// and this returns once its first initialize is done, unless the parent's run is
    /// still initializing: then it starts after the parent's `after_initialize`, and this
    /// returns at once.
    pub(crate) async fn add_child(
        self: &Arc<Self>,
        parent: &Arc<Unit>,
        addition: Addition,
    ) -> Result<Arc<Unit>, AddError> {
        self.add_to(Some(parent), as_child(parent, addition)).await
    }

    async fn add_to(
        self: &Arc<Self>,
        parent: Option<&Arc<Unit>>,
        addition: Addition,
    ) -> Result<Arc<Unit>, AddError> {
        match self.add_or_held(parent, addition, false).await? {
            Claimed::New(unit) => Ok(unit),
            // Not asked for: `register` reports a taken name as an error then.
            Claimed::Held(unit, _) => Err(AddError::NameTaken {
                name: unit.name.clone(),
            }),
        }
    }

    /// `add_to`, or, when `ensure` and the name is held, the unit that holds it (and the
    /// addition back, unused; see `ensure`).
    pub(super) async fn add_or_held(
        self: &Arc<Self>,
        parent: Option<&Arc<Unit>>,
        addition: Addition,
        ensure: bool,
    ) -> Result<Claimed, AddError> {
        let (unit, starts) = match self.register(parent, addition, ensure)? {
            Registered::New(unit, starts) => (unit, starts),
            Registered::Held(unit, addition) => return Ok(Claimed::Held(unit, addition)),
        };
        // Outside every lock: the event streams may grow with the app.
        self.events().unit_added();
        let Some(starts) = starts else {
            return Ok(Claimed::New(unit));
        };
        // A service waiting for the start is a wait in the wait-for graph (see the
        // module's header).
        let _edge = match super::inside::caller(self.registry()) {
            Some(waiter) => self
                .waits()
                .wait_start(self.registry(), &waiter, &unit)
                .map_err(|error| AddError::WaitCycle {
                    service: unit.name.clone(),
                    error,
                })?,
            None => None,
        };
        match starts.outcome().await {
            Ok(()) => Ok(Claimed::New(unit)),
            Err(error) => Err(AddError::Start(error)),
        }
    }

    /// The part of `add` under the locks: the parent's family (for a child), then the
    /// table. The first-start latch to wait for, unless the child waits for its parent;
    /// when `ensure`, a unit that holds the name already, in place of the error.
    fn register(
        self: &Arc<Self>,
        parent: Option<&Arc<Unit>>,
        addition: Addition,
        ensure: bool,
    ) -> Result<Registered, AddError> {
        let Addition {
            mut init,
            depends_on,
            by_type,
        } = addition;
        // The spec's rules, as at `build()`: nothing is added for a spec that breaks one.
        init.check()?;
        let service = || init.name.clone();
        if !self.start_state().is_begun() {
            return Err(AddError::NotStarted { service: service() });
        }
        let mut kin = parent.map(|parent| parent.family_or_init().lock()); // (L1)
        // Read under the family's lock (see `family`).
        let launch = parent.is_none_or(|parent| parent.launched());
        let mut added = self.registry().added_mut(); // (L2)
        if ensure && let Some(holder) = self.registry().holder(&added, &init.name) {
            let addition = Addition {
                init,
                depends_on,
                by_type,
            };
            return Ok(Registered::Held(holder, addition));
        }
        if let (Some(parent), Some(kin)) = (parent, &kin) {
            admit_child(parent, kin, &init.name)?;
        }
        if self.is_stopping() {
            return Err(AddError::ShuttingDown { service: service() });
        }
        self.claim(&mut added, &mut init, depends_on, by_type)?;
        let (unit, starts) = self.insert(&mut added, parent, init, by_type, launch);
        drop(added);
        if let (Some(kin), Some(parent)) = (&mut kin, parent) {
            kin.push(unit.clone(), parent.name.len() + 1);
        }
        Ok(Registered::New(unit, starts))
    }

    /// Checks that `init`'s name (and type, when `by_type`) is free and resolves its
    /// dependencies, counting it as their dependant; under the table's write lock.
    fn claim(
        &self,
        added: &mut AddedTable,
        init: &mut UnitInit,
        depends_on: &[Dependency],
        by_type: bool,
    ) -> Result<(), AddError> {
        let registry = self.registry();
        if by_type && registry.type_taken(added, init.type_id) {
            return Err(AddError::TypeTaken {
                type_name: init.type_name,
            });
        }
        if registry.name_taken(added, &init.name) {
            return Err(AddError::NameTaken {
                name: init.name.clone(),
            });
        }
        init.dependencies = depends_on
            .iter()
            .map(|dep| registry.resolve_added(added, dep))
            .collect::<Result<_, _>>()
            .map_err(|error| AddError::Dependency {
                service: init.name.clone(),
                error,
            })?;
        added.count_dependant(&init.dependencies);
        Ok(())
    }

    /// Makes the unit of a claimed `init`, launches its supervisor when `launch` (a
    /// parent's child waits for its parent's launch otherwise; see `family`) and enters
    /// it in the table; under the table's write lock.
    fn insert(
        self: &Arc<Self>,
        added: &mut AddedTable,
        parent: Option<&Arc<Unit>>,
        init: UnitInit,
        by_type: bool,
        launch: bool,
    ) -> (Arc<Unit>, Option<Arc<FirstStarts>>) {
        let id = added.next_id(self.registry().statics().len());
        let type_id = init.type_id;
        let unit = Arc::new(Unit::new(id, init, self.bus().clone()));
        let mut starts = None;
        let task = launch.then(|| {
            let latch = Arc::new(FirstStarts::default());
            let first = latch.entry(&unit);
            starts = Some(latch);
            let tasks = self.registry().supervisors(parent.is_some());
            let app = SupervisorHandle::new(self.clone());
            super::supervisor::launch(unit.clone(), app, first, tasks)
        });
        let type_id = by_type.then_some(type_id);
        added.enter(unit.clone(), type_id, task, parent.map(|parent| parent.id));
        (unit, starts)
    }

    /// Whether `unit` was added while the app runs (not registered at `build()`).
    pub(crate) fn is_added(&self, unit: &Unit) -> bool {
        unit.id >= self.registry().statics().len()
    }

    /// Stops and removes an added unit (see the module's header); its final report.
    pub(crate) async fn remove(
        self: &Arc<Self>,
        unit: &Arc<Unit>,
    ) -> Result<ServiceReport, RemoveError> {
        if !self.is_added(unit) {
            return Err(RemoveError::Static {
                service: unit.name.clone(),
            });
        }
        let Some(removal) = self.begin_removal(unit)? else {
            // Removed already: the unit keeps its final report.
            return Ok(unit.report());
        };
        if super::inside::from_family_of(self.registry(), unit) {
            // Its stop stops the caller first: the report as of the request.
            return Ok(unit.report());
        }
        let budget = stop_budget(unit.spec().shutdown_timeout);
        if tokio::time::timeout_at(deadline_in(budget), unit.removed(&removal))
            .await
            .is_err()
        {
            // Code that never yields holds its supervisor: cut it off.
            let task = self.registry().added_mut().take_task(unit.id); // (L2)
            if let Some(mut task) = task {
                self.settle_task(unit, &mut task, None, budget);
            }
        }
        // Removed: the unit keeps its final report.
        Ok(unit.report())
    }

    /// Begins the removal of `unit` unless it has begun: sets its stop; its supervisor
    /// completes the removal as it ends ([`removal_done`]), and `Unit::removed` returns.
    /// What wakes the removal's waiters (`None`: the removal is done).
    ///
    /// [`removal_done`]: Self::removal_done
    pub(super) fn begin_removal(
        &self,
        unit: &Arc<Unit>,
    ) -> Result<Option<Arc<Notify>>, RemoveError> {
        let start = self.registry().added_mut().begin_removal(unit); // (L2)
        let removal = match start {
            RemovalStart::Gone => return Ok(None),
            RemovalStart::Joined(removal) => return Ok(Some(removal)),
            RemovalStart::Dependants(dependants) => {
                return Err(RemoveError::Dependants {
                    service: unit.name.clone(),
                    dependants,
                });
            }
            RemovalStart::Began(removal) => removal,
        };
        unit.request_stop();
        if !unit.is_supervised() {
            // No supervisor to complete it (it ended, or never began: a child waiting
            // for its parent's start): done here.
            self.removal_done(unit);
        }
        Ok(Some(removal))
    }

    /// A supervisor has ended (or was cut off): when its unit's removal was asked for,
    /// takes the unit out of the table (its waiters then read its final report).
    pub(crate) fn removal_done(&self, unit: &Unit) {
        // A child stopped by its parent stays: no removal was asked for.
        let removing = self.registry().added().is_removing(unit.id); // (L2)
        if removing {
            self.forget(unit);
        }
    }

    /// Waits for a stopping unit's supervisor at most its stop budget, then cuts it off.
    pub(super) async fn await_supervisor(&self, unit: &Unit, mut task: JoinHandle<()>) {
        let budget = stop_budget(unit.spec().shutdown_timeout);
        let ended = tokio::time::timeout_at(deadline_in(budget), &mut task).await;
        self.settle_task(unit, &mut task, ended.ok(), budget);
    }

    /// Takes a removed unit out of the table, and counts its report in; its children go
    /// with it (its last run stopped them), and it leaves its parent's list. Then it is
    /// removed (`Unit::removed` returns).
    fn forget(&self, unit: &Unit) {
        // The family's lock comes before the table's (see `family`): its own children
        // first (that lock released), then its parent's, held with the table's, so a
        // child leaves its family and the table at once.
        let children = unit
            .family()
            .map(|family| family.lock().take_all())
            .unwrap_or_default();
        let parent = self.registry().parent_of(unit);
        let mut kin = parent.as_deref().and_then(Unit::family).map(Family::lock); // (L1)
        let report = unit.report();
        let (removal, orphans) = {
            let mut added = self.registry().added_mut(); // (L2)
            // Forgotten once: a second `removal_done` that raced the first finds nothing.
            let Some((_, removal)) = added.take_out(unit, report) else {
                return;
            };
            if let Some(kin) = &mut kin {
                kin.remove(unit.id);
            }
            // A child still running had a parent whose stop was cut off: cut it off too.
            let orphans: Vec<_> = children
                .into_iter()
                .map(|child| {
                    let task = added.take_task(child.id);
                    (child, task)
                })
                .collect();
            (removal, orphans)
        };
        drop(kin);
        self.events().unit_removed();
        self.events().observe(|| Observed::Removed {
            service: &unit.name,
        });
        for (child, task) in orphans {
            if let Some(task) = task {
                task.abort();
                self.lose(&child, "its parent was removed while it still ran");
            }
            self.forget(&child);
        }
        unit.set_removed(removal.as_deref());
    }
}
