//! Metrics of every service through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`): install any recorder and they go there. With feature `health`,
//! [`HealthServer::metrics`](crate::health::HealthServer::metrics) serves them at
//! `/metrics` in the Prometheus text format, through the maintained
//! `metrics-exporter-prometheus` crate, whose [`PrometheusBuilder`] is re-exported here.
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `hassette_restarts_total` | counter | `service` | every initialize after the first |
//! | `hassette_failures_total` | counter | `service`, `kind` | failures: `kind` is `error`, `panic`, `fatal` or `timeout` |
//! | `hassette_status` | gauge | `service`, `status` | 1 for the service's status now, 0 for the others it had |
//! | `hassette_start_seconds` | histogram | `service` | from Starting to Running |
//! | `hassette_stop_seconds` | histogram | `service` | how long each final stop took |
//!
//! # Services that are removed
//!
//! A program that adds a service per connection or device and removes it when done must
//! not keep its series for ever. Install the recorder with [`install`]: every series of
//! a removed service (about 16) is then forgotten, deleted from memory and from the
//! scrape, so the scrape and the memory come back to where they were; a service added
//! later under the same name starts afresh. Your own metrics go through the same
//! recorder, as with `PrometheusBuilder::install_recorder`.
//!
//! ```
//! use hassette_runtime::metrics::{PrometheusBuilder, install};
//! # #[cfg(feature = "health")]
//! # fn f() -> Result<(), Box<dyn std::error::Error>> {
//! // Once per process, before the app starts:
//! let metrics = install(PrometheusBuilder::new())?;
//! let server = hassette_runtime::health::HealthServer::new(([127, 0, 0, 1], 9000))
//!     .metrics(metrics);
//! # drop(server); Ok(()) }
//! ```
//!
//! With a recorder you installed yourself (a `PrometheusBuilder::install_recorder`, or
//! any other), hassette cannot forget: the `metrics` facade has no way to remove a
//! series. A removed service's series then stay in that recorder, unchanging (nothing
//! updates them again), except its `hassette_status`, which is set to 0 so that it no
//! longer counts among the services of any status; each removal leaves them behind, so
//! memory grows with the number of services ever removed. A Prometheus recorder can drop
//! series that no longer change with its `idle_timeout`, at the cost of dropping those
//! of long-lived services that did not change either.

pub use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

mod recorder;

pub use recorder::{DURATION_BUCKETS, InstallError, MetricsHandle, install};

use std::error::Error;
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata};

use crate::{CutOff, Fatal, Panicked, SharedError, Status, TimedOut};

/// Where hassette's updates come from, for recorders that look.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The kinds of `hassette_failures_total`.
const KINDS: [&str; 4] = ["error", "panic", "fatal", "timeout"];

// Every series of a service, made here and only here: what is updated is what a removal
// forgets.

fn service_label(service: &str) -> Label {
    Label::new("service", service.to_owned())
}

fn status_key(service: &str, status: Status) -> Key {
    Key::from_parts(
        "hassette_status",
        vec![
            service_label(service),
            Label::from_static_parts("status", status.as_str()),
        ],
    )
}

fn restarts_key(service: &str) -> Key {
    Key::from_parts("hassette_restarts_total", vec![service_label(service)])
}

fn failures_key(service: &str, kind: &'static str) -> Key {
    Key::from_parts(
        "hassette_failures_total",
        vec![
            service_label(service),
            Label::from_static_parts("kind", kind),
        ],
    )
}

fn start_key(service: &str) -> Key {
    Key::from_parts("hassette_start_seconds", vec![service_label(service)])
}

fn stop_key(service: &str) -> Key {
    Key::from_parts("hassette_stop_seconds", vec![service_label(service)])
}

fn set_gauge(key: &Key, value: f64) {
    metrics::with_recorder(|r| r.register_gauge(key, &METADATA).set(value));
}

fn increment(key: &Key) {
    metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
}

fn record(key: &Key, value: f64) {
    metrics::with_recorder(|r| r.register_histogram(key, &METADATA).record(value));
}

/// A status change of `service`, with the error that came with it.
pub(crate) fn status_changed(service: &str, from: Status, to: Status, error: Option<&SharedError>) {
    set_gauge(&status_key(service, from), 0.0);
    set_gauge(&status_key(service, to), 1.0);
    // Every initialize but the first (the report's restart count).
    if to == Status::Starting && from != Status::NotStarted {
        increment(&restarts_key(service));
    }
    // A failure of a run; not the exhaustion that may follow it (Failed -> Crashed).
    let live = matches!(from, Status::Starting | Status::Running | Status::Stopping);
    if let Some(error) = error
        && live
        && matches!(to, Status::Failed | Status::Crashed)
    {
        increment(&failures_key(service, kind(&**error, to)));
    }
}

/// A run reached Running `took` after it began Starting.
pub(crate) fn started(service: &str, took: Duration) {
    record(&start_key(service), took.as_secs_f64());
}

/// A final stop took `took`.
pub(crate) fn stopped(service: &str, took: Duration) {
    record(&stop_key(service), took.as_secs_f64());
}

/// `service` was removed, in status `last`: its series are forgotten when [`install`]
/// made the recorder; otherwise they stay, and its status gauge is set to 0. Called by
/// the engine outside every lock, once the unit is out of the table.
pub(crate) fn removed(service: &str, last: Status) {
    let Some(own) = recorder::own() else {
        set_gauge(&status_key(service, last), 0.0);
        return;
    };
    let counters: Vec<Key> = std::iter::once(restarts_key(service))
        .chain(KINDS.iter().map(|&kind| failures_key(service, kind)))
        .collect();
    let gauges = Status::ALL.map(|status| status_key(service, status));
    own.forget(&counters, &gauges, &[start_key(service), stop_key(service)]);
}

/// The kind of a failure, found in the error's `source()` chain.
fn kind(error: &(dyn Error + Send + Sync + 'static), to: Status) -> &'static str {
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(e) = next {
        if e.is::<Panicked>() {
            return "panic";
        }
        if e.is::<TimedOut>() || e.is::<CutOff>() {
            return "timeout";
        }
        if e.is::<Fatal>() {
            return "fatal";
        }
        next = e.source();
    }
    match to {
        Status::Crashed => "fatal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::PrometheusBuilder;

    #[test]
    fn a_recorder_installed_otherwise_keeps_the_series_and_the_status_stops_counting() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            status_changed("conn", Status::Running, Status::Stopping, None);
            status_changed("conn", Status::Stopping, Status::Stopped, None);
            removed("conn", Status::Stopped);
        });
        let text = handle.render();
        assert!(
            text.contains("hassette_status{service=\"conn\",status=\"stopped\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("} 1\n"), "{text}");
    }
}
