//! Waiting for a service to be Running and ready, and the wait-for graph that turns a
//! wait that could never finish into an error.
//!
//! # The wait-for graph
//!
//! An edge `a -> b` lives exactly as long as one wait of `a` for `b` (a `depends_on` wait,
//! a `ServiceContext::wait_ready*` call, or an `add` of `b` awaited inside `a`, which waits
//! for `b`'s first start): [`WaitGraph::enter`] adds it and the [`WaitEdge`] it returns
//! removes it when the wait ends, however it ends. A node is a service, whichever of its
//! tasks waits. Edges form a
//! multiset (two tasks of one service may wait on the same target), so each wait adds and
//! removes its own copy; both directions are kept, `out[a]` and `inn[b]`, each as a count
//! per neighbour, so adding or removing an edge is O(1) whatever the degrees.
//!
//! Invariant: the graph is acyclic. `enter(a, b)` adds `a -> b` only when there is no
//! path `b -> ... -> a`; otherwise the wait could never end, and the error names the cycle
//! `a -> b -> ... -> a`. Since no edge that closes a cycle is ever added, no wait in the
//! graph can be part of one. A wait for `b`'s first start ([`WaitGraph::wait_start`]) also
//! counts the waits that start is about to begin, `b -> d` for each dependency `d` of `b`
//! that is not up, for its one search: its supervisor may not have entered them yet, and
//! the caller (`a` in `add`) is the one that gets the error, at once. A caller that is
//! up (Running and ready) enters no edge: nothing waits for it, so its wait closes no
//! cycle.
//!
//! Cost: the check is a bidirectional search that alternates one node forward from `b`
//! (along `out`) and one node backward from `a` (along `inn`) and stops as soon as either
//! side has nothing left to visit (no path) or they meet (a cycle). It expands at most
//! `2 min(F, B) + 1` nodes (each expansion scans that node's distinct neighbours), where
//! `F` is the set `b` reaches and `B` the set that reaches `a`. A chain of waits built
//! from either end costs O(1) a wait (one of the two sets is the single end node), and in
//! any order O(n log n) in all (each wait pays for the shorter of the two pieces it
//! joins), so 10 000 services that each wait for the one before them are near-linear; a
//! search from `b` alone walked the whole chain behind it at every wait. It all happens
//! under one mutex, held for one search or one removal, and no other lock is taken
//! inside it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::lock;
use super::registry::Registry;
use super::unit::Unit;
use crate::{Status, WaitError};

impl WaitGraph {
    /// Waits until `target` is Running and ready, recording the wait in the wait-for graph
    /// when a service waits, so a wait that could never end is an error instead of a hang.
    /// The wait ends with the app's `stopping`.
    pub(crate) async fn wait_up(
        &self,
        registry: &Registry,
        stopping: &CancellationToken,
        waiter: Option<&Arc<Unit>>,
        target: &Arc<Unit>,
    ) -> Result<(), WaitError> {
        if target.state().is_up() {
            return Ok(());
        }
        let _edge = match waiter {
            Some(waiter) => Some(self.enter(registry, waiter.id, target.id)?),
            None => None,
        };
        let settled = target.wait_for(|now| match now.is_up() {
            true => Some(Ok(())),
            false => will_not_be_up(target, now.status).then(|| {
                Err(WaitError::Ended {
                    service: target.name.clone(),
                    status: now.status,
                })
            }),
        });
        tokio::select! {
            biased;
            () = stopping.cancelled() => Err(WaitError::ShuttingDown),
            settled = settled => settled,
        }
    }

    /// Records that `waiter` waits for `target`'s first start (an `add` awaited inside a
    /// service), which waits in turn for each of its dependencies that is not up: an
    /// error naming the cycle when that start would wait, through them, for `waiter`.
    /// A waiter that is up holds nobody up (a wait for it returns at once): its wait
    /// needs no edge, and a parent adding a child per connection pays nothing for it.
    pub(crate) fn wait_start(
        &self,
        registry: &Registry,
        waiter: &Unit,
        target: &Unit,
    ) -> Result<Option<WaitEdge<'_>>, WaitError> {
        if waiter.state().is_up() {
            return Ok(None);
        }
        let then: Vec<usize> = target
            .dependencies
            .iter()
            .copied()
            .filter(|&id| registry.get(id).is_some_and(|dep| !dep.state().is_up()))
            .collect();
        self.enter_then(registry, waiter.id, target.id, &then)
            .map(Some)
    }
}

