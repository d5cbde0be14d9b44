//! The recorder [`install`] puts in place: a Prometheus recorder in which hassette's own
//! series live apart, so that those of a removed service can be forgotten.
//!
//! Protocol (cited where the code relies on them):
//! - (R1) A metric whose name begins with `hassette_` is registered in [`Own`]'s
//!   registry (`metrics-util`'s, sharded, with atomic handles); every other metric goes to
//!   the Prometheus recorder, untouched. hassette holds no handle: it looks its series up
//!   at every update, through the `metrics` facade.
//! - (R2) When a unit is removed, its series are deleted from [`Own`] by their keys (the
//!   `metrics` module makes them, in one place): their memory is freed and the next
//!   scrape does not show them. The unit is gone, so nothing updates them again; a unit
//!   added later under the same name starts new series.
//! - (R3) [`MetricsHandle::render`] writes the Prometheus recorder's exposition, then
//!   [`Own`]'s families, each line through the exporter's own `formatting` helpers (names,
//!   labels and values escaped as the exporter escapes them).
//! - (R4) `OWN` is set once per process, by the `install` that set the global recorder.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use indexmap::IndexMap;
use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use metrics_exporter_prometheus::formatting::{
    sanitize_metric_name, write_metric_line, write_type_line,
};
use metrics_exporter_prometheus::{
    LabelSet, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use metrics_util::registry::{Registry, Storage};

/// hassette's own series, once [`install`] has installed its recorder (R4).
static OWN: OnceLock<Arc<Own>> = OnceLock::new();

/// The prefix of hassette's own metrics (R1).
const OWN_PREFIX: &str = "hassette_";

/// The upper bounds, in seconds, of the buckets of hassette's duration histograms
/// (`hassette_start_seconds`, `hassette_stop_seconds`) in a recorder made by [`install`].
///
/// ```
/// assert_eq!(hassette_runtime::metrics::DURATION_BUCKETS[0], 0.001);
/// ```
pub const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process's metrics recorder: a Prometheus recorder built from `builder`,
/// in which the series of a service are forgotten (deleted, memory and all) when the
/// service is removed. Call it once, before the app starts; serve what it returns with
/// [`HealthServer::metrics`](crate::health::HealthServer::metrics) (feature `health`), or
/// render it yourself.
///
/// Every metric goes through it: yours are the `builder`'s, as with
/// `PrometheusBuilder::install_recorder`; hassette's own (`hassette_*`) are kept apart, so
/// that they can be forgotten, and their durations are histograms with the buckets of
/// [`DURATION_BUCKETS`]. As with `install_recorder`, no task runs the recorder's upkeep:
/// a scrape does it, or call [`MetricsHandle::run_upkeep`] now and then if you record
/// histograms of your own and nobody scrapes.
///
/// # Errors
///
/// [`InstallError::RecorderTaken`] when a recorder was installed in this process before.
///
/// ```
/// use hassette_runtime::metrics::{PrometheusBuilder, install};
///
/// let metrics = install(PrometheusBuilder::new())?;
/// metrics::counter!("jobs_total").increment(1); // yours, next to hassette's
/// assert!(metrics.render().contains("jobs_total 1"));
/// assert!(install(PrometheusBuilder::new()).is_err(), "one recorder per process");
/// # Ok::<(), hassette_runtime::metrics::InstallError>(())
/// ```
pub fn install(builder: PrometheusBuilder) -> Result<MetricsHandle, InstallError> {
    let prometheus = builder.build_recorder();
    let handle = prometheus.handle();
    let own = Arc::new(Own::new());
    metrics::set_global_recorder(Recorder {
        prometheus,
        own: own.clone(),
    })
    .map_err(|_| InstallError::RecorderTaken)?;
    // (R4): only the install that set the global recorder gets here.
    let _ = OWN.set(own.clone());
    Ok(MetricsHandle {
        prometheus: handle,
        own: Some(own),
    })
}

/// [`install`] could not install its recorder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// A recorder is installed in this process already.
    #[error(
        "cannot install hassette's metrics recorder: this process has a recorder already; install one recorder, once, before the app starts"
    )]
    RecorderTaken,
}

/// What `/metrics` renders: the recorder [`install`] made (every series, and those of a
/// removed service forgotten), or a `PrometheusHandle` of a recorder installed otherwise
/// (every series it has; those of removed services stay, see [the module](super)).
///
/// ```
/// use hassette_runtime::metrics::{MetricsHandle, PrometheusBuilder};
///
/// let recorder = PrometheusBuilder::new().build_recorder();
/// let handle = MetricsHandle::from(recorder.handle());
/// assert_eq!(handle.render(), "");
/// ```
#[derive(Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
    /// hassette's own series, with a recorder made by [`install`].
    own: Option<Arc<Own>>,
}

