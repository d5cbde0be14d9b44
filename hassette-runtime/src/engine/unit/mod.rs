//! The per-service state every part of the runtime shares: its name, status, readiness,
//! restarts and everything its report says. The report is a view of the unit, so a
//! supervisor that is lost (aborted at the shutdown deadline) loses nothing.
//!
//! Protocol:
//! - `state` is changed only under its lock, by the named status changes (`to_starting`,
//!   `to_failed`, ...; each checked against the status table by `Unit::transition` in
//!   `status`, in release too: an illegal one is refused and logged) and the few methods
//!   next to them; the status event is published and logged while the lock is held, so
//!   the event stream shows one service's changes in the order they happened. After a
//!   change that lock is released, then a status change is told to the bus's observer
//!   (see `bus`), then `changed` wakes every `Unit::wait_for` (each registers its
//!   wake-up before it looks at the state, so none is missed). `changed` is made by the
//!   first waiter: a change that finds none made needs no wake-up, since a waiter that
//!   made it after the change sees the new state when it looks (the state's lock orders
//!   the two).
//! - `wake` (a `Notify`, so a wake-up sent while the supervisor is busy is kept as a
//!   permit) is the supervisor's one doorbell (`doorbell`): the app's stop
//!   (`stop_requested`), an operator's restart (`restart_pending`) and a group's hold
//!   (`GroupLink`, in `link`) each set their flag first and ring it second; the
//!   supervisor reads the flags after it wakes. The stop's flag is an atomic of its own,
//!   outside the state's lock (the supervisor asks for it at every step of a run); its
//!   change then goes through that lock to wake the waits on the state.
//! - Locks (the order L1..L7 is stated once, in `engine`'s header): a parent's family
//!   (`family`) is (L1); `state` is (L4); `record` (`record`: errors, `aborted`, the
//!   stop's duration, the budget's window) is (L5), taken alone or inside (L4) (a status
//!   change records its error); a status event is sent to the streams (L6) inside (L4).
//!   The budget's window is changed only by the supervisor, which decides with it under
//!   (L5); the snapshot counts it live.
//! - `run` (a weak handle of the current run, set by each initialize) has a lock of its
//!   own, taken alone (see `engine`'s lock order): a stop that cuts the supervisor off
//!   cancels the run through it, since the supervisor's own stop cannot run while `serve`
//!   holds its task.
//!
//! The parts, one concept a file: `state` (the [`State`] and its flags), `status` (the
//! named status changes and the waits on them), `doorbell` (the supervisor's flags and
//! its doorbell), `record` (the report's errors, the budget's window, the restarts along
//! with its parent or group), `family` (a parent's children) and `link` (what a grouped
//! unit shares with its group).
//!
//! Who may call what: every mutator (the status changes, the doorbell, the record's
//! writes, the family's launch flag) is `pub(in crate::engine)`: only the engine moves
//! a unit. `pub(crate)` are the read accessors the app layer needs (its name, status,
//! state, value, report's parts), the build-time constructors (`UnitInit`, `Unit::new`)
//! and the three calls of the service's own context (`set_ready`, `note_error`,
//! `set_run`: the `service` <-> `engine` contract).

use std::any::TypeId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

use crate::engine::bus::EventBus;
use crate::engine::lock;
use crate::engine::shim::{Shim, Value};
use crate::service::RunRef;
use crate::{RestartSpec, RestartType, Status};

mod doorbell;
mod family;
mod link;
mod record;
mod state;
mod status;

pub(super) use family::{Family, Kin};
pub(super) use link::GroupLink;
use record::Record;
use state::{Flags, State};

