//! The first start of every service, counted down: [`Hassette::start`](crate::Hassette::start)
//! waits for all of them with one wake-up, not one per service.
//!
//! Protocol: `remaining` counts the first starts not yet reported, plus one that
//! `launch_all` holds while it hands out the [`FirstStart`]s (so the count cannot reach
//! zero before the last one is handed out) and gives back in [`FirstStarts::outcome`]. A
//! supervisor reports its first start through its `FirstStart` (a failure is kept, a
//! success costs nothing); one dropped unreported (its task was aborted) counts as
//! interrupted. Whoever takes the count to zero wakes `outcome`, and only that one
//! supervisor learns that it did (see `ActiveRun::put_off`). A failure says whether the
//! service's policy retries it (a preview of `policy::decide`). The outcome is
//! the first failure, in registration order, that is not retried (so
//! `StartError::ends_the_app` answers for the whole start), else the first retried one,
//! else the first interrupted start.
//!
//! The app's start is a part of the app state owned here ([`AppStart`]): the first
//! `start` sets `begun` (so later calls, `add` and `restart` know the app has started)
//! and the one task it spawns hands the outcome to every caller through a `watch`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use super::lock;
use super::unit::Unit;
use crate::{StartError, StartFailure};

#[derive(Debug)]
pub(crate) struct FirstStarts {
    /// First starts not reported yet, plus `launch_all`'s own one (see the header).
    remaining: AtomicUsize,
    /// Woken when `remaining` reaches zero.
    done: Notify,
    /// `(unit id, error)` of every first start that did not succeed.
    failures: Mutex<Vec<(usize, StartError)>>,
}

impl Default for FirstStarts {
    fn default() -> Self {
        FirstStarts {
            remaining: AtomicUsize::new(1),
            done: Notify::new(),
            failures: Mutex::default(),
        }
    }
}

impl FirstStarts {
    /// The part of one unit's first start.
    pub(crate) fn entry(self: &Arc<Self>, unit: &Arc<Unit>) -> FirstStart {
        self.remaining.fetch_add(1, Ordering::AcqRel);
        FirstStart {
            unit: Some(unit.clone()),
            latch: self.clone(),
        }
    }

    /// One first start is done; true for the one that completes them all (it woke the
    /// caller of `start`).
    fn count_down(&self) -> bool {
        let last = self.remaining.fetch_sub(1, Ordering::AcqRel) == 1;
        if last {
            self.done.notify_waiters();
        }
        last
    }

    /// Waits until every entry has reported (or was dropped), and returns the outcome.
    pub(crate) async fn outcome(&self) -> Result<(), StartError> {
        let mut done = std::pin::pin!(self.done.notified());
        done.as_mut().enable();
        if !self.count_down() {
            done.await;
        }
        let mut failures = std::mem::take(&mut *self.lock());
        failures.sort_by_key(|(id, _)| *id);
        let interrupted = |e: &StartError| matches!(e.failure, StartFailure::Interrupted);
        let ending = failures.iter().position(|(_, e)| e.ends_the_app());
        let first_real = failures.iter().position(|(_, e)| !interrupted(e));
        match ending
            .or(first_real)
            .or((!failures.is_empty()).then_some(0))
        {
            Some(at) => Err(failures.swap_remove(at).1),
            None => Ok(()),
        }
    }

    fn fail(&self, unit: &Unit, failure: StartFailure, retried: bool) {
        let error = StartError::new(unit.name().clone(), failure).contained(!unit.critical());
        let error = match retried {
            true => error.retried(),
            false => error,
        };
        self.lock().push((unit.id, error));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, StartError)>> {
        lock(&self.failures) // (alone)
    }
}

/// One supervisor's part of [`FirstStarts`].
#[derive(Debug)]
pub(crate) struct FirstStart {
    /// Taken when the start is reported.
    unit: Option<Arc<Unit>>,
    latch: Arc<FirstStarts>,
}

impl FirstStart {
    /// Reports how the first start went (`retried`: a failure the service's policy
    /// starts again); true when this was the last one, which woke the caller of `start`.
    pub(crate) fn report(mut self, result: Result<(), StartFailure>, retried: bool) -> bool {
        if let (Some(unit), Err(failure)) = (self.unit.take(), result) {
            self.latch.fail(&unit, failure, retried);
        }
        self.latch.count_down()
    }
}

impl Drop for FirstStart {
    fn drop(&mut self) {
        if let Some(unit) = self.unit.take() {
            self.latch.fail(&unit, StartFailure::Interrupted, false);
            self.latch.count_down();
        }
    }
}

/// The app's start (see the module's header): whether it has begun, and its outcome.
pub(crate) struct AppStart {
    /// Set by the first `start`, which spawns the one task that starts everything.
    begun: std::sync::atomic::AtomicBool,
    /// The start's outcome, once that task has it.
    outcome: watch::Sender<Option<Result<(), StartError>>>,
}

impl Default for AppStart {
    fn default() -> Self {
        AppStart {
            begun: std::sync::atomic::AtomicBool::new(false),
            outcome: watch::channel(None).0,
        }
    }
}

impl AppStart {
    /// Marks the start begun: whether this call began it (and so spawns its task).
    pub(super) fn begin(&self) -> bool {
        !self.begun.swap(true, Ordering::AcqRel)
    }

    /// Whether the app's start has begun.
    pub(crate) fn is_begun(&self) -> bool {
        self.begun.load(Ordering::Acquire)
    }

    /// Hands the start's outcome to every caller.
    pub(super) fn finish(&self, result: Result<(), StartError>) {
        self.outcome.send_replace(Some(result));
    }

    /// A receiver of the start's outcome (`None` until it is known).
    pub(super) fn subscribe(&self) -> watch::Receiver<Option<Result<(), StartError>>> {
        self.outcome.subscribe()
    }
}
