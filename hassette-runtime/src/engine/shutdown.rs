//! Stopping the app.
//!
//! Protocol:
//! - The first `begin_shutdown` keeps its reason, sets `shutting_down`, cancels
//!   `stopping` (backoffs, cooldowns and dependency waits end at once) and spawns the one
//!   stop task; every other call, and every `shutdown()` future however often it is
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
//!   [`ABORT_GRACE`](super::driver::ABORT_GRACE) to finish before it is cut off.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::driver::{ABORT_GRACE, deadline_in};
use super::lock;
use super::state::AppState;
use super::unit::Unit;
use crate::ShutdownReport;

impl AppState {
    /// The stop's part: takes every added unit's supervisor task (children excepted:
    /// their parents stop them), removals in flight included.
    fn take_added(&self) -> AddedAtStop {
        let mut added = self.registry.added_mut();
        let units = added
            .units
            .values_mut()
            .filter(|e| e.parent.is_none())
            .map(|entry| (entry.unit.clone(), entry.task.take()))
            .collect();
        AddedAtStop { units }
    }

    /// Begins the shutdown for a failed start that will not be retried: its report is
    /// not a success, whatever else began the shutdown first.
    pub(crate) fn begin_shutdown_for_failed_start(self: &Arc<Self>, reason: String) {
        self.start_failed.store(true, Ordering::Release);
        self.begin_shutdown(reason);
    }

    /// Begins the shutdown without waiting for it; the first reason given is kept.
    pub(crate) fn begin_shutdown(self: &Arc<Self>, reason: String) {
        {
            let mut slot = lock(&self.reason); // (alone)
            if slot.is_some() {
                return;
            }
            tracing::info!(%reason, "shutting down");
            *slot = Some(reason);
        }
        self.shutting_down.store(true, Ordering::Release);
        self.stopping.cancel();
        let inner = self.clone();
        super::named::spawn("shutdown", async move {
            let report = inner.clone().stop_all().await;
            inner.report.send_replace(Some(report));
        });
    }

    /// Whether the shutdown has begun (without the lock of `stopping.is_cancelled()`).
    pub(crate) fn is_stopping(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The reason the shutdown began, once it has.
    pub(crate) fn reason(&self) -> Option<String> {
        lock(&self.reason).clone() // (alone)
    }

    /// Waits for the stop task's report (the shutdown must have begun).
    pub(crate) async fn wait_stopped(&self) -> ShutdownReport {
        let mut report = self.report.subscribe();
        match report.wait_for(Option::is_some).await {
            Ok(report) => report.clone().unwrap_or_default(),
            // The sender lives in `self`: it cannot be gone.
            Err(_) => ShutdownReport::default(),
        }
    }

    /// Stops the added units, then the waves in reverse order, each wave's services
    /// concurrently.
    async fn stop_all(self: Arc<Self>) -> ShutdownReport {
        let began = Instant::now();
        if let Some(limit) = self.shutdown_deadline {
            let _ = self.hard_deadline.set(deadline_in(limit));
        }
        let mut tasks = std::mem::take(&mut *lock(&self.tasks)); // (L3)
        // Added units may depend on static ones, never the other way round: they go first.
        let mut added = self.take_added();
        let stop_waves = async {
            self.stop_added(&mut added).await;
            for (index, wave) in self.waves.iter().enumerate().rev() {
                self.stop_wave(index, wave, &mut tasks).await;
            }
        };
        let deadline_exceeded = match self.hard_deadline.get() {
            Some(&deadline) => tokio::time::timeout_at(deadline, stop_waves).await.is_err(),
            None => {
                stop_waves.await;
                false
            }
        };
        if deadline_exceeded {
            self.cut_off_all(&mut tasks, &mut added).await;
        }
        ShutdownReport {
            services: self
                .registry
                .all()
                .iter()
                .map(|unit| unit.report())
                .collect(),
            took: began.elapsed(),
            deadline_exceeded,
            reason: self.reason(),
            start_failed: self.start_failed.load(Ordering::Acquire),
            removed: self.registry.added().removed.clone(),
        }
    }

    /// Stops one wave (number `index`, its ids `wave`) and collects its supervisors.
    async fn stop_wave(&self, index: usize, wave: &[usize], tasks: &mut [Option<JoinHandle<()>>]) {
        // A supervisor that has not finished by the latest its stop can take is held by
        // code that never yields: it will not answer at all. One timer for the wave, at
        // the latest of its services' budgets.
        let budget = wave
            .iter()
            .map(|&id| stop_budget(self.registry.units[id].spec().shutdown_timeout))
            .max()
            .unwrap_or_default();
        let by = deadline_in(budget);
        let last = ring(wave.iter().map(|&id| &self.registry.units[id]));
        self.ring_last(last).await;
        let all = &self.wave_tasks[index];
        all.close();
        let gone = tokio::time::timeout_at(by, all.wait()).await.is_ok();
        for &id in wave {
            if let Some(task) = tasks.get_mut(id) {
                self.collect(&self.registry.units[id], task, gone, budget)
                    .await;
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
        self.cut_off.cancel();
        let last = ring(added.units.iter().map(|(unit, _)| unit));
        self.ring_last(last).await;
        for wave in &self.waves {
            let last = ring(wave.iter().map(|&id| &self.registry.units[id]));
            self.ring_last(last).await;
        }
        let grace = Instant::now() + ABORT_GRACE;
        let statics = tasks
            .iter_mut()
            .enumerate()
            .map(|(id, slot)| (&*self.registry.units[id], slot));
        let added_units = added.units.iter_mut().map(|(unit, slot)| (&**unit, slot));
        for (unit, slot) in added_units.chain(statics) {
            let Some(task) = slot.as_mut() else { continue };
            match tokio::time::timeout_at(grace, &mut *task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => self.lose(unit, &error.to_string()),
                Err(_) => {
                    task.abort();
                    self.stuck.store(true, Ordering::Relaxed);
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
        self.added_tasks.close();
        let gone = tokio::time::timeout_at(by, self.added_tasks.wait())
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
                self.stuck.store(true, Ordering::Relaxed);
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
