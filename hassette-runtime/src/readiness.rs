//! Waiting for a service to be Running and ready, and the wait-for graph that turns a
//! wait that could never finish into an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::app::AppInner;
use crate::unit::Unit;
use crate::{RestartType, Status, WaitError};

impl AppInner {
    /// Waits until `target` is Running and ready, recording the wait in the wait-for graph
    /// when a service waits, so a wait that could never end is an error instead of a hang.
    pub(crate) async fn wait_up(
        &self,
        waiter: Option<&Arc<Unit>>,
        target: &Arc<Unit>,
    ) -> Result<(), WaitError> {
        let mut state = target.state.subscribe();
        if state.borrow_and_update().is_up() {
            return Ok(());
        }
        let _edge = match waiter {
            Some(waiter) => Some(
                self.waits
                    .enter(&self.registry.units, waiter.id, target.id)?,
            ),
            None => None,
        };
        loop {
            let now = *state.borrow_and_update();
            if now.is_up() {
                return Ok(());
            }
            if will_not_be_up(target, now.status) {
                return Err(WaitError::Ended {
                    service: target.name.clone(),
                    status: now.status,
                });
            }
            tokio::select! {
                biased;
                () = self.stopping.cancelled() => return Err(WaitError::ShuttingDown),
                changed = state.changed() => if changed.is_err() { return Err(WaitError::ShuttingDown) },
            }
        }
    }
}

/// Whether `unit`, now in `status`, will stay down unless someone restarts it by hand.
fn will_not_be_up(unit: &Unit, status: Status) -> bool {
    match status {
        Status::Crashed | Status::ExhaustedDead => true,
        Status::Stopped => unit.restart_type != Some(RestartType::Permanent),
        Status::Failed => unit.restart_type.is_none(),
        _ => false,
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
