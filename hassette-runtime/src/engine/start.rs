//! The start, which runs once per app: every supervisor launched, then their first
//! starts awaited.
//!
//! Protocol:
//! - The first [`AppState::start`] spawns the one task that launches every supervisor (under
//!   the `tasks` lock, which the stop task also takes, so a start and a stop never miss
//!   each other) and keeps its outcome in `AppStart`'s watch; every call waits on it.
//!   It also spawns each group's coordinator (see `group`), in a task that begins the
//!   shutdown a top-level group's exhaustion asks for.
//! - That task opens the app's listeners (see `listen`) before it launches a supervisor;
//!   a listener that cannot be opened is the start's error, and nothing is launched.
//! - A call made from inside one of the app's own services (see `inside`) never waits for
//!   the caller's own run: `start` returns at once with the outcome known so far.
//! - The start's state is `first_start::AppStart`, the supervisors' join handles the
//!   stop's (`stop::Stop::fill_tasks`); this module owns no state of its own.
//! - Locks (numbered in `engine`'s header): the stop's `tasks` is (L3), taken before a
//!   unit's state (L4). No lock is held across an `.await`.

use std::sync::Arc;

use super::first_start::FirstStarts;
use super::handle::SupervisorHandle;
use super::state::AppState;
use crate::{StartError, StartFailure};

impl AppState {
    /// Starts every service once (see the module's header) and returns the outcome.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<(), StartError> {
        let mut outcome = self.start_state().subscribe();
        if self.start_state().begin() {
            let state = self.clone();
            super::named::spawn("start", async move {
                let result = state.clone().launch_all().await;
                state.start_state().finish(result);
            });
        }
        if super::inside::caller(self.registry()).is_some() {
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
        // Before any service runs, so each finds its listeners open.
        if let Err(error) = self.listeners().open() {
            return Err(StartError::new(
                error.name().clone(),
                StartFailure::Listener(error),
            ));
        }
        let units = self.registry().statics();
        let coordinators = || {
            for gid in 0..self.groups().len() {
                let app = self.clone();
                super::named::spawn("group", async move {
                    let (groups, registry) = (app.groups(), app.registry());
                    let token = app.stop_state().token();
                    let ended = super::group::coordinate(groups, registry, token, gid);
                    if let Some(reason) = ended.await {
                        app.begin_shutdown(reason);
                    }
                });
            }
        };
        // Under the stop's `tasks` lock (L3), taken before a unit's state (L4).
        let launched = self.stop_state().fill_tasks(coordinators, |id, wave| {
            let (unit, app) = (units[id].clone(), SupervisorHandle::new(self.clone()));
            super::supervisor::launch(unit, app, starts.entry(&units[id]), wave)
        });
        if !launched {
            return match units.first() {
                Some(unit) => Err(StartError::new(
                    unit.name.clone(),
                    StartFailure::Interrupted,
                )),
                None => Ok(()),
            };
        }
        starts.outcome().await
    }
}
