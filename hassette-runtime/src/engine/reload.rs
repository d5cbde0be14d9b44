//! The reload, which runs `on_reload` of every live service that defines it, in
//! dependency waves; and the reconfiguration of a live unit.
//!
//! Protocol:
//! - One reload at a time, in a task of its own: the first [`AppState::reload`] spawns it
//!   and keeps its report's watch in `current`; a call while it runs joins it (the calls
//!   are coalesced: every caller gets that one report), and a call after it has its
//!   report begins the next one. A caller's future dropped half-way leaves the reload
//!   going, as for `start`.
//! - A wave asks each of its units' supervisors (a request in the unit's record, then its
//!   doorbell; see `supervisor`) and waits for every answer before the next wave begins.
//!   The supervisor runs `on_reload` next to `serve`, bounded by `startup_timeout`. A
//!   supervisor that does not take the request within that bound (busy in a restart's
//!   hooks, say) has it taken back by the reload (`Busy`); one that will not run it
//!   (no run, stopping) answers at once, and a supervisor that ends drops the request,
//!   which its caller reads as interrupted. So every wait of a reload is bounded.
//! - Who may not wait: a call from inside a unit whose `on_reload` runs now (or from
//!   its descendants, whose start its `on_reload` may await) would wait for itself; it
//!   is answered at once with an error. From `serve` or a `ctx.spawn` task it waits:
//!   the supervisor polls `serve` next to `on_reload`.
//! - The stop: once the shutdown begins, no reload begins, and a reload in flight asks
//!   no further wave (its units are reported skipped).
//! - Locks (numbered in `engine`'s header): the reloads' `current` (see `reloads`) is
//!   taken alone; a unit's record
//!   (L5) is taken alone by the requests. No lock is held across an `.await`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::sleep_until;

use super::driver::deadline_in;
use super::reloads::ReloadAnswer;
use super::state::AppState;
use super::unit::Unit;
use crate::{Overrides, ReconfigureError, ReloadError, ReloadReport, ReloadSkipped, Status};

impl AppState {
    /// Reloads every live service that defines `on_reload` (see the module's header).
    pub(crate) async fn reload(self: &Arc<Self>) -> Result<ReloadReport, ReloadError> {
        if !self.start_state().is_begun() {
            return Err(ReloadError::NotStarted);
        }
        if self.is_stopping() {
            return Err(ReloadError::ShuttingDown);
        }
        if let Some(unit) = super::inside::lineage(self.registry())
            .into_iter()
            .find(|unit| unit.in_reload())
        {
            return Err(ReloadError::InsideReload {
                service: unit.name.clone(),
            });
        }
        let app = self.clone();
        let mut report = self.reloads().join_or_begin(move |tx| {
            super::named::spawn("reload", async move {
                let report = app.reload_waves().await;
                tx.send_replace(Some(report));
            });
        });
        match report.wait_for(Option::is_some).await {
            Ok(done) => Ok(done.clone().unwrap_or_default()),
            // The sender is dropped only with its task, by a runtime that shuts down.
            Err(_) => Err(ReloadError::ShuttingDown),
        }
    }

    /// The reload's task: each wave's requests, then its answers.
    async fn reload_waves(self: Arc<Self>) -> ReloadReport {
        let mut report = ReloadReport::default();
        for wave in reload_waves(&self) {
            if self.is_stopping() {
                let skipped = wave
                    .iter()
                    .map(|unit| (unit.name.clone(), ReloadSkipped::ShuttingDown));
                report.skipped.extend(skipped);
                continue;
            }
            let asked = wave.iter().map(|unit| reload_one(&self, unit));
            let answers = futures_util::future::join_all(asked).await;
            for (unit, answer) in wave.iter().zip(answers) {
                let service = unit.name.clone();
                match answer {
                    ReloadAnswer::Reloaded => report.reloaded.push(service),
                    ReloadAnswer::Failed(error) => report.failed.push((service, error)),
                    ReloadAnswer::Skipped(why) => report.skipped.push((service, why)),
                }
            }
        }
        match report.is_success() {
            true => tracing::info!("{report}"),
            false => tracing::warn!("{report}"),
        }
        report
    }

