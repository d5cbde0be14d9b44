//! The supervisor: one task per service that starts it, watches it, and restarts it
//! according to its [`RestartSpec`](crate::RestartSpec), until the app stops it.
//!
//! Protocol:
//! - The supervisor is a loop over [`Step`]s. Its one long-lived phase, [`Step::Watch`],
//!   polls the run's `serve` and waits for the unit's doorbell; every other phase is
//!   boxed, so its (larger) future takes memory only while it runs, except the first
//!   start and the final stop (`finish`), whose futures are no larger than the watch's
//!   (the stop boxes each of its waits that may last; see `driver`).
//! - Who wakes it: the app's stop, an operator's restart and a group's hold each set a
//!   flag on the unit and ring its doorbell (see `unit`); [`Supervisor::answer`] reads
//!   the flags, the stop first. A ring while the supervisor is busy (in a hook, say) is
//!   kept as a permit for its next wait, so none is lost. A restart due at once (its
//!   backoff ran out while the failed run was cleaned up) answers a pending operator's
//!   restart first, as the wait would: a restart asked for during the cleanup is then
//!   the one restart (with a fresh budget), not one more after the policy's.
//! - A reload (see `reload`) is asked for like the others: the request waits in the
//!   unit's record and the doorbell rings; the watch (the only phase with a run to
//!   reload) takes it and runs `on_reload` next to `serve` ([`Step::Reload`]). Every
//!   other phase answers a pending request at once (skipped), so its caller never waits
//!   for a supervisor that will not run it.
//! - A `watchdog` adds a timer to the watch (its own boxed phase, so a service without
//!   one pays nothing): the run fails when `ServiceContext::heartbeat` was not called
//!   within it while Running.
//! - Before each initialize it leaves the run's restart context in the unit (the
//!   backoff attempt and the error that ended the run before), which the new run's
//!   `ServiceContext` reads.
//! - What it never does: wait for another service's supervisor, or hold a lock across
//!   an `.await`. It only talks to its group's coordinator through the group's channel
//!   and `GroupLink` (see `group`).
//! - What it sees of the app: only its `handle::SupervisorHandle` (the stop's signals,
//!   its dependencies, its group, its children, its own removal, a crash's shutdown).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::driver::{Driver, Outcome};
use super::first_start::FirstStart;
use super::group::GroupEvent;
use super::handle::SupervisorHandle;
use super::inside::InService;
use super::policy::{self, Dead, Decision, Ending, Failure, OutcomeKind, Policy};
use super::reloads::{ReloadAnswer, ReloadRequest};
use super::unit::Unit;
use crate::{NoHeartbeat, ReadyMode, ReloadSkipped, SharedError, StartFailure, Status, TimedOut};

/// What the supervisor does next.
enum Step {
    /// The run is up or starting: wait for it to end, to be stopped or restarted.
    Watch,
    /// The run failed or ended, classified once (its status already says how): clean up
    /// and apply the policy.
    Ended(Outcome),
    /// Nothing to do until the app stops the service or someone restarts it.
    Rest,
    /// Stop the active run (if any) and initialize again.
    Restart,
    /// Wait out what is left of a backoff, then restart (in a group, the group does).
    Backoff(Duration),
    /// The budget is spent (the unit is ExhaustedCooling): wait this long, then restart
    /// with a fresh budget.
    CoolDown(Duration),
    /// An operator's restart: the same, with a fresh budget and attempt count.
    Requested,
    /// The app's shutdown reached this service.
    Stop,
    /// The group asked this service to stop for a group restart.
    Hold,
    /// Stopped for the group: wait until it says to initialize again; `along` when the
    /// restart is not for its own failure (another member's).
    Held { along: bool },
    /// Run `on_reload` next to `serve`, and answer the request.
    Reload(ReloadRequest),
}

/// One service's supervisor: its lifecycle driver and its restart policy.
pub(crate) struct Supervisor {
    run: Driver,
    policy: Policy,
    /// When `serve` failed and the jitter drawn for it, for the backoff, which runs from
    /// then (see `on_serve_end`).
    failure: Option<Failure>,
    /// The first start's report to `Hassette::start`, until it is sent.
    started: Option<FirstStart>,
}

