//! The unit table: every unit, found by id, by type or by name.
//!
//! Protocol:
//! - The units known at `build()` are written only while the app is built (`claim`,
//!   `resolve`, `push`), then only read, without a lock: their id is their index.
//! - Units added while the app runs live in `added`, behind one `RwLock` (L2 in
//!   `engine`'s lock order), taken for a lookup or a change and never held across an
//!   `.await`: a family's lock (L1) may be held, a unit's state (L4) taken inside it. An
//!   added unit's id comes from a counter that starts after the static ids and never
//!   goes back, so an id is never reused: a stale id (a removed unit's, held by a
//!   dependency, a wait edge or a task's `inside::Member`) finds nothing rather than a
//!   newcomer. That is what a generation per slot would give, without slots.
//! - A lookup tries the static maps first (no lock), then `added`. Names and types are
//!   unique across both: `added` claims them under its write lock, after checking the
//!   static maps, which never change by then.
//! - The table also owns the trackers of the added units' supervisor tasks: the
//!   top-level ones (`added` launches them, the stop waits for them as one wave) and the
//!   children (`family` launches and stops them with their parent's run). A table entry
//!   holds the task's join handle; the tracker lets a stop wait for all at once.

use std::any::TypeId;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use super::unit::Unit;
use super::{read_lock, write_lock};
use crate::{BuildError, Dependency, Hooks, LookupError, RemovedServices, ServiceReport};

#[derive(Debug, Clone, Copy)]
pub(crate) enum TypeSlot {
    /// Registered once with `service` or `resource`.
    Single(usize),
    /// Registered by name, maybe many times.
    Named,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// The units known at `build()`; a unit's id is its index.
    units: Vec<Arc<Unit>>,
    by_type: HashMap<TypeId, TypeSlot>,
    by_name: HashMap<Arc<str>, usize>,
    /// The units added while the app runs (see the module's header).
    added: RwLock<AddedTable>,
    /// The supervisor tasks of the units added while the app runs (not children).
    added_tasks: TaskTracker,
    /// The supervisor tasks of children, which their parents stop.
    child_tasks: TaskTracker,
}

/// The units added while the app runs, and what is left of those removed.
#[derive(Debug, Default)]
pub(super) struct AddedTable {
    /// By id, so in order of addition.
    units: BTreeMap<usize, Added>,
    by_type: HashMap<TypeId, usize>,
    by_name: HashMap<Arc<str>, usize>,
    /// The next id; 0 until the first addition, which starts after the static ids.
    next: usize,
    /// What is left of the removed ones.
    removed: RemovedServices,
}

/// One unit added while the app runs, in the registry's `added` table.
#[derive(Debug)]
struct Added {
    unit: Arc<Unit>,
    /// Its supervisor task, until the stop or a removal takes it.
    task: Option<JoinHandle<()>>,
    /// Woken once its removal is done, from when it has begun (see `added`).
    removal: Option<Arc<Notify>>,
    /// How many added units depend on it (`depends_on`).
    dependants: usize,
    /// The id of its parent, for a child (see `family`).
    parent: Option<usize>,
}

/// What [`AddedTable::begin_removal`] found.
pub(super) enum RemovalStart {
    /// The unit is not in the table (removed already).
    Gone,
    /// Its removal had begun: woken once it is done.
    Joined(Arc<Notify>),
    /// Its removal begins now: woken once it is done.
    Began(Arc<Notify>),
    /// Added units depend on it: their names.
    Dependants(String),
}

impl AddedTable {
    /// A fresh id, never used before in this app.
    pub(super) fn next_id(&mut self, statics: usize) -> usize {
        let id = self.next.max(statics);
        self.next = id + 1;
        id
    }

