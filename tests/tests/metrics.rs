//! Feature `metrics`, alone in its own test binary (the recorder is global): `/metrics`
//! scraped over 127.0.0.1 and parsed as the Prometheus text format.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use hassette_runtime::health::HealthServer;
use hassette_runtime::metrics::{MetricsHandle, PrometheusBuilder, install};
use hassette_runtime::{BoxError, Hassette, ServiceContext, service};
use prometheus_parse::{Sample, Scrape, Value};

/// Panics in its first run, fails in its second, then runs.
struct Flaky(AtomicU32);

#[service(restart = "permanent", backoff(base = "10ms"), name = "flaky")]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        match self.0.fetch_add(1, Ordering::SeqCst) {
            0 => panic!("boom"),
            1 => Err("refused".into()),
            _ => {
                ctx.cancelled().await;
                Ok(())
            }
        }
    }
}

fn scrape(addr: std::net::SocketAddr) -> (String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.metric == metric
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|l| l == *v))
        })
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(_) | Value::Summary(_) => f64::NAN,
        })
}

/// The recorder of this test binary, installed by the first test that asks.
fn recorder() -> MetricsHandle {
    static RECORDER: OnceLock<MetricsHandle> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            install(PrometheusBuilder::new()).expect("the only recorder of this test binary")
        })
        .clone()
}