impl Supervisor {
    pub(crate) fn new(unit: Arc<Unit>, app: SupervisorHandle, started: FirstStart) -> Self {
        Supervisor {
            run: Driver::new(unit, app),
            policy: Policy::default(),
            failure: None,
            started: Some(started),
        }
    }

    fn unit(&self) -> &Unit {
        &self.run.unit
    }

    /// A fresh budget and attempt count (a cooldown ended, an operator's restart).
    fn reset_policy(&mut self) {
        self.policy.reset();
        self.run.unit.clear_budget();
        self.run.unit.reset_attempt();
    }

    /// The active run was stopped on request (a restart, a group's hold): no error
    /// ended it, for the next run's context.
    fn ended_on_request(&self) {
        self.run.unit.set_run_context(self.policy.attempt(), None);
    }

    /// Answers a reload asked for while there is no run to reload.
    fn skip_reload(&self, why: ReloadSkipped) {
        if let Some(request) = self.unit().take_reload() {
            let _ = request.send(ReloadAnswer::Skipped(why));
        }
    }

    /// Drives the service for the lifetime of the app; its report is in its unit.
    ///
    /// (An `async` block rather than an `async fn`: the future keeps one copy of the
    /// supervisor, where an `async fn` keeps its arguments and their moved copies, and
    /// this future is most of a service's idle memory.)
    pub(crate) fn supervise(self) -> impl Future<Output = ()> + Send {
        let mut this = self;
        async move {
            this.run_all().await;
            // A removal asked for completes once the supervisor is done (see `added`).
            this.run.unit.set_supervised(false);
            if this.run.app.is_added(&this.run.unit) {
                this.run.app.removal_done(&this.run.unit);
            }
        }
    }

