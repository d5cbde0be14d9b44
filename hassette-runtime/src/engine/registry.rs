//! Finding services by type or name.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use super::unit::Unit;
use crate::{Hooks, LookupError};

#[derive(Debug, Clone, Copy)]
pub(crate) enum TypeSlot {
    /// Registered once with `service` or `resource`.
    Single(usize),
    /// Registered by name, maybe many times.
    Named,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) units: Vec<Arc<Unit>>,
    pub(crate) by_type: HashMap<TypeId, TypeSlot>,
    pub(crate) by_name: HashMap<Arc<str>, usize>,
}

impl Registry {
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
