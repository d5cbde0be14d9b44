//! The supervisor: one task per service that starts it, watches it, and restarts it
//! according to its [`RestartSpec`](crate::RestartSpec), until the app stops it.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::task::AbortOnDropHandle;

use crate::group::GroupEvent;
use crate::lifecycle::{Driver, serve_outcome};
use crate::policy::{Policy, Verdict};
use crate::{
    BoxError, ReadyMode, RestartType, ServiceReport, SharedError, StartError, StartFailure, Status,
    TimedOut,
};

/// What the supervisor does next.
enum Step {
    /// The run is up or starting: wait for it to end, to be stopped or restarted.
    Watch,
    /// The run failed (the status is already Failed): clean up and apply the policy.
    Failed(SharedError),
    /// Nothing to do until the app stops the service or someone restarts it.
    Rest,
    /// Stop the active run (if any) and initialize again.
    Restart,
    /// An operator's restart: the same, with a fresh budget and attempt count.
    Requested,
    /// The app's shutdown reached this service.
    Stop,
    /// The group asked this service to stop for a group restart.
    Hold,
    /// Stopped for the group: wait until it says to initialize again.
    Held,
}

/// Drives one service for the lifetime of the app and returns its report.
pub(crate) async fn supervise(
    mut driver: Driver,
    started: oneshot::Sender<Result<(), StartError>>,
) -> ServiceReport {
    // The task lives as long as the service, mostly inside `watch`: the other phases are
    // boxed so that their (larger) futures take memory only while they run.
    let mut policy = Policy::default();
    let mut step = Box::pin(driver.first_start(started)).await;
    loop {
        step = match step {
            Step::Watch => driver.watch().await,
            // A failure is usually followed by a restart: one boxed future for both.
            Step::Failed(error) => {
                Box::pin(async {
                    match driver.on_failure(error, &mut policy).await {
                        Step::Restart => driver.restart().await,
                        step => step,
                    }
                })
                .await
            }
            Step::Rest => Box::pin(driver.rest(&mut policy)).await,
            Step::Hold => Box::pin(driver.hold()).await,
            Step::Held => Box::pin(driver.held()).await,
            Step::Restart => Box::pin(driver.restart()).await,
            Step::Requested => {
                policy.reset();
                Box::pin(driver.restart()).await
            }
            Step::Stop => break,
        };
    }
    Box::pin(driver.finish()).await
}

impl Driver {
    /// The first initialize, whose outcome `Hassette::start` waits for.
    async fn first_start(&mut self, started: oneshot::Sender<Result<(), StartError>>) -> Step {
        let first = self.initialize().await;
        let step = self.after_initialize(&first);
        let _ =
            started.send(first.map_err(|failure| StartError::new(self.unit.name.clone(), failure)));
        step
    }

    /// Restart = stop the active run (if any) + initialize, on the same value.
    async fn restart(&mut self) -> Step {
        self.stop_run(true).await;
        // A serve that crashed while being stopped, or a shutdown that began meanwhile,
        // ends the restart here: nothing is initialized just to be stopped again.
        if self.unit.status() == Status::Crashed || self.app.is_stopping() {
            return Step::Rest;
        }
        let result = self.initialize().await;
        self.after_initialize(&result)
    }

    fn after_initialize(&self, result: &Result<(), StartFailure>) -> Step {
        match result {
            Ok(()) => Step::Watch,
            Err(StartFailure::Interrupted) => Step::Stop,
            Err(failure) => Step::Failed(failure.error()),
        }
    }

    async fn watch(&mut self) -> Step {
        let Some(active) = &mut self.active else {
            return Step::Rest;
        };
        let mut serve = active.serve.take();
        // With `ready = "auto"` a service is ready the moment serve begins; only manual
        // readiness needs the startup deadline's timer, in its own (boxed, short-lived)
        // phase so that the long-lived idle state below stays small.
        let step =
            match self.unit.shim.spec.ready == ReadyMode::Manual && !self.unit.state().is_up() {
                true => Box::pin(self.await_manual_ready(&mut serve)).await,
                false => None,
            };
        let step = match step {
            Some(step) => step,
            None => tokio::select! {
                biased;
                () = self.unit.stop.cancelled() => Step::Stop,
                () = self.unit.restart.notified(), if !self.app.is_stopping() => {
                    self.restart_or_hold().unwrap_or(Step::Watch)
                }
                result = serve_ended(&mut serve) => {
                    serve = None;
                    self.on_serve_end(serve_outcome(result))
                }
            },
        };
        if let Some(active) = &mut self.active {
            active.serve = serve;
        }
        step
    }