    #[allow(clippy::manual_async_fn)] // see the comment in the body
    fn run_all(&mut self) -> impl Future<Output = ()> + Send + '_ {
        // An `async` block, not an `async fn`: its future keeps `self` once, not twice
        // (8 bytes, which took the idle task one 128-byte step of its allocation over).
        async move {
            // The phases of a start, a restart cycle and the stop are awaited in place:
            // their futures are no larger than the watch's (the size test below keeps
            // them so). The others are boxed.
            let mut step = self.first_start().await;
            loop {
                step = match step {
                    Step::Watch => self.watch().await,
                    Step::Ended(outcome) => self.on_end(outcome).await,
                    Step::Rest => Box::pin(self.rest()).await,
                    Step::Hold => Box::pin(self.hold()).await,
                    Step::Held { along } => Box::pin(self.held(along)).await,
                    Step::Restart => self.restart().await,
                    Step::Backoff(delay) => Box::pin(self.back_off(delay)).await,
                    Step::CoolDown(cooldown) => Box::pin(self.cool_down(cooldown)).await,
                    Step::Reload(request) => Box::pin(self.reload(request)).await,
                    Step::Requested => {
                        self.reset_policy();
                        self.restart().await
                    }
                    Step::Stop => break,
                };
            }
            self.finish().await;
        }
    }

    /// The first initialize, whose outcome `Hassette::start` waits for.
    async fn first_start(&mut self) -> Step {
        let first = self.run.initialize().await;
        let step = after_initialize(&first);
        let retried = matches!(&step, Step::Ended(outcome) if self.retries_first_start(outcome));
        if let Some(started) = self.started.take()
            && started.report(first, retried)
            && let Some(active) = &mut self.run.active
        {
            // This report woke the caller of `start`, which is in this worker's next-task
            // slot: `serve` begins one turn later, so one that never yields cannot trap it.
            active.put_off();
        }
        step
    }

    /// Whether [`on_end`](Self::on_end) will start the service again after its first
    /// start failed with `outcome`: a preview of its [`decide`](policy::decide), for
    /// `Hassette::start`'s error.
    fn retries_first_start(&mut self, outcome: &Outcome) -> bool {
        let unit = self.run.unit.clone();
        let spec = unit.spec();
        let end = Ending {
            restart_type: unit.restart_type(),
            kind: self.kind_after_cleanup(unit.status(), outcome),
            spec: &spec,
            failure: Failure::now(&spec),
            stable: false,
            stopping: self.run.stopping(),
            // A child or not, an exhausted service is not started again.
            child: false,
            critical: unit.critical(),
        };
        let policy = &mut self.policy;
        let decision = unit.with_budget(|window| policy::decide(policy, window, end, false));
        match decision {
            Decision::RestartAfter(_) | Decision::CoolDown(_) => true,
            Decision::Exhaust(_) | Decision::Crash | Decision::Rest => false,
        }
    }

    /// The kind of `outcome` for the decision, once the run is cleaned up (the unit's
    /// `status` then): a serve that crashed meanwhile (the status Crashed) makes it fatal.
    fn kind_after_cleanup(&self, status: Status, outcome: &Outcome) -> OutcomeKind {
        match status {
            Status::Crashed => OutcomeKind::Fatal,
            _ => outcome.kind(self.unit().shim),
        }
    }

    /// Restart = stop the active run (if any) + initialize, on the same value.
    async fn restart(&mut self) -> Step {
        if self.run.active.is_some() {
            self.run.stop_run(true).await;
            self.ended_on_request();
        }
        // A serve that crashed while being stopped, or a shutdown that began meanwhile,
        // ends the restart here: nothing is initialized just to be stopped again.
        if self.unit().status() == Status::Crashed || self.run.stopping() {
            return Step::Rest;
        }
        let result = self.run.initialize().await;
        after_initialize(&result)
    }

    /// Why the doorbell rang, read in order: the app's stop, the group's hold, an
    /// operator's restart (taken here, so its callers know which run is theirs; not
    /// while the app stops). `None` when there was nothing (left) to answer.
    fn answer(&self) -> Option<Step> {
        let unit = self.unit();
        if unit.is_stop_requested() {
            return Some(Step::Stop);
        }
        if unit.take_child_failed()
            && let Some(error) = unit.family().and_then(|family| family.take_escalated())
            && self.run.active.is_some()
            && matches!(unit.status(), Status::Starting | Status::Running)
        {
            let outcome = Outcome::Failed(error);
            self.run.settle("child", &outcome);
            return Some(Step::Ended(outcome));
        }
        let hold = unit.link.as_ref().is_some_and(|link| link.take_hold());
        let step = match hold {
            true => Some(Step::Hold),
            false => {
                (!self.run.app.is_stopping() && unit.take_restart()).then_some(Step::Requested)
            }
        };
        if step.is_some() {
            // The run a pending reload was for is about to end.
            self.skip_reload(ReloadSkipped::Interrupted);
        }
        // One ring may stand for two requests: keep the other one's.
        let more = unit.state().restart_pending()
            || unit
                .link
                .as_ref()
                .is_some_and(|link| link.is_hold_requested());
        if step.is_some() && more {
            unit.ring();
        }
        step
    }

    #[allow(clippy::manual_async_fn)] // see the comment in the body
    fn watch(&mut self) -> impl Future<Output = Step> + Send + '_ {
        // An `async` block, not an `async fn`: its future keeps `self` once (the idle state).
        async move {
            if self.run.active.is_none() {
                return Step::Rest;
            }
            if let Some(limit) = self.run.active.as_ref().and_then(|a| a.ctx().watchdog()) {
                return Box::pin(self.watch_guarded(limit)).await;
            }
            // With `ready = "auto"` a service is ready the moment serve begins; only manual
            // readiness needs the startup deadline's timer, in its own (boxed, short-lived)
            // phase so that the long-lived idle state below stays small.
            if self.unit().spec().ready == ReadyMode::Manual
                && !self.unit().state().is_up()
                && let Some(step) = Box::pin(self.await_manual_ready()).await
            {
                return step;
            }
            let unit = self.run.unit.clone();
            let Some(active) = self.run.active.as_mut() else {
                return Step::Rest;
            };
            tokio::select! {
                biased;
                () = unit.rung() => self.answer_watching(),
                outcome = active.ended(&unit) => self.on_serve_end(outcome),
            }
        }
    }

    /// Why the doorbell rang while the run is watched: [`answer`](Self::answer), else
    /// a reload to run.
    fn answer_watching(&self) -> Step {
        match (self.answer(), self.unit().take_reload()) {
            (Some(step), _) => step,
            (None, Some(request)) => Step::Reload(request),
            (None, None) => Step::Watch,
        }
    }

    /// [`watch`](Self::watch) with a `watchdog`: the run fails once it has been Running
    /// for `limit` since its last heartbeat (or since this watch began, for a run that
    /// has not sent one yet: `serve` begins in this watch's first poll).
    async fn watch_guarded(&mut self, limit: Duration) -> Step {
        let unit = self.run.unit.clone();
        let Some(ctx) = self.run.active.as_ref().map(|active| active.ctx().clone()) else {
            return Step::Rest;
        };
        let beat = match ctx.last_beat() {
            Some(beat) => beat,
            None => ctx.beat_now(),
        };
        let mut due = beat.checked_add(limit);
        loop {
            let Some(active) = self.run.active.as_mut() else {
                return Step::Rest;
            };
            let timer = async {
                match due {
                    Some(due) => sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = unit.rung() => return self.answer_watching(),
                outcome = active.ended(&unit) => return self.on_serve_end(outcome),
                () = timer => {}
            }
            let last = ctx.last_beat().unwrap_or(beat);
            let next = last.checked_add(limit);
            if next.is_some_and(|next| next > Instant::now()) || unit.status() != Status::Running {
                due = match unit.status() {
                    Status::Running => next,
                    _ => Instant::now().checked_add(limit),
                };
                continue;
            }
            let error: SharedError = Arc::new(NoHeartbeat::new(unit.name.clone(), limit));
            tracing::warn!(service = %unit.name, %error, "no heartbeat within the watchdog; the run fails");
            let outcome = Outcome::Failed(error);
            self.run.settle("watchdog", &outcome);
            return Step::Ended(outcome);
        }
    }

    /// Runs `on_reload` next to `serve` and answers `request`: a failure ends the run,
    /// and the policy applies as for a failure of `serve`.
    async fn reload(&mut self, request: ReloadRequest) -> Step {
        let (answer, step) = match self.run.reload().await {
            Ok(None) => (ReloadAnswer::Reloaded, Step::Watch),
            Ok(Some(why)) => (ReloadAnswer::Skipped(why), Step::Watch),
            Err((outcome, error)) => (ReloadAnswer::Failed(error), Step::Ended(outcome)),
        };
        let _ = request.send(answer);
        step
    }

    /// Waits until a `ready = "manual"` service says it is ready, up to its startup
    /// deadline; `None` once it is ready.
    async fn await_manual_ready(&mut self) -> Option<Step> {
        let unit = self.run.unit.clone();
        let spec = unit.spec();
        loop {
            let active = self.run.active.as_mut()?;
            let startup_deadline = active
                .startup_deadline()
                .unwrap_or_else(|| super::driver::deadline_in(spec.startup_timeout));
            tokio::select! {
                biased;
                () = unit.rung() => match self.answer_watching() {
                    Step::Watch => {}
                    step => return Some(step),
                },
                () = unit.wait_for(|now| now.is_up().then_some(())) => return None,
                outcome = active.ended(&unit) => return Some(self.on_serve_end(outcome)),
                () = sleep_until(startup_deadline) => {
                    let error: SharedError = Arc::new(TimedOut { what: "startup", after: spec.startup_timeout });
                    tracing::warn!(service = %unit.name, "not running and ready within the startup timeout");
                    let outcome = Outcome::Failed(error);
                    self.run.settle("startup", &outcome);
                    return Some(Step::Ended(outcome));
                }
            }
        }
    }

    /// Serve ended by itself (not because its run was stopped).
    fn on_serve_end(&mut self, result: Result<(), SharedError>) -> Step {
        let outcome = self.run.classify(result);
        if let Outcome::Failed(_) = &outcome {
            // The policy's delay runs from the failure; known now, it goes on the Failed
            // event (`retry_at`), and `on_end` decides the same, with the same jitter
            // draw, once the run is cleaned up.
            let unit = self.run.unit.clone();
            let spec = unit.spec();
            let failure = Failure::now(&spec);
            self.failure = Some(failure);
            let kind = outcome.kind(unit.shim);
            let end = Ending {
                restart_type: unit.restart_type(),
                kind,
                spec: &spec,
                failure,
                // (Asked only of a failure that may restart.)
                stable: kind == OutcomeKind::Failed && unit.stable_at(failure.at),
                stopping: self.run.stopping(),
                // Only the delay matters here.
                child: false,
                critical: unit.critical(),
            };
            let policy = &mut self.policy;
            if let Decision::RestartAfter(delay) =
                unit.with_budget(|window| policy::decide(policy, window, end, false))
            {
                let at = failure.at.checked_add(delay);
                unit.set_retry_at(Some(
                    at.unwrap_or_else(|| super::driver::deadline_in(delay)),
                ));
            }
        }
        self.run.settle("serve", &outcome);
        match outcome {
            // The service is simply done: the app is shutting down.
            Outcome::Closed(_) => Step::Rest,
            outcome => Step::Ended(outcome),
        }
    }

    /// The policy, once the run has ended: clean up its hooks, then
    /// [`decide`](policy::decide): crash, exhaust, cool down, back off and restart, or
    /// rest.
    #[allow(clippy::manual_async_fn)] // see the comment in the body
    fn on_end(&mut self, outcome: Outcome) -> impl Future<Output = Step> + Send + '_ {
        // An `async` block, not an `async fn`: its future keeps the arguments once, and
        // the waits are steps of their own, so a restart cycle awaits it in place.
        async move {
            self.run.stop_run(false).await;
            self.decide_end(outcome)
        }
    }

    /// [`on_end`](Self::on_end)'s decision, once the run is cleaned up: the next step.
    fn decide_end(&mut self, outcome: Outcome) -> Step {
        let unit = self.run.unit.clone();
        let spec = unit.spec();
        // One look at the state, for the kind and the stability.
        let state = unit.state();
        let kind = self.kind_after_cleanup(state.status, &outcome);
        let stopping = self.run.stopping();
        let clean = kind == OutcomeKind::Clean;
        if kind != OutcomeKind::Fatal && !stopping {
            unit.count_end(clean);
        }
        let restart_type = unit.restart_type();
        let end = Ending {
            restart_type,
            kind,
            spec: &spec,
            // From the failure of `serve` (see `on_serve_end`), else from now.
            failure: self.failure.take().unwrap_or_else(|| Failure::now(&spec)),
            // The run that just ended had been healthy for `stable_after`.
            stable: state.stable(),
            stopping,
            child: restart_type.is_some() && self.run.app.parent_of(&unit).is_some(),
            critical: unit.critical(),
        };
        let policy = &mut self.policy;
        let decision = unit.with_budget(|window| policy::decide(policy, window, end, true));
        let ended_by = match &outcome {
            Outcome::Clean => None,
            Outcome::Closed(error) | Outcome::Fatal(error) | Outcome::Failed(error) => {
                Some(error.clone())
            }
        };
        unit.set_run_context(self.policy.attempt(), ended_by);
        // Only a permanent service is exhausted after a clean return: say so.
        let error = || match outcome {
            Outcome::Clean => unit.exhausted_by_returns(),
            Outcome::Closed(error) | Outcome::Fatal(error) | Outcome::Failed(error) => error,
        };
        match decision {
            Decision::Crash => {
                self.crash_app();
                Step::Rest
            }
            Decision::Rest => Step::Rest,
            Decision::RestartAfter(delay) => {
                tracing::info!(service = %unit.name, ?delay, "restarting after backoff");
                // (No clock read, and no wait, for a zero backoff: a restart cycle reads it
                // often enough.)
                match delay.is_zero() {
                    true => self.restart_in_group(self.restart_at_once()),
                    false => Step::Backoff(delay.saturating_sub(end.failure.at.elapsed())),
                }
            }
            Decision::CoolDown(cooldown) => {
                // Before the event, which carries it.
                unit.set_retry_at(Some(super::driver::deadline_in(cooldown)));
                unit.to_cooling(error());
                Step::CoolDown(cooldown)
            }
            Decision::Exhaust(dead) => self.exhaust(error(), dead),
        }
    }

    /// A restart that the backoff allows: in a group, the group restarts it (with
    /// whatever else its strategy says).
    fn restart_in_group(&self, step: Step) -> Step {
        let unit = self.unit();
        match (step, &unit.link) {
            (Step::Restart, Some(link)) => {
                link.set_waiting(true);
                self.run
                    .app
                    .tell_group(link.group, GroupEvent::Unit(unit.id));
                Step::Held { along: false }
            }
            (step, _) => step,
        }
    }

    /// Waits out what is left of a backoff, then restarts.
    async fn back_off(&mut self, delay: Duration) -> Step {
        let step = self.wait_then_restart(delay).await;
        self.restart_in_group(step)
    }

    /// The budget is spent and a transient service cools down (ExhaustedCooling, set by
    /// `decide_end`), then a fresh budget and a restart (the cycle was counted by
    /// `decide`).
    async fn cool_down(&mut self, cooldown: Duration) -> Step {
        let step = self.wait_then_restart(cooldown).await;
        if matches!(step, Step::Restart) {
            self.reset_policy();
        }
        step
    }

    /// The budget is spent and the service is done for: a permanent one takes the app
    /// down, unless it is a child: a child that was to be restarted fails its parent
    /// instead (see `family`). One that is not critical is ExhaustedDead and nothing
    /// more (a temporary one added at run time is then removed, in `rest`).
    fn exhaust(&mut self, error: SharedError, dead: Dead) -> Step {
        let unit = self.run.unit.clone();
        match dead {
            Dead::CrashApp => {
                unit.to_crashed(error);
                self.crash_app();
            }
            Dead::Dead { escalate } => {
                unit.to_dead(error.clone());
                if escalate {
                    self.run.app.escalate(&unit, error);
                }
            }
        }
        Step::Rest
    }

    /// A restart due at once (a zero backoff, or one that ran out during the cleanup).
    fn restart_at_once(&self) -> Step {
        // The Failed event's `retry_at` may be set (the backoff ran out during the
        // cleanup): it has come, so the snapshot must not keep it.
        self.run.unit.set_retry_at(None);
        if self.run.stopping() {
            return Step::Rest;
        }
        // As in the wait of `wait_then_restart`, the doorbell comes first: an operator's
        // restart asked for during the cleanup (which may outlast the backoff) is this
        // restart. (Its ring's permit stays: the next wait finds nothing left to answer.)
        match self.run.unit.state().restart_pending() {
            true => self.answer().unwrap_or(Step::Restart),
            false => Step::Restart,
        }
    }

    /// Waits out a backoff or cooldown; the app's shutdown interrupts it at once, and an
    /// operator's restart ends it.
    async fn wait_then_restart(&mut self, delay: Duration) -> Step {
        if delay.is_zero() {
            // A zero sleep would still wait for the timer wheel's next tick (about 1ms).
            return self.restart_at_once();
        }
        let unit = self.run.unit.clone();
        let until = super::driver::deadline_in(delay);
        unit.set_retry_at(Some(until));
        let mut sleep = std::pin::pin!(sleep_until(until));
        let step = loop {
            tokio::select! {
                biased;
                () = unit.rung() => match self.answer() {
                    Some(step) => break step,
                    None => self.skip_reload(ReloadSkipped::NotRunning),
                },
                () = self.run.app.stop().begun() => break Step::Rest,
                () = &mut sleep => break Step::Restart,
            }
        };
        unit.set_retry_at(None);
        step
    }

    async fn rest(&mut self) -> Step {
        let unit = self.run.unit.clone();
        if unit.restart_type().is_some_and(policy::removed_once_ended)
            && self.run.app.is_added(&unit)
            && !self.run.stopping()
        {
            // A temporary service added at run time is removed once it has ended, as
            // OTP's temporary children are; the removal rings the doorbell below. One
            // that others depend on stays.
            self.run.app.begin_removal(&unit);
        }
        loop {
            unit.rung().await;
            match self.answer() {
                Some(Step::Stop) => return Step::Stop,
                // Already stopped for good: answer a group restart at once and stay
                // out of it (the group only restarts members that wait for it).
                Some(Step::Hold) => {
                    if let Some(link) = &unit.link {
                        link.acked.notify_one();
                    }
                }
                Some(step) => {
                    self.reset_policy();
                    return step;
                }
                None => self.skip_reload(ReloadSkipped::NotRunning),
            }
        }
    }

    /// A crashed service takes the whole app down.
    fn crash_app(&self) {
        self.run
            .app
            .begin_shutdown(format!("service `{}` crashed", self.unit().name));
    }

    /// The group restarts this service: stop it (Stopping → Stopped), then wait.
    async fn hold(&mut self) -> Step {
        if self.run.active.is_some() {
            self.run.stop_run(true).await;
            self.ended_on_request();
        }
        if let Some(link) = &self.unit().link {
            link.set_waiting(true);
            link.acked.notify_one();
        }
        Step::Held { along: true }
    }

    /// Stopped for the group, until it says to initialize again (in registration order).
    /// An operator's restart asked for meanwhile is answered once the service runs again.
    /// The restart is its own unless `along` (another member failed).
    async fn held(&mut self, along: bool) -> Step {
        let unit = self.run.unit.clone();
        let Some(link) = &unit.link else {
            return Step::Rest;
        };
        let mut deferred = false;
        loop {
            tokio::select! {
                biased;
                () = unit.rung() => match unit.is_stop_requested() {
                    true => return Step::Stop,
                    // Its group gave it up (out of the group's budget, and not critical:
                    // ExhaustedDead): nothing resumes it, so it rests, and the request
                    // (rung again) is answered there.
                    false if !link.is_waiting() => {
                        unit.ring();
                        return Step::Rest;
                    }
                    false => {
                        self.skip_reload(ReloadSkipped::NotRunning);
                        deferred = true;
                    }
                },
                () = link.resume.notified() => {
                    link.set_waiting(false);
                    if along {
                        unit.start_along();
                    }
                    let result = self.run.initialize().await;
                    let step = after_initialize(&result);
                    link.acked.notify_one();
                    if deferred {
                        unit.ring();
                    }
                    return step;
                }
            }
        }
    }

    /// The app's shutdown reached this service: stop the active run, or settle the status
    /// (a service that never reached Running, its start having failed, stays Failed; one
    /// whose start the shutdown came before stays NotStarted).
    async fn finish(&mut self) {
        let began = Instant::now();
        self.skip_reload(match self.run.app.is_stopping() {
            true => ReloadSkipped::ShuttingDown,
            false => ReloadSkipped::Interrupted,
        });
        if self.run.active.is_some() {
            let publish = !self.unit().status().is_terminal();
            self.run.stop_run(publish).await;
        } else {
            let never_ran = !self.unit().state().ran();
            self.unit().to_stopped_at_shutdown(never_ran);
        }
        self.unit().set_stop_took(began.elapsed());
    }
}

