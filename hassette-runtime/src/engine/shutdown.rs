//! Stopping the app: the stop's procedure. Its signals and records (`stopping`,
//! `shutting_down`, the reason, the report, `tasks`, `hard_deadline`, `cut_off`, `stuck`,
//! `start_failed`) are the app state's `stop::Stop` part, read and set through its
//! methods; the added units' supervisors are the unit table's (`registry`).
//!
//! Protocol:
//! - The first `begin_shutdown` keeps its reason, lets the drain run (see `drain`), then
//!   sets `shutting_down`, cancels `stopping` (backoffs, cooldowns and dependency waits
//!   end at once) and spawns the one stop task; every other call, and every `shutdown()` future however often it is
//!   dropped and called again, only waits for that task's report in the `report` watch.
//! - The stop task takes the supervisors' join handles (under the `tasks` lock that
//!   `launch_all` fills while the shutdown has not begun, so a start and a stop never miss
//!   each other) and stops the waves in reverse dependency order: it rings each unit of a
//!   wave (`Unit::request_stop`, see `ring` for where from) and waits for the wave's
//!   tracker, one wake-up per wave.
//! - The units added while the app runs are stopped first, as one wave (they may depend
//!   on static units, never the reverse); the stop takes them from the registry after
//!   `shutting_down` is set, so none added later is missed (see `added`), removals in
//!   flight included (their supervisors complete them as they end).
//! - Every unit's report is read from the unit when the stop ends: a supervisor that is
//!   lost loses nothing but its last words, which `lose` adds.
//! - What a supervisor cannot do is answer while code that never yields holds its thread
//!   (a busy `serve` runs inside its task). So each wave is waited for at most the
//!   longest stop its services may take ([`stop_budget`]); a supervisor still running
//!   then is cut off: aborted (for when it yields again), its run cancelled from here (a
//!   blocked `serve` that checks `ctx.is_cancelled()` between blocking calls ends, and
//!   gives its thread back), reported Stopped and `aborted`, and the app is flagged
//!   `stuck` so `run_until_signal` exits without waiting for it.
//! - With a `shutdown_deadline`, `hard_deadline` is set before the first wave is told to
//!   stop, and every wait of a supervisor's stop ends by then: a wait that began later
//!   takes it into its own deadline, and one that began before it (a restart's stop in
//!   flight) ends when `cut_off` is cancelled, as the deadline runs out. Then every wave
//!   not reached yet is told to stop too, and each supervisor gets
//!   [`ABORT_GRACE`] to finish before it is cut off.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::WaitForCancellationFuture;

use super::driver::{ABORT_GRACE, deadline_in};
use super::state::AppState;
use super::unit::Unit;
use crate::ShutdownReport;

impl AppState {
    /// The stop's part: takes every added unit's supervisor task (children excepted:
    /// their parents stop them), removals in flight included.
    fn take_added(&self) -> AddedAtStop {
        let units = self.registry().added_mut().take_top_level(); // (L2)
        AddedAtStop { units }
    }

    /// Begins the shutdown for a failed start that will not be retried: its report is
    /// not a success, whatever else began the shutdown first.
    pub(crate) fn begin_shutdown_for_failed_start(self: &Arc<Self>, reason: String) {
        self.stop_state().set_start_failed();
        self.begin_shutdown(reason);
    }

    /// Begins the shutdown without waiting for it; the first reason given is kept.
    pub(crate) fn begin_shutdown(self: &Arc<Self>, reason: String) {
        if !self.stop_state().begin(reason) {
            return;
        }
        // The drain comes first, when there is one (see `drain`).
        let Some(period) = self.begin_drain() else {
            self.begin_stop();
            return;
        };
        let inner = self.clone();
        super::named::spawn("drain", async move {
            inner.drain().wait(period).await;
            inner.begin_stop();
        });
    }