    /// Enters a claimed `unit` (found by type too when `type_id` is given), with its
    /// supervisor task (none yet for a child waiting for its parent) and its parent.
    pub(super) fn enter(
        &mut self,
        unit: Arc<Unit>,
        type_id: Option<TypeId>,
        task: Option<JoinHandle<()>>,
        parent: Option<usize>,
    ) {
        let id = unit.id;
        self.by_name.insert(unit.name.clone(), id);
        if let Some(type_id) = type_id {
            self.by_type.insert(type_id, id);
        }
        let entry = Added {
            unit,
            task,
            removal: None,
            dependants: 0,
            parent,
        };
        self.units.insert(id, entry);
    }

    /// Counts a new dependant of each added unit among `deps`.
    pub(super) fn count_dependant(&mut self, deps: &[usize]) {
        for dep in deps {
            if let Some(target) = self.units.get_mut(dep) {
                target.dependants += 1;
            }
        }
    }

    /// Takes the supervisor task of the added unit `id`, if it has one.
    pub(super) fn take_task(&mut self, id: usize) -> Option<JoinHandle<()>> {
        self.units.get_mut(&id).and_then(|entry| entry.task.take())
    }

    /// Gives the added unit `id` the supervisor task `launch` spawns, unless it has one
    /// or its removal has begun: whether it did.
    pub(super) fn launch(&mut self, id: usize, launch: impl FnOnce() -> JoinHandle<()>) -> bool {
        let Some(entry) = self.units.get_mut(&id) else {
            return false;
        };
        if entry.task.is_some() || entry.removal.is_some() {
            return false;
        }
        entry.task = Some(launch());
        true
    }

    /// Every added unit but the children (their parents stop them), with its supervisor
    /// task, taken: removals in flight included.
    pub(super) fn take_top_level(&mut self) -> Vec<(Arc<Unit>, Option<JoinHandle<()>>)> {
        self.units
            .values_mut()
            .filter(|entry| entry.parent.is_none())
            .map(|entry| (entry.unit.clone(), entry.task.take()))
            .collect()
    }

    /// What is left of the removed units.
    pub(super) fn removed(&self) -> &RemovedServices {
        &self.removed
    }

    /// Whether the added unit `id` is in the table: then whether its removal has begun,
    /// and its parent's id.
    pub(super) fn standing(&self, id: usize) -> Option<(bool, Option<usize>)> {
        (self.units.get(&id)).map(|entry| (entry.removal.is_some(), entry.parent))
    }

    /// Whether the removal of the added unit `id` has begun.
    pub(super) fn is_removing(&self, id: usize) -> bool {
        (self.units.get(&id)).is_some_and(|entry| entry.removal.is_some())
    }

    /// Begins the removal of `unit` (see `added`), unless it has begun, it is gone, or
    /// added units depend on it.
    pub(super) fn begin_removal(&mut self, unit: &Unit) -> RemovalStart {
        let Some(entry) = self.units.get(&unit.id) else {
            return RemovalStart::Gone;
        };
        if let Some(removal) = &entry.removal {
            return RemovalStart::Joined(removal.clone());
        }
        if entry.dependants > 0 {
            let dependants: Vec<&str> = self
                .units
                .values()
                .filter(|a| a.removal.is_none() && a.unit.dependencies.contains(&unit.id))
                .map(|a| &*a.unit.name)
                .collect();
            return RemovalStart::Dependants(dependants.join(", "));
        }
        let Some(entry) = self.units.get_mut(&unit.id) else {
            return RemovalStart::Gone;
        };
        let removal = Arc::new(Notify::new());
        entry.removal = Some(removal.clone());
        RemovalStart::Began(removal)
    }

    /// Takes a removed `unit` out of the table (once: `None` after), counts its `report`
    /// into the removed totals and releases its dependencies. Its parent's id, and what
    /// wakes its removal's waiters, if a removal was asked for.
    pub(super) fn take_out(
        &mut self,
        unit: &Unit,
        report: ServiceReport,
    ) -> Option<(Option<usize>, Option<Arc<Notify>>)> {
        let entry = self.units.remove(&unit.id)?;
        if self.by_name.get(&unit.name) == Some(&unit.id) {
            self.by_name.remove(&unit.name);
        }
        self.by_type.retain(|_, id| *id != unit.id);
        for dep in &unit.dependencies {
            if let Some(target) = self.units.get_mut(dep) {
                target.dependants = target.dependants.saturating_sub(1);
            }
        }
        self.removed.count_in(report);
        Some((entry.parent, entry.removal))
    }
}

