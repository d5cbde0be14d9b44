//! The supervisor's doorbell and the flags that say why it rang: the app's stop, an
//! operator's restart, a child that escalated, and the launch of a run's children.

use std::sync::atomic::Ordering;

use super::{Flags, Unit};

impl Unit {
    /// An operator asks for a restart; returns whether the supervisor must be woken (no
    /// restart was pending already). See [`State::restart_run`](super::State::restart_run).
    pub(in crate::engine) fn request_restart(&self) -> bool {
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
    pub(in crate::engine) fn request_stop(&self) {
        if !self.stop_requested.swap(true, Ordering::SeqCst) {
            self.stop_flag_changed();
            self.wake.notify_one();
        }
    }

    /// A stopped child is launched again by its parent's next run.
    pub(in crate::engine) fn clear_stop(&self) {
        if self.stop_requested.swap(false, Ordering::SeqCst) {
            self.stop_flag_changed();
        }
    }

    /// Wakes the waits on the state (`wait_for`) after the stop's flag changed: through
    /// the state's lock, so a wait that looked before the change has registered its
    /// wake-up, and one that looks after it sees the change.
    fn stop_flag_changed(&self) {
        self.update(|_| true);
    }

    /// Whether this run is past `after_initialize` (see `family`).
    pub(in crate::engine) fn launched(&self) -> bool {
        self.lock().flags.has(Flags::LAUNCHED)
    }

    /// Sets or clears [`launched`](Self::launched).
    pub(in crate::engine) fn set_launched(&self, on: bool) {
        self.lock().flags.set(Flags::LAUNCHED, on);
    }

    /// A child escalated (its error is in the family): rings the doorbell.
    pub(in crate::engine) fn ring_child_failed(&self) {
        self.update(|state| {
            state.flags.set(Flags::CHILD_FAILED, true);
            false
        });
        self.wake.notify_one();
    }

    /// Takes the flag of [`ring_child_failed`](Self::ring_child_failed).
    pub(in crate::engine) fn take_child_failed(&self) -> bool {
        let mut state = self.lock();
        let failed = state.flags.has(Flags::CHILD_FAILED);
        state.flags.set(Flags::CHILD_FAILED, false);
        failed
    }

    /// Rings the supervisor's doorbell, after a flag that says why was set.
    pub(in crate::engine) fn ring(&self) {
        self.wake.notify_one();
    }

    /// Completes when the doorbell rings (at once if it rang since the last time).
    pub(in crate::engine) fn rung(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// Completes once the app's stop has reached this unit.
    pub(in crate::engine) async fn stop_reached(&self) {
        self.wait_for(|_| self.is_stop_requested().then_some(()))
            .await;
    }

    /// Whether the app's stop has reached this unit.
    pub(in crate::engine) fn is_stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
    }

    /// The supervisor takes the pending operator restart, if there is one: the run it
    /// starts next is the one the callers wait for.
    pub(in crate::engine) fn take_restart(&self) -> bool {
        self.update(|state| {
            if !state.restart_pending() {
                return false;
            }
            state.flags.set(Flags::RESTART_PENDING, false);
            state.restart_run = state.generation + 1;
            true
        })
    }
}
