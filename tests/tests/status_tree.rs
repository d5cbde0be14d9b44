//! What the status page reads: a child's `parent`, a member's `group`, `uptime` and the
//! budget's intensity in the snapshot and `/status`; a unit's report (its last errors) at
//! `/report`; and the health server's bounded history of changes at `/events`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hassette_runtime::Strategy;
use hassette_runtime::health::HealthServer;
use hassette_runtime::prelude::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Runs until stopped.
struct Idle;

#[service(
    restart = "permanent",
    backoff(base = "1s"),
    budget(intensity = 7, period = "1m")
)]
impl Idle {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Adds a child `lamp`, which adds its own child `bulb`.
struct Hub;

#[service(restart = "permanent")]
impl Hub {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.add_child_named("lamp", Lamp).await?;
        ctx.cancelled().await;
        Ok(())
    }
}

struct Lamp;

#[service(restart = "permanent")]
impl Lamp {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.add_child_named("bulb", Idle).await?;
        ctx.cancelled().await;
        Ok(())
    }
}

/// Waits until a service named `name` is registered (a child is added by its parent's
/// run), for at most 10s.
async fn wait_added(app: &Hassette, name: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while app.status_by_name(name).is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{name} was never added"));
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_names_each_childs_parent_and_each_members_group() {
    let app = Hassette::builder()
        .service_named("hub", Hub)
        .group("pipeline", Strategy::OneForOne, |g| {
            g.service_named("reader", Idle)
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    wait_added(&app, "hub/lamp/bulb").await;
    app.wait_ready_by_name("hub/lamp/bulb").await.unwrap();
    let snapshot = app.snapshot();
    let of = |name: &str| {
        snapshot
            .iter()
            .find(|s| &*s.name == name)
            .unwrap_or_else(|| panic!("no {name} in {snapshot:?}"))
    };
    assert_eq!(of("hub").parent, None);
    assert_eq!(of("hub/lamp").parent.as_deref(), Some("hub"));
    assert_eq!(of("hub/lamp/bulb").parent.as_deref(), Some("hub/lamp"));
    assert_eq!(of("reader").group.as_deref(), Some("pipeline"));
    assert_eq!(of("hub").group, None);
    assert_eq!(of("reader").budget_intensity, 7);

    let json = serde_json::to_value(of("hub/lamp/bulb")).unwrap();
    assert_eq!(json["parent"], "hub/lamp");
    assert_eq!(json["group"], Value::Null);
    assert_eq!(json["budget_intensity"], 7);
    app.shutdown().await;
}

/// Fails on its first two runs with a numbered error, then runs.
struct Flaky {
    runs: AtomicU32,
}

#[service(restart = "permanent", backoff(base = "1s", max = "1s"))]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        if run < 2 {
            return Err(format!("refused #{run}").into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn uptime_counts_the_stretch_of_running_and_ready() {
    let app = Hassette::builder()
        .service(Flaky {
            runs: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    let flaky = |app: &Hassette| app.snapshot().into_iter().next().unwrap();
    assert_eq!(flaky(&app).uptime, None);
    app.start().await.unwrap();
    app.wait_ready::<Flaky>().await.unwrap();
    assert_eq!(flaky(&app).uptime, Some(Duration::ZERO));
    tokio::time::sleep(Duration::from_secs(90)).await;
    assert_eq!(flaky(&app).uptime, Some(Duration::from_secs(90)));
    let json = serde_json::to_value(flaky(&app)).unwrap();
    assert_eq!(json["uptime_secs"], 90.0);

    // Its report has the errors of the runs before, oldest first.
    let report = app.handle("Flaky").unwrap().report();
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors, ["serve: refused #0", "serve: refused #1"]);
    assert_eq!((report.status, report.error_count), (Status::Running, 2));

    app.shutdown().await;
    let after = flaky(&app);
    assert_eq!((after.status, after.uptime), (Status::Stopped, None));
    assert_eq!(
        serde_json::to_value(after).unwrap()["uptime_secs"],
        Value::Null
    );
}

/// `GET path` over HTTP/1.1, the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let code = head[9..12].parse().unwrap();
    (code, body.to_owned())
}

async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (code, body) = get(addr, path).await;
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Fails at once, every run, its error numbered; restarted after 10ms.
struct Failing {
    runs: AtomicU32,
}

#[service(
    restart = "permanent",
    backoff(base = "10ms", max = "10ms"),
    budget(intensity = 1000000, period = "1s"),
    critical = false
)]
impl Failing {
    async fn serve(&self) -> Result<(), BoxError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        Err(format!("refused <#{run}>").into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_events_and_report_over_http() {
    let server = HealthServer::new(([127, 0, 0, 1], 0)).history(50);
    let handle = server.handle();
    let app = Hassette::builder()
        .resource(server)
        .service_named("hub", Hub)
        .service(Failing {
            runs: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    wait_added(&app, "hub/lamp/bulb").await;
    app.wait_ready_by_name("hub/lamp/bulb").await.unwrap();
    // Churn: far more changes than the history keeps (3 a failure: failed, starting,
    // running... until it fails again).
    let churned = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let failing = app.snapshot().into_iter().find(|s| &*s.name == "Failing");
            if failing.is_some_and(|s| s.restarts >= 100) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    churned.await.expect("Failing failed 100 times");

    // `/status`: the tree and the new fields.
    let status = get_json(addr, "/status").await;
    let services = status["services"].as_array().unwrap();
    let bulb = services
        .iter()
        .find(|s| s["name"] == "hub/lamp/bulb")
        .unwrap();
    assert_eq!(bulb["parent"], "hub/lamp");
    assert!(bulb["uptime_secs"].is_f64(), "{bulb}");
    let failing = services.iter().find(|s| s["name"] == "Failing").unwrap();
    assert_eq!(failing["critical"], false);
    assert_eq!(failing["budget_intensity"], 1_000_000);

    // `/events`: the last 50 changes, in order, numbered without a gap.
    let page = get_json(addr, "/events").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 50, "{page}");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let last = *seqs.last().unwrap();
    assert!(last >= 300, "{seqs:?}");
    assert_eq!(seqs, (last - 49..=last).collect::<Vec<u64>>());
    let ages: Vec<f64> = events
        .iter()
        .map(|e| e["age_secs"].as_f64().unwrap())
        .collect();
    // Oldest first (each age is taken as it is written, a few microseconds apart).
    assert!(
        ages.windows(2).all(|w| w[0] + 0.001 >= w[1]),
        "oldest first: {ages:?}"
    );
    let failure = events
        .iter()
        .find(|e| e["to"] == "failed")
        .expect("a failure among them");
    assert_eq!(failure["service"], "Failing");
    assert!(failure["error"].as_str().unwrap().starts_with("refused <#"));

    // A reader that saw `last` gets only what came after; one that lagged behind the
    // ring learns how many it missed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let page = get_json(addr, &format!("/events?after={last}")).await;
    let newer = page["events"].as_array().unwrap();
    assert_eq!(page["dropped"], 0, "{page}");
    assert!(newer.iter().all(|e| e["seq"].as_u64().unwrap() > last));
    assert_eq!(
        newer.first().map(|e| e["seq"].as_u64().unwrap()),
        Some(last + 1)
    );
    let page = get_json(addr, "/events?after=0").await;
    let first_kept = page["events"][0]["seq"].as_u64().unwrap();
    assert_eq!(page["dropped"].as_u64().unwrap(), first_kept - 1, "{page}");

    // `/report`: the last errors of one service, by name (percent-encoded for a child).
    let report = get_json(addr, "/report?name=Failing").await;
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 16, "the report keeps the last 16");
    assert_eq!(errors[0]["what"], "serve");
    assert!(report["error_count"].as_u64().unwrap() >= 100);
    let bulb = get_json(addr, "/report?name=hub%2Flamp%2Fbulb").await;
    assert_eq!(bulb["name"], "hub/lamp/bulb");
    assert_eq!(bulb["errors"], Value::Array(Vec::new()));
    let (code, body) = get(addr, "/report?name=hub%2Flamb").await;
    assert_eq!(code, 404);
    assert!(body.contains("hub/lamb"), "{body}");

    let report = app.shutdown().await;
    assert!(report.is_success(), "{report:?}");
}