/// Held by each test: they share the one recorder, and one measures the whole scrape.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let _one = ONE_AT_A_TIME.lock().await;
    let handle = recorder();
    let server = HealthServer::new(([127, 0, 0, 1], 0)).metrics(handle.clone());
    let bound = server.handle();
    let app = Hassette::builder()
        .resource(server)
        .service(Flaky(AtomicU32::new(0)))
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = bound.local_addr().unwrap();
    // The third run is up: two restarts, and ready.
    let third_run = async {
        while !app
            .snapshot()
            .iter()
            .any(|s| &*s.name == "flaky" && s.restarts == 2 && s.ready)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), third_run)
        .await
        .expect("the third run is up");

    let (head, body) = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let samples = &scrape.samples;
    let flaky = ("service", "flaky");
    assert_eq!(
        value(samples, "hassette_restarts_total", &[flaky]),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        value(
            samples,
            "hassette_failures_total",
            &[flaky, ("kind", "panic")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            samples,
            "hassette_failures_total",
            &[flaky, ("kind", "error")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(samples, "hassette_status", &[flaky, ("status", "running")]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(samples, "hassette_status", &[flaky, ("status", "failed")]),
        Some(0.0),
        "{body}"
    );
    let starts = samples
        .iter()
        .find(|s| s.metric == "hassette_start_seconds" && s.labels.get("service") == Some("flaky"))
        .expect("start durations");
    assert!(
        matches!(starts.value, Value::Summary(_) | Value::Histogram(_)),
        "{starts:?}"
    );
    app.shutdown().await;
    // The final stop's duration, once it has happened.
    let after = Scrape::parse(handle.render().lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(
        after.samples.iter().any(
            |s| s.metric == "hassette_stop_seconds" && s.labels.get("service") == Some("flaky")
        ),
        "{}",
        handle.render()
    );
}

/// Runs until cancelled.
struct Conn;

#[service(restart = "temporary")]
impl Conn {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_services_leave_no_series_behind() {
    const N: usize = 200;
    let _one = ONE_AT_A_TIME.lock().await;
    let handle = recorder();
    let server = HealthServer::new(([127, 0, 0, 1], 0)).metrics(handle.clone());
    let bound = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = bound.local_addr().unwrap();
    let get = || async move {
        let (head, body) = tokio::task::spawn_blocking(move || scrape(addr))
            .await
            .unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body
    };

    // One service that comes and goes first, so that every metric family exists.
    let first = app.add_named("conn-first", Conn).await.unwrap();
    first.wait_ready().await.unwrap();
    first.stop().await.unwrap();
    let baseline = get().await;
    assert!(!baseline.contains("conn-"), "{baseline}");

    let mut conns = Vec::new();
    for i in 0..N {
        let conn = app.add_named(format!("conn-{i}"), Conn).await.unwrap();
        conn.wait_ready().await.unwrap();
        conns.push(conn);
    }
    let full = get().await;
    let scrape = Scrape::parse(full.lines().map(|l| Ok(l.to_owned()))).unwrap();
    for i in [0, N - 1] {
        let conn = format!("conn-{i}");
        assert_eq!(
            value(
                &scrape.samples,
                "hassette_status",
                &[("service", &conn), ("status", "running")]
            ),
            Some(1.0),
            "{full}"
        );
    }
    for conn in conns {
        conn.stop().await.unwrap();
    }

    let after = get().await;
    let left: Vec<&str> = after.lines().filter(|l| l.contains("conn-")).collect();
    assert!(
        left.is_empty(),
        "{} series of removed services are left, e.g. {:?}",
        left.len(),
        &left[..left.len().min(3)]
    );
    assert!(
        after.len() <= baseline.len() + 256,
        "the scrape grew from {} to {} bytes",
        baseline.len(),
        after.len()
    );
    app.shutdown().await;
}

/// A recorder that checks, at each update until one fails, that the engine holds none of
/// the app's locks while it updates metrics: another thread takes a snapshot of the app
/// (which takes the lock of every unit and of the table), and the update waits for it,
/// 5 s at most.
#[derive(Default)]
struct LockProbe {
    app: OnceLock<Hassette>,
    checked: AtomicU32,
    /// The first update made while a lock of the app was held.
    held: Mutex<Option<String>>,
}

impl LockProbe {
    fn check(&self, key: &metrics::Key) {
        let Some(app) = self.app.get().cloned() else {
            return;
        };
        if self.held.lock().unwrap().is_some() {
            return;
        }
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(app.snapshot());
            let _ = done.send(());
        });
        if finished.recv_timeout(Duration::from_secs(5)).is_err() {
            *self.held.lock().unwrap() = Some(format!("{key:?}"));
        }
        self.checked.fetch_add(1, Ordering::Relaxed);
    }
}

impl metrics::Recorder for LockProbe {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.check(key);
        metrics::Counter::noop()
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.check(key);
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.check(key);
        metrics::Histogram::noop()
    }
}

/// Metrics observe the app: the engine tells them of a change once it has let go of
/// its locks, so a slow recorder (or one that looks at the app) never holds a service.
#[test]
fn metrics_are_updated_outside_every_lock_of_the_app() {
    let probe = LockProbe::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    // The recorder of this thread, where the whole app runs.
    metrics::with_local_recorder(&probe, || {
        runtime.block_on(async {
            let app = Hassette::builder()
                .service(Flaky(AtomicU32::new(0)))
                .build()
                .unwrap();
            let _ = probe.app.set(app.clone());
            app.start().await.unwrap();
            let conn = app.add_named("conn", Conn).await.unwrap();
            conn.wait_ready().await.unwrap();
            conn.stop().await.unwrap();
            // Two failures (a panic, an error), then the third run is up.
            for _ in 0..1_000 {
                if app.snapshot().iter().any(|s| s.restarts == 2 && s.ready) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(app.snapshot().iter().any(|s| s.restarts == 2 && s.ready));
            app.shutdown().await;
        });
    });
    assert_eq!(
        *probe.held.lock().unwrap(),
        None,
        "an update under a lock of the app"
    );
    assert!(probe.checked.load(Ordering::Relaxed) > 10);
}

/// A parent of one child, `kid`, added by its first run.
struct House(AtomicU32);

#[service(restart = "permanent")]
impl House {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            ctx.add_child_named("kid", Conn).await?;
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_along_with_a_parent_are_counted_apart_and_forgotten_with_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let handle = recorder();
    let app = Hassette::builder().build().unwrap();
    app.start().await.unwrap();
    let house = app
        .add_named("house", House(AtomicU32::new(0)))
        .await
        .unwrap();
    let up = |restarts: u64| {
        let app = app.clone();
        async move {
            let kid_up = |s: &hassette_runtime::ServiceSnapshot| {
                &*s.name == "house/kid" && s.ready && s.collateral_restarts == restarts
            };
            while !app.snapshot().iter().any(kid_up) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), up(0))
        .await
        .expect("the kid is up");
    house.restart().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), up(1))
        .await
        .expect("the kid is up again");
    let text = handle.render();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let samples = &scrape.samples;
    let (own, along) = (
        "hassette_restarts_total",
        "hassette_collateral_restarts_total",
    );
    assert_eq!(
        value(samples, own, &[("service", "house")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(samples, along, &[("service", "house/kid")]),
        Some(1.0),
        "{text}"
    );
    let kid_own = value(samples, own, &[("service", "house/kid")]);
    assert!(kid_own.is_none_or(|n| n == 0.0), "{text}");
    house.stop().await.unwrap();
    let after = handle.render();
    assert!(!after.contains("house"), "{after}");
    app.shutdown().await;
}

/// Never beats: its watchdog fails each run after 20ms.
struct Silent;

#[service(
    restart = "permanent",
    watchdog = "20ms",
    backoff(base = "10ms"),
    name = "silent"
)]
impl Silent {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ended_by_its_watchdog_counts_as_a_timeout() {
    let _one = ONE_AT_A_TIME.lock().await;
    let handle = recorder();
    let app = Hassette::builder().service(Silent).build().unwrap();
    app.start().await.unwrap();
    let restarted = async {
        while !app
            .snapshot()
            .iter()
            .any(|s| &*s.name == "silent" && s.restarts >= 1)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), restarted)
        .await
        .expect("the watchdog failed the first run");
    app.shutdown().await;
    let body = handle.render();
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let silent = ("service", "silent");
    let timeouts = value(
        &scrape.samples,
        "hassette_failures_total",
        &[silent, ("kind", "timeout")],
    );
    assert!(timeouts.is_some_and(|n| n >= 1.0), "{body}");
    let errors = value(
        &scrape.samples,
        "hassette_failures_total",
        &[silent, ("kind", "error")],
    );
    assert!(errors.is_none_or(|n| n == 0.0), "{body}");
}
