//! The unit table: every registered unit, found by id, by type or by name.
//!
//! Protocol: the table is written only while the app is built (`claim`, `resolve`,
//! `push`), then only read, without a lock: a unit's id is its index, stable for the
//! app's life, and everything that refers to a unit (dependencies, waves, groups, the
//! wait-for graph, a task's `inside::Member`) holds that id.
//!
//! Designed for services added and removed at run time (the next step): the table
//! becomes slots behind one `RwLock` (readers take it for a lookup, never across an
//! `.await`), each slot a unit or a free entry with a generation, so an id is
//! `(index, generation)` and a stale id (a removed unit's) finds nothing instead of a
//! newcomer; `build()` is then the special case of adding before `start()`. Ids of the
//! units known at `build()` stay plain indices of generation 0.

use std::any::TypeId;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use super::unit::Unit;
use crate::{BuildError, Dependency, Hooks, LookupError};

#[derive(Debug, Clone, Copy)]
pub(crate) enum TypeSlot {
    /// Registered once with `service` or `resource`.
    Single(usize),
    /// Registered by name, maybe many times.
    Named,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(super) units: Vec<Arc<Unit>>,
    pub(super) by_type: HashMap<TypeId, TypeSlot>,
    pub(super) by_name: HashMap<Arc<str>, usize>,
}

impl Registry {
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

    /// Adds a unit whose type and name were claimed; its id is its index.
    pub(crate) fn push(&mut self, unit: Arc<Unit>) {
        self.units.push(unit);
    }

    /// Every unit, in registration order (its id is its index).
    pub(crate) fn units(&self) -> &[Arc<Unit>] {
        &self.units
    }

    pub(crate) fn lookup_type(
        &self,
        type_id: TypeId,
        type_name: &'static str,
    ) -> Result<&Arc<Unit>, LookupError> {
        match self.by_type.get(&type_id) {
            Some(TypeSlot::Single(id)) => Ok(&self.units[*id]),
            Some(TypeSlot::Named) => Err(LookupError::RegisteredByName { type_name }),
            None => Err(LookupError::NotRegistered { type_name }),
        }
    }

    pub(crate) fn by_type<T: 'static>(&self) -> Result<&Arc<Unit>, LookupError> {
        self.lookup_type(TypeId::of::<T>(), std::any::type_name::<T>())
    }

    pub(crate) fn by_name(&self, name: &str) -> Result<&Arc<Unit>, LookupError> {
        self.by_name
            .get(name)
            .map(|&id| &self.units[id])
            .ok_or_else(|| LookupError::UnknownName { name: name.into() })
    }

    pub(crate) fn handle<T: Hooks>(&self) -> Result<Arc<T>, LookupError> {
        let unit = self.by_type::<T>()?;
        Arc::clone(&unit.value)
            .downcast::<T>()
            .map_err(|_| LookupError::NotRegistered {
                type_name: std::any::type_name::<T>(),
            })
    }
}
