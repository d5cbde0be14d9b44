//! Why a unit is not running: [`AppState::waiting`], read by the snapshot, decided here
//! only, from what the unit and its kin show now.
//!
//! Protocol: nothing here changes anything or waits. The reasons are read in order: a
//! unit waiting out a cooldown or a backoff (its `retry_at`, set by its supervisor for
//! the wait), for its group (`GroupLink::waiting`, set by the member itself), for a
//! dependency (the dependency its start waits for, noted by `await_dependencies` for
//! the wait), or a child whose parent's run is not past `after_initialize` (the parent's
//! `LAUNCHED` flag: its children start with the parent's next run). Each look takes one
//! lock at a time: a unit's state (L4) or record (L5), the registry's table (L2).

use super::state::AppState;
use super::unit::Unit;
use crate::{Status, Waiting};

impl AppState {
    /// What `unit` waits for, if it is not running for a reason that will pass. None
    /// while the app stops: nothing is waited for then.
    pub(crate) fn waiting(&self, unit: &Unit) -> Option<Waiting> {
        if self.is_stopping() {
            return None;
        }
        let status = unit.status();
        match status {
            Status::Running | Status::Stopping | Status::Crashed => return None,
            Status::ExhaustedCooling => {
                return unit
                    .retry_at()
                    .map(|retry_at| Waiting::Cooldown { retry_at });
            }
            Status::Failed => {
                if let Some(retry_at) = unit.retry_at() {
                    return Some(Waiting::Backoff { retry_at });
                }
            }
            Status::Starting => {
                return unit.waiting_on().map(|name| Waiting::Dependency { name });
            }
            Status::NotStarted | Status::Stopped | Status::ExhaustedDead => {}
        }
        if let Some(link) = &unit.link
            && link.is_waiting()
        {
            let name = self.groups()[link.group].name().clone();
            return Some(Waiting::Group { name });
        }
        let parent = self.registry().parent_of(unit)?;
        // Its parent's run has not launched its children (yet, or again).
        (!parent.launched()).then(|| Waiting::Parent {
            name: parent.name.clone(),
        })
    }
}