/// The target of every log line of a unit's parts: this module's path (as when it was one
/// file), so log filters and the lines read the same.
const LOG_TARGET: &str = module_path!();

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
    /// The app's stop has reached this unit's wave, or its removal or its parent's stop
    /// has begun (see `doorbell`). Outside the state's lock: the supervisor asks at every
    /// step of a run, and a stop is rung after it is set.
    stop_requested: AtomicBool,
    /// Its current run, for a stop that cuts its supervisor off (see [`Unit::cancel_run`]).
    /// Its lock is taken alone (see `engine`'s lock order).
    run: Mutex<RunRef>,
    /// The service value itself, for its hooks and `ServiceContext::service`.
    pub(super) value: Value,
    /// What its type does: its spec, hooks and `serve`.
    pub(super) shim: &'static Shim,
    /// Its spec when registered with [`Overrides`](crate::Overrides); else its type's.
    spec: Option<Box<RestartSpec>>,
    /// A child: its `critical` defaults to false (see [`Unit::critical`]).
    child: bool,
    /// Its spec once reconfigured while it runs (`Hassette::reconfigure`), which replaces
    /// `spec`; made by the first reconfiguration. Its lock is a leaf (L8).
    live_spec: OnceLock<Box<Mutex<Arc<RestartSpec>>>>,
}

/// A unit's spec as [`Unit::spec`] reads it: its registered one, or a copy of the one a
/// reconfiguration gave it (the decision made with it keeps it whole).
pub(crate) enum SpecRef<'a> {
    Fixed(&'a RestartSpec),
    Live(Arc<RestartSpec>),
}

impl std::ops::Deref for SpecRef<'_> {
    type Target = RestartSpec;

    fn deref(&self) -> &RestartSpec {
        match self {
            SpecRef::Fixed(spec) => spec,
            SpecRef::Live(spec) => spec,
        }
    }
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
    /// A child (`add_child`): not critical unless it says so.
    pub(crate) child: bool,
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
            child: false,
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
            stop_requested: AtomicBool::new(false),
            run: Mutex::default(),
            value: init.value,
            shim: init.shim,
            spec: init.spec,
            child: init.child,
            live_spec: OnceLock::new(),
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
                .is_some_and(|t| !crate::engine::policy::restarts_after_clean_end(t))
    }

    /// Its spec: its type's, the one it was registered with, or the one it was last
    /// reconfigured with.
    pub(crate) fn spec(&self) -> SpecRef<'_> {
        match self.live_spec.get() {
            None => SpecRef::Fixed(self.spec.as_deref().unwrap_or(&self.shim.spec)),
            Some(live) => SpecRef::Live(lock(live).clone()), // (L8)
        }
    }

    /// Replaces its spec (checked by the caller): read from the next decision on.
    pub(in crate::engine) fn set_spec(&self, spec: RestartSpec) {
        let spec = Arc::new(spec);
        let live = self
            .live_spec
            .get_or_init(|| Box::new(Mutex::new(spec.clone())));
        *lock(live) = spec; // (L8)
    }

    /// Its restart type; `None` for a resource.
    pub(in crate::engine) fn restart_type(&self) -> Option<RestartType> {
        self.shim.serves.then_some(self.spec().restart_type)
    }

    pub(crate) fn status(&self) -> Status {
        self.lock().status
    }

    /// Whether a supervisor task runs for it.
    pub(in crate::engine) fn is_supervised(&self) -> bool {
        self.supervised.load(Ordering::SeqCst)
    }

    /// A supervisor task begins (`true`) or ends (`false`).
    pub(in crate::engine) fn set_supervised(&self, on: bool) {
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
    pub(in crate::engine) fn cancel_run(&self) {
        let run = std::mem::take(&mut *lock(&self.run)); // (alone)
        run.cancel();
    }

    /// Its children, if it ever had one.
    pub(in crate::engine) fn family(&self) -> Option<&Family> {
        self.family.get().map(|family| &**family)
    }

    /// Its children, made on first use.
    pub(in crate::engine) fn family_or_init(&self) -> &Family {
        self.family.get_or_init(Box::default)
    }

    /// Whether its state holds back the app's readiness and its failure the app (the
    /// `critical` key, or its override): when neither says, a unit at the top level is
    /// critical and a child is not. A resource always is.
    pub(crate) fn critical(&self) -> bool {
        let default = hassette_spec::defaults::CRITICAL && !self.child;
        !self.shim.serves || self.spec().critical.unwrap_or(default)
    }
}