    /// Waits until a `ready = "manual"` service says it is ready, up to its startup
    /// deadline; `None` once it is ready.
    async fn await_manual_ready(
        &mut self,
        serve: &mut Option<AbortOnDropHandle<Result<(), BoxError>>>,
    ) -> Option<Step> {
        let spec = &self.unit.shim.spec;
        let startup_deadline = self.active.as_ref()?.startup_deadline;
        loop {
            tokio::select! {
                biased;
                () = self.unit.stop.cancelled() => return Some(Step::Stop),
                () = self.unit.wait_for(|now| now.is_up().then_some(())) => return None,
                () = self.unit.restart.notified(), if !self.app.is_stopping() => {
                    if let Some(step) = self.restart_or_hold() {
                        return Some(step);
                    }
                }
                result = serve_ended(serve) => {
                    *serve = None;
                    return Some(self.on_serve_end(serve_outcome(result)));
                }
                () = sleep_until(startup_deadline) => {
                    let error: SharedError = Arc::new(TimedOut { what: "startup", after: spec.startup_timeout });
                    tracing::warn!(service = %self.unit.name, "not running and ready within the startup timeout");
                    self.fail("startup", error.clone());
                    return Some(Step::Failed(error));
                }
            }
        }
    }

    /// Serve ended by itself (not because its run was stopped).
    fn on_serve_end(&mut self, outcome: Result<(), SharedError>) -> Step {
        let shutting_down = self.app.is_stopping();
        match outcome {
            Ok(()) => {
                self.unit.set_status(Status::Stopped, None);
                Step::Failed(clean_exit())
            }
            Err(error) if self.unit.shim.is_fatal(&*error) => {
                self.report.record("serve", error.clone());
                self.unit.set_status(Status::Crashed, Some(error.clone()));
                Step::Failed(error)
            }
            Err(error) if shutting_down => {
                // A "closed" error while the app shuts down: the service is simply done.
                tracing::info!(service = %self.unit.name, %error, "serve ended with an error during shutdown");
                self.report.record("serve", error.clone());
                self.unit.set_status(Status::Stopped, Some(error));
                Step::Rest
            }
            Err(error) => {
                self.fail("serve", error.clone());
                Step::Failed(error)
            }
        }
    }

    /// The policy, once the run has ended: clean up its hooks, then crash, exhaust, back
    /// off and restart, or rest.
    async fn on_failure(&mut self, error: SharedError, policy: &mut Policy) -> Step {
        self.stop_run(false).await;
        let spec = &self.unit.shim.spec;
        let status = self.unit.status();
        if status == Status::Crashed {
            self.crash_app();
            return Step::Rest;
        }
        if self.app.is_stopping() {
            return Step::Rest;
        }
        let clean = status == Status::Stopped;
        let Some(restart_type) = self.unit.restart_type else {
            return Step::Rest;
        };
        if clean && restart_type != RestartType::Permanent {
            return Step::Rest;
        }
        if !clean && self.unit.shim.is_fatal(&*error) {
            self.unit.set_status(Status::Crashed, Some(error));
            self.crash_app();
            return Step::Rest;
        }
        if self.unit.state().stable {
            // The run that just ended had been healthy for `stable_after`.
            policy.on_stable();
        }
        let verdict = if restart_type == RestartType::Temporary
            || (!clean && self.unit.shim.is_non_retryable(&*error))
        {
            Verdict::Exhausted
        } else {
            policy.on_failure(spec, Instant::now())
        };
        match verdict {
            Verdict::RestartAfter(delay) => {
                tracing::info!(service = %self.unit.name, ?delay, "restarting after backoff");
                match (self.wait_then_restart(delay).await, &self.unit.link) {
                    // In a group, the group restarts it (with whatever else its strategy says).
                    (Step::Restart, Some(link)) => {
                        link.set_waiting(true);
                        let _ = self.app.groups[link.group]
                            .tx
                            .send(GroupEvent::Unit(self.unit.id));
                        Step::Held
                    }
                    (step, _) => step,
                }
            }
            Verdict::Exhausted => self.exhaust(error, restart_type, policy).await,
        }
    }

    async fn exhaust(
        &mut self,
        error: SharedError,
        restart_type: RestartType,
        policy: &mut Policy,
    ) -> Step {
        let spec = &self.unit.shim.spec;
        match restart_type {
            RestartType::Permanent => {
                self.unit.set_status(Status::Crashed, Some(error));
                self.crash_app();
                Step::Rest
            }
            RestartType::Transient
                if spec.max_cooldown_cycles == 0 || policy.cooldowns < spec.max_cooldown_cycles =>
            {
                policy.cooldowns += 1;
                self.unit.set_status(Status::ExhaustedCooling, Some(error));
                let step = self.wait_then_restart(spec.cooldown).await;
                if matches!(step, Step::Restart) {
                    policy.reset();
                }
                step
            }
            RestartType::Transient | RestartType::Temporary => {
                self.unit.set_status(Status::ExhaustedDead, Some(error));
                Step::Rest
            }
        }
    }