impl Registry {
    /// The parent of a child.
    pub(crate) fn parent_of(&self, child: &Unit) -> Option<Arc<Unit>> {
        let parent = self.added().units.get(&child.id)?.parent?;
        self.get(parent)
    }

    /// Claims the type and the name of the registration `id` (`named`: registered by
    /// name, so found by name only): a type registered twice by type, or a name taken,
    /// is an error.
    pub(crate) fn claim(
        &mut self,
        id: usize,
        (type_id, type_name): (TypeId, &'static str),
        name: &Arc<str>,
        named: bool,
    ) -> Result<(), BuildError> {
        match (self.by_type.entry(type_id), named) {
            (Entry::Vacant(slot), named) => {
                slot.insert(if named {
                    TypeSlot::Named
                } else {
                    TypeSlot::Single(id)
                });
            }
            (Entry::Occupied(mut slot), false) => match slot.get() {
                TypeSlot::Single(_) => return Err(BuildError::DuplicateType { type_name }),
                TypeSlot::Named => {
                    slot.insert(TypeSlot::Single(id));
                }
            },
            (Entry::Occupied(_), true) => {}
        }
        if self.by_name.insert(name.clone(), id).is_some() {
            return Err(BuildError::DuplicateName { name: name.clone() });
        }
        Ok(())
    }

    /// The id of the unit `service` depends on.
    pub(crate) fn resolve(
        &self,
        service: &Arc<str>,
        dep: &Dependency,
    ) -> Result<usize, BuildError> {
        match self.by_type.get(&dep.type_id()) {
            Some(TypeSlot::Single(id)) => Ok(*id),
            Some(TypeSlot::Named) => Err(BuildError::NamedDependency {
                service: service.clone(),
                dependency: dep.type_name(),
            }),
            None => Err(BuildError::UnknownDependency {
                service: service.clone(),
                dependency: dep.type_name(),
            }),
        }
    }

    /// The units known at `build()`, by id.
    pub(crate) fn statics(&self) -> &[Arc<Unit>] {
        &self.units
    }

    /// Adds a unit whose type and name were claimed; its id is its index.
    pub(crate) fn push(&mut self, unit: Arc<Unit>) {
        self.units.push(unit);
    }

    /// Every unit now: the static ones in registration order, then the added ones in
    /// order of addition.
    pub(crate) fn all(&self) -> Vec<Arc<Unit>> {
        let added = self.added();
        let mut all = Vec::with_capacity(self.units.len() + added.units.len());
        all.extend(self.units.iter().cloned());
        all.extend(added.units.values().map(|a| a.unit.clone()));
        all
    }

    /// Every unit now, as [`all`](Self::all) lists them, each with its parent's name
    /// (for a child): one look at the `added` table, so a parent and its children are
    /// seen at the same moment.
    pub(crate) fn all_with_parents(&self) -> Vec<(Arc<Unit>, Option<Arc<str>>)> {
        let added = self.added(); // (L2)
        let name_of = |id: usize| match self.units.get(id) {
            Some(unit) => Some(unit.name.clone()),
            None => added.units.get(&id).map(|a| a.unit.name.clone()),
        };
        let mut all = Vec::with_capacity(self.units.len() + added.units.len());
        all.extend(self.units.iter().map(|unit| (unit.clone(), None)));
        all.extend(
            added
                .units
                .values()
                .map(|a| (a.unit.clone(), a.parent.and_then(name_of))),
        );
        all
    }

    /// The unit with this id, if it is still registered.
    pub(crate) fn get(&self, id: usize) -> Option<Arc<Unit>> {
        match self.units.get(id) {
            Some(unit) => Some(unit.clone()),
            None => self.added().units.get(&id).map(|a| a.unit.clone()),
        }
    }

    /// The name of the unit with this id (`?` once it is gone).
    pub(crate) fn name_of(&self, id: usize) -> Arc<str> {
        self.get(id)
            .map_or_else(|| "?".into(), |unit| unit.name.clone())
    }

    /// The tracker of the added units' supervisors: the children's (`child`), or the
    /// top-level ones'.
    pub(super) fn supervisors(&self, child: bool) -> &TaskTracker {
        match child {
            true => &self.child_tasks,
            false => &self.added_tasks,
        }
    }

    pub(super) fn added(&self) -> RwLockReadGuard<'_, AddedTable> {
        read_lock(&self.added) // (L2)
    }

