//! The first start of every service, counted down: [`Hassette::start`](crate::Hassette::start)
//! waits for all of them with one wake-up, not one per service.
//!
//! Protocol: `launch_all` gives each supervisor a [`FirstStart`] (a token of one
//! `TaskTracker`), closes the tracker and waits for it. A supervisor reports its first
//! start through its `FirstStart` (a failure is kept, a success costs nothing) and drops
//! it; one dropped unreported (its task was aborted) counts as interrupted. The outcome
//! is the first real failure in registration order, else the first interrupted start.

use std::sync::{Arc, Mutex};

use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::unit::Unit;
use crate::{StartError, StartFailure};

#[derive(Debug, Default)]
pub(crate) struct FirstStarts {
    tracker: TaskTracker,
    /// `(unit id, error)` of every first start that did not succeed.
    failures: Mutex<Vec<(usize, StartError)>>,
}

impl FirstStarts {
    /// The token of one unit's first start.
    pub(crate) fn entry(self: &Arc<Self>, unit: &Arc<Unit>) -> FirstStart {
        FirstStart {
            unit: Some(unit.clone()),
            latch: self.clone(),
            _token: self.tracker.token(),
        }
    }

    /// Waits until every entry has reported (or was dropped), and returns the outcome.
    pub(crate) async fn outcome(&self) -> Result<(), StartError> {
        self.tracker.close();
        self.tracker.wait().await;
        let mut failures = std::mem::take(&mut *self.lock());
        failures.sort_by_key(|(id, _)| *id);
        let interrupted = |e: &StartError| matches!(e.failure, StartFailure::Interrupted);
        let first_real = failures.iter().position(|(_, e)| !interrupted(e));
        match first_real.or((!failures.is_empty()).then_some(0)) {
            Some(at) => Err(failures.swap_remove(at).1),
            None => Ok(()),
        }
    }

    fn fail(&self, unit: &Unit, failure: StartFailure) {
        let error = StartError::new(unit.name().clone(), failure);
        self.lock().push((unit.id, error));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, StartError)>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One supervisor's part of [`FirstStarts`].
#[derive(Debug)]
pub(crate) struct FirstStart {
    /// Taken when the start is reported.
    unit: Option<Arc<Unit>>,
    latch: Arc<FirstStarts>,
    _token: TaskTrackerToken,
}

impl FirstStart {
    /// Reports how the first start went.
    pub(crate) fn report(mut self, result: Result<(), StartFailure>) {
        if let (Some(unit), Err(failure)) = (self.unit.take(), result) {
            self.latch.fail(&unit, failure);
        }
    }
}

impl Drop for FirstStart {
    fn drop(&mut self) {
        if let Some(unit) = self.unit.take() {
            self.latch.fail(&unit, StartFailure::Interrupted);
        }
    }
}
