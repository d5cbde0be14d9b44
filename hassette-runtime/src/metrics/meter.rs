//! How the metrics follow one app: a [`Meter`] is the observer of its event bus (the one
//! hook of the engine, see `engine::bus`), told of every status change, final stop and
//! removal outside every lock of the engine. The engine calls no metric itself.
//!
//! Protocol (cited where the code relies on them):
//! - (M1) Counters and histograms are updated for each change as it is told: restarts and
//!   failures are counts and durations are samples, so the order does not matter.
//! - (M2) The status gauge says the latest status. Two tasks changing one service at once
//!   may tell their changes in either order, so each change is placed by its run and by
//!   its status's [`place`] in a run (a run visits each status once, in that order);
//!   `seen` keeps the latest, and a change told after a later one leaves the gauge
//!   alone. The gauge is set under `seen`'s lock, so two changes never mix their writes.
//! - (M3) A start's duration runs from its run's Starting to its Running, at the instants
//!   the changes were made (kept in `seen` meanwhile); one task makes both, in order.
//! - (M4) A removal forgets the service in `seen`, and its series with the recorder made
//!   by `install` (`recorder`'s R2); with any other recorder, its status gauge goes to 0.
//!   Nothing of it is told afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use metrics::Key;
use tokio::time::Instant;

use super::{
    collateral_restarts_key, failures_key, increment, record, recorder, restarts_key, set_gauge,
    start_key, status_key, stop_key,
};
use crate::Status;
use crate::engine::{FailureKind, Observed, Observer};

/// The metrics of one app: turns what its engine tells into metrics (see the module's
/// header).
#[derive(Debug, Default)]
pub(crate) struct Meter {
    /// Every service told of and not removed, by name.
    seen: Mutex<HashMap<Arc<str>, Seen>>,
}

/// What a [`Meter`] knows of one service.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The latest status (M2), and the run it was reached in.
    status: Status,
    run: u64,
    /// When the run that is starting began Starting (M3).
    starting: Option<(u64, Instant)>,
}

impl Seen {
    const NEW: Seen = Seen {
        status: Status::NotStarted,
        run: 0,
        starting: None,
    };
}

impl Observer for Meter {
    fn observe(&self, what: Observed<'_>) {
        match what {
            Observed::Changed {
                service,
                from,
                to,
                failure,
                run,
                along,
                at,
            } => self.changed(service, (from, to), failure, (run, along), at),
            Observed::Stopped { service, took } => {
                record(&stop_key(service), took.as_secs_f64());
            }
            Observed::Removed { service } => self.removed(service),
        }
    }
}

impl Meter {
    fn seen(&self) -> MutexGuard<'_, HashMap<Arc<str>, Seen>> {
        crate::sync::lock(&self.seen)
    }

    /// `service` moved `from` -> `to` in its `run`-th run, at `at`.
    fn changed(
        &self,
        service: &Arc<str>,
        (from, to): (Status, Status),
        failure: Option<FailureKind>,
        (run, along): (u64, bool),
        at: Instant,
    ) {
        // (M1) Every initialize but the first (the report's restart counts): its own, or
        // along with its parent or group.
        if to == Status::Starting && from != Status::NotStarted {
            match along {
                true => increment(&collateral_restarts_key(service)),
                false => increment(&restarts_key(service)),
            }
        }
        // (M1) A failure of a run; not the exhaustion that may follow it (Failed ->
        // Crashed).
        let live = matches!(from, Status::Starting | Status::Running | Status::Stopping);
        if let Some(failure) = failure
            && live
            && matches!(to, Status::Failed | Status::Crashed)
        {
            increment(&failures_key(service, failure.label()));
        }
        let mut seen = self.seen();
        let now = match seen.get_mut(&**service) {
            Some(now) => now,
            None => seen.entry(service.clone()).or_insert(Seen::NEW),
        };
        // (M3)
        match to {
            Status::Starting => now.starting = Some((run, at)),
            Status::Running => {
                if let Some((began_run, began)) = now.starting.take()
                    && began_run == run
                {
                    let took = at.saturating_duration_since(began);
                    record(&start_key(service), took.as_secs_f64());
                }
            }
            _ => {}
        }
        // (M2)
        if (run, place(to)) <= (now.run, place(now.status)) {
            return;
        }
        set_gauge(&status_key(service, now.status), 0.0);
        set_gauge(&status_key(service, to), 1.0);
        (now.status, now.run) = (to, run);
    }

    /// `service` was removed (M4).
    fn removed(&self, service: &Arc<str>) {
        let mut seen = self.seen();
        let last = seen.remove(&**service);
        match recorder::own() {
            Some(own) => {
                let counters: Vec<Key> = [restarts_key(service), collateral_restarts_key(service)]
                    .into_iter()
                    .chain(
                        FailureKind::ALL
                            .iter()
                            .map(|kind| failures_key(service, kind.label())),
                    )
                    .collect();
                let gauges = Status::ALL.map(|status| status_key(service, status));
                own.forget(&counters, &gauges, &[start_key(service), stop_key(service)]);
            }
            None => {
                if let Some(last) = last {
                    set_gauge(&status_key(service, last.status), 0.0);
                }
            }
        }
    }
}

