//! The stop's part of the app state: its signals (has it begun, the shutdown deadline,
//! the cut-off), its records (the first reason, the report, `stuck`, `start_failed`) and
//! the static supervisors it waits for (their join handles and each wave's tracker). The
//! stop's procedure is `shutdown`'s; everyone else only reads the signals
//! ([`StopSignals`], whose setters are [`Stop`]'s).
//!
//! Protocol:
//! - [`Stop::begin`] keeps the first reason only (under `reason`, taken alone), then sets
//!   `shutting_down` and cancels `stopping`, in that order: a hot path that reads the flag
//!   never sees it set before the reason is kept, and nobody wakes on `stopping` before
//!   the flag is set. Only the caller that kept its reason goes on to spawn the stop task.
//! - The static supervisors' join handles are filled by the start ([`Stop::fill_tasks`])
//!   and taken by the stop ([`Stop::take_tasks`]), both under the `tasks` lock (L3 in
//!   `engine`'s order), and the start fills them only while the stop has not begun: a start
//!   and a stop never miss each other.
//! - `hard_deadline` is set once, by the stop, before the first wave is told to stop;
//!   `cut_off` is cancelled once, when that deadline runs out. A wait of a stop ends at
//!   whichever comes first (see `driver::within`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

use super::lock;
use crate::ShutdownReport;

/// The static supervisors' join handles, by unit id.
type Tasks = Vec<Option<JoinHandle<()>>>;

/// The stop's signals, which everyone may read and only the stop sets (its setters are
/// [`Stop`]'s): what a supervisor sees of the stop.
pub(crate) struct StopSignals {
    /// Cancelled when the shutdown begins: backoffs, cooldowns and waits stop at once.
    stopping: CancellationToken,
    /// Set just before `stopping` is cancelled, for the hot paths that only ask whether
    /// the shutdown has begun: a token's `is_cancelled` takes a lock that every service
    /// would share.
    shutting_down: AtomicBool,
    /// When the `shutdown_deadline` runs out: set when the stop begins. Every wait of a
    /// stop ends by then at the latest.
    hard_deadline: OnceLock<Instant>,
    /// Cancelled when the `shutdown_deadline` runs out: every wait of a stop ends at once,
    /// also one that began before the shutdown (a restart's stop in flight) and so could
    /// not know `hard_deadline` when it chose its own.
    cut_off: CancellationToken,
}

impl StopSignals {
    /// Whether the shutdown has begun (without the lock of `stopping.is_cancelled()`).
    pub(crate) fn is_stopping(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Completes when the shutdown begins.
    pub(crate) fn begun(&self) -> WaitForCancellationFuture<'_> {
        self.stopping.cancelled()
    }

    /// When the shutdown deadline runs out, once the stop has begun with one.
    pub(crate) fn hard_deadline(&self) -> Option<Instant> {
        self.hard_deadline.get().copied()
    }

    /// Completes once the shutdown deadline has run out.
    pub(crate) fn cut_off_reached(&self) -> WaitForCancellationFuture<'_> {
        self.cut_off.cancelled()
    }

    /// Whether the shutdown deadline has run out (the token cancelled, or the clock past
    /// it).
    pub(crate) fn is_cut_off(&self) -> bool {
        self.cut_off.is_cancelled()
            || self
                .hard_deadline()
                .is_some_and(|hard| Instant::now() >= hard)
    }
}

/// The stop's signals and records (see the module's header).
pub(crate) struct Stop {
    signals: StopSignals,
    /// Unit ids grouped by dependency depth: wave 0 depends on nothing.
    waves: Vec<Vec<usize>>,
    /// The supervisor tasks of each wave, so the stop waits for a whole wave at once.
    wave_tasks: Vec<TaskTracker>,
    deadline: Option<Duration>,
    tasks: Mutex<Tasks>,
    /// The shutdown's report, once the one stop task (spawned by the first
    /// `begin_shutdown`) has it.
    report: watch::Sender<Option<ShutdownReport>>,
    /// The first shutdown reason; set exactly once, by the call that spawns the stop task.
    reason: Mutex<Option<String>>,
    /// A supervisor was cut off while its thread was held by code that never yields: a
    /// tokio runtime being dropped would wait for that thread forever.
    stuck: AtomicBool,
    /// A start failed that will not be retried, and began the shutdown (see
    /// `Hassette::start_or_stop`): the report is not a success.
    start_failed: AtomicBool,
}

impl Stop {
    /// The stop of an app of `count` static units in `waves`, with its
    /// `shutdown_deadline`.
    pub(super) fn new(waves: Vec<Vec<usize>>, count: usize, deadline: Option<Duration>) -> Self {
        Stop {
            wave_tasks: waves.iter().map(|_| TaskTracker::new()).collect(),
            waves,
            signals: StopSignals {
                stopping: CancellationToken::new(),
                shutting_down: AtomicBool::new(false),
                hard_deadline: OnceLock::new(),
                cut_off: CancellationToken::new(),
            },
            deadline,
            tasks: Mutex::new((0..count).map(|_| None).collect()),
            report: watch::channel(None).0,
            reason: Mutex::new(None),
            stuck: AtomicBool::new(false),
            start_failed: AtomicBool::new(false),
        }
    }

