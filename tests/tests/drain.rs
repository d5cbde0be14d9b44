//! `Builder::drain`: when the shutdown begins, the app says it is going away
//! (`ctx.draining()`, `Hassette::is_draining`, `/readyz` 503 `draining`) while every
//! service keeps running for the drain period; then the stop proceeds as without one.
//! On the paused clock, but the health probes (real TCP) and the second signal (a real
//! process, at the end).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_runtime::Fatal;
use hassette_runtime::health::HealthServer;
use hassette_runtime::prelude::*;
use tokio::time::Instant;

const DRAIN: Duration = Duration::from_secs(10);

/// When its run saw `draining()` and `cancelled()` complete, and how many runs it had.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<SeenInner>>);

#[derive(Default)]
struct SeenInner {
    draining: Option<Instant>,
    cancelled: Option<Instant>,
    runs: u32,
    /// `is_draining` as `draining()` completed.
    flag: Option<bool>,
}

impl Seen {
    fn get<T>(&self, f: impl FnOnce(&SeenInner) -> T) -> T {
        f(&self.0.lock().unwrap())
    }
}

/// Runs until stopped, noting when the drain began and when the run was stopped.
struct Worker(Seen);

#[service(restart = "permanent", backoff(base = "1s"))]
impl Worker {
    async fn serve(&self, ctx: &ServiceContext) {
        self.0.0.lock().unwrap().runs += 1;
        tokio::select! {
            () = ctx.draining() => {
                let mut seen = self.0.0.lock().unwrap();
                seen.draining.get_or_insert(Instant::now());
                seen.flag = Some(ctx.is_draining());
            }
            () = ctx.cancelled() => {}
        }
        ctx.cancelled().await;
        self.0.0.lock().unwrap().cancelled = Some(Instant::now());
    }
}

/// Fails once the drain has begun (its first run), then runs until stopped.
struct FailsInTheDrain(Seen);