    /// (D1, D2 of `drain`) Marks the shutdown begun, and returns the drain the stop waits
    /// for first, `None` when there is none: only an app that is up drains (its start has
    /// ended, and not in a failure that ends the app, a crash during the start included).
    fn begin_drain(&self) -> Option<Duration> {
        let up = match &*self.start_state().subscribe().borrow() {
            Some(Ok(())) => true,
            Some(Err(error)) => !error.ends_the_app(),
            None => false,
        };
        self.drain().begin(up && !self.stop_state().start_failed())
    }

    /// Sets `shutting_down`, cancels `stopping` and spawns the one stop task.
    fn begin_stop(self: &Arc<Self>) {
        self.stop_state().signal();
        let inner = self.clone();
        super::named::spawn("shutdown", async move {
            let report = inner.clone().stop_all().await;
            inner.stop_state().publish(report);
        });
    }

    /// Begins the shutdown and waits for its report; from inside a service, only until
    /// the stop reaches it or one of its ancestors (see `state`'s header).
    pub(crate) async fn shutdown(self: &Arc<Self>, reason: String) -> ShutdownReport {
        self.begin_shutdown(reason);
        let lineage = super::inside::lineage(self.registry());
        if !lineage.is_empty() {
            // The stop has reached the caller once its wave is told to stop, or once it has
            // reached one of its ancestors, whose stop stops it (and may first wait for
            // what the caller does now: its own start, say, which a parent's
            // `add_child` awaits).
            let reached = lineage.iter().map(|unit| Box::pin(unit.stop_reached()));
            futures_util::future::select_all(reached).await;
            return self
                .stop_state()
                .report()
                .unwrap_or_else(|| ShutdownReport {
                    reason: self.reason(),
                    ..ShutdownReport::default()
                });
        }
        self.wait_stopped().await
    }