    /// Keeps `reason`, unless the shutdown has begun: whether this call began it (and so
    /// lets the drain run, then [`signal`](Self::signal)s the stop).
    pub(super) fn begin(&self, reason: String) -> bool {
        let mut slot = lock(&self.reason); // (alone)
        if slot.is_some() {
            return false;
        }
        tracing::info!(%reason, "shutting down");
        *slot = Some(reason);
        true
    }

    /// Signals the stop (after the drain, if any): `shutting_down`, then `stopping`.
    pub(super) fn signal(&self) {
        self.signals.shutting_down.store(true, Ordering::Release);
        self.signals.stopping.cancel();
    }

    /// The stop's signals, for those who only read them.
    pub(crate) fn signals(&self) -> &StopSignals {
        &self.signals
    }

    /// The token cancelled when the shutdown begins, for the app's own waits that take
    /// one (dependency waits, the group coordinators).
    pub(super) fn token(&self) -> &CancellationToken {
        &self.signals.stopping
    }

    /// The reason the shutdown began, once it has.
    pub(crate) fn reason(&self) -> Option<String> {
        lock(&self.reason).clone() // (alone)
    }

    /// The stop's report, once it has one.
    pub(super) fn report(&self) -> Option<ShutdownReport> {
        self.report.borrow().clone()
    }

    /// Hands out the stop's report to every waiter.
    pub(super) fn publish(&self, report: ShutdownReport) {
        self.report.send_replace(Some(report));
    }

    /// Waits for the stop task's report (the shutdown must have begun).
    pub(super) async fn wait_report(&self) -> ShutdownReport {
        let mut report = self.report.subscribe();
        match report.wait_for(Option::is_some).await {
            Ok(report) => report.clone().unwrap_or_default(),
            // The sender lives in `self`: it cannot be gone.
            Err(_) => ShutdownReport::default(),
        }
    }

    /// Sets `hard_deadline` from the `shutdown_deadline` (the stop begins): the deadline,
    /// if there is one.
    pub(super) fn arm_deadline(
        &self,
        deadline_in: impl FnOnce(Duration) -> Instant,
    ) -> Option<Instant> {
        if let Some(limit) = self.deadline {
            let _ = self.signals.hard_deadline.set(deadline_in(limit));
        }
        self.signals.hard_deadline()
    }

    /// The shutdown deadline ran out: ends every wait of a stop at once.
    pub(super) fn cut_off(&self) {
        self.signals.cut_off.cancel();
    }

    /// A supervisor was cut off while code that never yields held its thread.
    pub(super) fn set_stuck(&self) {
        self.stuck.store(true, Ordering::Relaxed);
    }

    /// Whether a supervisor was cut off while code that never yields held its thread.
    pub(crate) fn is_stuck(&self) -> bool {
        self.stuck.load(Ordering::Relaxed)
    }

    /// A start failed that will not be retried: the report is not a success.
    pub(super) fn set_start_failed(&self) {
        self.start_failed.store(true, Ordering::Release);
    }

    pub(super) fn start_failed(&self) -> bool {
        self.start_failed.load(Ordering::Acquire)
    }

    /// The dependency waves, wave 0 first.
    pub(super) fn waves(&self) -> &[Vec<usize>] {
        &self.waves
    }

    /// The tracker of wave `index`'s supervisors.
    pub(super) fn wave_tasks(&self, index: usize) -> &TaskTracker {
        &self.wave_tasks[index]
    }

    /// Under the `tasks` lock (L3), unless the stop has begun (then `false`): runs
    /// `first`, then `launch(id, its wave's tracker)` for each static unit in id order,
    /// keeping its join handle for the stop.
    pub(super) fn fill_tasks(
        &self,
        first: impl FnOnce(),
        mut launch: impl FnMut(usize, &TaskTracker) -> JoinHandle<()>,
    ) -> bool {
        let mut tasks = lock(&self.tasks); // (L3)
        if self.signals.is_stopping() {
            return false;
        }
        first();
        let mut wave_of = vec![0; tasks.len()];
        for (wave, ids) in self.waves.iter().enumerate() {
            ids.iter().for_each(|&id| wave_of[id] = wave);
        }
        for (id, slot) in tasks.iter_mut().enumerate() {
            *slot = Some(launch(id, &self.wave_tasks[wave_of[id]]));
        }
        true
    }

    /// Takes the static supervisors' join handles (under (L3)), for the stop.
    pub(super) fn take_tasks(&self) -> Tasks {
        std::mem::take(&mut *lock(&self.tasks)) // (L3)
    }
}
