//! Supervision groups at run time: Erlang/OTP restart strategies over several services,
//! each group with its own restart budget, escalating to its parent when the budget runs
//! out (at the top, crashing the app, unless only units that are not critical failed). (The builder's side is `app/group.rs`; it hands [`GroupDef`]s to the engine.)
//!
//! Protocol, between one group's coordinator task and its members' supervisors:
//! - A member whose own policy wants a restart does not restart itself: it sets
//!   `GroupLink::waiting` (stopped, waiting for the group), sends `GroupEvent::Unit` on
//!   the group's channel and parks in `Step::Held`.
//! - The coordinator takes one event at a time. It drops a stale one (no member it names
//!   is still waiting: an earlier group restart took it along), checks the group's
//!   [`RestartWindow`], and either escalates or restarts the affected members:
//!   1. in reverse registration order, for each member still running: set
//!      `hold_requested`, ring the unit's doorbell, and wait for `acked` (the member
//!      stopped and set `waiting`);
//!   2. in registration order, for each waiting member: notify `resume` and wait for
//!      `acked` (the member initialized again and cleared `waiting`).
//! - Only the coordinator sets `hold_requested` and notifies `resume`; only the member
//!   sets and clears `waiting` and notifies `acked`. Each `Notify` has one waiter at a
//!   time, and a notification sent before its waiter arrives is kept as a permit, so no
//!   step of the handshake is lost. The app's stop ends every wait of both sides at once
//!   (`stopping`, and the members' own stop flag), so neither waits for the other then.
//! - What cannot happen: a member stopped for a hold that is never resumed while the app
//!   runs (the coordinator resumes every member it held before it takes the next event),
//!   except one the group gives up: at the top, a budget run out on failures of units
//!   that are not critical leaves them ExhaustedDead, `waiting` cleared, and such a
//!   member's supervisor leaves `Step::Held` for `Step::Rest` at its next ring (an
//!   operator's restart is answered there).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::lock;
use super::policy::RestartWindow;
use super::registry::Registry;
use super::unit::GroupLink;
use crate::Strategy;

/// A member of a group, in registration order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Member {
    Unit(usize),
    Group(usize),
}

/// A group as the builder records it, for `Group::from_defs`.
#[derive(Debug)]
pub(crate) struct GroupDef {
    pub(crate) name: Arc<str>,
    pub(crate) strategy: Strategy,
    pub(crate) parent: Option<usize>,
    pub(crate) members: Vec<Member>,
    pub(crate) intensity: u32,
    pub(crate) period: Duration,
}

/// What a coordinator hears.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GroupEvent {
    /// This unit failed, its own policy wants a restart, and it waits for the group.
    Unit(usize),
    /// This child group used up its budget.
    Child(usize),
}

/// A group at run time.
#[derive(Debug)]
pub(crate) struct Group {
    name: Arc<str>,
    strategy: Strategy,
    parent: Option<usize>,
    /// Every unit of the group and its nested groups, in registration order.
    units: Vec<usize>,
    intensity: u32,
    period: Duration,
    tx: mpsc::UnboundedSender<GroupEvent>,
    rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<GroupEvent>>>,
}

impl Group {
    /// The group's name.
    pub(super) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Tells this group's coordinator (a coordinator gone with the app drops it).
    pub(super) fn send(&self, event: GroupEvent) {
        let _ = self.tx.send(event);
    }

    pub(crate) fn from_defs(defs: &[GroupDef]) -> Vec<Group> {
        fn flatten(defs: &[GroupDef], gid: usize, out: &mut Vec<usize>) {
            for member in &defs[gid].members {
                match *member {
                    Member::Unit(id) => out.push(id),
                    Member::Group(child) => flatten(defs, child, out),
                }
            }
        }
        (0..defs.len())
            .map(|gid| {
                let mut units = Vec::new();
                flatten(defs, gid, &mut units);
                let (tx, rx) = mpsc::unbounded_channel();
                let def = &defs[gid];
                Group {
                    name: def.name.clone(),
                    strategy: def.strategy,
                    parent: def.parent,
                    units,
                    intensity: def.intensity,
                    period: def.period,
                    tx,
                    rx: std::sync::Mutex::new(Some(rx)),
                }
            })
            .collect()
    }
}