    /// Whether the shutdown has begun (see `stop::Stop::is_stopping`).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stop_state().signals().is_stopping()
    }

    /// Completes when the shutdown begins, at the start of the drain.
    pub(crate) fn shutdown_begun(&self) -> WaitForCancellationFuture<'_> {
        self.drain().begun()
    }

    /// Whether the shutdown has begun (the drain included).
    pub(crate) fn has_shutdown_begun(&self) -> bool {
        self.drain().has_begun()
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
        self.drain().skip();
        true
    }

    /// Whether a supervisor was cut off while code that never yields held its thread.
    pub(crate) fn is_stuck(&self) -> bool {
        self.stop_state().is_stuck()
    }

    /// The reason the shutdown began, once it has.
    pub(crate) fn reason(&self) -> Option<String> {
        self.stop_state().reason()
    }

    /// Waits for the stop task's report (the shutdown must have begun).
    pub(crate) async fn wait_stopped(&self) -> ShutdownReport {
        self.stop_state().wait_report().await
    }

    /// Stops the added units, then the waves in reverse order, each wave's services
    /// concurrently.
    async fn stop_all(self: Arc<Self>) -> ShutdownReport {
        let began = Instant::now();
        let stop = self.stop_state();
        let hard_deadline = stop.arm_deadline(deadline_in);
        let mut tasks = stop.take_tasks(); // (L3)
        // Added units may depend on static ones, never the other way round: they go first.
        let mut added = self.take_added();
        let stop_waves = async {
            self.stop_added(&mut added).await;
            for (index, wave) in stop.waves().iter().enumerate().rev() {
                self.stop_wave(index, wave, &mut tasks).await;
            }
        };
        let deadline_exceeded = match hard_deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, stop_waves).await.is_err(),
            None => {
                stop_waves.await;
                false
            }
        };
        if deadline_exceeded {
            self.cut_off_all(&mut tasks, &mut added).await;
        }
        let services: Vec<_> = (self.registry().all().iter())
            .map(|unit| unit.report())
            .collect();
        ShutdownReport {
            degraded: services.iter().any(crate::ServiceReport::degrades),
            services,
            took: began.elapsed(),
            deadline_exceeded,
            reason: self.reason(),
            start_failed: stop.start_failed(),
            removed: self.registry().added().removed().clone(),
        }
    }

    /// Stops one wave (number `index`, its ids `wave`) and collects its supervisors.
    async fn stop_wave(&self, index: usize, wave: &[usize], tasks: &mut [Option<JoinHandle<()>>]) {
        // A supervisor that has not finished by the latest its stop can take is held by
        // code that never yields: it will not answer at all. One timer for the wave, at
        // the latest of its services' budgets.
        let units = self.registry().statics();
        let budget = wave
            .iter()
            .map(|&id| stop_budget(units[id].spec().shutdown_timeout))
            .max()
            .unwrap_or_default();
        let by = deadline_in(budget);
        let last = ring(wave.iter().map(|&id| &units[id]));
        self.ring_last(last).await;
        let all = self.stop_state().wave_tasks(index);
        all.close();
        let gone = tokio::time::timeout_at(by, all.wait()).await.is_ok();
        for &id in wave {
            if let Some(task) = tasks.get_mut(id) {
                self.collect(&units[id], task, gone, budget).await;
            }
        }
    }

    /// The shutdown deadline ran out: every service still running is told to stop and
    /// given `ABORT_GRACE`, then its supervisor is aborted and the app flagged `stuck`.
    async fn cut_off_all(&self, tasks: &mut [Option<JoinHandle<()>>], added: &mut AddedAtStop) {
        tracing::error!("the shutdown deadline ran out; cutting off every service still running");
        // A stop already under way when the shutdown began (a restart's, a failed run's
        // clean-up, a group's hold) chose its deadlines without this one: cut it off too,
        // or its supervisor would look stuck (see `driver::within`).
        self.stop_state().cut_off();
        let units = self.registry().statics();
        let last = ring(added.units.iter().map(|(unit, _)| unit));
        self.ring_last(last).await;
        for wave in self.stop_state().waves() {
            let last = ring(wave.iter().map(|&id| &units[id]));
            self.ring_last(last).await;
        }
        let grace = Instant::now() + ABORT_GRACE;
        let statics = tasks
            .iter_mut()
            .enumerate()
            .map(|(id, slot)| (&*units[id], slot));
        let added_units = added.units.iter_mut().map(|(unit, slot)| (&**unit, slot));
        for (unit, slot) in added_units.chain(statics) {
            let Some(task) = slot.as_mut() else { continue };
            match tokio::time::timeout_at(grace, &mut *task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => self.lose(unit, &error.to_string()),
                Err(_) => {
                    task.abort();
                    self.stop_state().set_stuck();
                    self.lose(unit, "shutdown deadline exceeded");
                }
            }
            *slot = None;
        }
    }

    /// Stops every added unit at once, as one wave.
    async fn stop_added(&self, added: &mut AddedAtStop) {
        if added.units.is_empty() {
            return;
        }
        let budget = added
            .units
            .iter()
            .map(|(unit, _)| stop_budget(unit.spec().shutdown_timeout))
            .max()
            .unwrap_or_default();
        let by = deadline_in(budget);
        let last = ring(added.units.iter().map(|(unit, _)| unit));
        self.ring_last(last).await;
        let added_tasks = self.registry().supervisors(false);
        added_tasks.close();
        let gone = tokio::time::timeout_at(by, added_tasks.wait())
            .await
            .is_ok();
        for (unit, task) in &mut added.units {
            self.collect(unit, task, gone, budget).await;
        }
    }

    /// Takes the output of a unit's supervisor task once its wave was waited for
    /// (`gone`: every task of the wave has ended), or cuts it off.
    async fn collect(
        &self,
        unit: &Unit,
        slot: &mut Option<JoinHandle<()>>,
        gone: bool,
        budget: Duration,
    ) {
        let Some(mut task) = slot.take() else {
            return;
        };
        let ended = match (&mut task).now_or_never() {
            Some(output) => Some(output),
            // Done, its output not yet handed over: take it.
            None if gone => Some((&mut task).await),
            None => None,
        };
        self.settle_task(unit, &mut task, ended, budget);
    }

    /// What became of a supervisor task waited for at most `budget`: `ended` is its
    /// output, `None` when it had not ended by then (it is cut off).
    pub(super) fn settle_task(
        &self,
        unit: &Unit,
        task: &mut JoinHandle<()>,
        ended: Option<Result<(), JoinError>>,
        budget: Duration,
    ) {
        match ended {
            Some(Ok(())) => return,
            Some(Err(error)) => self.lose(unit, &error.to_string()),
            None => {
                task.abort();
                self.stop_state().set_stuck();
                self.lose(
                    unit,
                    &format!(
                        "its stop did not finish within {budget:?}: code that never awaits holds its thread"
                    ),
                );
            }
        }
        // A lost supervisor cannot complete its unit's removal: done here.
        self.removal_done(unit);
    }

    /// Rings the last doorbell of a wave (see [`ring`]): on a multi-thread runtime from
    /// a blocking-pool thread, so it goes through the shared queue and wakes a parked
    /// worker. Without that, a stop hook that blocks its thread could hold the only
    /// worker that is awake (the one ringing, which runs the last supervisor it woke
    /// first), while the parked one never learns that it has to take over the timers and
    /// signals the rest of the stop needs.
    async fn ring_last(&self, last: Option<Arc<Unit>>) {
        let Some(last) = last else {
            return;
        };
        let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
        if multi_thread {
            let remote = last.clone();
            if tokio::task::spawn_blocking(move || remote.request_stop())
                .await
                .is_ok()
            {
                return;
            }
        }
        last.request_stop();
    }

    /// A unit whose supervisor did not finish: it is cut off, its run cancelled, flagged
    /// `aborted`, and ends Stopped unless it had already ended. Its report, kept in the unit, loses
    /// nothing else.
    pub(super) fn lose(&self, unit: &Unit, why: &str) {
        tracing::error!(service = %unit.name, %why, "service did not finish its stop");
        // Its own stop, which cancels the run, cannot run while its task is held.
        unit.cancel_run();
        let error: crate::SharedError = Arc::new(std::io::Error::other(why.to_owned()));
        unit.to_stopped_lost(error.clone());
        unit.set_aborted(true);
        unit.record_error("supervisor", error);
    }
}

