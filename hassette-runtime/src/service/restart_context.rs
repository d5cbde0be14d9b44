//! What a run knows of the runs before it (its attempt, the error that ended the last
//! one) and its heartbeats, for the `watchdog`.
//!
//! The supervisor leaves the restart context in the unit's record once the run before
//! has ended (see `supervisor`), before the next run is made: a run reads it there, so it
//! costs a run nothing to carry. Heartbeats are an atomic count of nanoseconds since the
//! run was made, kept only for a run made with a `watchdog` (the clock is read once per
//! run for it, and the box is its only cost).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::Unit;

/// A run's heartbeats: `None` inside without a watchdog.
pub(super) struct RunInfo(Option<Box<Beats>>);

struct Beats {
    /// The `watchdog` the run was made with.
    limit: Duration,
    /// When the run was made: the heartbeats count from it.
    origin: Instant,
    /// Nanoseconds from `origin` to the last heartbeat, plus one; 0: none yet.
    last: AtomicU64,
}

impl RunInfo {
    /// The heartbeats of a new run of `unit`, if its spec has a watchdog.
    pub(super) fn of(unit: &Unit) -> Self {
        RunInfo(unit.spec().watchdog.map(|limit| {
            Box::new(Beats {
                limit,
                origin: Instant::now(),
                last: AtomicU64::new(0),
            })
        }))
    }

    /// The `watchdog` this run was made with: a reconfiguration guards the next run.
    pub(super) fn watchdog(&self) -> Option<Duration> {
        self.0.as_ref().map(|beats| beats.limit)
    }

    /// A heartbeat now; returns its time.
    pub(super) fn beat(&self) -> Instant {
        let now = Instant::now();
        if let Some(beats) = &self.0 {
            let nanos = now.saturating_duration_since(beats.origin).as_nanos();
            let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
            beats
                .last
                .fetch_max(nanos.saturating_add(1), Ordering::Relaxed);
        }
        now
    }

    /// The last heartbeat, if any.
    pub(super) fn last_beat(&self) -> Option<Instant> {
        let beats = self.0.as_deref()?;
        match beats.last.load(Ordering::Relaxed) {
            0 => None,
            n => Some(beats.origin + Duration::from_nanos(n - 1)),
        }
    }
}