    /// Applies `overrides` to the live unit `name`, from its next decision (see
    /// `Hassette::reconfigure`).
    pub(crate) fn reconfigure(
        &self,
        name: &str,
        overrides: &Overrides,
    ) -> Result<(), ReconfigureError> {
        let unit = self.registry().by_name(name)?;
        if self.is_stopping() || unit.is_stop_requested() {
            return Err(ReconfigureError::Stopping {
                service: unit.name.clone(),
            });
        }
        let spec = overrides.apply_to(unit.name.clone(), &unit.shim.spec, unit.shim.serves)?;
        unit.set_spec(spec);
        Ok(())
    }
}

/// Asks `unit`'s supervisor for a reload and waits for its answer (see the module's
/// header for why this is bounded).
async fn reload_one(app: &AppState, unit: &Arc<Unit>) -> ReloadAnswer {
    if unit.status() != Status::Running {
        return ReloadAnswer::Skipped(ReloadSkipped::NotRunning);
    }
    let (tx, mut rx) = oneshot::channel();
    unit.ask_reload(tx);
    let deadline = deadline_in(unit.spec().startup_timeout);
    let answer = tokio::select! {
        biased;
        answer = &mut rx => answer.ok(),
        () = sleep_until(deadline) => match unit.take_reload() {
            // Never taken: the supervisor was busy all along.
            Some(_) => Some(ReloadAnswer::Skipped(ReloadSkipped::Busy)),
            // Taken just now: its `on_reload` is bounded too.
            None => (&mut rx).await.ok(),
        },
        () = app.stop_state().token().cancelled() => match unit.take_reload() {
            Some(_) => Some(ReloadAnswer::Skipped(ReloadSkipped::ShuttingDown)),
            None => (&mut rx).await.ok(),
        },
    };
    answer.unwrap_or(ReloadAnswer::Skipped(ReloadSkipped::Interrupted))
}

/// The live units that define `on_reload`, in waves: a unit after every unit it
/// depends on and after its parent (the order of a start), each wave in id order.
fn reload_waves(app: &AppState) -> Vec<Vec<Arc<Unit>>> {
    let units = app.registry().all();
    let by_id: HashMap<usize, &Arc<Unit>> = units.iter().map(|unit| (unit.id, unit)).collect();
    let mut depth: HashMap<usize, usize> = HashMap::with_capacity(units.len());
    for unit in &units {
        // Iterative: a chain of any length cannot overflow the stack. A unit is
        // finished once everything before it is; a cycle (none can be built) counts 0.
        let mut stack = vec![(unit.id, false)];
        while let Some((id, expanded)) = stack.pop() {
            if depth.contains_key(&id) {
                continue;
            }
            let Some(&current) = by_id.get(&id) else {
                depth.insert(id, 0);
                continue;
            };
            let before = before(app, current);
            if expanded {
                let d = before
                    .iter()
                    .map(|id| depth.get(id).map_or(0, |d| d + 1))
                    .max()
                    .unwrap_or(0);
                depth.insert(id, d);
                continue;
            }
            stack.push((id, true));
            for id in before {
                if !depth.contains_key(&id) && !stack_holds(&stack, id) {
                    stack.push((id, false));
                }
            }
        }
    }
    let mut waves: Vec<Vec<Arc<Unit>>> = Vec::new();
    for unit in units.into_iter().filter(|unit| unit.shim.reloads()) {
        let d = depth.get(&unit.id).copied().unwrap_or(0);
        if waves.len() <= d {
            waves.resize_with(d + 1, Vec::new);
        }
        waves[d].push(unit);
    }
    waves.retain(|wave| !wave.is_empty());
    waves
}

/// The ids of the units that come before `unit` in a reload: its dependencies and its
/// parent.
fn before(app: &AppState, unit: &Arc<Unit>) -> Vec<usize> {
    let mut ids = unit.dependencies.to_vec();
    ids.extend(app.registry().parent_of(unit).map(|parent| parent.id));
    ids
}

/// Whether `id` is on the stack already, being expanded (a cycle, which `build` and
/// `add` refuse, ends there).
fn stack_holds(stack: &[(usize, bool)], id: usize) -> bool {
    stack.iter().any(|&(on, expanded)| on == id && expanded)
}
