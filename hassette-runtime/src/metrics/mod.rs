//! Metrics of every service through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`): install any recorder and they go there. With feature `health`,
//! [`HealthServer::metrics`](crate::health::HealthServer::metrics) serves them at
//! `/metrics` in the Prometheus text format, through the maintained
//! `metrics-exporter-prometheus` crate, whose [`PrometheusBuilder`] is re-exported here.
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `hassette_restarts_total` | counter | `service` | restarts on its own account: after its own failure or an operator's request |
//! | `hassette_collateral_restarts_total` | counter | `service` | restarts along with its parent (a child) or its group (a member that did not fail) |
//! | `hassette_failures_total` | counter | `service`, `kind` | failures: `kind` is `error`, `panic`, `fatal` or `timeout` |
//! | `hassette_status` | gauge | `service`, `status` | 1 for the service's status now, 0 for the others it had |
//! | `hassette_start_seconds` | histogram | `service` | from Starting to Running |
//! | `hassette_stop_seconds` | histogram | `service` | how long each final stop took |
//!
//! The engine calls no metric itself: each app has a meter that its engine tells of every
//! status change, final stop and removal once it has let go of its locks, so a recorder
//! that is slow, or looks at the app, never holds a service. Each service's
//! `hassette_status` follows its latest status, also when two tasks change it at once
//! and tell their changes in the other order.
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

mod meter;
mod recorder;

pub(crate) use meter::Meter;
pub use recorder::{DURATION_BUCKETS, InstallError, MetricsHandle, install};

use std::sync::Arc;

use metrics::{Key, Label, Level, Metadata};

use crate::Status;

/// Where hassette's updates come from, for recorders that look.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

// Every series of a service, made here and only here: what is updated is what a removal
// forgets.

/// The label shares the unit's name (a reference count, not a copy of the string).
fn service_label(service: &Arc<str>) -> Label {
    Label::new("service", Arc::clone(service))
}

fn status_key(service: &Arc<str>, status: Status) -> Key {
    Key::from_parts(
        "hassette_status",
        vec![
            service_label(service),
            Label::from_static_parts("status", status.as_str()),
        ],
    )
}

fn restarts_key(service: &Arc<str>) -> Key {
    Key::from_parts("hassette_restarts_total", vec![service_label(service)])
}

fn collateral_restarts_key(service: &Arc<str>) -> Key {
    Key::from_parts(
        "hassette_collateral_restarts_total",
        vec![service_label(service)],
    )
}

fn failures_key(service: &Arc<str>, kind: &'static str) -> Key {
    Key::from_parts(
        "hassette_failures_total",
        vec![
            service_label(service),
            Label::from_static_parts("kind", kind),
        ],
    )
}

fn start_key(service: &Arc<str>) -> Key {
    Key::from_parts("hassette_start_seconds", vec![service_label(service)])
}

fn stop_key(service: &Arc<str>) -> Key {
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
