//! The drain: the time between the shutdown's beginning and the stop.
//!
//! Protocol:
//! - (D1) The first `begin_shutdown` (see `shutdown`) cancels `begun` before anything
//!   else: `Hassette::shutdown_begun`, `ServiceContext::draining`, `/readyz` (`503
//!   draining`) and systemd's `STOPPING=1` follow it at once.
//! - (D2) With a drain period (set, and the app up: its start has ended, not in a failure
//!   that ends the app), the one stop task first waits for the period, or for `skip` (a
//!   second signal, see `app::signal`), and only then sets `shutting_down`, cancels
//!   `stopping` and stops the waves. Without one, `begin_shutdown` begins the stop
//!   itself, as it did before the drain existed.
//! - (D3) Meanwhile every service keeps running and is supervised as usual: nothing
//!   that looks at `stopping` or `shutting_down` (restarts, backoffs, additions, waits)
//!   sees the shutdown until the drain is over. `/livez` is not touched by it.
//!
//! No lock: two tokens, set once each.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::state::AppState;

/// One app's drain: its period and the two moments it has.
pub(crate) struct Drain {
    period: Duration,
    /// Cancelled when the shutdown begins (D1).
    begun: CancellationToken,
    /// Cancelled to end the drain before its period is over (a second signal).
    skip: CancellationToken,
}

impl Drain {
    pub(crate) fn new(period: Duration) -> Self {
        Drain {
            period,
            begun: CancellationToken::new(),
            skip: CancellationToken::new(),
        }
    }
}

impl AppState {
    /// (D1) Marks the shutdown begun, and returns the drain the stop waits for first,
    /// `None` when there is none (D2).
    pub(super) fn begin_drain(&self) -> Option<Duration> {
        self.drain.begun.cancel();
        let period = self.drain.period;
        // Only an app that is up drains: its start has ended, and not in a failure that
        // ends the app (a crash during the start included).
        let up = match &*self.started.borrow() {
            Some(Ok(())) => true,
            Some(Err(error)) => !error.ends_the_app(),
            None => false,
        };
        let drains = !period.is_zero() && up && !self.start_failed.load(Ordering::Acquire);
        if drains {
            tracing::info!(
                ?period,
                "draining: the services keep running until the stop"
            );
        }
        drains.then_some(period)
    }

    /// (D2) Waits for the drain's period, or until it is skipped.
    pub(super) async fn wait_drained(self: &Arc<Self>, period: Duration) {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = self.drain.skip.cancelled() => {}
        }
    }

    /// Completes when the shutdown begins, at the start of the drain.
    pub(crate) fn shutdown_begun(&self) -> WaitForCancellationFuture<'_> {
        self.drain.begun.cancelled()
    }

    /// Whether the shutdown has begun (the drain included).
    pub(crate) fn has_shutdown_begun(&self) -> bool {
        self.drain.begun.is_cancelled()
    }

    /// Whether the app is in its drain: the shutdown has begun, the stop has not.
    pub(crate) fn is_draining(&self) -> bool {
        self.has_shutdown_begun() && !self.is_stopping()
    }

    /// Ends a drain under way at once (a second signal, `why`); `false` when there is none
    /// to end (the stop has begun, or the shutdown has not).
    pub(crate) fn skip_drain(&self, why: &str) -> bool {
        if !self.is_draining() {
            return false;
        }
        tracing::warn!("{why}: skipping the rest of the drain");
        self.drain.skip.cancel();
        true
    }
}
