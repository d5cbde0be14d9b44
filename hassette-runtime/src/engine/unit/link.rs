//! What a grouped unit shares with its group's coordinator (see `engine::group`).

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(crate) struct GroupLink {
    pub(in crate::engine) group: usize,
    /// The coordinator asks the unit to stop and wait: it sets this flag and rings the
    /// unit's doorbell.
    pub(in crate::engine) hold_requested: AtomicBool,
    /// The coordinator lets a waiting unit initialize again.
    pub(in crate::engine) resume: Notify,
    /// The unit's answer to `hold` (stopped) and to `resume` (initialized).
    pub(in crate::engine) acked: Notify,
    /// Stopped and waiting for `resume`.
    pub(in crate::engine) waiting: AtomicBool,
}

impl GroupLink {
    pub(in crate::engine) fn new(group: usize) -> Self {
        GroupLink {
            group,
            ..GroupLink::default()
        }
    }

    /// Whether the wake-up on `restart` was the group's stop request (and consumes it).
    pub(in crate::engine) fn take_hold(&self) -> bool {
        self.hold_requested.swap(false, Ordering::AcqRel)
    }

    /// Whether a hold was asked for and not taken yet.
    pub(in crate::engine) fn is_hold_requested(&self) -> bool {
        self.hold_requested.load(Ordering::Acquire)
    }

    pub(in crate::engine) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    pub(in crate::engine) fn set_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::Release);
    }
}