/// Whether `unit`, now in `status`, will stay down unless someone restarts it by hand.
fn will_not_be_up(unit: &Unit, status: Status) -> bool {
    match status {
        Status::Crashed | Status::ExhaustedDead => true,
        Status::Stopped => unit.finished(status) || unit.restart_type().is_none(),
        Status::Failed => unit.restart_type().is_none(),
        _ => false,
    }
}

/// Who waits for whom right now: an edge `a -> b` lives while `a` waits for `b` to be
/// ready (a `depends_on` wait, or `ServiceContext::wait_ready`). See the module header
/// for the invariant and the cost.
#[derive(Debug, Default)]
pub(crate) struct WaitGraph {
    edges: Mutex<Edges>,
}

/// A multiset of edges between unit ids, in both directions.
#[derive(Debug, Default)]
struct Edges {
    /// `out[a][b]`: how many waits of `a` for `b` are in flight.
    out: Adjacency,
    /// `inn[b][a]`: the same count, seen from the target.
    inn: Adjacency,
    /// Nodes expanded by the searches so far, for the cost tests.
    #[cfg(test)]
    expanded: usize,
}

/// For each node, its neighbours with the number of edges to each.
type Adjacency = HashMap<usize, HashMap<usize, usize>>;

fn add(adjacency: &mut Adjacency, from: usize, to: usize) {
    *adjacency.entry(from).or_default().entry(to).or_default() += 1;
}

fn remove(adjacency: &mut Adjacency, from: usize, to: usize) {
    if let Some(next) = adjacency.get_mut(&from) {
        if let Some(count) = next.get_mut(&to) {
            *count -= 1;
            if *count == 0 {
                next.remove(&to);
            }
        }
        if next.is_empty() {
            adjacency.remove(&from);
        }
    }
}

impl WaitGraph {
    /// Adds `waiter -> target`, unless `target` already (transitively) waits for `waiter`:
    /// then the wait could never end, and the error names the whole cycle.
    pub(crate) fn enter<'a>(
        &'a self,
        units: &Registry,
        waiter: usize,
        target: usize,
    ) -> Result<WaitEdge<'a>, WaitError> {
        self.enter_then(units, waiter, target, &[])
    }

    /// [`enter`](Self::enter) for a wait on `target`'s start, which is about to wait for
    /// each of `then` (see the module's header).
    fn enter_then<'a>(
        &'a self,
        units: &Registry,
        waiter: usize,
        target: usize,
        then: &[usize],
    ) -> Result<WaitEdge<'a>, WaitError> {
        self.add_then(waiter, target, then).map_err(|path| {
            let names: Vec<Arc<str>> = std::iter::once(waiter)
                .chain(path)
                .map(|id| units.name_of(id))
                .collect();
            WaitError::Cycle {
                waiter: units.name_of(waiter),
                target: units.name_of(target),
                cycle: names.join(" -> "),
            }
        })?;
        Ok(WaitEdge {
            graph: self,
            waiter,
            target,
        })
    }

    /// Adds the edge, or returns the path `target -> ... -> waiter` that it would close
    /// into a cycle.
    #[cfg(test)]
    fn add(&self, waiter: usize, target: usize) -> Result<(), Vec<usize>> {
        self.add_then(waiter, target, &[])
    }

    /// Adds the edge, or returns the path `target -> ... -> waiter` that it would close
    /// into a cycle, `target`'s edges to each of `then` counted for this one search.
    fn add_then(&self, waiter: usize, target: usize, then: &[usize]) -> Result<(), Vec<usize>> {
        let mut edges = self.lock();
        for &next in then {
            add(&mut edges.out, target, next);
            add(&mut edges.inn, next, target);
        }
        // A target that waits for nothing (a unit just added, say) closes no cycle, unless
        // it is the waiter.
        let path = match target == waiter || edges.out.contains_key(&target) {
            true => edges.path(target, waiter),
            false => None,
        };
        for &next in then {
            remove(&mut edges.out, target, next);
            remove(&mut edges.inn, next, target);
        }
        if let Some(path) = path {
            return Err(path);
        }
        add(&mut edges.out, waiter, target);
        add(&mut edges.inn, target, waiter);
        Ok(())
    }

    /// Removes one copy of `waiter -> target`.
    fn leave(&self, waiter: usize, target: usize) {
        let mut edges = self.lock();
        remove(&mut edges.out, waiter, target);
        remove(&mut edges.inn, target, waiter);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Edges> {
        lock(&self.edges) // (alone)
    }
}

