//! `Builder::listener`: a TCP listener the app owns, opened at `start`, handed to services
//! by `ctx.listener(name)`, and open across the restarts of the services that accept on
//! it. On the paused clock, with real sockets on 127.0.0.1 (see tests/activation.rs for
//! socket activation and systemd's descriptor store, in real processes).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{BuildError, ListenerError, StartFailure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// Serves one client per run, answering `run N`, then fails: restarted 1s later.
struct OnePerRun {
    runs: AtomicU32,
}

#[service(restart = "permanent", backoff(base = "1s"))]
impl OnePerRun {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let listener = ctx.listener("http")?;
        let (mut client, _) = tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        client.write_all(format!("run {run}\n").as_bytes()).await?;
        Err("one client per run".into())
    }
}

async fn read_all(mut client: tokio::net::TcpStream) -> String {
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(start_paused = true)]
async fn a_client_that_connects_during_a_restart_is_served_by_the_next_run() {
    let app = Hassette::builder()
        .listener("http", LOOPBACK)
        .service(OnePerRun {
            runs: AtomicU32::new(0),
        })
        .build()
        .unwrap();
    let mut events = app.events();
    app.start().await.unwrap();
    let addr = app.listener_addr("http").unwrap();
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_all(first).await, "run 1\n");
    // the run failed: its handle of the listener is gone, the next run is 1s away
    let failed = async { while events.recv().await.unwrap().to != Status::Failed {} };
    tokio::time::timeout(Duration::from_millis(500), failed)
        .await
        .expect("the run failed");
    // A blocking connect holds this (only) thread, so nothing of the app runs meanwhile:
    // the kernel completes it into the listen backlog.
    let waiting = TcpStream::connect(addr).expect("connected while no run accepts");
    assert_eq!(app.status::<OnePerRun>().unwrap(), Status::Failed);
    waiting.set_nonblocking(true).unwrap();
    let waiting = tokio::net::TcpStream::from_std(waiting).unwrap();
    assert_eq!(read_all(waiting).await, "run 2\n");
    app.shutdown().await;
}

/// Accepts on `http` in a child of its own (added by `serve`), which answers `child`.
struct Parent;

#[service(restart = "permanent")]
impl Parent {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.add_child(Child).await?;
        ctx.cancelled().await;
        Ok(())
    }
}

struct Child;

#[service(restart = "permanent")]
impl Child {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let listener = ctx.listener("http")?;
        loop {
            let (mut client, _) = tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                accepted = listener.accept() => accepted?,
            };
            client.write_all(b"child\n").await?;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_service_accepts_on_the_apps_listener_too() {
    let app = Hassette::builder()
        .listener("http", LOOPBACK)
        .service(Parent)
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = app.listener_addr("http").unwrap();
    let client = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_all(client).await, "child\n");
    assert!(app.shutdown().await.is_success());
}

/// Asks for a listener nobody declared, and keeps the error.
struct AsksForNope(Arc<Mutex<Option<ListenerError>>>);

#[service(restart = "temporary")]
impl AsksForNope {
    async fn serve(&self, ctx: &ServiceContext) {
        let error = ctx.listener("nope").unwrap_err();
        *self.0.lock().unwrap() = Some(error);
    }
}

#[tokio::test(start_paused = true)]
async fn an_unknown_listener_name_is_a_typed_error_that_names_it() {
    let seen = Arc::new(Mutex::new(None));
    let app = Hassette::builder()
        .listener("http", LOOPBACK)
        .listener("admin", LOOPBACK)
        .service(AsksForNope(seen.clone()))
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.shutdown().await;
    let error = seen.lock().unwrap().take().expect("the service asked");
    assert!(
        matches!(&error, ListenerError::Unknown { name, declared } if &**name == "nope" && declared.len() == 2),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no listener is named `nope` (declared: `http`, `admin`); declare it with `Builder::listener`"
    );
    // from outside too, and before the start: declared but not open
    let app = Hassette::builder().build().unwrap();
    assert!(matches!(
        app.listener("http"),
        Err(ListenerError::Unknown { .. })
    ));
    let app = Hassette::builder()
        .listener("http", LOOPBACK)
        .build()
        .unwrap();
    let error = app.listener("http").unwrap_err();
    assert!(matches!(error, ListenerError::NotOpen { .. }), "{error:?}");
}

/// Never started when a listener cannot be opened.
struct Never;

#[service(restart = "permanent")]
impl Never {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_bind_fails_start_naming_the_listener_and_starts_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = taken.local_addr().unwrap();
    let app = Hassette::builder()
        .listener("free", LOOPBACK)
        .listener("http", addr)
        .service(Never)
        .build()
        .unwrap();
    let error = app.start().await.unwrap_err();
    assert!(error.ends_the_app());
    assert_eq!(&*error.service, "http");
    assert!(
        matches!(&error.failure, StartFailure::Listener(ListenerError::Bind { name, .. }) if &**name == "http"),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "the app did not start: listener `http`: cannot listen on {addr}: "
        )),
        "{text}"
    );
    assert_eq!(app.status::<Never>().unwrap(), Status::NotStarted);
    let report = app.run_until(std::future::pending()).await;
    assert!(!report.is_success(), "{report}");
    drop(taken);
}

#[test]
fn build_refuses_a_name_used_twice_or_one_systemd_cannot_pass() {
    let long = "x".repeat(256);
    for name in ["", "a:b", "with space", "tab\t", "é", long.as_str()] {
        let error = Hassette::builder()
            .listener(name, LOOPBACK)
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, BuildError::Listener { name: n, .. } if **n == *name),
            "{name:?}: {error:?}"
        );
    }
    let error = Hassette::builder()
        .listener("http", LOOPBACK)
        .listener("http", ([127, 0, 0, 1], 1))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "listener `http`: two listeners have this name; each name must be unique"
    );
    assert!(
        Hassette::builder()
            .listener("x".repeat(255), LOOPBACK)
            .listener("http-8080_v1.socket", LOOPBACK)
            .build()
            .is_ok()
    );
}

#[test]
fn a_handle_asked_for_outside_a_runtime_is_an_error_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = Hassette::builder()
        .listener("http", LOOPBACK)
        .build()
        .unwrap();
    runtime.block_on(app.start()).unwrap();
    let error = app.listener("http").unwrap_err();
    assert!(matches!(error, ListenerError::Io { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("listener `http`: "),
        "{error}"
    );
    runtime.block_on(app.shutdown());
}

#[tokio::test(start_paused = true)]
async fn the_port_stays_open_while_no_service_accepts() {
    // no service at all: connections wait in the backlog, never refused
    let app = Hassette::builder()
        .listener("http", LOOPBACK)
        .build()
        .unwrap();
    app.start().await.unwrap();
    let addr = app.listener_addr("http").unwrap();
    let waiting = TcpStream::connect(addr).expect("the app's socket listens");
    // and whoever takes a handle later accepts it
    let listener = app.listener("http").unwrap();
    let (_, from) = listener.accept().await.unwrap();
    assert_eq!(from, waiting.local_addr().unwrap());
    drop(listener);
    let mut again = TcpStream::connect(addr).expect("a dropped handle leaves it open");
    again
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut byte = [0u8; 1];
    // not reset: the read times out, nothing is sent
    assert!(again.read(&mut byte).is_err());
    app.shutdown().await;
}
