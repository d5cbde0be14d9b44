//! Metrics of every service through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`): install any recorder and they go there. With feature `health`,
//! [`HealthServer::metrics`](crate::health::HealthServer::metrics) serves them at
//! `/metrics` in the Prometheus text format, through the maintained
//! `metrics-exporter-prometheus` crate, re-exported here as [`PrometheusBuilder`].
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `hassette_restarts_total` | counter | `service` | every initialize after the first |
//! | `hassette_failures_total` | counter | `service`, `kind` | failures: `kind` is `error`, `panic`, `fatal` or `timeout` |
//! | `hassette_status` | gauge | `service`, `status` | 1 for the service's status now, 0 for the others it had |
//! | `hassette_start_seconds` | histogram | `service` | from Starting to Running |
//! | `hassette_stop_seconds` | histogram | `service` | how long each final stop took |
//!
//! ```
//! use hassette_runtime::metrics::PrometheusBuilder;
//! # #[cfg(feature = "health")]
//! # fn f() -> Result<(), Box<dyn std::error::Error>> {
//! // Once per process, before the app starts:
//! let metrics = PrometheusBuilder::new().install_recorder()?;
//! let server = hassette_runtime::health::HealthServer::new(([127, 0, 0, 1], 9000))
//!     .metrics(metrics);
//! # drop(server); Ok(()) }
//! ```

pub use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use std::error::Error;
use std::time::Duration;

use crate::{CutOff, Fatal, Panicked, SharedError, Status, TimedOut};

/// A status change of `service`, with the error that came with it.
pub(crate) fn status_changed(service: &str, from: Status, to: Status, error: Option<&SharedError>) {
    let name = service.to_owned();
    metrics::gauge!("hassette_status", "service" => name.clone(), "status" => from.as_str())
        .set(0.0);
    metrics::gauge!("hassette_status", "service" => name.clone(), "status" => to.as_str()).set(1.0);
    // Every initialize but the first (the report's restart count).
    if to == Status::Starting && from != Status::NotStarted {
        metrics::counter!("hassette_restarts_total", "service" => name.clone()).increment(1);
    }
    // A failure of a run; not the exhaustion that may follow it (Failed -> Crashed).
    let live = matches!(from, Status::Starting | Status::Running | Status::Stopping);
    if let Some(error) = error
        && live
        && matches!(to, Status::Failed | Status::Crashed)
    {
        let kind = kind(&**error, to);
        metrics::counter!("hassette_failures_total", "service" => name, "kind" => kind)
            .increment(1);
    }
}

/// A run reached Running `took` after it began Starting.
pub(crate) fn started(service: &str, took: Duration) {
    metrics::histogram!("hassette_start_seconds", "service" => service.to_owned())
        .record(took.as_secs_f64());
}

/// A final stop took `took`.
pub(crate) fn stopped(service: &str, took: Duration) {
    metrics::histogram!("hassette_stop_seconds", "service" => service.to_owned())
        .record(took.as_secs_f64());
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