    pub(super) fn added_mut(&self) -> RwLockWriteGuard<'_, AddedTable> {
        write_lock(&self.added) // (L2)
    }

    /// Whether `name` is taken, by a static or an added unit (the write lock of `added`
    /// held by the caller).
    pub(super) fn name_taken(&self, added: &AddedTable, name: &str) -> bool {
        self.by_name.contains_key(name) || added.by_name.contains_key(name)
    }

    /// The unit, static or added, that holds `name` (the lock of `added` held by the
    /// caller).
    pub(super) fn holder(&self, added: &AddedTable, name: &str) -> Option<Arc<Unit>> {
        match self.by_name.get(name) {
            Some(&id) => self.units.get(id).cloned(),
            None => added
                .by_name
                .get(name)
                .and_then(|id| added.units.get(id))
                .map(|entry| entry.unit.clone()),
        }
    }

    /// Whether the one instance of this type is taken (a type registered only by name
    /// may still get its one instance by type, as at `build()`).
    pub(super) fn type_taken(&self, added: &AddedTable, type_id: TypeId) -> bool {
        matches!(self.by_type.get(&type_id), Some(TypeSlot::Single(_)))
            || added.by_type.contains_key(&type_id)
    }

    /// The id of the unit a service added at run time depends on: the one instance of
    /// the type, static or added.
    pub(super) fn resolve_added(
        &self,
        added: &AddedTable,
        dep: &Dependency,
    ) -> Result<usize, LookupError> {
        match self.by_type.get(&dep.type_id()) {
            Some(TypeSlot::Single(id)) => Ok(*id),
            slot => match added.by_type.get(&dep.type_id()) {
                Some(&id) => Ok(id),
                None if slot.is_some() => Err(LookupError::RegisteredByName {
                    type_name: dep.type_name(),
                }),
                None => Err(LookupError::NotRegistered {
                    type_name: dep.type_name(),
                }),
            },
        }
    }

    pub(crate) fn lookup_type(
        &self,
        type_id: TypeId,
        type_name: &'static str,
    ) -> Result<Arc<Unit>, LookupError> {
        let slot = self.by_type.get(&type_id);
        if let Some(TypeSlot::Single(id)) = slot {
            return Ok(self.units[*id].clone());
        }
        let added = self.added();
        match added.by_type.get(&type_id) {
            Some(id) => Ok(added.units[id].unit.clone()),
            None if slot.is_some() => Err(LookupError::RegisteredByName { type_name }),
            None => Err(LookupError::NotRegistered { type_name }),
        }
    }

    pub(crate) fn by_type<T: 'static>(&self) -> Result<Arc<Unit>, LookupError> {
        self.lookup_type(TypeId::of::<T>(), std::any::type_name::<T>())
    }

    pub(crate) fn by_name(&self, name: &str) -> Result<Arc<Unit>, LookupError> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(self.units[id].clone());
        }
        let added = self.added();
        added
            .by_name
            .get(name)
            .map(|id| added.units[id].unit.clone())
            .ok_or_else(|| LookupError::UnknownName { name: name.into() })
    }

    pub(crate) fn handle<T: Hooks>(&self) -> Result<Arc<T>, LookupError> {
        self.by_type::<T>()?
            .value::<T>()
            .ok_or_else(|| LookupError::NotRegistered {
                type_name: std::any::type_name::<T>(),
            })
    }
}
