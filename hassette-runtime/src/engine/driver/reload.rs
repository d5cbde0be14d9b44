//! A run's `on_reload`: run by the supervisor's own task, next to `serve`.
//!
//! Protocol: the supervisor takes a reload request only while it watches a run (see
//! `supervisor`), so the run is active and `serve` goes on being polled next to the hook
//! ([`ActiveRun::alongside`](super::ActiveRun)), as next to `after_initialize`: a `serve`
//! that awaits the reload it asked for is not held by it. The hook is bounded by the
//! service's `startup_timeout` (and by the shutdown deadline); the app's stop reaching the
//! service interrupts it as it does an initialize hook (the run is cancelled and the hook
//! gets `shutdown_timeout` more). While it runs the unit says so (`in_reload`), so a
//! reload asked for from inside it is answered at once (see `engine::reload`).

use super::hook::{Interrupt, deadline_in, in_run, run_hook};
use super::{Driver, Outcome};
use crate::engine::shim::Hook;
use crate::{ReloadSkipped, SharedError, Status};

impl Driver {
    /// Runs `on_reload` of the active run: `Ok(None)` when it returned `Ok` (or the type
    /// has none), `Ok(Some(why))` when it was not run or the stop cut it short, and the
    /// run's outcome with the error when it failed (the status already says so).
    pub(crate) async fn reload(&mut self) -> Result<Option<ReloadSkipped>, (Outcome, SharedError)> {
        if self.stopping() {
            return Ok(Some(ReloadSkipped::ShuttingDown));
        }
        if self.unit.status() != Status::Running {
            return Ok(Some(ReloadSkipped::NotRunning));
        }
        let Some(active) = self.active.as_mut() else {
            return Ok(Some(ReloadSkipped::NotRunning));
        };
        let ctx = active.ctx().clone();
        let Some(fut) = self.unit.shim.hook(&self.unit.value, Hook::OnReload, &ctx) else {
            return Ok(None);
        };
        let fut = in_run(fut, &ctx);
        let spec = self.unit.spec();
        let (limit, interrupt_limit) = (spec.startup_timeout, spec.shutdown_timeout);
        drop(spec);
        let (stop, unit) = (self.app.stop(), &*self.unit);
        let interrupt = Interrupt {
            unit,
            limit: interrupt_limit,
        };
        let name = Hook::OnReload.name();
        unit.set_in_reload(true);
        let (result, interrupted) = Box::pin(active.alongside(
            unit,
            run_hook(
                stop,
                name,
                &ctx,
                fut,
                move || deadline_in(limit),
                limit,
                Some(interrupt),
            ),
        ))
        .await;
        unit.set_in_reload(false);
        let stopping = interrupted || self.stopping();
        let Err(error) = result else {
            return Ok(None);
        };
        match self.classify_error(error.clone(), stopping) {
            // The stop reached it: kept, not a failure.
            Outcome::Closed(error) => {
                tracing::info!(service = %self.unit.name, %error, "`on_reload` ended with an error after the stop reached it");
                self.unit.record_error(name, error);
                Ok(Some(ReloadSkipped::Interrupted))
            }
            outcome => {
                tracing::warn!(service = %self.unit.name, %error, "`on_reload` failed; the run fails");
                self.settle(name, &outcome);
                Err((outcome, error))
            }
        }
    }
}
