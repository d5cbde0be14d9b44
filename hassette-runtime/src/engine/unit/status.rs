//! The named status changes of a unit (`to_starting`, `to_failed`, ...), the one place
//! they are made ([`Unit::transition`], checked against the status table in release too),
//! entering Running, readiness and stability, and the waits on the state.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::super::bus::Observed;
use super::super::lock;
use super::super::policy::FailureKind;
use super::{Flags, LOG_TARGET, State, Unit};
use crate::{ReadinessEvent, SharedError, Status, StatusEvent};

/// What a named status change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The status changed (and its event was published).
    Moved,
    /// Nothing to do: already there, or the change's own condition did not hold.
    Unchanged,
    /// The status table does not allow it: refused and logged (a bug in hassette).
    Refused,
}

impl Unit {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state) // (L4)
    }

    /// Changes the state with `change` (which says whether it changed anything) and
    /// wakes the waiters if it did.
    pub(super) fn update(&self, change: impl FnOnce(&mut State) -> bool) -> bool {
        let changed = change(&mut self.lock());
        if changed && let Some(waiters) = self.changed.get() {
            waiters.notify_waiters();
        }
        changed
    }

    /// Changes the status with `change`, which returns the move it made (from, to, and
    /// the run), if any, with `error`: the bus's observer is told once the lock is let
    /// go, then the waiters are woken.
    /// The move also says whether a move to Starting was a restart along with its
    /// parent or group (`along`).
    fn move_status(
        &self,
        error: Option<&SharedError>,
        change: impl FnOnce(&mut State) -> Option<(Status, Status, u64, bool)>,
    ) -> bool {
        let Some((from, to, run, along)) = change(&mut self.lock()) else {
            return false;
        };
        self.events.observe(|| Observed::Changed {
            service: &self.name,
            from,
            to,
            failure: error
                .filter(|_| matches!(to, Status::Failed | Status::Crashed))
                .map(|error| FailureKind::of(&**error, to)),
            run,
            along,
            at: Instant::now(),
        });
        if let Some(waiters) = self.changed.get() {
            waiters.notify_waiters();
        }
        true
    }

    /// Calls `check` with the state now and after every change, until it returns
    /// `Some`. Cancel safe: the wake-up is registered before each look at the state, so
    /// no change between the look and the wait is missed.
    pub(in crate::engine) async fn wait_for<R>(
        &self,
        mut check: impl FnMut(State) -> Option<R>,
    ) -> R {
        loop {
            let changed = self.changed.get_or_init(Box::default);
            let mut notified = std::pin::pin!(changed.notified());
            notified.as_mut().enable();
            if let Some(done) = check(self.state()) {
                return done;
            }
            notified.await;
        }
    }

    /// Its removal is done (see `added`): every [`removed`](Self::removed) returns,
    /// woken by `removal` (the one its removal's callers wait on, if any).
    pub(in crate::engine) fn set_removed(&self, removal: Option<&Notify>) {
        self.lock().flags.set(Flags::REMOVED, true);
        if let Some(removal) = removal {
            removal.notify_waiters();
        }
    }

    /// Completes once its removal is done, woken by `removal` (not by its other state
    /// changes, which a removal's caller does not need to see). Cancel safe.
    pub(in crate::engine) async fn removed(&self, removal: &Notify) {
        let notified = removal.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if !self.lock().flags.has(Flags::REMOVED) {
            notified.await;
        }
    }

    /// How many times it was restarted on its own account (after its own failure or
    /// an operator's request): every initialize after the first (`generation` counts
    /// them all) but those along with its parent or group.
    pub(crate) fn restarts(&self) -> u64 {
        let all = self.lock().generation.saturating_sub(1);
        all.saturating_sub(self.collateral_restarts())
    }

    /// Its next initialize (if it has been initialized before) is a restart along with
    /// its parent or its group: counted apart from its own restarts. The flag is taken by
    /// that initialize's move to Starting.
    pub(crate) fn start_along(&self) {
        self.update(|state| {
            state.flags.set(Flags::ALONG, state.generation > 0);
            false
        });
    }

    /// Starting: a run begins (from NotStarted, Stopped, Failed or an exhausted status).
    pub(in crate::engine) fn to_starting(&self) -> Transition {
        self.transition(|_| true, Status::Starting, None)
    }

    /// Stopping: its run is being stopped.
    pub(in crate::engine) fn to_stopping(&self) -> Transition {
        self.transition(|_| true, Status::Stopping, None)
    }

    /// Stopped: `serve` returned, or an error while the app stops (`error`).
    pub(in crate::engine) fn to_stopped(&self, error: Option<SharedError>) -> Transition {
        self.transition(|_| true, Status::Stopped, error)
    }

    /// Stopped at the end of a stop, unless the run already ended for good (Stopped,
    /// Crashed, ExhaustedDead).
    pub(in crate::engine) fn to_stopped_unless_terminal(
        &self,
        error: Option<SharedError>,
    ) -> Transition {
        self.transition(|from| !from.is_terminal(), Status::Stopped, error)
    }

    /// Stopped when the app's shutdown reaches a service with no run, where the table
    /// allows it: a service whose start failed before it ever ran stays Failed (and one
    /// whose start the shutdown came before stays NotStarted).
    pub(in crate::engine) fn to_stopped_at_shutdown(&self, never_ran: bool) -> Transition {
        self.transition(
            |from| {
                from.can_transition_to(Status::Stopped) && !(from == Status::Failed && never_ran)
            },
            Status::Stopped,
            None,
        )
    }

    /// Stopped when its supervisor was lost at the shutdown deadline (`error` says so),
    /// where the table allows it; a Failed service stays Failed.
    pub(in crate::engine) fn to_stopped_lost(&self, error: SharedError) -> Transition {
        self.transition(
            |from| from.can_transition_to(Status::Stopped) && from != Status::Failed,
            Status::Stopped,
            Some(error),
        )
    }

    /// Failed: the restart policy decides next.
    pub(in crate::engine) fn to_failed(&self, error: SharedError) -> Transition {
        self.transition(|_| true, Status::Failed, Some(error))
    }

    /// Crashed: the app goes down.
    pub(in crate::engine) fn to_crashed(&self, error: SharedError) -> Transition {
        self.transition(|_| true, Status::Crashed, Some(error))
    }

    /// Crashed with its group's budget: a member that failed, or (`waiting` for the
    /// group's restart) one that was Stopped after a clean return of a permanent service.
    pub(in crate::engine) fn to_crashed_with_group(
        &self,
        error: SharedError,
        waiting: bool,
    ) -> Transition {
        self.transition(
            |from| from == Status::Failed || (waiting && from == Status::Stopped),
            Status::Crashed,
            Some(error),
        )
    }

    /// ExhaustedDead with its group's budget, for a member that is not critical: as
    /// [`to_crashed_with_group`](Self::to_crashed_with_group), without taking the app down.
    pub(crate) fn to_dead_with_group(&self, error: SharedError, waiting: bool) -> Transition {
        self.transition(
            |from| from == Status::Failed || (waiting && from == Status::Stopped),
            Status::ExhaustedDead,
            Some(error),
        )
    }

    /// ExhaustedCooling: its budget is spent and it cools down.
    pub(in crate::engine) fn to_cooling(&self, error: SharedError) -> Transition {
        self.transition(|_| true, Status::ExhaustedCooling, Some(error))
    }

    /// ExhaustedDead: its budget is spent and it is done for.
    pub(in crate::engine) fn to_dead(&self, error: SharedError) -> Transition {
        self.transition(|_| true, Status::ExhaustedDead, Some(error))
    }

    /// The one place the status changes (with [`begin_running`](Self::begin_running)):
    /// moves to `to` when the current status passes `when` (the named change's own
    /// condition), and only along the status table ([`Status::can_transition_to`]): a
    /// change the table does not allow is refused and logged as a bug, in release too
    /// (a panic only in debug builds, so tests catch it).
    ///
    /// The event is sent and logged while the state's lock is held, so the event stream
    /// shows the changes of one service in the order they happened even when the
    /// supervisor, `serve` (in the same task) and other tasks (`mark_ready`, a restart) race.
    fn transition(
        &self,
        when: impl FnOnce(Status) -> bool,
        to: Status,
        error: Option<SharedError>,
    ) -> Transition {
        let mut result = Transition::Unchanged;
        let told = error.clone();
        self.move_status(told.as_ref(), |state| {
            let from = state.status;
            if from == to || !when(from) {
                return None;
            }
            if !from.can_transition_to(to) {
                result = Transition::Refused;
                tracing::error!(target: LOG_TARGET, service = %self.name, %from, %to, "invalid status transition refused; this is a bug in hassette, please report it");
                debug_assert!(false, "invalid status transition of `{}`: {from} -> {to}", self.name);
                return None;
            }
            result = Transition::Moved;
            state.status = to;
            let mut along = false;
            if to == Status::Starting {
                state.generation += 1;
                state.flags.set(Flags::STABLE, false);
                if state.flags.has(Flags::ALONG) {
                    state.flags.set(Flags::ALONG, false);
                    along = true;
                    self.count_collateral(); // (L5 inside L4)
                }
            }
            // Readiness belongs to one run: a hook may mark it while Starting, and it is
            // lost as soon as the run ends; so is the go-ahead for its children.
            if to != Status::Running {
                if state.ready() {
                    self.publish_ready(false, || Some(to.to_string().into()));
                }
                state.flags.set(Flags::READY, false);
                state.flags.set(Flags::LAUNCHED, false);
            }
            self.track_stability(state);
            self.publish(from, to, error);
            Some((from, to, state.generation, along))
        });
        result
    }

    /// Enters Running, ready at once when `auto_ready`; only from Starting, so a serve
    /// that begins after its stop was requested does not claim to run.
    pub(in crate::engine) fn begin_running(&self, auto_ready: bool) -> bool {
        self.move_status(None, |state| {
            if state.status != Status::Starting {
                return None;
            }
            state.status = Status::Running;
            state.flags.set(Flags::RAN, true);
            self.track_stability(state);
            self.publish(Status::Starting, Status::Running, None);
            if auto_ready && !state.ready() {
                state.flags.set(Flags::READY, true);
                self.track_stability(state);
                self.publish_ready(true, || None);
            }
            Some((Status::Starting, Status::Running, state.generation, false))
        })
    }

    /// Marks it ready or not (`reason`: why not); returns whether that changed anything.
    pub(crate) fn set_ready(&self, ready: bool, reason: Option<Arc<str>>) -> bool {
        self.update(|state| {
            let live = matches!(state.status, Status::Starting | Status::Running);
            if state.ready() == ready || (ready && !live) {
                return false;
            }
            state.flags.set(Flags::READY, ready);
            self.track_stability(state);
            self.publish_ready(ready, move || reason);
            tracing::info!(target: LOG_TARGET, ready, "readiness changed");
            true
        })
    }

    /// Whether the run is, or will be once it leaves Running at `at` (now or just
    /// before), stable: healthy for `stable_after` at a stretch (what
    /// [`track_stability`](Self::track_stability) notes).
    pub(in crate::engine) fn stable_at(&self, at: Instant) -> bool {
        let state = self.state();
        state.stable()
            || (state.is_up()
                && state.up_since.is_some_and(|since| {
                    at.saturating_duration_since(since) >= self.spec().stable_after
                }))
    }

    /// Opens or closes a stretch of Running and ready, noting whether it lasted
    /// `stable_after`.
    fn track_stability(&self, state: &mut State) {
        match (state.is_up(), state.up_since) {
            (true, None) => state.up_since = Some(Instant::now()),
            (false, Some(since)) => {
                if since.elapsed() >= self.spec().stable_after {
                    state.flags.set(Flags::STABLE, true);
                }
                state.up_since = None;
            }
            _ => {}
        }
    }

    /// Publishes a readiness change (under the state's lock, as a status change is). The
    /// `reason` is made only when someone ever subscribed (a stop would otherwise spell
    /// out its status twice per service for nobody).
    fn publish_ready(&self, ready: bool, reason: impl FnOnce() -> Option<Arc<str>>) {
        self.events.publish_readiness(|| ReadinessEvent {
            service: self.name.clone(),
            ready,
            reason: reason(),
            at: Instant::now(),
        });
    }

    fn publish(&self, from: Status, to: Status, error: Option<SharedError>) {
        if let Some(error) = &error {
            self.note_error(error.clone());
        }
        if !from.can_transition_to(to) {
            tracing::error!(target: LOG_TARGET, service = %self.name, %from, %to, "invalid status transition; this is a bug in hassette, please report it");
            debug_assert!(
                false,
                "invalid status transition of `{}`: {from} -> {to}",
                self.name
            );
        }
        match (&error, to.is_failure()) {
            (Some(e), true) => {
                tracing::warn!(target: LOG_TARGET, service = %self.name, %from, %to, error = %e, "status changed");
            }
            (Some(e), false) => {
                tracing::info!(target: LOG_TARGET, %from, %to, error = %e, "status changed");
            }
            (None, _) => tracing::info!(target: LOG_TARGET, %from, %to, "status changed"),
        }
        self.events.publish(|| StatusEvent {
            service: self.name.clone(),
            from,
            to,
            error,
            at: Instant::now(),
            retry_at: match to {
                Status::Failed | Status::ExhaustedCooling => self.retry_at(),
                _ => None,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::super::bus::EventBus;
    use super::super::super::shim::Shim;
    use super::super::{Unit, UnitInit};
    use super::Transition;
    use crate::Status;

    struct Pool;
    impl crate::Hooks for Pool {}
    impl crate::Resource for Pool {}

    fn unit() -> Unit {
        let init = UnitInit::of("pool".into(), Pool, Shim::resource::<Pool>());
        Unit::new(0, init, Arc::new(EventBus::new(None, 1, None)))
    }

    #[test]
    fn named_changes_move_along_the_table() {
        let unit = unit();
        assert_eq!(unit.to_starting(), Transition::Moved);
        assert_eq!(unit.to_starting(), Transition::Unchanged);
        assert_eq!(unit.to_stopping(), Transition::Moved);
        assert_eq!(unit.to_stopped_unless_terminal(None), Transition::Moved);
        // Its own condition: already terminal, nothing to do (not a bug).
        assert_eq!(unit.to_stopped_unless_terminal(None), Transition::Unchanged);
        assert_eq!(unit.status(), Status::Stopped);
    }

    /// Refused and logged in release; in debug builds the bug also panics, so tests
    /// catch it.
    #[test]
    #[cfg_attr(
        debug_assertions,
        should_panic(expected = "invalid status transition of `pool`: not started -> stopping")
    )]
    fn an_illegal_change_is_refused_and_the_status_stays() {
        let unit = unit();
        assert_eq!(unit.to_stopping(), Transition::Refused);
        assert_eq!(unit.status(), Status::NotStarted);
    }
}