impl MetricsHandle {
    /// Every series, in the Prometheus text format (R3).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = self.prometheus.render();
        if let Some(own) = &self.own {
            own.render(&mut out);
        }
        out
    }

    /// The Prometheus recorder's upkeep (`PrometheusHandle::run_upkeep`): drains the
    /// samples of your own histograms, which a scrape does too.
    pub fn run_upkeep(&self) {
        self.prometheus.run_upkeep();
    }
}

impl From<PrometheusHandle> for MetricsHandle {
    fn from(prometheus: PrometheusHandle) -> Self {
        MetricsHandle {
            prometheus,
            own: None,
        }
    }
}

impl fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("forgets_removed_services", &self.own.is_some())
            .finish_non_exhaustive()
    }
}

/// hassette's own series, when [`install`] installed the recorder (R4).
pub(super) fn own() -> Option<&'static Own> {
    OWN.get().map(|own| &**own)
}

/// The global recorder [`install`] sets.
struct Recorder {
    prometheus: PrometheusRecorder,
    own: Arc<Own>,
}

/// Whether `key` is one of hassette's own (R1).
fn is_own(key: &Key) -> bool {
    key.name().starts_with(OWN_PREFIX)
}

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if !is_own(key) {
            return self.prometheus.register_counter(key, metadata);
        }
        self.own
            .series
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if !is_own(key) {
            return self.prometheus.register_gauge(key, metadata);
        }
        self.own
            .series
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if !is_own(key) {
            return self.prometheus.register_histogram(key, metadata);
        }
        self.own
            .series
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// hassette's own series (R1).
pub(super) struct Own {
    series: Registry<Key, OwnStorage>,
}

impl Own {
    fn new() -> Self {
        Own {
            series: Registry::new(OwnStorage),
        }
    }

    /// Deletes these series: their memory is freed and no scrape shows them again (R2).
    pub(super) fn forget(&self, counters: &[Key], gauges: &[Key], histograms: &[Key]) {
        for key in counters {
            self.series.delete_counter(key);
        }
        for key in gauges {
            self.series.delete_gauge(key);
        }
        for key in histograms {
            self.series.delete_histogram(key);
        }
    }

    /// Appends every family in the Prometheus text format (R3).
    fn render(&self, out: &mut String) {
        let mut counters = Vec::new();
        self.series
            .visit_counters(|key, c| counters.push((key.clone(), c.load(Ordering::Acquire))));
        family(out, "counter", counters, |out, name, labels, value| {
            write_metric_line::<&str, u64>(out, name, None, labels, None, *value, None);
        });
        let mut gauges = Vec::new();
        self.series.visit_gauges(|key, g| {
            gauges.push((key.clone(), f64::from_bits(g.load(Ordering::Acquire))));
        });
        family(out, "gauge", gauges, |out, name, labels, value| {
            write_metric_line::<&str, f64>(out, name, None, labels, None, *value, None);
        });
        let mut histograms = Vec::new();
        self.series
            .visit_histograms(|key, h| histograms.push((key.clone(), h.snapshot())));
        family(out, "histogram", histograms, |out, name, labels, h| {
            for (bound, count) in DURATION_BUCKETS.iter().zip(h.buckets) {
                let le = Some(("le", bound));
                write_metric_line(out, name, Some("bucket"), labels, le, count, None);
            }
            let le = Some(("le", "+Inf"));
            write_metric_line(out, name, Some("bucket"), labels, le, h.count, None);
            write_metric_line::<&str, f64>(out, name, Some("sum"), labels, None, h.sum, None);
            write_metric_line::<&str, u64>(out, name, Some("count"), labels, None, h.count, None);
        });
    }
}

impl fmt::Debug for Own {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Own").finish_non_exhaustive()
    }
}

/// Writes the families of one kind, each under its `# TYPE` line, one `line` a series.
fn family<V>(
    out: &mut String,
    kind: &str,
    mut series: Vec<(Key, V)>,
    mut line: impl FnMut(&mut String, &str, &LabelSet, &V),
) {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let no_global_labels = IndexMap::new();
    let mut current: Option<String> = None;
    for (key, value) in &series {
        let name = sanitize_metric_name(key.name());
        if current.as_deref() != Some(name.as_str()) {
            if current.is_some() {
                out.push('\n');
            }
            write_type_line(out, &name, None, None, kind);
            current = Some(name.clone());
        }
        line(
            out,
            &name,
            &LabelSet::from_key_and_global(key, &no_global_labels),
            value,
        );
    }
    if current.is_some() {
        out.push('\n');
    }
}

