//! What a unit's report holds besides its status and restarts: its errors, the stop's
//! duration, the budget's window, the returns of `serve` in a row, the restarts along
//! with its parent or group (counted by a move to Starting, inside the state's lock), and
//! the dependency its start waits for (`waiting`). Under its own lock (L5), taken alone
//! or inside the state's (L4).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::super::bus::Observed;
use super::super::lock;
use super::super::policy::RestartWindow;
use super::super::reloads::ReloadRequest;
use super::Unit;
use crate::{KEPT_ERRORS, ReportedError, ServiceReport, SharedError};

/// What a unit's report holds besides its status and restarts.
#[derive(Debug, Default)]
pub(super) struct Record {
    last_error: Option<SharedError>,
    /// The last [`KEPT_ERRORS`].
    errors: VecDeque<ReportedError>,
    error_count: u64,
    aborted: bool,
    stop_took: Duration,
    /// The error of an initialize hook that the shutdown interrupted, until the stop's
    /// event carries it.
    interrupted: Option<SharedError>,
    /// When the next restart comes, during a backoff or a cooldown.
    retry_at: Option<Instant>,
    /// The restarts of the budget's window: its supervisor decides with it, the
    /// snapshot counts it live (see `policy`).
    budget: RestartWindow,
    /// How many runs in a row ended with `serve` returning `Ok` (see `count_end`).
    returned_ok: u32,
    /// How many of its restarts were along with its parent or group (see
    /// `Unit::start_along`).
    collateral_restarts: u64,
    /// The dependency its start waits for now (see `driver::await_dependencies`).
    waiting_on: Option<Arc<str>>,
    /// A reload asked of the supervisor that it has not taken yet (see `reload`).
    reload: Option<ReloadRequest>,
    /// The supervisor runs `on_reload` now: a reload asked for from inside it is
    /// answered at once (see `reload`).
    in_reload: bool,
    /// The next run's restart context: its backoff attempt and the error that ended
    /// the run before it (`ServiceContext::attempt`, `last_error`).
    attempt: u32,
    ended_by: Option<SharedError>,
}

impl Unit {
    /// Changes the record, made at the first write: a service that never failed and has
    /// not stopped yet pays 8 bytes for it.
    fn write_record<R>(&self, change: impl FnOnce(&mut Record) -> R) -> R {
        let mut record = lock(&self.record); // (L5)
        change(record.get_or_insert_with(Box::default))
    }

    /// Changes the record if there is one; makes it first only when `make` (a change
    /// that writes nothing new, such as clearing a flag never set, needs none). One
    /// take of the lock, whichever it is.
    fn change_record<R>(&self, make: bool, change: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let mut record = lock(&self.record); // (L5)
        match (record.as_deref_mut(), make) {
            (Some(record), _) => Some(change(record)),
            (None, true) => Some(change(record.insert(Box::default()))),
            (None, false) => None,
        }
    }

    /// Reads the record (`None`: nothing written yet).
    fn read_record<R>(&self, read: impl FnOnce(Option<&Record>) -> R) -> R {
        let record = lock(&self.record); // (L5)
        read(record.as_deref())
    }

    /// Keeps `error` as the last error without a status change (a child task's panic).
    pub(crate) fn note_error(&self, error: SharedError) {
        self.write_record(|record| record.last_error = Some(error));
    }

    /// Records `error` of `what` (a hook, `serve`, children) for the report.
    pub(in crate::engine) fn record_error(&self, what: &'static str, error: SharedError) {
        self.write_record(|record| {
            if record.errors.len() == KEPT_ERRORS {
                record.errors.pop_front();
            }
            record.errors.push_back(ReportedError { what, error });
            record.error_count += 1;
        });
    }

    /// Whether the last stop had to cut `serve` or children off (a new run clears it, so
    /// an abort during a restart stays only in the errors).
    pub(in crate::engine) fn set_aborted(&self, aborted: bool) {
        self.change_record(aborted, |record| record.aborted = aborted);
    }

