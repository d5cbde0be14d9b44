//! The per-service state every part of the runtime shares: its name, status, readiness,
//! restarts and everything its report says. The report is a view of the unit, so a
//! supervisor that is lost (aborted at the shutdown deadline) loses nothing.
//!
//! Protocol:
//! - `state` is changed only under its lock, by the named status changes (`to_starting`,
//!   `to_failed`, ...; each checked against the status table by [`Unit::transition`], in
//!   release too: an illegal one is refused and logged) and the few methods next to them; the status event is published and logged while the lock is held, so the
//!   event stream shows one service's changes in the order they happened. After a change
//!   that lock is released, then a status change is told to the bus's observer (see
//!   `bus`), then `changed` wakes every [`Unit::wait_for`] (each registers its wake-up
//!   before it looks at the state, so none is missed). `changed` is made by
//!   the first waiter: a change that finds none made needs no wake-up, since a waiter
//!   that made it after the change sees the new state when it looks (the state's lock
//!   orders the two).
//! - `wake` (a `Notify`, so a wake-up sent while the supervisor is busy is kept as a
//!   permit) is the supervisor's one doorbell: the app's stop (`stop_requested`), an
//!   operator's restart (`restart_pending`) and a group's hold (`GroupLink`) each set
//!   their flag first and ring it second; the supervisor reads the flags after it wakes.
//! - Locks (numbered in `engine`'s header): `state` is (L4); `record` (errors,
//!   `aborted`, the stop's duration, the budget's window) is (L5), taken alone or inside
//!   (L4) (a status change records its error). The budget's window is changed only by the supervisor, which decides with
//!   it under this lock; the snapshot counts it live.
//! - `run` (a weak handle of the current run, set by each initialize) has a lock of its
//!   own, taken alone (see `engine`'s lock order): a stop that cuts the supervisor off cancels the run through it,
//!   since the supervisor's own stop cannot run while `serve` holds its task.

use std::any::TypeId;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::bus::{EventBus, Observed};
use super::lock;
use super::policy::RestartWindow;
use super::shim::{Shim, Value};
use crate::service::RunRef;
use crate::{
    KEPT_ERRORS, ReadinessEvent, ReportedError, RestartSpec, RestartType, ServiceReport,
    SharedError, Status, StatusEvent,
};

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

/// A unit's state: what its status, readiness and restarts are now. Kept to 40 bytes
/// (the flags in one byte), so the unit's lock and state are one cache line's half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) status: Status,
    flags: Flags,
    /// How long the final stop took, in microseconds; `u32::MAX`: longer, see the record.
    stop_took_us: u32,
    /// Incremented by every initialize, so a caller of `restart` can tell the new run
    /// from the old one.
    pub(crate) generation: u64,
    /// When the current stretch of Running and ready began.
    up_since: Option<Instant>,
    /// The generation of the run that the last operator restart the supervisor took
    /// starts; while `generation` is below it (or equal and still Starting), that restart
    /// is in flight and a new request joins it.
    pub(crate) restart_run: u64,
}

/// The yes-or-no parts of a [`State`], one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Flags(u8);

impl Flags {
    /// Ready (for its dependants; only while Starting or Running).
    const READY: u8 = 1;
    /// This run has stayed Running and ready for `stable_after` at a stretch; the
    /// supervisor reads it when the run fails, so no timer is needed to notice stability.
    const STABLE: u8 = 2;
    /// Some run of the service has reached Running.
    const RAN: u8 = 4;
    /// An operator restart was asked for and the supervisor has not taken it yet.
    const RESTART_PENDING: u8 = 8;
    /// The app's stop has reached this unit's wave, or its removal or its parent's stop
    /// has begun.
    const STOP_REQUESTED: u8 = 16;
    /// A child exhausted its budget: the run fails (see `family`).
    const CHILD_FAILED: u8 = 32;
    /// This run is past `after_initialize`: a child added now starts at once (see
    /// `family`). Only while Starting or Running.
    const LAUNCHED: u8 = 64;

    fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.0 |= flag;
        } else {
            self.0 &= !flag;
        }
    }
}

impl State {
    pub(crate) fn is_up(self) -> bool {
        self.status == Status::Running && self.ready()
    }

    pub(crate) fn ready(self) -> bool {
        self.flags.has(Flags::READY)
    }

