//! The start, which runs once per app: every supervisor launched, then their first
//! starts awaited.
//!
//! Protocol:
//! - The first [`AppState::start`] spawns the one task that launches every supervisor (under
//!   the `tasks` lock, which the stop task also takes, so a start and a stop never miss
//!   each other) and keeps its outcome in the `started` watch; every call waits on it.
//!   It also spawns each group's coordinator (see `group`), in a task that begins the
//!   shutdown a top-level group's exhaustion asks for.
//! - A call made from inside one of the app's own services (see `inside`) never waits for
//!   the caller's own run: `start` returns at once with the outcome known so far.
//! - Locks (numbered in `engine`'s header): `tasks` is (L3), taken before a unit's state
//!   (L4). No lock is held across an `.await`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::first_start::FirstStarts;
use super::lock;
use super::state::AppState;
use crate::{StartError, StartFailure};

impl AppState {
    /// Starts every service once (see the module's header) and returns the outcome.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<(), StartError> {
        let mut outcome = self.started.subscribe();
        if !self.start_begun.swap(true, Ordering::AcqRel) {
            let state = self.clone();
            super::named::spawn("start", async move {
                let result = state.clone().launch_all().await;
                state.started.send_replace(Some(result));
            });
        }
        if super::inside::caller(&self.registry).is_some() {
            return outcome.borrow().clone().unwrap_or(Ok(()));
        }
        match outcome.wait_for(Option::is_some).await {
            Ok(result) => result.clone().unwrap_or(Ok(())),
            // The sender lives in `self`: it cannot be gone.
            Err(_) => Ok(()),
        }
    }

    async fn launch_all(self: Arc<Self>) -> Result<(), StartError> {
        let starts = Arc::new(FirstStarts::default());
        {
            let mut tasks = lock(&self.tasks); // (L3)
            if self.is_stopping() {
                return match self.registry.units.first() {
                    Some(unit) => Err(StartError::new(
                        unit.name.clone(),
                        StartFailure::Interrupted,
                    )),
                    None => Ok(()),
                };
            }
            for gid in 0..self.groups.len() {
                let app = self.clone();
                super::named::spawn("group", async move {
                    let (groups, registry) = (&app.groups, &app.registry);
                    let ended = super::group::coordinate(groups, registry, &app.stopping, gid);
                    if let Some(reason) = ended.await {
                        app.begin_shutdown(reason);
                    }
                });
            }
            let mut wave_of = vec![0; self.registry.units.len()];
            for (wave, ids) in self.waves.iter().enumerate() {
                ids.iter().for_each(|&id| wave_of[id] = wave);
            }
            for unit in &self.registry.units {
                let first = starts.entry(unit);
                let wave = &self.wave_tasks[wave_of[unit.id]];
                let task = super::supervisor::launch(unit.clone(), self.clone(), first, wave);
                tasks[unit.id] = Some(task);
            }
        }
        starts.outcome().await
    }
}