impl Edges {
    /// The path `from -> ... -> to` along the edges, both ends included: a bidirectional
    /// breadth-first search, one node forward from `from`, then one node backward from
    /// `to`, until one side runs dry (no path) or a side reaches a node the other has seen.
    fn path(&mut self, from: usize, to: usize) -> Option<Vec<usize>> {
        if from == to {
            return Some(vec![from]);
        }
        // node -> the node it was reached from (forward), or the node it leads to
        // (backward); each end points at itself.
        let mut ahead = HashMap::from([(from, from)]);
        let mut behind = HashMap::from([(to, to)]);
        let mut forward = VecDeque::from([from]);
        let mut backward = VecDeque::from([to]);
        loop {
            let node = forward.pop_front()?;
            self.count_expanded();
            for &next in self.out.get(&node).into_iter().flat_map(HashMap::keys) {
                if behind.contains_key(&next) {
                    return Some(join(&ahead, node, &behind, next));
                }
                if let Entry::Vacant(slot) = ahead.entry(next) {
                    slot.insert(node);
                    forward.push_back(next);
                }
            }
            let node = backward.pop_front()?;
            self.count_expanded();
            for &prev in self.inn.get(&node).into_iter().flat_map(HashMap::keys) {
                if ahead.contains_key(&prev) {
                    return Some(join(&ahead, prev, &behind, node));
                }
                if let Entry::Vacant(slot) = behind.entry(prev) {
                    slot.insert(node);
                    backward.push_back(prev);
                }
            }
        }
    }

    #[cfg(test)]
    fn count_expanded(&mut self) {
        self.expanded += 1;
    }

    #[cfg(not(test))]
    fn count_expanded(&mut self) {}
}

/// The path through the edge `last_ahead -> first_behind`: back along `ahead` to the start,
/// then on along `behind` to the end.
fn join(
    ahead: &HashMap<usize, usize>,
    last_ahead: usize,
    behind: &HashMap<usize, usize>,
    first_behind: usize,
) -> Vec<usize> {
    let mut path = Vec::new();
    let mut node = last_ahead;
    loop {
        path.push(node);
        match ahead.get(&node) {
            Some(&prev) if prev != node => node = prev,
            _ => break,
        }
    }
    path.reverse();
    let mut node = first_behind;
    loop {
        path.push(node);
        match behind.get(&node) {
            Some(&next) if next != node => node = next,
            _ => break,
        }
    }
    path
}

/// Removes its edge when the wait ends, however it ends.
pub(crate) struct WaitEdge<'a> {
    graph: &'a WaitGraph,
    waiter: usize,
    target: usize,
}