#[service(restart = "permanent", backoff(base = "1s"))]
impl FailsInTheDrain {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = {
            let mut seen = self.0.0.lock().unwrap();
            seen.runs += 1;
            seen.runs
        };
        if run == 1 {
            ctx.draining().await;
            return Err("lost the connection while draining".into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

/// Ends the app itself once it runs.
struct EndsTheApp(Seen);

#[service(restart = "permanent")]
impl EndsTheApp {
    async fn serve(&self, ctx: &ServiceContext) {
        // once the start is over (a shutdown during the start does not drain)
        tokio::time::sleep(Duration::from_secs(1)).await;
        ctx.shutdown_app("done");
        ctx.draining().await;
        self.0.0.lock().unwrap().draining = Some(Instant::now());
        ctx.cancelled().await;
        self.0.0.lock().unwrap().cancelled = Some(Instant::now());
    }
}

fn app_with(drain: Duration, seen: &Seen) -> Hassette {
    Hassette::builder()
        .drain(drain)
        .service(Worker(seen.clone()))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn every_service_keeps_running_for_the_drain_then_stops() {
    let seen = Seen::default();
    let app = app_with(DRAIN, &seen);
    app.start().await.unwrap();
    app.wait_ready::<Worker>().await.unwrap();
    let began = Instant::now();
    let stop = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    app.shutdown_begun().await;
    assert!(app.is_shutting_down());
    assert!(app.is_draining());
    // the drain, almost to its end: still running, still draining
    tokio::time::sleep(DRAIN - Duration::from_millis(1)).await;
    assert_eq!(app.status::<Worker>().unwrap(), Status::Running);
    assert!(app.is_draining());
    assert!(seen.get(|s| s.cancelled.is_none()));
    let report = stop.await.unwrap();
    assert!(report.is_success(), "{report}");
    assert!(!app.is_draining());
    assert_eq!(seen.get(|s| s.draining), Some(began), "draining() at once");
    assert_eq!(seen.get(|s| s.flag), Some(true));
    assert_eq!(
        seen.get(|s| s.cancelled),
        Some(began + DRAIN),
        "stopped after the drain"
    );
    assert_eq!(report.services[0].status, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn without_a_drain_the_stop_begins_at_once() {
    let seen = Seen::default();
    let app = app_with(Duration::ZERO, &seen);
    app.start().await.unwrap();
    app.wait_ready::<Worker>().await.unwrap();
    let began = Instant::now();
    app.shutdown().await;
    assert_eq!(seen.get(|s| s.draining), Some(began));
    assert_eq!(seen.get(|s| s.cancelled), Some(began));
}

#[tokio::test(start_paused = true)]
async fn shutdown_app_from_inside_a_service_drains_too() {
    let seen = Seen::default();
    let app = Hassette::builder()
        .drain(DRAIN)
        .service(EndsTheApp(seen.clone()))
        .build()
        .unwrap();
    let began = Instant::now();
    app.start().await.unwrap();
    let report = app.run_until(std::future::pending()).await;
    assert_eq!(report.reason.as_deref(), Some("done"));
    let asked = began + Duration::from_secs(1);
    assert_eq!(seen.get(|s| s.draining), Some(asked));
    assert_eq!(seen.get(|s| s.cancelled), Some(asked + DRAIN));
}

#[tokio::test(start_paused = true)]
async fn a_service_that_fails_during_the_drain_is_restarted_as_usual() {
    let seen = Seen::default();
    let app = Hassette::builder()
        .drain(DRAIN)
        .service(FailsInTheDrain(seen.clone()))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<FailsInTheDrain>().await.unwrap();
    let mut events = app.events();
    let stop = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    // failed, then restarted 1s later, well inside the drain
    let restarted = async {
        loop {
            let event = events.recv().await.unwrap();
            if event.from == Status::Starting && event.to == Status::Running {
                break;
            }
        }
    };
    tokio::time::timeout(DRAIN / 2, restarted)
        .await
        .expect("restarted during the drain");
    assert!(app.is_draining());
    assert_eq!(seen.get(|s| s.runs), 2);
    let report = stop.await.unwrap();
    assert_eq!(report.services[0].restarts, 1, "{report}");
    assert_eq!(report.services[0].status, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_future_dropped_during_the_drain_leaves_the_stop_going() {
    let seen = Seen::default();
    let app = app_with(DRAIN, &seen);
    app.start().await.unwrap();
    app.wait_ready::<Worker>().await.unwrap();
    let began = Instant::now();
    let dropped = tokio::time::timeout(Duration::from_secs(1), app.shutdown()).await;
    assert!(dropped.is_err(), "still draining after 1s");
    assert_eq!(app.status::<Worker>().unwrap(), Status::Running);
    // a second call joins the same stop, after the same drain
    let (one, two) = tokio::join!(app.shutdown(), app.shutdown());
    assert_eq!(Instant::now(), began + DRAIN);
    assert_eq!(one.services[0].status, Status::Stopped);
    assert_eq!(two.services[0].status, Status::Stopped);
    assert_eq!(seen.get(|s| s.cancelled), Some(began + DRAIN));
}

/// Takes 5s to initialize.
struct SlowStart;

#[service(restart = "permanent")]
impl SlowStart {
    async fn on_initialize(&self, _: &ServiceContext) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_the_start_does_not_drain() {
    let app = Hassette::builder()
        .drain(DRAIN)
        .service(SlowStart)
        .build()
        .unwrap();
    let starting = tokio::spawn({
        let app = app.clone();
        async move { app.start().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let began = Instant::now();
    let report = app.shutdown().await;
    assert!(Instant::now() - began < DRAIN, "drained: {report}");
    assert!(starting.await.unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_huge_drain_is_no_panic_and_keeps_the_services_running() {
    let seen = Seen::default();
    let app = app_with(Duration::MAX, &seen);
    app.start().await.unwrap();
    app.wait_ready::<Worker>().await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(3600), app.shutdown()).await;
    assert!(report.is_err(), "an hour into an endless drain");
    assert!(app.is_draining());
    assert_eq!(app.status::<Worker>().unwrap(), Status::Running);
}

#[tokio::test(start_paused = true)]
async fn an_app_that_never_started_does_not_drain() {
    let seen = Seen::default();
    let app = app_with(DRAIN, &seen);
    let began = Instant::now();
    let report = app.shutdown().await;
    assert_eq!(Instant::now(), began);
    assert!(report.is_success());
}

/// Fails its first start for good.
struct BadStart;

#[service(restart = "permanent")]
impl BadStart {
    async fn on_initialize(&self, _: &ServiceContext) -> Result<(), BoxError> {
        Err(Fatal::new("no config").into())
    }

    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_start_that_failed_for_good_does_not_drain() {
    let app = Hassette::builder()
        .drain(DRAIN)
        .service(BadStart)
        .build()
        .unwrap();
    let began = Instant::now();
    let report = app.run_until(std::future::pending()).await;
    assert!(!report.is_success(), "{report}");
    assert_eq!(Instant::now(), began, "drained: {report}");
}

/// `GET path` with `Connection: close`, on a blocking thread (which holds the paused
/// clock while it runs); the status code and the body.
async fn get(addr: SocketAddr, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let code = raw[9..12].parse().unwrap();
        let body = raw.split_once("\r\n\r\n").unwrap().1.to_owned();
        (code, body)
    })
    .await
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn readyz_answers_draining_at_once_while_livez_stays_ok() {
    let seen = Seen::default();
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    let app = Hassette::builder()
        .drain(DRAIN)
        .resource(server)
        .service(Worker(seen.clone()))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Worker>().await.unwrap();
    let addr = handle.local_addr().unwrap();
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".to_owned()));
    let began = Instant::now();
    let stop = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    app.shutdown_begun().await;
    assert_eq!(get(addr, "/readyz").await, (503, "draining\n".to_owned()));
    assert_eq!(get(addr, "/livez").await, (200, "ok\n".to_owned()));
    tokio::time::sleep(DRAIN / 2).await;
    assert_eq!(get(addr, "/readyz").await, (503, "draining\n".to_owned()));
    assert_eq!(get(addr, "/livez").await, (200, "ok\n".to_owned()));
    assert!(Instant::now() < began + DRAIN, "the probes held the clock");
    let report = stop.await.unwrap();
    assert!(report.is_success(), "{report}");
}

#[test]
fn a_second_signal_skips_the_rest_of_the_drain_and_a_third_exits_at_once() {
    use hassette_tests::process::{spawn_serving, wait_for};
    const PROBE: &str = env!("CARGO_BIN_EXE_net_probe");

    // the drain (30s) holds the stop...
    let child = spawn_serving(PROBE, "drain");
    child.signal("-TERM");
    child.wait_stdout("draining", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !child.stdout_text().contains("cancelled"),
        "stopped during the drain"
    );
    // ...until a second signal skips the rest of it: a graceful stop (its `on_shutdown`
    // takes 2s), exit code 0
    let began = std::time::Instant::now();
    child.signal("-TERM");
    let (code, stderr, _) = wait_for(child, Duration::from_secs(10)).expect("did not exit");
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "waited for the drain"
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("received SIGTERM again: skipping the rest of the drain"),
        "{stderr}"
    );
    assert!(stderr.contains("from=stopping to=stopped"), "{stderr}");

    // a third signal, during the stop, exits at once
    let child = spawn_serving(PROBE, "drain");
    child.signal("-TERM");
    child.wait_stdout("draining", Duration::from_secs(10));
    child.signal("-TERM");
    child.wait_stdout("cancelled", Duration::from_secs(10));
    let began = std::time::Instant::now();
    child.signal("-TERM");
    let (code, stderr, _) = wait_for(child, Duration::from_secs(10)).expect("did not exit");
    assert!(
        began.elapsed() < Duration::from_millis(1500),
        "waited for the stop"
    );
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        stderr.contains("received SIGTERM again: exiting at once"),
        "{stderr}"
    );
}
