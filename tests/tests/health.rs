//! Feature `health`: the HTTP endpoint, probed with a real HTTP/1.1 client over TCP on
//! 127.0.0.1 while a real (not paused) runtime runs the app.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hassette_runtime::health::{HealthHandle, HealthServer};
use hassette_runtime::prelude::*;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One response, as the client read it off the wire.
#[derive(Debug)]
struct Reply {
    code: u16,
    headers: String,
    body: String,
}

/// `METHOD path` with `Connection: close`, on a blocking thread.
async fn request(
    addr: SocketAddr,
    method: &'static str,
    path: &'static str,
) -> std::io::Result<Reply> {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw)?;
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
        let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        let code = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {status_line:?}"));
        Ok(Reply {
            code,
            headers: headers.to_ascii_lowercase(),
            body: body.to_owned(),
        })
    })
    .await
    .unwrap()
}

async fn get(addr: SocketAddr, path: &'static str) -> Reply {
    request(addr, "GET", path).await.unwrap()
}

/// Polls `GET path` until `done` holds, for at most a second.
async fn get_until(addr: SocketAddr, path: &'static str, done: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let reply = get(addr, path).await;
        if done(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting on {path}: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn health_server() -> (HealthServer, HealthHandle) {
    let server = HealthServer::new(([127, 0, 0, 1], 0));
    let handle = server.handle();
    (server, handle)
}

/// Ready only once the test opens the gate.
struct Gate {
    open: Arc<Notify>,
}

#[service(restart = "permanent", ready = "manual")]
impl Gate {
    async fn serve(&self, ctx: &ServiceContext) {
        tokio::select! {
            _ = ctx.cancelled() => return,
            () = self.open.notified() => ctx.mark_ready(),
        }
        ctx.cancelled().await;
    }
}

/// Fails its first run with an error that needs escaping in JSON, then runs fine.
struct Flaky {
    runs: AtomicU32,
}

#[service(restart = "permanent", backoff(base = "50ms"))]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.fetch_add(1, Ordering::Relaxed) == 0 {
            return Err("disk \"sda\" on fire\nat C:\\data".into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_follow_readiness_restarts_and_shutdown() {
    let (server, handle) = health_server();
    let open = Arc::new(Notify::new());
    let app = Hassette::builder()
        .resource(server)
        .service(Gate { open: open.clone() })
        .service(Flaky {
            runs: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    assert_eq!(handle.local_addr(), None, "no socket before start");
    app.start().await.unwrap();
    let addr = handle.local_addr().expect("bound once started");
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    // Alive from the start.
    let live = get(addr, "/livez").await;
    assert_eq!((live.code, live.body.as_str()), (200, "ok\n"));
    assert!(live.headers.contains("content-type: text/plain"));

    // Not ready while Gate has not called mark_ready; the body says who holds it back.
    let not_ready = get(addr, "/readyz").await;
    assert_eq!(not_ready.code, 503, "{not_ready:?}");
    assert!(
        not_ready.body.contains("Gate (running, not ready)"),
        "{not_ready:?}"
    );
    assert!(
        !not_ready.body.contains("health"),
        "the server does not wait for itself"
    );

    // Flaky failed once and was restarted after 50ms: /status shows it.
    let status = get_until(addr, "/status", |r| {
        r.body
            .contains("\"name\":\"Flaky\",\"status\":\"running\",\"ready\":true,\"restarts\":1")
    })
    .await;
    assert_eq!(status.code, 200);
    assert!(status.headers.contains("content-type: application/json"));
    let json: Value = serde_json::from_str(&status.body).expect("valid JSON");
    assert_eq!(json["live"], true);
    assert_eq!(json["ready"], false);
    assert_eq!(json["shutting_down"], false);
    let services = json["services"].as_array().unwrap();
    let names: Vec<_> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["health", "Gate", "Flaky"], "registration order");
    // Up since it started: its uptime grows, in seconds.
    let mut health = services[0].clone();
    let uptime = health
        .as_object_mut()
        .unwrap()
        .remove("uptime_secs")
        .unwrap();
    assert!(uptime.as_f64().is_some_and(|secs| secs >= 0.0), "{uptime}");
    assert_eq!(
        health,
        serde_json::json!({"name": "health", "status": "running", "ready": true, "restarts": 0, "collateral_restarts": 0, "last_error": null, "finished": false, "critical": true, "budget_used": 0, "retry_in_secs": null, "waiting": null, "budget_intensity": 5, "parent": null, "group": null})
    );
    assert_eq!(
        services[1],
        serde_json::json!({"name": "Gate", "status": "running", "ready": false, "restarts": 0, "collateral_restarts": 0, "last_error": null, "finished": false, "critical": true, "budget_used": 0, "retry_in_secs": null, "waiting": null, "budget_intensity": 5, "uptime_secs": null, "parent": null, "group": null})
    );
    assert_eq!(services[2]["restarts"], 1);
    assert_eq!(services[2]["ready"], true);
    let error = services[2]["last_error"].as_str().unwrap();
    assert!(
        error.contains("disk \"sda\" on fire\nat C:\\data"),
        "{error:?}"
    );

    // Ready once Gate is.
    open.notify_one();
    let ready = get_until(addr, "/readyz", |r| r.code == 200).await;
    assert_eq!(ready.body, "ready\n");
    let json: Value = serde_json::from_str(&get(addr, "/status").await.body).unwrap();
    assert_eq!(json["ready"], true);

    // Anything else: 404, and 405 for another method on a known path; HEAD has no body.
    let missing = get(addr, "/healthz").await;
    assert_eq!((missing.code, missing.body.as_str()), (404, "not found\n"));
    let post = request(addr, "POST", "/status").await.unwrap();
    assert_eq!(post.code, 405);
    assert!(post.headers.contains("allow: get, head"), "{post:?}");
    let head = request(addr, "HEAD", "/livez").await.unwrap();
    assert_eq!((head.code, head.body.as_str()), (200, ""));

    // A shutdown closes the socket: nothing listens there any more.
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(handle.local_addr(), None);
    let refused = request(addr, "GET", "/livez").await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused:?}");
}

/// Crashes when told to.
struct Bomb {
    fuse: Arc<Notify>,
}

#[service(restart = "permanent")]
impl Bomb {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::select! {
            _ = ctx.cancelled() => Ok(()),
            () = self.fuse.notified() => Err(Fatal::new("the fuse burnt").into()),
        }
    }
}

/// Depends on the health server, so it stops before it, and takes its time doing so: the
/// endpoint can be probed while the app shuts down.
struct Drainer;

#[service(restart = "permanent", depends_on(HealthServer))]
impl Drainer {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn before_shutdown(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_fails_liveness_while_the_app_shuts_down() {
    let (server, handle) = health_server();
    let fuse = Arc::new(Notify::new());
    let app = Hassette::builder()
        .resource(server)
        .service(Bomb { fuse: fuse.clone() })
        .service(Drainer)
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Drainer>().await.unwrap();
    let addr = handle.local_addr().unwrap();
    assert_eq!(get(addr, "/readyz").await.code, 200);

    fuse.notify_one();
    let live = get_until(addr, "/livez", |r| r.code == 503).await;
    assert_eq!(live.body, "not live: crashed: Bomb\n", "{live:?}");
    let ready = get(addr, "/readyz").await;
    assert_eq!(ready.code, 503);
    assert!(ready.body.contains("shutting down"), "{ready:?}");
    let json: Value = serde_json::from_str(&get(addr, "/status").await.body).unwrap();
    assert_eq!(json["live"], false);
    assert_eq!(json["shutting_down"], true);
    assert_eq!(json["services"][1]["status"], "crashed");
    assert!(
        json["services"][1]["last_error"]
            .as_str()
            .unwrap()
            .contains("the fuse burnt")
    );

    let report = app.shutdown().await;
    assert!(!report.is_success());
    let refused = request(addr, "GET", "/status").await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused:?}");
}

/// Fails at every run; out of restarts at its second failure.
struct Burnout;

#[service(
    restart = "permanent",
    backoff(base = "10ms"),
    budget(intensity = 1, period = "1m")
)]
impl Burnout {
    async fn serve(&self) -> Result<(), BoxError> {
        Err("burnt out".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_that_is_not_critical_and_down_leaves_the_app_live_ready_and_degraded() {
    let (server, handle) = health_server();
    let app = Hassette::builder()
        .resource(server)
        .service(Drainer)
        .service(Burnout)
        .configure(
            "Burnout",
            hassette_runtime::Overrides::new().critical(false),
        )
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    // Degraded from its first failure (down, in its backoff) to its exhaustion.
    let status = get_until(addr, "/status", |r| r.body.contains("exhausted_dead")).await;
    let json: Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(json["degraded"], true, "{json}");
    assert_eq!(json["live"], true, "{json}");
    assert_eq!(json["ready"], true, "{json}");
    assert_eq!(json["services"][2]["status"], "exhausted_dead", "{json}");
    assert_eq!(json["services"][2]["critical"], false, "{json}");
    assert_eq!(get(addr, "/readyz").await.code, 200);
    assert_eq!(get(addr, "/livez").await.code, 200);
    let report = app.shutdown().await;
    assert!(report.degraded && report.is_success(), "{report}");
}

/// Depends on the health server, so it stops before it; its stop says when it has begun
/// and waits for the test to let it end.
struct Holder {
    stopping: Arc<Notify>,
    release: Arc<Notify>,
}

#[service(restart = "permanent", depends_on(HealthServer))]
impl Holder {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn before_shutdown(&self) {
        self.stopping.notify_one();
        self.release.notified().await;
    }
}

fn holder() -> (Holder, Arc<Notify>, Arc<Notify>) {
    let (stopping, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let holder = Holder {
        stopping: stopping.clone(),
        release: release.clone(),
    };
    (holder, stopping, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_fails_readiness_not_liveness() {
    let (server, handle) = health_server();
    let (holder, stopping, release) = holder();
    let app = Hassette::builder()
        .resource(server)
        .service(holder)
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.wait_ready::<Holder>().await.unwrap();
    let addr = handle.local_addr().unwrap();
    assert_eq!(get(addr, "/livez").await.code, 200);
    assert_eq!(get(addr, "/readyz").await.code, 200);

    let stop = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    stopping.notified().await;
    // The app is stopping, on time: an orchestrator must not restart it for that.
    let live = get(addr, "/livez").await;
    assert_eq!((live.code, live.body.as_str()), (200, "ok\n"), "{live:?}");
    let ready = get(addr, "/readyz").await;
    assert_eq!(ready.code, 503, "{ready:?}");
    assert!(ready.body.contains("shutting down"), "{ready:?}");
    let json: Value = serde_json::from_str(&get(addr, "/status").await.body).unwrap();
    assert_eq!(json["live"], true);
    assert_eq!(json["ready"], false);
    assert_eq!(json["shutting_down"], true);

    release.notify_one();
    let report = stop.await.unwrap();
    assert!(report.is_success(), "{report}");
}

/// Added at run time, so the stop stops it first; its stop blocks its thread (it never
/// awaits) until the test sends it a word.
struct Blocker {
    unblock: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

#[service(restart = "permanent", shutdown_timeout = "100ms")]
impl Blocker {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
    async fn before_shutdown(&self) {
        let _ = self.unblock.lock().unwrap().recv();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_stop_fails_liveness() {
    let (server, handle) = health_server();
    let (holder, stopping, release) = holder();
    let app = Hassette::builder()
        .resource(server)
        .service(holder)
        .build()
        .unwrap();
    app.start().await.unwrap();
    let (unblock, blocked) = std::sync::mpsc::channel();
    let blocker = Blocker {
        unblock: std::sync::Mutex::new(blocked),
    };
    app.add(blocker).await.unwrap().wait_ready().await.unwrap();
    let addr = handle.local_addr().unwrap();

    let stop = tokio::spawn({
        let app = app.clone();
        async move { app.shutdown().await }
    });
    // Holder's stop begins once Blocker's has outlived every bound and was cut off.
    stopping.notified().await;
    let live = get(addr, "/livez").await;
    assert_eq!(live.code, 503, "{live:?}");
    assert_eq!(
        live.body, "not live: the stop is stuck (a service never finished its stop)\n",
        "{live:?}"
    );
    let json: Value = serde_json::from_str(&get(addr, "/status").await.body).unwrap();
    assert_eq!(json["live"], false);

    release.notify_one();
    let report = stop.await.unwrap();
    assert!(report.service("Blocker").unwrap().aborted, "{report}");
    unblock.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_fails_the_start_naming_the_resource() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let app = Hassette::builder()
        .resource(HealthServer::new(addr))
        .build()
        .unwrap();
    let error = app.start().await.unwrap_err().to_string();
    assert!(error.contains("health"), "{error}");
    assert!(
        error.contains(&format!("cannot listen on {addr}")),
        "{error}"
    );
    app.shutdown().await;
}

// Hostile clients: half-sent requests, clients that never read, more clients than the cap.

/// A raw TCP client, for the clients a well-behaved HTTP client would never be.
struct Raw(tokio::net::TcpStream);

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        Raw(tokio::net::TcpStream::connect(addr).await.unwrap())
    }

    /// A client whose receive buffer is as small as the system allows, so that an answer
    /// it does not read soon fills every buffer on the way.
    async fn connect_small_buffer(addr: SocketAddr) -> Raw {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        Raw(socket.connect(addr).await.unwrap())
    }

    async fn send(&self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.0.writable().await.unwrap();
            match self.0.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("send failed: {e}"),
            }
        }
    }

    /// Reads (and counts) whatever the server sends until it closes the connection:
    /// `Ok(bytes)` when it did within `within`, `Err(bytes)` when it is still open then.
    async fn closed_within(&self, within: Duration) -> Result<usize, usize> {
        let mut total = 0;
        let mut buf = vec![0; 64 * 1024];
        let read_all = async {
            loop {
                if self.0.readable().await.is_err() {
                    return;
                }
                match self.0.try_read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => total += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    // Reset, aborted: closed all the same.
                    Err(_) => return,
                }
            }
        };
        let closed = tokio::time::timeout(within, read_all).await.is_ok();
        if closed { Ok(total) } else { Err(total) }
    }
}

/// The first half of a request: a request line and one header, never the blank line.
const HALF_REQUEST: &[u8] = b"GET /status HTTP/1.1\r\nHost: localhost\r\n";

/// The server's `shutdown_timeout`: what a stop held by a client would take.
const RESOURCE_SHUTDOWN_TIMEOUT: Duration =
    <HealthServer as Resource>::RESOURCE_SPEC.shutdown_timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_does_not_hold_the_apps_stop() {
    let (server, handle) = health_server();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();

    let slow = Raw::connect(addr).await;
    slow.send(HALF_REQUEST).await;
    // The server accepts in order: once this probe is answered, the slow client's
    // connection is open too, waiting for the rest of its headers.
    assert_eq!(get(addr, "/livez").await.code, 200);

    let began = Instant::now();
    let report = app.shutdown().await;
    let took = began.elapsed();
    assert!(report.is_success(), "{report}");
    assert_eq!(report.exit_code(), std::process::ExitCode::SUCCESS);
    let health = report.service("health").unwrap();
    assert!(!health.aborted, "{report}");
    assert!(health.errors.is_empty(), "{:?}", health.errors);
    assert!(
        health.stop_took < Duration::from_secs(1) && took < Duration::from_secs(1),
        "the stop waited for the client: {:?} of the server, {took:?} in all (the shutdown_timeout is {RESOURCE_SHUTDOWN_TIMEOUT:?})",
        health.stop_took
    );
    assert!(
        slow.closed_within(Duration::from_millis(500)).await.is_ok(),
        "the slow client's connection is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_a_resource_an_operator_restart_is_refused_and_it_keeps_serving() {
    let (server, handle) = health_server();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();

    let slow = Raw::connect(addr).await;
    slow.send(HALF_REQUEST).await;
    let refused = app.restart_by_name("health").await.unwrap_err();
    assert!(
        matches!(refused, hassette_runtime::RestartError::Resource { .. }),
        "{refused}"
    );
    assert_eq!(
        refused.to_string(),
        "cannot restart `health`: it is a resource, and resources are never restarted; restart the services that use it instead"
    );
    assert_eq!(
        handle.local_addr(),
        Some(addr),
        "still listening where it was"
    );
    assert_eq!(get(addr, "/livez").await.code, 200);

    let began = Instant::now();
    let report = app.shutdown().await;
    assert!(began.elapsed() < Duration::from_secs(1), "{report}");
    assert!(report.is_success(), "{report}");
    let health = report.service("health").unwrap();
    assert!(!health.aborted, "{report}");
    assert_eq!(health.restarts, 0);
    assert!(
        slow.closed_within(Duration::from_millis(500)).await.is_ok(),
        "the slow client's connection is closed"
    );
}

/// Fails its first run with an error of `len` bytes, so that `/status` is that big.
struct Loud {
    runs: AtomicU32,
    len: usize,
}

#[service(restart = "permanent", backoff(base = "10ms"))]
impl Loud {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.fetch_add(1, Ordering::Relaxed) == 0 {
            return Err("x".repeat(self.len).into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answer_is_disconnected_after_the_write_timeout() {
    const BODY: usize = 8 << 20;
    const WRITE_TIMEOUT: Duration = Duration::from_millis(200);
    let server = HealthServer::new(([127, 0, 0, 1], 0)).write_timeout(WRITE_TIMEOUT);
    let handle = server.handle();
    let app = Hassette::builder()
        .resource(server)
        .service(Loud {
            runs: AtomicU32::new(0),
            len: BODY,
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !app
        .snapshot()
        .iter()
        .any(|s| &*s.name == "Loud" && s.restarts == 1 && s.status == Status::Running)
    {
        assert!(Instant::now() < deadline, "Loud never restarted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Asks for the 8 MB answer (keeping the connection alive) and reads none of it.
    let stuck = Raw::connect_small_buffer(addr).await;
    stuck
        .send(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    // The answer has begun (making 8 MB of JSON takes a while in a debug build); from
    // now on the server writes and the client does not read.
    tokio::time::timeout(Duration::from_secs(10), stuck.0.readable())
        .await
        .expect("the answer begins")
        .unwrap();
    tokio::time::sleep(WRITE_TIMEOUT * 3).await;
    // Only what was in the buffers before the server gave up comes, then the end.
    let read = stuck
        .closed_within(Duration::from_secs(2))
        .await
        .unwrap_or_else(|read| {
            panic!("still connected after the write timeout (read {read} bytes since)")
        });
    assert!(read < BODY, "the whole answer was written: {read} bytes");

    // The server is fine.
    assert_eq!(get(addr, "/livez").await.code, 200);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_is_disconnected_after_the_header_read_timeout() {
    let server =
        HealthServer::new(([127, 0, 0, 1], 0)).header_read_timeout(Duration::from_millis(200));
    let handle = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();

    let idle = Raw::connect(addr).await;
    let half = Raw::connect(addr).await;
    half.send(HALF_REQUEST).await;
    assert!(idle.closed_within(Duration::from_secs(1)).await.is_ok());
    assert!(half.closed_within(Duration::from_secs(1)).await.is_ok());
    assert_eq!(get(addr, "/livez").await.code, 200);
    assert!(app.shutdown().await.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_connection_cap_clients_wait_and_only_idle_ones_are_closed() {
    const CAP: usize = 4;
    const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(300);
    let server = HealthServer::new(([127, 0, 0, 1], 0))
        .max_connections(CAP)
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let handle = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();

    // Twice the cap of idle clients, some of them half-way through a request, then a
    // probe behind them.
    let mut idle = Vec::new();
    for i in 0..2 * CAP {
        let client = Raw::connect(addr).await;
        if i % 2 == 1 {
            client.send(HALF_REQUEST).await;
        }
        idle.push(client);
    }
    let probe = tokio::spawn(get(addr, "/livez"));

    // The first CAP hold their places until their own timeout: nobody is closed to make
    // room for a newcomer, who waits in the listen backlog instead.
    let within = HEADER_READ_TIMEOUT / 3;
    let first = tokio::join!(
        idle[0].closed_within(within),
        idle[1].closed_within(within),
        idle[2].closed_within(within),
        idle[3].closed_within(within),
    );
    let first = [first.0, first.1, first.2, first.3];
    assert!(
        first.iter().all(Result::is_err),
        "an idle client was closed before its header read timeout: {first:?}"
    );
    // Then every idle client is closed by that timeout, and the probe is answered in
    // full once places are free.
    for (i, client) in idle.iter().enumerate() {
        assert!(
            client.closed_within(Duration::from_secs(2)).await.is_ok(),
            "idle client {i} is still connected after its header read timeout"
        );
    }
    let live = probe.await.unwrap();
    assert_eq!((live.code, live.body.as_str()), (200, "ok\n"));
    assert_eq!(get(addr, "/livez").await.code, 200);
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_max_timeouts_mean_no_limit() {
    let server = HealthServer::new(([127, 0, 0, 1], 0))
        .header_read_timeout(Duration::MAX)
        .write_timeout(Duration::MAX)
        .max_connections(0);
    let handle = server.handle();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    // No Instant overflow in the connection (it would panic and drop the client), and a
    // cap of 0 still lets one client in.
    let live = get(addr, "/livez").await;
    assert_eq!((live.code, live.body.as_str()), (200, "ok\n"));
    assert!(app.shutdown().await.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_services_added_at_run_time_and_readiness_waits_for_them() {
    let (server, handle) = health_server();
    let app = Hassette::builder().resource(server).build().unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    let drainer = app.add_named("drainer-7", Drainer).await.unwrap();
    drainer.wait_ready().await.unwrap();
    let json: Value = serde_json::from_str(&get(addr, "/status").await.body).unwrap();
    assert_eq!(json["services"][1]["name"], "drainer-7");
    assert_eq!(json["services"][1]["status"], "running");
    assert_eq!(get(addr, "/readyz").await.code, 200);
    drainer.stop().await.unwrap();
    let json: Value = serde_json::from_str(&get(addr, "/status").await.body).unwrap();
    assert_eq!(json["services"].as_array().unwrap().len(), 1);
    app.shutdown().await;
}

/// Fails every run, and waits a minute before the next.
struct Refused;

#[service(restart = "permanent", backoff(base = "60s"))]
impl Refused {
    async fn serve(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
        Err("connection refused".into())
    }
}

/// A one-shot job: done for good once `serve` returns.
struct Job;

#[service(restart = "temporary")]
impl Job {
    async fn serve(&self, _ctx: &ServiceContext) {}
}

/// `/status` and feature `serde` are one serializer: each service `/status` lists is the
/// serde form of its `ServiceSnapshot`, with the same keys and units (a wait in
/// `retry_in_secs`, `finished` included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_each_service_in_its_serde_form() {
    let (server, handle) = health_server();
    let app = Hassette::builder()
        .resource(server)
        .service(Refused)
        .service(Job)
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = handle.local_addr().unwrap();
    let reply = get_until(addr, "/status", |r| {
        r.body
            .contains("\"name\":\"Refused\",\"status\":\"failed\"")
            && r.body.contains("\"name\":\"Job\",\"status\":\"stopped\"")
    })
    .await;
    let served: Value = serde_json::from_str(&reply.body).unwrap();
    let served = served["services"].as_array().unwrap();
    let snapshot = serde_json::to_value(app.snapshot()).unwrap();
    let snapshot = snapshot.as_array().unwrap();
    assert_eq!(served.len(), snapshot.len(), "{served:?}");
    for (served, own) in served.iter().zip(snapshot) {
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(served), keys(own), "{served} vs {own}");
        for (key, value) in own.as_object().unwrap() {
            match key.as_str() {
                // Seconds left, at each serialization: compared below.
                "retry_in_secs" | "uptime_secs" => {}
                "waiting" => assert_eq!(served[key]["kind"], value["kind"], "{served}"),
                _ => assert_eq!(&served[key], value, "{key} of {served}"),
            }
        }
    }
    let refused = &served[1];
    let wait = refused["retry_in_secs"].as_f64().expect("seconds");
    assert!(wait > 50.0 && wait <= 60.0, "{refused}");
    assert_eq!(refused["waiting"]["kind"], "backoff", "{refused}");
    let waiting = refused["waiting"]["retry_in_secs"]
        .as_f64()
        .expect("seconds");
    assert!((wait - waiting).abs() < 0.1, "{refused}");
    assert_eq!(served[2]["finished"], true, "{}", served[2]);
    app.shutdown().await;
}