impl Drop for WaitEdge<'_> {
    fn drop(&mut self) {
        self.graph.leave(self.waiter, self.target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(usize, usize)]) -> WaitGraph {
        let graph = WaitGraph::default();
        for &(waiter, target) in edges {
            graph.add(waiter, target).unwrap();
        }
        graph
    }

    fn expanded(graph: &WaitGraph) -> usize {
        graph.lock().expanded
    }

    fn is_empty(graph: &WaitGraph) -> bool {
        let edges = graph.lock();
        edges.out.is_empty() && edges.inn.is_empty()
    }

    #[test]
    fn a_self_wait_is_a_cycle_of_one() {
        let graph = WaitGraph::default();
        assert_eq!(graph.add(7, 7), Err(vec![7]));
        assert!(is_empty(&graph), "a refused wait leaves no edge");
    }

    #[test]
    fn cycles_of_two_and_three_are_named_from_the_target_to_the_waiter() {
        let two = graph(&[(1, 2)]);
        assert_eq!(two.add(2, 1), Err(vec![1, 2]), "2 -> 1 -> 2");
        let three = graph(&[(1, 2), (2, 3)]);
        assert_eq!(three.add(3, 1), Err(vec![1, 2, 3]), "3 -> 1 -> 2 -> 3");
        // the same cycle, closed at the other end of the chain
        let three = graph(&[(2, 3), (3, 1)]);
        assert_eq!(three.add(1, 2), Err(vec![2, 3, 1]), "1 -> 2 -> 3 -> 1");
    }

    #[test]
    fn a_diamond_is_no_cycle_until_its_bottom_waits_for_its_top() {
        // 1 waits for 2 and 3, which both wait for 4; 0 waits for 1
        let graph = graph(&[(1, 2), (1, 3), (2, 4), (3, 4), (0, 1)]);
        graph.add(5, 4).unwrap();
        graph.add(0, 4).unwrap();
        assert_eq!(graph.add(4, 0), Err(vec![0, 4]), "the direct wait");
        let path = graph.add(4, 1).unwrap_err();
        assert!(path == [1, 2, 4] || path == [1, 3, 4], "{path:?}");
    }

    #[test]
    fn each_wait_adds_and_removes_its_own_copy_of_an_edge() {
        // two tasks of service 1 wait for 2
        let graph = graph(&[(1, 2), (1, 2)]);
        graph.leave(1, 2);
        assert_eq!(graph.add(2, 1), Err(vec![1, 2]), "one wait is still there");
        graph.leave(1, 2);
        assert!(is_empty(&graph));
        graph.add(2, 1).unwrap();
    }

    #[test]
    fn a_removed_wait_no_longer_closes_a_cycle() {
        let graph = graph(&[(1, 2), (2, 3)]);
        graph.leave(2, 3);
        graph.add(3, 1).unwrap();
        assert_eq!(graph.add(2, 3), Err(vec![3, 1, 2]));
        graph.leave(1, 2);
        graph.leave(3, 1);
        assert!(is_empty(&graph), "nothing is left behind");
        // removing what is not there is a no-op
        graph.leave(8, 9);
        assert!(is_empty(&graph));
    }

    #[test]
    fn the_waits_a_start_is_about_to_begin_count_for_its_one_search() {
        // 1 waits for 2, which waits for 3; a wait of 3 for the start of 4, which depends
        // on 1 (not up), closes 3 -> 4 -> 1 -> 2 -> 3
        let graph = graph(&[(1, 2), (2, 3)]);
        assert_eq!(graph.add_then(3, 4, &[5, 1]), Err(vec![4, 1, 2, 3]));
        // the start's waits were counted for that search only
        graph.add(1, 4).unwrap();
        graph.leave(1, 4);
        // a dependency that closes no cycle: the wait is entered
        graph.add_then(3, 4, &[5]).unwrap();
        assert_eq!(graph.add(4, 1), Err(vec![1, 2, 3, 4]));
        graph.leave(3, 4);
        graph.leave(2, 3);
        graph.leave(1, 2);
        assert!(is_empty(&graph), "nothing is left behind");
        // a start of the waiter itself is a cycle of one
        assert_eq!(graph.add_then(6, 6, &[]), Err(vec![6]));
    }

    #[test]
    fn a_chain_built_in_either_order_costs_a_constant_per_wait() {
        const N: usize = 10_000;
        // from the front: 1 -> 0, 2 -> 1, ...; a search from the target alone walks the
        // whole chain behind it each time (N^2 / 2 nodes)
        let front = WaitGraph::default();
        for i in 1..N {
            front.add(i, i - 1).unwrap();
        }
        assert!(expanded(&front) < 4 * N, "{} nodes", expanded(&front));
        // from the back: N-1 -> N-2, N-2 -> N-3, ...; a search from the waiter alone would
        // be the quadratic one here
        let back = WaitGraph::default();
        for i in (1..N).rev() {
            back.add(i, i - 1).unwrap();
        }
        assert!(expanded(&back) < 4 * N, "{} nodes", expanded(&back));
        // closing the chain is found, the whole way round
        let path = front.add(0, N - 1).unwrap_err();
        assert_eq!(path, (0..N).rev().collect::<Vec<_>>());
        assert!(expanded(&front) < 6 * N, "{} nodes", expanded(&front));
    }
}