/// A failed start was settled Failed (or Crashed, which `on_end` reads from the status).
fn after_initialize(result: &Result<(), StartFailure>) -> Step {
    match result {
        Ok(()) => Step::Watch,
        Err(StartFailure::Interrupted) => Step::Stop,
        Err(failure) => Step::Ended(Outcome::Failed(failure.error())),
    }
}

/// Starts the supervisor task of `unit`; the same code for every service type.
pub(crate) fn launch(
    unit: Arc<Unit>,
    app: SupervisorHandle,
    started: FirstStart,
    wave: &tokio_util::task::TaskTracker,
) -> tokio::task::JoinHandle<()> {
    let scope = unit.clone();
    unit.set_supervised(true);
    let supervise = Supervisor::new(unit, app, started).supervise();
    // The supervisor runs the hooks and `serve`: they belong to the service (see `inside`).
    let name = scope.name().clone();
    super::named::spawn(name, wave.track_future(InService::new(scope, supervise)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future of `supervise`, as its task holds it (`launch`).
    type TaskFuture<R> = tokio_util::task::task_tracker::TrackedFuture<InService<R>>;

    fn task_future_size<R>(_: fn(Supervisor) -> R) -> usize {
        std::mem::size_of::<TaskFuture<R>>()
    }

    /// An idle service's task is most of its memory, and tokio allocates a task in steps
    /// of 128 bytes (its cell is aligned to 128 on x86-64 and aarch64), with 104 bytes of
    /// its own around the future: up to 280 bytes of future it is 384 bytes, one byte
    /// more and it is 512, for every service.
    #[test]
    fn an_idle_supervisor_task_fits_in_three_steps_of_128_bytes() {
        let size = task_future_size(Supervisor::supervise);
        assert!(size <= 280, "the supervisor's task future is {size} bytes");
    }
}