    pub(crate) fn stable(self) -> bool {
        self.flags.has(Flags::STABLE)
    }

    pub(crate) fn ran(self) -> bool {
        self.flags.has(Flags::RAN)
    }

    pub(crate) fn restart_pending(self) -> bool {
        self.flags.has(Flags::RESTART_PENDING)
    }

    pub(crate) fn stop_requested(self) -> bool {
        self.flags.has(Flags::STOP_REQUESTED)
    }

    /// Whether an operator restart is pending or in flight: a new request joins it.
    pub(crate) fn restart_in_flight(self) -> bool {
        self.generation < self.restart_run
            || (self.generation == self.restart_run && self.status == Status::Starting)
    }
}

/// What a unit's report holds besides its status and restarts.
#[derive(Debug, Default)]
struct Record {
    last_error: Option<SharedError>,
    /// The last [`KEPT_ERRORS`].
    errors: VecDeque<ReportedError>,
    error_count: u64,
    aborted: bool,
    stop_took: Duration,
    /// The error of an initialize hook that the shutdown interrupted, until the stop's
    /// event carries it.
    interrupted: Option<SharedError>,
    /// When the next restart comes, during a backoff or a cooldown.
    retry_at: Option<Instant>,
    /// The restarts of the budget's window: its supervisor decides with it, the
    /// snapshot counts it live (see `policy`).
    budget: RestartWindow,
    /// How many runs in a row ended with `serve` returning `Ok` (see `count_end`).
    returned_ok: u32,
}

/// One registered service or resource, type-erased.
pub(crate) struct Unit {
    pub(super) id: usize,
    pub(super) name: Arc<str>,
    /// The ids of the units it depends on, resolved by `build`.
    pub(super) dependencies: Box<[usize]>,
    /// Its supervision group, if it has one.
    pub(super) link: Option<Box<GroupLink>>,
    /// Read and written under its lock (L4), never held across an `.await`; a status
    /// change takes the record's (L5) and sends its event (L6) inside it.
    state: Mutex<State>,
    /// Woken (all waiters) after every change of `state`; see [`Unit::wait_for`].
    changed: OnceLock<Box<Notify>>,
    /// The supervisor's doorbell (see the module's header).
    wake: Notify,
    events: Arc<EventBus>,
    /// What its report says besides the status.
    record: Mutex<Option<Box<Record>>>,
    /// Its children, made by the first `add_child` (see `family`).
    family: OnceLock<Box<Family>>,
    /// A supervisor task runs for it (from its launch to the end of that task): a unit
    /// without one completes a removal at once (see `added`).
    supervised: AtomicBool,
    /// Its current run, for a stop that cuts its supervisor off (see [`Unit::cancel_run`]).
    /// Its lock is taken alone (see `engine`'s lock order).
    run: Mutex<RunRef>,
    /// The service value itself, for its hooks and `ServiceContext::service`.
    pub(super) value: Value,
    /// What its type does: its spec, hooks and `serve`.
    pub(super) shim: &'static Shim,
    /// Its spec when registered with [`Overrides`](crate::Overrides); else its type's.
    spec: Option<Box<RestartSpec>>,
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unit")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

pub(crate) struct UnitInit {
    pub(crate) name: Arc<str>,
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
    pub(crate) dependencies: Box<[usize]>,
    pub(crate) group: Option<usize>,
    pub(crate) value: Value,
    pub(crate) shim: &'static Shim,
    /// Its spec when registered with overrides (set by [`check`](Self::check)).
    pub(crate) spec: Option<Box<RestartSpec>>,
    /// The overrides it is registered with, until [`check`](Self::check) applies them.
    pub(crate) overrides: Option<Box<crate::Overrides>>,
}

impl UnitInit {
    /// A unit's parts for `value`, registered under `name` (its dependencies are resolved
    /// when it is registered).
    pub(crate) fn of<T: crate::Hooks>(name: Arc<str>, value: T, shim: &'static Shim) -> Self {
        UnitInit {
            name,
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            dependencies: Box::default(),
            group: None,
            value: Arc::new(value),
            shim,
            spec: None,
            overrides: None,
        }
    }
}

impl UnitInit {
    /// Registers it with `overrides` in place of its type's values (the last call
    /// wins); [`check`](Self::check) applies them.
    pub(crate) fn configure(&mut self, overrides: crate::Overrides) {
        self.overrides = Some(Box::new(overrides));
    }

