//! What a run knows of the runs before it (its attempt, the error that ended the last
//! one) and its heartbeats, for the `watchdog`: the parts of a `ServiceContext` that the
//! supervisor reads and writes through the unit.
//!
//! The supervisor leaves the restart context in the unit before each initialize (see
//! `supervisor`); a run copies it when it is made, so it stays the same for the whole
//! run. Heartbeats are an atomic count of nanoseconds since the run was made, kept only
//! for a unit whose spec has a `watchdog` (the clock is read once per run for it).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use crate::SharedError;
use crate::engine::Unit;

/// A run's restart context and heartbeats.
pub(super) struct RunInfo {
    attempt: u32,
    last_error: Option<SharedError>,
    /// `None` without a watchdog.
    beats: Option<Box<Beats>>,
}

struct Beats {
    /// The `watchdog` the run was made with.
    limit: std::time::Duration,
    /// When the run was made: the heartbeats count from it.
    origin: Instant,
    /// Nanoseconds from `origin` to the last heartbeat, plus one; 0: none yet.
    last: AtomicU64,
}

impl RunInfo {
    /// The context the supervisor left in `unit` for its next run.
    pub(super) fn of(unit: &Unit) -> Self {
        let (attempt, last_error) = unit.run_context();
        let beats = unit.spec().watchdog.map(|limit| {
            Box::new(Beats {
                limit,
                origin: Instant::now(),
                last: AtomicU64::new(0),
            })
        });
        RunInfo {
            attempt,
            last_error,
            beats,
        }
    }

    /// The `watchdog` this run was made with: a reconfiguration guards the next run.
    pub(super) fn watchdog(&self) -> Option<std::time::Duration> {
        self.beats.as_ref().map(|beats| beats.limit)
    }

    pub(super) fn attempt(&self) -> u32 {
        self.attempt
    }

    pub(super) fn last_error(&self) -> Option<SharedError> {
        self.last_error.clone()
    }

    /// A heartbeat now; returns its time.
    pub(super) fn beat(&self) -> Instant {
        let now = Instant::now();
        if let Some(beats) = &self.beats {
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
        let beats = self.beats.as_deref()?;
        match beats.last.load(Ordering::Relaxed) {
            0 => None,
            n => Some(beats.origin + std::time::Duration::from_nanos(n - 1)),
        }
    }
}