/// One group's coordinator: applies the strategy to each failure it hears of, within the
/// group's budget, and escalates when the budget runs out. Ends when the app's
/// `stopping` is cancelled, or with the shutdown's reason when a top-level group ran out
/// (its caller begins that shutdown).
pub(crate) async fn coordinate(
    groups: &[Group],
    registry: &Registry,
    stopping: &CancellationToken,
    gid: usize,
) -> Option<String> {
    let group = &groups[gid];
    let Some(mut rx) = lock(&group.rx).take() else {
        // (alone)
        return None;
    };
    let mut window = RestartWindow::default();
    loop {
        let event = tokio::select! {
            biased;
            () = stopping.cancelled() => return None,
            event = rx.recv() => match event { Some(event) => event, None => return None },
        };
        let failed: Vec<usize> = match event {
            GroupEvent::Unit(id) => vec![id],
            GroupEvent::Child(child) => groups[child].units.clone(),
        };
        // A report goes stale when an earlier group restart already took its sender along:
        // nothing waits for it any more, and acting on it would restart (or exhaust) the
        // group for nothing.
        let waiting = |id: &usize| {
            registry.statics()[*id]
                .link
                .as_ref()
                .is_some_and(|l| l.is_waiting())
        };
        if !failed.iter().any(waiting) {
            continue;
        }
        if !window.admit(group.intensity, group.period, Instant::now()) {
            match escalate(groups, registry, gid, &failed) {
                Some(reason) => return Some(reason),
                None => continue,
            }
        }
        let first = failed
            .first()
            .and_then(|f| group.units.iter().position(|u| u == f))
            .unwrap_or(0);
        let affected: Vec<usize> = match group.strategy {
            Strategy::OneForOne => failed,
            Strategy::OneForAll => group.units.clone(),
            Strategy::RestForOne => group.units[first..].to_vec(),
        };
        tracing::info!(group = %group.name, strategy = ?group.strategy, services = affected.len(), "group restart");
        // Stop in reverse order, start in order: dependants before what they rely on.
        for &id in affected.iter().rev() {
            let unit = &registry.statics()[id];
            let Some(link) = &unit.link else { continue };
            if !link.is_waiting() && !unit.status().is_terminal() {
                link.hold_requested.store(true, Ordering::Release);
                unit.ring();
                if !acknowledged(stopping, link).await {
                    return None;
                }
            }
        }
        for &id in &affected {
            let Some(link) = &registry.statics()[id].link else {
                continue;
            };
            if link.is_waiting() {
                link.resume.notify_one();
                if !acknowledged(stopping, link).await {
                    return None;
                }
            }
        }
    }
}

/// Waits for a unit's answer; false when the app shuts down first.
async fn acknowledged(stopping: &CancellationToken, link: &GroupLink) -> bool {
    tokio::select! {
        biased;
        () = stopping.cancelled() => false,
        () = link.acked.notified() => true,
    }
}

/// The group's budget ran out: its parent handles the whole group as one failed member;
/// at the top, the failed services crash and the app shuts down (the reason returned),
/// unless none of them is critical: then they are ExhaustedDead and the app goes on.
fn escalate(groups: &[Group], registry: &Registry, gid: usize, failed: &[usize]) -> Option<String> {
    let group = &groups[gid];
    tracing::warn!(group = %group.name, "group restart budget exhausted; escalating");
    match group.parent {
        Some(parent) => {
            let _ = groups[parent].tx.send(GroupEvent::Child(gid));
            None
        }
        None => {
            let error: crate::SharedError = Arc::new(GroupExhausted {
                group: group.name.clone(),
            });
            // Failures of units that are not critical never spread: when only such units
            // failed, they are done for (ExhaustedDead) and the app goes on.
            let spreads = failed.iter().any(|&id| registry.statics()[id].critical());
            for &id in failed {
                let unit = &registry.statics()[id];
                // Failed, or Stopped after a clean return of a permanent service.
                let waiting = unit.link.as_ref().is_some_and(|l| l.is_waiting());
                match spreads {
                    true => unit.to_crashed_with_group(error.clone(), waiting),
                    false => {
                        // No longer waiting: a later group restart leaves it alone.
                        if let Some(link) = &unit.link {
                            link.set_waiting(false);
                        }
                        unit.to_dead_with_group(error.clone(), waiting)
                    }
                };
            }
            spreads.then(|| format!("group `{}` exhausted its restart budget", group.name))
        }
    }
}

/// The error of services crashed because their top-level group ran out of restarts.
#[derive(Debug, thiserror::Error)]
#[error("group `{group}` exhausted its restart budget")]
pub(crate) struct GroupExhausted {
    group: Arc<str>,
}
