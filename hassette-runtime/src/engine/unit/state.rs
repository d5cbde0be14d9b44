//! A unit's [`State`]: its status, readiness and restarts now, the yes-or-no parts in one
//! byte of flags. Read and changed under the unit's state lock (L4; see the unit's header).

use tokio::time::Instant;

use crate::Status;

/// A unit's state: what its status, readiness and restarts are now. Kept to 40 bytes
/// (the flags in one byte), so the unit's lock and state are one cache line's half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) status: Status,
    pub(super) flags: Flags,
    /// How long the final stop took, in microseconds; `u32::MAX`: longer, see the record.
    pub(super) stop_took_us: u32,
    /// Incremented by every initialize, so a caller of `restart` can tell the new run
    /// from the old one.
    pub(in crate::engine) generation: u64,
    /// When the current stretch of Running and ready began.
    pub(super) up_since: Option<Instant>,
    /// The generation of the run that the last operator restart the supervisor took
    /// starts; while `generation` is below it (or equal and still Starting), that restart
    /// is in flight and a new request joins it.
    pub(in crate::engine) restart_run: u64,
}

/// The yes-or-no parts of a [`State`], one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Flags(u8);

impl Flags {
    /// Ready (for its dependants; only while Starting or Running).
    pub(super) const READY: u8 = 1;
    /// This run has stayed Running and ready for `stable_after` at a stretch; the
    /// supervisor reads it when the run fails, so no timer is needed to notice stability.
    pub(super) const STABLE: u8 = 2;
    /// Some run of the service has reached Running.
    pub(super) const RAN: u8 = 4;
    /// An operator restart was asked for and the supervisor has not taken it yet.
    pub(super) const RESTART_PENDING: u8 = 8;
    /// A child exhausted its budget: the run fails (see `family`).
    pub(super) const CHILD_FAILED: u8 = 16;
    /// This run is past `after_initialize`: a child added now starts at once (see
    /// `family`). Only while Starting or Running.
    pub(super) const LAUNCHED: u8 = 32;
    /// The next initialize is a restart along with its parent or its group, not its own
    /// (see [`Unit::start_along`](super::Unit::start_along)).
    pub(super) const ALONG: u8 = 64;
    /// It was added at run time and its removal is done: it has left the app's table,
    /// and its report is final (see `added`).
    pub(super) const REMOVED: u8 = 128;

    pub(super) fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    pub(super) fn set(&mut self, flag: u8, on: bool) {
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

    /// When its current stretch of Running and ready began (`None` while it is not up).
    pub(crate) fn up_since(self) -> Option<Instant> {
        self.up_since
    }

    pub(in crate::engine) fn ready(self) -> bool {
        self.flags.has(Flags::READY)
    }

    pub(in crate::engine) fn stable(self) -> bool {
        self.flags.has(Flags::STABLE)
    }

    pub(in crate::engine) fn ran(self) -> bool {
        self.flags.has(Flags::RAN)
    }

    pub(in crate::engine) fn restart_pending(self) -> bool {
        self.flags.has(Flags::RESTART_PENDING)
    }

    /// Whether an operator restart is pending or in flight: a new request joins it.
    pub(in crate::engine) fn restart_in_flight(self) -> bool {
        self.generation < self.restart_run
            || (self.generation == self.restart_run && self.status == Status::Starting)
    }
}