/// Where a status comes in a run: a run (from its Starting to the next Starting) moves
/// only to statuses placed later (M2).
fn place(status: Status) -> u8 {
    match status {
        Status::NotStarted => 0,
        Status::Starting => 1,
        Status::Running => 2,
        Status::Stopping => 3,
        Status::Failed => 4,
        Status::ExhaustedCooling => 5,
        Status::Stopped => 6,
        // After Stopped: a permanent service that is not critical, whose clean returns
        // used up its budget.
        Status::ExhaustedDead => 7,
        Status::Crashed => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::PrometheusBuilder;

    fn change(meter: &Meter, service: &Arc<str>, from: Status, to: Status, run: u64) {
        meter.observe(Observed::Changed {
            service,
            from,
            to,
            failure: None,
            run,
            along: false,
            at: Instant::now(),
        });
    }

    #[test]
    fn a_run_only_moves_to_statuses_placed_later() {
        for from in Status::ALL {
            for to in Status::ALL {
                if from.can_transition_to(to) && to != Status::Starting {
                    assert!(place(from) < place(to), "{from} -> {to}");
                }
            }
        }
    }

    #[test]
    fn a_change_told_after_a_later_one_leaves_the_status_alone() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let meter = Meter::default();
        let db: Arc<str> = "db".into();
        metrics::with_local_recorder(&recorder, || {
            change(&meter, &db, Status::NotStarted, Status::Starting, 1);
            change(&meter, &db, Status::Starting, Status::Running, 1);
            change(&meter, &db, Status::Running, Status::Failed, 1);
            // The app's stop and a group's escalation, told in the other order.
            change(&meter, &db, Status::Stopped, Status::Crashed, 1);
            change(&meter, &db, Status::Failed, Status::Stopped, 1);
        });
        let text = handle.render();
        assert!(
            text.contains("hassette_status{service=\"db\",status=\"crashed\"} 1\n"),
            "{text}"
        );
        let at_one = text
            .lines()
            .filter(|l| l.starts_with("hassette_status") && l.ends_with("} 1"));
        assert_eq!(at_one.count(), 1, "one status at 1: {text}");
    }

    #[test]
    fn a_recorder_installed_otherwise_keeps_the_series_and_the_status_stops_counting() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let meter = Meter::default();
        let conn: Arc<str> = "conn".into();
        metrics::with_local_recorder(&recorder, || {
            change(&meter, &conn, Status::Running, Status::Stopping, 1);
            change(&meter, &conn, Status::Stopping, Status::Stopped, 1);
            meter.observe(Observed::Removed { service: &conn });
        });
        let text = handle.render();
        assert!(
            text.contains("hassette_status{service=\"conn\",status=\"stopped\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("} 1\n"), "{text}");
        assert!(meter.seen().is_empty(), "forgotten");
    }
}