    /// Checks its spec by the attribute's rules ([`RestartSpec::check`]): its type's, or
    /// its overrides applied to it. `build` and every `add` call it once the name is
    /// final, so the error names the unit as everything else does.
    pub(crate) fn check(&mut self) -> Result<(), crate::ConfigError> {
        let name = || self.name.clone();
        match self.overrides.take() {
            Some(overrides) => {
                let spec = overrides.apply_to(name(), &self.shim.spec, self.shim.serves)?;
                self.spec = Some(Box::new(spec));
            }
            None => (self.shim.spec.check())
                .map_err(|violation| crate::ConfigError::new(name(), violation))?,
        }
        Ok(())
    }
}

impl Unit {
    pub(crate) fn new(id: usize, init: UnitInit, events: Arc<EventBus>) -> Self {
        let state = Mutex::new(State {
            status: Status::NotStarted,
            flags: Flags::default(),
            stop_took_us: 0,
            generation: 0,
            up_since: None,
            restart_run: 0,
        });
        Unit {
            id,
            name: init.name,
            dependencies: init.dependencies,
            link: init.group.map(|gid| Box::new(GroupLink::new(gid))),
            state,
            changed: OnceLock::new(),
            wake: Notify::new(),
            events,
            record: Mutex::new(None),
            family: OnceLock::new(),
            supervised: AtomicBool::new(false),
            run: Mutex::default(),
            value: init.value,
            shim: init.shim,
            spec: init.spec,
        }
    }

    /// The state now.
    pub(crate) fn state(&self) -> State {
        *self.lock()
    }