    /// A backoff or cooldown that ends at `at` begins (`None`: it is over).
    pub(in crate::engine) fn set_retry_at(&self, at: Option<Instant>) {
        self.change_record(at.is_some(), |record| record.retry_at = at);
    }

    /// When the next restart comes, during a backoff or a cooldown.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.read_record(|r| r.and_then(|r| r.retry_at))
    }

    /// Decides with the budget's window, under the record's lock (for its supervisor
    /// only: see `policy`).
    pub(in crate::engine) fn with_budget<R>(
        &self,
        decide: impl FnOnce(&mut RestartWindow) -> R,
    ) -> R {
        self.write_record(|record| decide(&mut record.budget))
    }

    /// A fresh budget (a cooldown ended, an operator's restart).
    pub(in crate::engine) fn clear_budget(&self) {
        self.change_record(false, |record| {
            if !record.budget.is_empty() {
                record.budget.clear();
            }
        });
    }

    /// The restarts in the budget's window now: those within `budget_period` before
    /// this moment, not as of the last restart decision.
    pub(crate) fn budget_used(&self) -> u32 {
        let period = self.spec().budget_period;
        self.read_record(|r| r.map_or(0, |r| r.budget.live(period, Instant::now())))
    }

    /// A run ended by itself (not by a stop), cleanly or not: counts the returns of
    /// `serve` in a row, for [`exhausted_by_returns`](Self::exhausted_by_returns).
    pub(in crate::engine) fn count_end(&self, clean: bool) {
        self.change_record(clean, |record| {
            record.returned_ok = match clean {
                true => record.returned_ok.saturating_add(1),
                false => 0,
            };
        });
    }

    /// The error a permanent service's budget ran out with, its last run having
    /// returned `Ok` ([`ReturnedOk`](crate::error::ReturnedOk)), kept in the report. When
    /// a budget runs out, `intensity` restarts lie within the `period` before the end
    /// that found it spent: that end and theirs are the `intensity + 1` ends counted.
    pub(in crate::engine) fn exhausted_by_returns(&self) -> SharedError {
        let spec = self.spec();
        let in_a_row = self.read_record(|r| r.map_or(0, |r| r.returned_ok));
        let error: SharedError = Arc::new(crate::error::ReturnedOk {
            in_a_row,
            ends: spec.budget_intensity.saturating_add(1),
            period: spec.budget_period,
        });
        self.record_error("serve", error.clone());
        error
    }

    /// Its start waits for the dependency `name` until the guard returned is dropped.
    pub(in crate::engine) fn waiting_on_for(&self, name: Arc<str>) -> WaitingOn<'_> {
        self.write_record(|record| record.waiting_on = Some(name));
        WaitingOn(self)
    }

    /// The dependency its start waits for now.
    pub(in crate::engine) fn waiting_on(&self) -> Option<Arc<str>> {
        self.read_record(|r| r.and_then(|r| r.waiting_on.clone()))
    }

    /// One more restart along with its parent or group (under the state's lock, L4).
    pub(super) fn count_collateral(&self) {
        self.write_record(|record| record.collateral_restarts += 1);
    }

    /// How many of its restarts were along with its parent or group.
    pub(crate) fn collateral_restarts(&self) -> u64 {
        self.read_record(|r| r.map_or(0, |r| r.collateral_restarts))
    }

    /// Asks the supervisor for a reload (it answers on `request`), replacing one it has
    /// not taken (whose caller then hears that it was interrupted), and rings.
    pub(in crate::engine) fn ask_reload(&self, request: ReloadRequest) {
        let before = self.write_record(|record| record.reload.replace(request));
        drop(before);
        self.ring();
    }

    /// The reload asked for and not taken yet, taken (by the supervisor, or by the
    /// caller that gives up waiting).
    pub(in crate::engine) fn take_reload(&self) -> Option<ReloadRequest> {
        self.change_record(false, |record| record.reload.take())
            .flatten()
    }

    /// The supervisor begins (`true`) or ends `on_reload`.
    pub(in crate::engine) fn set_in_reload(&self, on: bool) {
        self.write_record(|record| record.in_reload = on);
    }

    /// Whether the supervisor runs `on_reload` now.
    pub(in crate::engine) fn in_reload(&self) -> bool {
        self.read_record(|record| record.is_some_and(|r| r.in_reload))
    }

    /// The restart context of the next run: its backoff attempt (0: the first run, or
    /// the first since the count was reset) and the error that ended the run before it.
    pub(in crate::engine) fn set_run_context(&self, attempt: u32, ended_by: Option<SharedError>) {
        let before = {
            let mut record = lock(&self.record); // (L5)
            // Nothing written yet and nothing to write: no record.
            if record.is_none() && attempt == 0 && ended_by.is_none() {
                return;
            }
            let record = record.get_or_insert_with(Box::default);
            record.attempt = attempt;
            std::mem::replace(&mut record.ended_by, ended_by)
        };
        // An error's drop is the service's code: outside the lock.
        drop(before);
    }

    /// A fresh attempt count for the next run (its error stays).
    pub(in crate::engine) fn reset_attempt(&self) {
        if let Some(record) = lock(&self.record).as_deref_mut() {
            record.attempt = 0; // (L5)
        }
    }

    /// What [`set_run_context`](Self::set_run_context) set.
    pub(crate) fn run_context(&self) -> (u32, Option<SharedError>) {
        self.read_record(|r| r.map_or((0, None), |r| (r.attempt, r.ended_by.clone())))
    }

    /// Keeps the error of an initialize hook that the shutdown interrupted, for the stop.
    pub(in crate::engine) fn keep_interrupted(&self, error: SharedError) {
        self.write_record(|record| record.interrupted = Some(error));
    }

    /// The error [`keep_interrupted`](Self::keep_interrupted) kept, taken.
    pub(in crate::engine) fn take_interrupted(&self) -> Option<SharedError> {
        self.change_record(false, |record| record.interrupted.take())
            .flatten()
    }

    /// How long the final stop took: in the state (no record needed) unless it took
    /// longer than `u32::MAX` microseconds (71 minutes).
    pub(in crate::engine) fn set_stop_took(&self, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.update(|state| {
            state.stop_took_us = micros;
            false
        });
        if micros == u32::MAX {
            self.write_record(|record| record.stop_took = took);
        }
        self.events.observe(|| Observed::Stopped {
            service: &self.name,
            took,
        });
    }

    /// The last error that came with a status change (or a child's panic).
    pub(crate) fn last_error(&self) -> Option<SharedError> {
        self.read_record(|record| record.and_then(|r| r.last_error.clone()))
    }

    /// The unit's report, as it stands.
    pub(crate) fn report(&self) -> ServiceReport {
        let state = self.state();
        let mut report = ServiceReport::new(self.name.clone());
        report.status = state.status;
        report.critical = self.critical();
        report.stop_took = Duration::from_micros(u64::from(state.stop_took_us));
        self.read_record(|record| {
            if let Some(record) = record {
                report.errors = record.errors.iter().cloned().collect();
                report.error_count = record.error_count;
                report.aborted = record.aborted;
                report.collateral_restarts = record.collateral_restarts;
                if state.stop_took_us == u32::MAX {
                    report.stop_took = record.stop_took;
                }
            }
        });
        let all = state.generation.saturating_sub(1);
        report.restarts = all.saturating_sub(report.collateral_restarts);
        report
    }
}

/// Clears what a unit's start waits for when dropped (see [`Unit::waiting_on_for`]).
pub(crate) struct WaitingOn<'a>(&'a Unit);

impl Drop for WaitingOn<'_> {
    fn drop(&mut self) {
        self.0.write_record(|record| record.waiting_on = None);
    }
}
