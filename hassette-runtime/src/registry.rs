//! Finding services by type or name, and the wait-for graph that turns a readiness
//! wait that could never finish into an error.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::unit::Unit;
use crate::{Hooks, LookupError, WaitError};

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
        Arc::clone(&unit.handle)
            .downcast::<T>()
            .map_err(|_| LookupError::NotRegistered {
                type_name: std::any::type_name::<T>(),
            })
    }
}

/// Who waits for whom right now: an edge `a -> b` lives while `a` waits for `b` to be
/// ready (a `depends_on` wait, or `ServiceContext::wait_ready`).
#[derive(Debug, Default)]
pub(crate) struct WaitGraph {
    edges: Mutex<HashMap<usize, Vec<usize>>>,
}

impl WaitGraph {
    /// Adds `waiter -> target`, unless `target` already (transitively) waits for `waiter`:
    /// then the wait could never end, and the error names the whole cycle.
    pub(crate) fn enter<'a>(
        &'a self,
        units: &[Arc<Unit>],
        waiter: usize,
        target: usize,
    ) -> Result<WaitEdge<'a>, WaitError> {
        let mut edges = self.edges.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = path(&edges, target, waiter) {
            let mut names: Vec<&str> = vec![&units[waiter].name];
            names.extend(path.iter().map(|&id| &*units[id].name));
            return Err(WaitError::Cycle {
                waiter: units[waiter].name.clone(),
                target: units[target].name.clone(),
                cycle: names.join(" -> "),
            });
        }
        edges.entry(waiter).or_default().push(target);
        Ok(WaitEdge {
            graph: self,
            waiter,
            target,
        })
    }
}

/// The path `from -> ... -> to` along the edges, both ends included.
fn path(edges: &HashMap<usize, Vec<usize>>, from: usize, to: usize) -> Option<Vec<usize>> {
    let mut stack = vec![vec![from]];
    let mut seen = std::collections::HashSet::new();
    while let Some(route) = stack.pop() {
        let last = *route.last()?;
        if last == to {
            return Some(route);
        }
        if !seen.insert(last) {
            continue;
        }
        for &next in edges.get(&last).into_iter().flatten() {
            let mut longer = route.clone();
            longer.push(next);
            stack.push(longer);
        }
    }
    None
}

/// Removes its edge when the wait ends, however it ends.
pub(crate) struct WaitEdge<'a> {
    graph: &'a WaitGraph,
    waiter: usize,
    target: usize,
}

impl Drop for WaitEdge<'_> {
    fn drop(&mut self) {
        let mut edges = self.graph.edges.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(targets) = edges.get_mut(&self.waiter) {
            if let Some(i) = targets.iter().position(|&t| t == self.target) {
                targets.swap_remove(i);
            }
            if targets.is_empty() {
                edges.remove(&self.waiter);
            }
        }
    }
}