    /// Its name, as in logs, events and reports.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The service value, when it is a `T`.
    pub(crate) fn value<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.value).downcast::<T>().ok()
    }

    /// Whether it is done for good after a clean return of `serve`: a transient or
    /// temporary service that finished its job (only an operator restarts it).
    pub(crate) fn finished(&self, status: Status) -> bool {
        status == Status::Stopped
            && self
                .restart_type()
                .is_some_and(|t| !super::policy::restarts_after_clean_end(t))
    }

    /// Its spec: its type's, or the one it was registered with.
    pub(crate) fn spec(&self) -> &RestartSpec {
        self.spec.as_deref().unwrap_or(&self.shim.spec)
    }

    /// Its restart type; `None` for a resource.
    pub(crate) fn restart_type(&self) -> Option<RestartType> {
        self.shim.serves.then_some(self.spec().restart_type)
    }

    pub(crate) fn status(&self) -> Status {
        self.lock().status
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state) // (L4)
    }

    /// Changes the state with `change` (which says whether it changed anything) and
    /// wakes the waiters if it did.
    fn update(&self, change: impl FnOnce(&mut State) -> bool) -> bool {
        let changed = change(&mut self.lock());
        if changed && let Some(waiters) = self.changed.get() {
            waiters.notify_waiters();
        }
        changed
    }

    /// Changes the status with `change`, which returns the move it made (from, to, and
    /// the run), if any, with `error`: the bus's observer is told once the lock is let
    /// go, then the waiters are woken.
    fn move_status(
        &self,
        error: Option<&SharedError>,
        change: impl FnOnce(&mut State) -> Option<(Status, Status, u64)>,
    ) -> bool {
        let Some((from, to, run)) = change(&mut self.lock()) else {
            return false;
        };
        self.events.observe(|| Observed::Changed {
            service: &self.name,
            from,
            to,
            error,
            run,
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
    pub(crate) async fn wait_for<R>(&self, mut check: impl FnMut(State) -> Option<R>) -> R {
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

    /// How many times it was restarted: every initialize after the first (`generation`
    /// counts them all), whoever asked for it.
    pub(crate) fn restarts(&self) -> u64 {
        self.lock().generation.saturating_sub(1)
    }

    /// Starting: a run begins (from NotStarted, Stopped, Failed or an exhausted status).
    pub(crate) fn to_starting(&self) -> Transition {
        self.transition(|_| true, Status::Starting, None)
    }

    /// Stopping: its run is being stopped.
    pub(crate) fn to_stopping(&self) -> Transition {
        self.transition(|_| true, Status::Stopping, None)
    }

    /// Stopped: `serve` returned, or an error while the app stops (`error`).
    pub(crate) fn to_stopped(&self, error: Option<SharedError>) -> Transition {
        self.transition(|_| true, Status::Stopped, error)
    }

    /// Stopped at the end of a stop, unless the run already ended for good (Stopped,
    /// Crashed, ExhaustedDead).
    pub(crate) fn to_stopped_unless_terminal(&self, error: Option<SharedError>) -> Transition {
        self.transition(|from| !from.is_terminal(), Status::Stopped, error)
    }

    /// Stopped when the app's shutdown reaches a service with no run, where the table
    /// allows it: a service whose start failed before it ever ran stays Failed (and one
    /// whose start the shutdown came before stays NotStarted).
    pub(crate) fn to_stopped_at_shutdown(&self, never_ran: bool) -> Transition {
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
    pub(crate) fn to_stopped_lost(&self, error: SharedError) -> Transition {
        self.transition(
            |from| from.can_transition_to(Status::Stopped) && from != Status::Failed,
            Status::Stopped,
            Some(error),
        )
    }

    /// Failed: the restart policy decides next.
    pub(crate) fn to_failed(&self, error: SharedError) -> Transition {
        self.transition(|_| true, Status::Failed, Some(error))
    }

    /// Crashed: the app goes down.
    pub(crate) fn to_crashed(&self, error: SharedError) -> Transition {
        self.transition(|_| true, Status::Crashed, Some(error))
    }

    /// Crashed with its group's budget: a member that failed, or (`waiting` for the
    /// group's restart) one that was Stopped after a clean return of a permanent service.
    pub(crate) fn to_crashed_with_group(&self, error: SharedError, waiting: bool) -> Transition {
        self.transition(
            |from| from == Status::Failed || (waiting && from == Status::Stopped),
            Status::Crashed,
            Some(error),
        )
    }

    /// ExhaustedCooling: its budget is spent and it cools down.
    pub(crate) fn to_cooling(&self, error: SharedError) -> Transition {
        self.transition(|_| true, Status::ExhaustedCooling, Some(error))
    }

    /// ExhaustedDead: its budget is spent and it is done for.
    pub(crate) fn to_dead(&self, error: SharedError) -> Transition {
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
                tracing::error!(service = %self.name, %from, %to, "invalid status transition refused; this is a bug in hassette, please report it");
                debug_assert!(false, "invalid status transition of `{}`: {from} -> {to}", self.name);
                return None;
            }
            result = Transition::Moved;
            state.status = to;
            if to == Status::Starting {
                state.generation += 1;
                state.flags.set(Flags::STABLE, false);
            }
            // Readiness belongs to one run: a hook may mark it while Starting, and it is
            // lost as soon as the run ends; so is the go-ahead for its children.
            if to != Status::Running {
                if state.ready() {
                    self.publish_ready(false, Some(to.to_string().into()));
                }
                state.flags.set(Flags::READY, false);
                state.flags.set(Flags::LAUNCHED, false);
            }
            self.track_stability(state);
            self.publish(from, to, error);
            Some((from, to, state.generation))
        });
        result
    }

    /// Enters Running, ready at once when `auto_ready`; only from Starting, so a serve
    /// that begins after its stop was requested does not claim to run.
    pub(crate) fn begin_running(&self, auto_ready: bool) -> bool {
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
                self.publish_ready(true, None);
            }
            Some((Status::Starting, Status::Running, state.generation))
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
            self.publish_ready(ready, reason);
            tracing::info!(ready, "readiness changed");
            true
        })
    }

    /// Whether the run is, or will be once it leaves Running at `at` (now or just
    /// before), stable: healthy for `stable_after` at a stretch (what
    /// [`track_stability`](Self::track_stability) notes).
    pub(crate) fn stable_at(&self, at: Instant) -> bool {
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

    /// An operator asks for a restart; returns whether the supervisor must be woken (no
    /// restart was pending already). See [`State::restart_run`].
    pub(crate) fn request_restart(&self) -> bool {
        let wake = self.update(|state| {
            if state.restart_pending() {
                return false;
            }
            state.flags.set(Flags::RESTART_PENDING, true);
            true
        });
        if wake {
            self.wake.notify_one();
        }
        wake
    }

    /// The app's stop reached this unit's wave: the supervisor stops it (once).
    pub(crate) fn request_stop(&self) {
        let first = self.update(|state| {
            let first = !state.stop_requested();
            state.flags.set(Flags::STOP_REQUESTED, true);
            first
        });
        if first {
            self.wake.notify_one();
        }
    }

    /// A stopped child is launched again by its parent's next run.
    pub(crate) fn clear_stop(&self) {
        self.update(|state| {
            let was = state.stop_requested();
            state.flags.set(Flags::STOP_REQUESTED, false);
            was
        });
    }

    /// Whether this run is past `after_initialize` (see `family`).
    pub(crate) fn launched(&self) -> bool {
        self.lock().flags.has(Flags::LAUNCHED)
    }

    /// Sets or clears [`launched`](Self::launched).
    pub(crate) fn set_launched(&self, on: bool) {
        self.lock().flags.set(Flags::LAUNCHED, on);
    }

    /// A child escalated (its error is in the family): rings the doorbell.
    pub(crate) fn ring_child_failed(&self) {
        self.update(|state| {
            state.flags.set(Flags::CHILD_FAILED, true);
            false
        });
        self.wake.notify_one();
    }

    /// Takes the flag of [`ring_child_failed`](Self::ring_child_failed).
    pub(crate) fn take_child_failed(&self) -> bool {
        let mut state = self.lock();
        let failed = state.flags.has(Flags::CHILD_FAILED);
        state.flags.set(Flags::CHILD_FAILED, false);
        failed
    }

    /// Whether a supervisor task runs for it.
    pub(crate) fn is_supervised(&self) -> bool {
        self.supervised.load(Ordering::SeqCst)
    }

    /// A supervisor task begins (`true`) or ends (`false`).
    pub(crate) fn set_supervised(&self, on: bool) {
        self.supervised.store(on, Ordering::SeqCst);
    }

    /// `run` is its current run (a new initialize made it).
    pub(crate) fn set_run(&self, run: RunRef) {
        *lock(&self.run) = run; // (alone)
    }

    /// Cancels its current run from the calling task, for a stop that cuts its
    /// supervisor off: the supervisor polls `serve` in its own task, so a `serve` that
    /// blocks that task would never see the cancellation its own stop makes, and a loop
    /// that checks `ctx.is_cancelled()` between blocking calls would run for ever.
    pub(crate) fn cancel_run(&self) {
        let run = std::mem::take(&mut *lock(&self.run)); // (alone)
        run.cancel();
    }

    /// Its children, if it ever had one.
    pub(crate) fn family(&self) -> Option<&Family> {
        self.family.get().map(|family| &**family)
    }

    /// Its children, made on first use.
    pub(crate) fn family_or_init(&self) -> &Family {
        self.family.get_or_init(Box::default)
    }

    /// Rings the supervisor's doorbell, after a flag that says why was set.
    pub(crate) fn ring(&self) {
        self.wake.notify_one();
    }

    /// Completes when the doorbell rings (at once if it rang since the last time).
    pub(crate) fn rung(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// Completes once the app's stop has reached this unit.
    pub(crate) async fn stop_reached(&self) {
        self.wait_for(|state| state.stop_requested().then_some(()))
            .await;
    }

    /// Whether the app's stop has reached this unit.
    pub(crate) fn is_stop_requested(&self) -> bool {
        self.lock().stop_requested()
    }

    /// The supervisor takes the pending operator restart, if there is one: the run it
    /// starts next is the one the callers wait for.
    pub(crate) fn take_restart(&self) -> bool {
        self.update(|state| {
            if !state.restart_pending() {
                return false;
            }
            state.flags.set(Flags::RESTART_PENDING, false);
            state.restart_run = state.generation + 1;
            true
        })
    }

    /// Changes the record, made at the first write: a service that never failed and has
    /// not stopped yet pays 8 bytes for it.
    fn write_record<R>(&self, change: impl FnOnce(&mut Record) -> R) -> R {
        let mut record = lock(&self.record); // (L5)
        change(record.get_or_insert_with(Box::default))
    }

    /// Reads the record (`None`: nothing written yet).
    fn read_record<R>(&self, read: impl FnOnce(Option<&Record>) -> R) -> R {
        let record = lock(&self.record); // (L5)
        read(record.as_deref())
    }

    /// Keeps `error` as the last error without a status change (a child task's panic).
    pub(crate) fn note_error(&self, error: SharedError) {
        self.write_record(|record| record.last_error = Some(error));
    }

    /// Records `error` of `what` (a hook, `serve`, children) for the report.
    pub(crate) fn record_error(&self, what: &'static str, error: SharedError) {
        self.write_record(|record| {
            if record.errors.len() == KEPT_ERRORS {
                record.errors.pop_front();
            }
            record.errors.push_back(ReportedError { what, error });
            record.error_count += 1;
        });
    }

    /// Whether the last stop had to cut `serve` or children off (a new run clears it, so
    /// an abort during a restart stays only in the errors).
    pub(crate) fn set_aborted(&self, aborted: bool) {
        // Clearing a flag that was never set needs no record.
        if aborted || self.read_record(|record| record.is_some_and(|r| r.aborted)) {
            self.write_record(|record| record.aborted = aborted);
        }
    }

    /// Whether its state holds back the app's readiness (the `critical` key); a resource
    /// always does.
    pub(crate) fn critical(&self) -> bool {
        !self.shim.serves || self.spec().critical
    }

    /// A backoff or cooldown that ends at `at` begins (`None`: it is over).
    pub(crate) fn set_retry_at(&self, at: Option<Instant>) {
        if at.is_some() || self.read_record(|r| r.is_some_and(|r| r.retry_at.is_some())) {
            self.write_record(|record| record.retry_at = at);
        }
    }

    /// When the next restart comes, during a backoff or a cooldown.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.read_record(|r| r.and_then(|r| r.retry_at))
    }

    /// Decides with the budget's window, under the record's lock (for its supervisor
    /// only: see `policy`).
    pub(crate) fn with_budget<R>(&self, decide: impl FnOnce(&mut RestartWindow) -> R) -> R {
        self.write_record(|record| decide(&mut record.budget))
    }

    /// A fresh budget (a cooldown ended, an operator's restart).
    pub(crate) fn clear_budget(&self) {
        if self.read_record(|r| r.is_some_and(|r| !r.budget.is_empty())) {
            self.write_record(|record| record.budget.clear());
        }
    }

    /// The restarts in the budget's window now: those within `budget_period` before
    /// this moment, not as of the last restart decision.
    pub(crate) fn budget_used(&self) -> u32 {
        let period = self.spec().budget_period;
        self.read_record(|r| r.map_or(0, |r| r.budget.live(period, Instant::now())))
    }

    /// A run ended by itself (not by a stop), cleanly or not: counts the returns of
    /// `serve` in a row, for [`exhausted_by_returns`](Self::exhausted_by_returns).
    pub(crate) fn count_end(&self, clean: bool) {
        if clean || self.read_record(|r| r.is_some_and(|r| r.returned_ok > 0)) {
            self.write_record(|record| {
                record.returned_ok = match clean {
                    true => record.returned_ok.saturating_add(1),
                    false => 0,
                };
            });
        }
    }

    /// The error a permanent service's budget ran out with, its last run having
    /// returned `Ok` ([`ReturnedOk`](crate::error::ReturnedOk)), kept in the report. When
    /// a budget runs out, `intensity` restarts lie within the `period` before the end
    /// that found it spent: that end and theirs are the `intensity + 1` ends counted.
    pub(crate) fn exhausted_by_returns(&self) -> SharedError {
        let spec = self.spec();
        let in_a_row = self.read_record(|r| r.map_or(0, |r| r.returned_ok));
        let error: SharedError = Arc::new(crate::error::ReturnedOk {
            in_a_row,
            ends: spec.budget_intensity.saturating_add(1),
            period: spec.budget_period,
        });
        self.record_error("serve", error.clone());
        error
    }

    /// Keeps the error of an initialize hook that the shutdown interrupted, for the stop.
    pub(crate) fn keep_interrupted(&self, error: SharedError) {
        self.write_record(|record| record.interrupted = Some(error));
    }

    /// The error [`keep_interrupted`](Self::keep_interrupted) kept, taken.
    pub(crate) fn take_interrupted(&self) -> Option<SharedError> {
        let kept = self.read_record(|record| record.is_some_and(|r| r.interrupted.is_some()));
        kept.then(|| self.write_record(|record| record.interrupted.take()))
            .flatten()
    }

    /// How long the final stop took: in the state (no record needed) unless it took
    /// longer than `u32::MAX` microseconds (71 minutes).
    pub(crate) fn set_stop_took(&self, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.update(|state| {
            state.stop_took_us = micros;
            false
        });
        if micros == u32::MAX {
            self.write_record(|record| record.stop_took = took);
        }
        self.events.observe(|| Observed::Stopped {
            service: &self.name,
            took,
        });
    }

    /// The last error that came with a status change (or a child's panic).
    pub(crate) fn last_error(&self) -> Option<SharedError> {
        self.read_record(|record| record.and_then(|r| r.last_error.clone()))
    }

    /// The unit's report, as it stands.
    pub(crate) fn report(&self) -> ServiceReport {
        let state = self.state();
        let mut report = ServiceReport::new(self.name.clone());
        report.status = state.status;
        report.restarts = state.generation.saturating_sub(1);
        report.stop_took = Duration::from_micros(u64::from(state.stop_took_us));
        self.read_record(|record| {
            if let Some(record) = record {
                report.errors = record.errors.iter().cloned().collect();
                report.error_count = record.error_count;
                report.aborted = record.aborted;
                if state.stop_took_us == u32::MAX {
                    report.stop_took = record.stop_took;
                }
            }
        });
        report
    }

    /// Publishes a readiness change (under the state's lock, as a status change is).
    fn publish_ready(&self, ready: bool, reason: Option<Arc<str>>) {
        self.events.publish_readiness(|| ReadinessEvent {
            service: self.name.clone(),
            ready,
            reason,
            at: Instant::now(),
        });
    }

    fn publish(&self, from: Status, to: Status, error: Option<SharedError>) {
        if let Some(error) = &error {
            self.note_error(error.clone());
        }
        if !from.can_transition_to(to) {
            tracing::error!(service = %self.name, %from, %to, "invalid status transition; this is a bug in hassette, please report it");
            debug_assert!(
                false,
                "invalid status transition of `{}`: {from} -> {to}",
                self.name
            );
        }
        match (&error, to.is_failure()) {
            (Some(e), true) => {
                tracing::warn!(service = %self.name, %from, %to, error = %e, "status changed");
            }
            (Some(e), false) => {
                tracing::info!(%from, %to, error = %e, "status changed");
            }
            (None, _) => tracing::info!(%from, %to, "status changed"),
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

/// A parent's children.
#[derive(Debug, Default)]
pub(crate) struct Family {
    kin: Mutex<Kin>,
}

#[derive(Debug, Default)]
pub(super) struct Kin {
    /// In order of addition.
    pub(super) children: Vec<Arc<Unit>>,
    /// The error of the child that exhausted its budget, for the parent's run to fail
    /// with.
    pub(super) escalated: Option<SharedError>,
}

impl Family {
    pub(super) fn lock(&self) -> MutexGuard<'_, Kin> {
        lock(&self.kin) // (L1)
    }

    /// The error a child escalated, taken.
    pub(crate) fn take_escalated(&self) -> Option<SharedError> {
        self.lock().escalated.take()
    }
}

/// What a grouped unit shares with its group's coordinator.
#[derive(Debug, Default)]
pub(crate) struct GroupLink {
    pub(super) group: usize,
    /// The coordinator asks the unit to stop and wait: it sets this flag and rings the
    /// unit's doorbell.
    pub(super) hold_requested: AtomicBool,
    /// The coordinator lets a waiting unit initialize again.
    pub(super) resume: Notify,
    /// The unit's answer to `hold` (stopped) and to `resume` (initialized).
    pub(super) acked: Notify,
    /// Stopped and waiting for `resume`.
    pub(super) waiting: AtomicBool,
}

impl GroupLink {
    pub(crate) fn new(group: usize) -> Self {
        GroupLink {
            group,
            ..GroupLink::default()
        }
    }

    /// Whether the wake-up on `restart` was the group's stop request (and consumes it).
    pub(crate) fn take_hold(&self) -> bool {
        self.hold_requested.swap(false, Ordering::AcqRel)
    }

    /// Whether a hold was asked for and not taken yet.
    pub(crate) fn is_hold_requested(&self) -> bool {
        self.hold_requested.load(Ordering::Acquire)
    }

    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    pub(crate) fn set_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
