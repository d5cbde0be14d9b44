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
//! No lock: two tokens, set once each. The drain is a part of the app's state (see
//! `state`); `shutdown` decides whether the app drains and asks it to.

use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

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

    /// (D1) Marks the shutdown begun, and returns the drain the stop waits for first:
    /// `None` when there is none, or when the app is not `up` (D2).
    pub(super) fn begin(&self, up: bool) -> Option<Duration> {
        self.begun.cancel();
        let drains = !self.period.is_zero() && up;
        if drains {
            tracing::info!(
                period = ?self.period,
                "draining: the services keep running until the stop"
            );
        }
        drains.then_some(self.period)
    }

    /// (D2) Waits for the drain's period, or until it is skipped.
    pub(super) async fn wait(&self, period: Duration) {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = self.skip.cancelled() => {}
        }
    }

    /// Completes when the shutdown begins, at the start of the drain.
    pub(super) fn begun(&self) -> WaitForCancellationFuture<'_> {
        self.begun.cancelled()
    }

    /// Whether the shutdown has begun (the drain included).
    pub(super) fn has_begun(&self) -> bool {
        self.begun.is_cancelled()
    }

    /// Ends the drain at once.
    pub(super) fn skip(&self) {
        self.skip.cancel();
    }
}