/// How [`Own`] stores a series: atomics for counters and gauges, and [`Buckets`] for
/// histograms (recorded into their buckets at once, so no sample waits for an upkeep).
struct OwnStorage;

impl Storage<Key> for OwnStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<Buckets>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::new(AtomicU64::new(0))
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::new(AtomicU64::new(0))
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::new(Buckets::default())
    }
}

/// A histogram over [`DURATION_BUCKETS`].
#[derive(Default)]
struct Buckets(Mutex<BucketCounts>);

/// The counts of a [`Buckets`]: per bucket (cumulative, as Prometheus has them), in all,
/// and the sum of the samples.
#[derive(Default, Clone, Copy)]
struct BucketCounts {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Buckets {
    fn snapshot(&self) -> BucketCounts {
        *crate::sync::lock(&self.0)
    }
}

impl HistogramFn for Buckets {
    fn record(&self, value: f64) {
        let mut counts = crate::sync::lock(&self.0);
        counts.count += 1;
        counts.sum += value;
        for (bound, bucket) in DURATION_BUCKETS.iter().zip(&mut counts.buckets) {
            if value <= *bound {
                *bucket += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::Status;
    use crate::engine::{Observed, Observer};
    use crate::metrics::Meter;

    #[test]
    fn own_series_render_as_prometheus_text_and_are_forgotten_by_key() {
        let recorder = Recorder {
            prometheus: PrometheusBuilder::new().build_recorder(),
            own: Arc::new(Own::new()),
        };
        let handle = MetricsHandle {
            prometheus: recorder.prometheus.handle(),
            own: Some(recorder.own.clone()),
        };
        let meter = Meter::default();
        let (db, quoted): (Arc<str>, Arc<str>) = ("db".into(), "a\"b".into());
        let began = Instant::now();
        let change = |service, from, to, at| Observed::Changed {
            service,
            from,
            to,
            failure: None,
            run: 1,
            along: false,
            at,
        };
        metrics::with_local_recorder(&recorder, || {
            meter.observe(change(&db, Status::NotStarted, Status::Starting, began));
            let at = began + Duration::from_millis(7);
            meter.observe(change(&db, Status::Starting, Status::Running, at));
            meter.observe(change(&quoted, Status::Starting, Status::Running, began));
            metrics::counter!("mine_total").increment(2);
        });
        let full = handle.render();
        for line in [
            "# TYPE mine_total counter\nmine_total 2\n\n",
            "# TYPE hassette_status gauge\n\
             hassette_status{service=\"a\\\"b\",status=\"not started\"} 0\n\
             hassette_status{service=\"a\\\"b\",status=\"running\"} 1\n\
             hassette_status{service=\"db\",status=\"not started\"} 0\n\
             hassette_status{service=\"db\",status=\"running\"} 1\n\
             hassette_status{service=\"db\",status=\"starting\"} 0\n\n",
            "# TYPE hassette_start_seconds histogram\n\
             hassette_start_seconds_bucket{service=\"db\",le=\"0.001\"} 0\n\
             hassette_start_seconds_bucket{service=\"db\",le=\"0.005\"} 0\n\
             hassette_start_seconds_bucket{service=\"db\",le=\"0.01\"} 1\n",
            "hassette_start_seconds_bucket{service=\"db\",le=\"60\"} 1\n\
             hassette_start_seconds_bucket{service=\"db\",le=\"+Inf\"} 1\n\
             hassette_start_seconds_sum{service=\"db\"} 0.007\n\
             hassette_start_seconds_count{service=\"db\"} 1\n\n",
        ] {
            assert!(full.contains(line), "{line:?} is not in\n{full}");
        }

        let db: Arc<str> = Arc::from("db");
        let gauges = Status::ALL.map(|status| super::super::status_key(&db, status));
        let histograms = [super::super::start_key(&db), super::super::stop_key(&db)];
        recorder.own.forget(&[], &gauges, &histograms);
        assert_eq!(
            handle.render(),
            "# TYPE mine_total counter\nmine_total 2\n\n\
             # TYPE hassette_status gauge\n\
             hassette_status{service=\"a\\\"b\",status=\"not started\"} 0\n\
             hassette_status{service=\"a\\\"b\",status=\"running\"} 1\n\n",
            "the histogram family is gone with its last series"
        );
    }
}
