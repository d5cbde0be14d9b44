//! The engine: how a registered service is started, watched, restarted and stopped. Not
//! public; the app layer (`Hassette`, `Builder`) drives it through the few `pub(crate)`
//! items re-exported here, and it never names them.
//!
//! The story of one service:
//!
//! 1. `Builder::build` turns each registration into a [`unit::Unit`]: its name, its
//!    type's table of hooks ([`shim::Shim`], the only generic code, with the run's
//!    cell of `cell` that holds its `serve`), its state and its report. The units, the dependency waves and the groups become the [`AppState`], a
//!    small struct of parts each owned by one module, their fields private: the unit
//!    table and the added units' trackers (`registry`), the start (`first_start`), the
//!    stop's signals and records (`stop`), the waits (`readiness`), the groups (`group`)
//!    and the event bus (`bus`).
//! 2. [`AppState::start`] (`start`) spawns one supervisor task per unit ([`supervisor`]),
//!    counted down by `first_start`; a supervisor sees its app only through a narrow
//!    `handle::SupervisorHandle`. The supervisor runs the lifecycle ([`driver`]):
//!    dependencies (`readiness`), the initialize hooks, then `serve`, polled by the
//!    supervisor itself from the run's one allocation (`cell`).
//! 3. When a run ends, the driver classifies the outcome once (`driver::Outcome`, its
//!    kind `policy::OutcomeKind`), the supervisor's step carries it, and one pure
//!    function, `policy::decide`, answers what it leads to (restart after a delay, cool
//!    down, exhaust, crash, rest); a restart in a group is handed to its coordinator
//!    (`group`).
//! 4. The shutdown (`shutdown`) rings each wave's units in reverse dependency order and
//!    waits for each wave's supervisors; every unit's report is read from the unit.
//!
//! A unit added while the app runs (`added`) takes the same path from step 2 on, with an
//! id that is never reused (`registry`); a child (`family`) is started and stopped by
//! its parent's run; add-or-get (`ensure`) finds the live unit of a name or adds one; a
//! removal ends with the unit's own supervisor, which takes it out of the table and
//! counts its report into the removed totals.
//!
//! Each file opens with the protocol it implements: who wakes whom, and what cannot
//! happen.
//!
//! Lock order, stated here once and cited as `(L1)` ... where a lock is taken: a lock is
//! taken only while holding locks of smaller numbers; none is held across an `.await`.
//!
//! - (L1) a parent's family (`unit::Family`), for its list of children;
//! - (L2) the registry's `added` table (`registry`, an `RwLock`);
//! - (L3) the static supervisors' `tasks` (`stop`, the app state's stop part);
//! - (L4) a unit's `state` (`unit`): a status change publishes its event and records its
//!   error under it;
//! - (L5) a unit's `record` (`unit`: errors, the budget's window);
//! - (L6) an event stream's `channel` (`stream`, an `RwLock`; a status event is sent
//!   under (L4));
//! - (L7) a stream handover's `next` (`stream`);
//! - (L8) a unit's reconfigured spec (`unit`: `live_spec`), a leaf: taken inside any
//!   of the others, nothing inside it.
//!
//! Taken alone (nothing held, nothing taken inside): a unit's `run`, the shutdown's
//! `reason`, a group's `rx`, the first starts' `failures`, the wait graph's `edges`, a
//! run's children's `panics`, the reload in flight (`reload`).
//!
//! Every lock is taken through [`lock`], [`read_lock`] or [`write_lock`], which recover
//! from poisoning: no user code runs under an engine lock (hooks and `serve` run outside
//! every lock), so a poisoned lock only means a panic between two consistent writes.

mod added;
mod bus;
mod cell;
mod drain;
mod driver;
mod ensure;
mod family;
mod first_start;
mod group;
mod handle;
mod inside;
mod named;
mod policy;
mod readiness;
mod registry;
mod reload;
mod reloads;
mod shim;
mod shutdown;
mod start;
mod state;
mod stop;
mod stream;
mod supervisor;
mod unit;
mod waiting;
mod waves;

pub(crate) use added::Addition;
#[allow(
    unused_imports,
    reason = "for the observer, which a build may not have"
)]
pub(crate) use bus::Observed;
pub(crate) use bus::{EventBus, MAX_CAPACITY, Observer};
pub(crate) use driver::{ABORT_GRACE, within};
pub(crate) use ensure::Wanted;
pub(crate) use group::{Group, GroupDef, Member};
pub(crate) use inside::{caller, scope as in_service};
pub(crate) use named::spawn as spawn_named;
#[allow(
    unused_imports,
    reason = "for the metrics observer, which a build may not have"
)]
pub(crate) use policy::FailureKind;
pub(crate) use registry::Registry;
pub(crate) use shim::Shim;
pub(crate) use state::{AppParts, AppState};
pub use stream::EventReceiver;
pub(crate) use unit::{Unit, UnitInit};
pub(crate) use waves::waves;

pub(crate) use crate::sync::{lock, read_lock, write_lock};