/// Tells one wave to stop, each unit's stop flag and doorbell, all but the last, which
/// it returns for [`AppState::ring_last`].
///
/// They are rung from this task's worker, so the supervisors go into its local queue
/// (other workers steal from it) rather than one by one through the runtime's shared
/// queue, where each wake-up from outside takes its lock and may wake a parked worker:
/// ten times slower for a large wave.
fn ring<'a>(wave: impl IntoIterator<Item = &'a Arc<Unit>>) -> Option<Arc<Unit>> {
    let mut wave = wave.into_iter().peekable();
    while let Some(unit) = wave.next() {
        if wave.peek().is_none() {
            return Some(unit.clone());
        }
        unit.request_stop();
    }
    None
}

/// The added units the stop stops.
#[derive(Debug, Default)]
struct AddedAtStop {
    units: Vec<(Arc<Unit>, Option<JoinHandle<()>>)>,
}

/// The longest a supervisor's stop can take once its wave is told to stop, with every
/// wait running to its bound: an initialize hook the stop interrupts, `before_shutdown`,
/// `serve`, the children (and their grace), `on_shutdown` and `after_shutdown`, each
/// bounded by `shutdown_timeout`; plus a second for the scheduler.
pub(super) fn stop_budget(shutdown_timeout: Duration) -> Duration {
    shutdown_timeout
        .saturating_mul(6)
        .saturating_add(ABORT_GRACE)
        .saturating_add(Duration::from_secs(1))
}