    /// Waits out a backoff or cooldown; the app's shutdown interrupts it at once, and an
    /// operator's restart ends it.
    async fn wait_then_restart(&mut self, delay: Duration) -> Step {
        if delay.is_zero() {
            // A zero sleep would still wait for the timer wheel's next tick (about 1ms).
            return if self.app.is_stopping() {
                Step::Rest
            } else {
                Step::Restart
            };
        }
        let mut sleep = std::pin::pin!(sleep(delay));
        loop {
            tokio::select! {
                biased;
                () = self.unit.stop.cancelled() => return Step::Stop,
                () = self.app.stopping.cancelled() => return Step::Rest,
                () = self.unit.restart.notified() => if let Some(step) = self.restart_or_hold() {
                    return step;
                },
                () = &mut sleep => return Step::Restart,
            }
        }
    }

    async fn rest(&mut self, policy: &mut Policy) -> Step {
        loop {
            tokio::select! {
                biased;
                () = self.unit.stop.cancelled() => return Step::Stop,
                () = self.unit.restart.notified() => match self.restart_or_hold() {
                    // Already stopped for good: answer a group restart at once and stay
                    // out of it (the group only restarts members that wait for it).
                    Some(Step::Hold) => {
                        if let Some(link) = &self.unit.link {
                            link.acked.notify_one();
                        }
                    }
                    Some(step) if !self.app.is_stopping() => {
                        policy.reset();
                        return step;
                    }
                    _ => {}
                },
            }
        }
    }

    /// A crashed service takes the whole app down.
    fn crash_app(&self) {
        self.app
            .begin_shutdown(format!("service `{}` crashed", self.unit.name));
    }

    /// A wake-up on the `restart` notify: the group's stop request, an operator's
    /// restart (taken here, so the callers know which run is theirs), or nothing left to
    /// take.
    fn restart_or_hold(&self) -> Option<Step> {
        match &self.unit.link {
            Some(link) if link.take_hold() => Some(Step::Hold),
            _ => self.unit.take_restart().then_some(Step::Requested),
        }
    }

    /// The group restarts this service: stop it (Stopping → Stopped), then wait.
    async fn hold(&mut self) -> Step {
        self.stop_run(true).await;
        if let Some(link) = &self.unit.link {
            link.set_waiting(true);
            link.acked.notify_one();
        }
        Step::Held
    }

    /// Stopped for the group, until it says to initialize again (in registration order).
    async fn held(&mut self) -> Step {
        let unit = self.unit.clone();
        let Some(link) = &unit.link else {
            return Step::Rest;
        };
        tokio::select! {
            biased;
            () = unit.stop.cancelled() => Step::Stop,
            () = link.resume.notified() => {
                link.set_waiting(false);
                let result = self.initialize().await;
                let step = self.after_initialize(&result);
                link.acked.notify_one();
                step
            }
        }
    }

    /// The app's shutdown reached this service: stop the active run, or settle the status
    /// (a service that never reached Running, its start having failed, stays Failed; one
    /// whose start the shutdown came before stays NotStarted).
    async fn finish(mut self) -> ServiceReport {
        let began = Instant::now();
        if self.active.is_some() {
            let publish = !self.unit.status().is_terminal();
            self.stop_run(publish).await;
        } else {
            let never_ran = !self.unit.state().ran;
            self.unit.transition(
                |from| {
                    from.can_transition_to(Status::Stopped)
                        && !(from == Status::Failed && never_ran)
                },
                Status::Stopped,
                None,
            );
        }
        self.report.stop_took = began.elapsed();
        self.report.status = self.unit.status();
        self.report.restarts = self.unit.restarts();
        self.report
    }
}

/// Completes when the serve task ends; never, when there is none (a resource).
async fn serve_ended(
    serve: &mut Option<AbortOnDropHandle<Result<(), BoxError>>>,
) -> Result<Result<(), BoxError>, tokio::task::JoinError> {
    match serve.as_mut() {
        Some(handle) => handle.await,
        None => pending().await,
    }
}

/// Stands for "serve returned Ok" where the policy needs an error to classify.
fn clean_exit() -> SharedError {
    Arc::new(CleanExit)
}

#[derive(Debug, thiserror::Error)]
#[error("serve returned without an error")]
struct CleanExit;
