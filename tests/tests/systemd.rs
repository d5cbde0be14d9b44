//! Feature `systemd`: what `hassette_runtime::systemd::notify` tells a service manager,
//! read from a Unix datagram socket this test opens itself and names in `NOTIFY_SOCKET`.
//!
//! Environment variables are process-wide (and setting them is `unsafe`, which this
//! workspace forbids), so the app runs in a child process: this test binary again, running
//! only `notifier_child` with `NOTIFY_SOCKET` and `WATCHDOG_USEC` in its environment. The
//! child drops marker datagrams (`X-MARK=...`) into the same socket as it goes, so the parent
//! can check each notification against what the app was doing when it was sent.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hassette_runtime::prelude::*;
use tokio::sync::Notify;

/// Ready only when the test says so.
struct Gate {
    open: Arc<Notify>,
}

#[service(restart = "permanent", ready = "manual")]
impl Gate {
    async fn serve(&self, ctx: &ServiceContext) {
        tokio::select! {
            () = ctx.cancelled() => return,
            () = self.open.notified() => ctx.mark_ready(),
        }
        ctx.cancelled().await;
    }
}

/// Ready at once, never fails.
struct Steady;

#[service(restart = "permanent")]
impl Steady {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Fails its next `fail` runs once kicked: two failures against a budget of one restart
/// exhaust it into ExhaustedCooling for 400ms, then it restarts and runs again.
struct Flaky {
    kick: Arc<Notify>,
    fail: Arc<AtomicU32>,
}

#[service(
    restart = "transient",
    backoff(base = "0s"),
    budget(intensity = 1, period = "1m"),
    cooldown = "400ms"
)]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        loop {
            let left = self.fail.load(Ordering::SeqCst);
            if left > 0 {
                self.fail.store(left - 1, Ordering::SeqCst);
                return Err("scripted failure".into());
            }
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                () = self.kick.notified() => {}
            }
        }
    }
}

const CHILD: &str = "HASSETTE_SYSTEMD_CHILD";

/// Sends a marker datagram to the notification socket.
fn mark(what: &str) {
    let path = std::env::var_os("NOTIFY_SOCKET").expect("NOTIFY_SOCKET");
    UnixDatagram::unbound()
        .unwrap()
        .send_to(format!("X-MARK={what}\n").as_bytes(), path)
        .unwrap();
}

/// Waits for an event that moves `service` to `to`.
async fn wait_for(
    events: &mut hassette_runtime::EventReceiver<hassette_runtime::StatusEvent>,
    service: &str,
    to: Status,
) {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let event = events.recv().await.unwrap();
            if &*event.service == service && event.to == to {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{service} never became {to}"));
}

/// The app under systemd: run only as the child process of `notifies_systemd`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let open = Arc::new(Notify::new());
    let kick = Arc::new(Notify::new());
    let fail = Arc::new(AtomicU32::new(0));
    let app = Hassette::builder()
        .service(Steady)
        .service(Gate { open: open.clone() })
        .service(Flaky {
            kick: kick.clone(),
            fail: fail.clone(),
        })
        .build()
        .unwrap();
    let mut events = app.events();
    // A notifier dropped half-way (after its first STATUS=) gives the app back: the next
    // one speaks for it, READY=1 and all.
    let dropped = hassette_runtime::systemd::notify(app.clone());
    assert!(
        tokio::time::timeout(Duration::from_millis(20), dropped)
            .await
            .is_err()
    );
    mark("handover");
    let notifier = tokio::spawn(hassette_runtime::systemd::notify(app.clone()));
    app.start().await.unwrap();
    app.wait_ready::<Steady>().await.unwrap();
    app.wait_ready::<Flaky>().await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;

    mark("gate");
    open.notify_one();
    app.wait_ready::<Gate>().await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;

    fail.store(2, Ordering::SeqCst);
    kick.notify_one();
    wait_for(&mut events, "Flaky", Status::ExhaustedCooling).await;
    mark("cooling");
    wait_for(&mut events, "Flaky", Status::Running).await;
    mark("recovered");
    tokio::time::sleep(Duration::from_millis(350)).await;

    mark("shutdown");
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    tokio::time::timeout(Duration::from_secs(2), notifier)
        .await
        .expect("the notifier returns after STOPPING=1")
        .unwrap();
    mark("end");
}

/// One line received on the socket, and when.
#[derive(Debug)]
struct Line {
    at: Instant,
    text: String,
}

/// Runs `notifier_child` with `env` and collects every line it sends until it exits.
fn run_child(socket: &Path, env: &[(&str, &str)]) -> Vec<Line> {
    let receiver = UnixDatagram::bind(socket).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "notifier_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("NOTIFY_SOCKET", socket)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    let mut exited = None;
    loop {
        match receiver.recv(&mut buf) {
            Ok(n) => {
                let at = Instant::now();
                let text = std::str::from_utf8(&buf[..n]).unwrap();
                lines.extend(text.lines().map(|l| Line {
                    at,
                    text: l.to_owned(),
                }));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Nothing queued: done once the child has exited (its datagrams are
                // all queued by then).
                if exited.is_some() {
                    break;
                }
            }
            Err(e) => panic!("recv: {e}"),
        }
        if exited.is_none() {
            exited = child.try_wait().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not finish; got {lines:#?}");
        }
    }
    let _ = std::fs::remove_file(socket);
    let output = child.wait_with_output().unwrap();
    assert!(
        exited.unwrap().success(),
        "the child failed: {}{}\ngot {lines:#?}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if std::env::var_os("HASSETTE_SYSTEMD_SHOW").is_some() {
        eprintln!("{lines:#?}");
    }
    lines
}

fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hassette-sd-{}-{tag}.sock", std::process::id()))
}

/// Where the marker `what` is in `lines`.
fn marker(lines: &[Line], what: &str) -> usize {
    let text = format!("X-MARK={what}");
    lines
        .iter()
        .position(|l| l.text == text)
        .unwrap_or_else(|| panic!("no marker {what} in {lines:#?}"))
}

fn pings(lines: &[Line]) -> Vec<Instant> {
    lines
        .iter()
        .filter(|l| l.text == "WATCHDOG=1")
        .map(|l| l.at)
        .collect()
}

fn statuses(lines: &[Line]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l.text.strip_prefix("STATUS="))
        .collect()
}

#[test]
fn notifies_systemd() {
    // Outside systemd the notifier is a no-op that returns at once.
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let app = Hassette::builder().service(Steady).build().unwrap();
            tokio::time::timeout(
                Duration::from_secs(1),
                hassette_runtime::systemd::notify(app),
            )
            .await
            .expect("without NOTIFY_SOCKET, notify returns at once");
        });
    }

    // WATCHDOG_USEC=200000: a ping every 100ms while every service is healthy.
    let lines = run_child(&socket_path("wd"), &[("WATCHDOG_USEC", "200000")]);
    let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let gate = marker(&lines, "gate");
    let cooling = marker(&lines, "cooling");
    let recovered = marker(&lines, "recovered");
    let shutdown = marker(&lines, "shutdown");
    let end = marker(&lines, "end");

    // The first word is the state before anything started.
    assert!(
        text[0].starts_with("STATUS="),
        "the first message is a STATUS: {text:#?}"
    );

    // READY=1 exactly once, only after the manual-ready service was made ready, and at
    // once (not at the next periodic refresh).
    let ready: Vec<usize> = (0..lines.len()).filter(|&i| text[i] == "READY=1").collect();
    assert_eq!(ready.len(), 1, "{text:#?}");
    assert!(
        ready[0] > gate,
        "READY=1 before every service was ready: {text:#?}"
    );
    assert!(ready[0] < cooling, "{text:#?}");
    assert!(
        lines[ready[0]].at - lines[gate].at < Duration::from_millis(300),
        "READY=1 came late: {:?}",
        lines[ready[0]].at - lines[gate].at
    );

    // STATUS lines with the counts: the gate Running but not ready, then all running,
    // then the exhausted service, then all running again.
    let before_gate = statuses(&lines[..gate]);
    assert_eq!(
        before_gate.last(),
        Some(&"3 running (1 not ready)"),
        "{text:#?}"
    );
    assert!(
        statuses(&lines[gate..cooling]).contains(&"3 running"),
        "{text:#?}"
    );
    assert!(
        statuses(&lines[..recovered])
            .iter()
            .any(|s| s.contains("1 exhausted (cooling)")),
        "{text:#?}"
    );
    // the notifier may report the recovery just before the child marks it: look from the
    // cooldown on
    assert_eq!(
        statuses(&lines[cooling..shutdown]).last(),
        Some(&"3 running"),
        "{text:#?}"
    );
    // The dropped notifier's STATUS= came before the handover; the one that took over
    // begins with its own.
    let handover = marker(&lines, "handover");
    assert_eq!(statuses(&lines[..handover]).len(), 1, "{text:#?}");
    let distinct = statuses(&lines[handover..]);
    assert!(
        distinct.windows(2).all(|w| w[0] != w[1]),
        "a STATUS is sent only when it changes: {text:#?}"
    );

    // Watchdog pings at half of WATCHDOG_USEC while healthy...
    let healthy = pings(&lines[marker(&lines, "handover")..cooling]);
    assert!(
        healthy.len() >= 5,
        "{} pings before the exhaustion: {text:#?}",
        healthy.len()
    );
    for pair in healthy.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(60) && gap <= Duration::from_millis(300),
            "ping gap {gap:?}"
        );
    }
    // ...none while a service is exhausted (at most one decided just before it was)...
    let cooling_pings = pings(&lines[cooling..recovered]);
    assert!(
        lines[recovered].at - lines[cooling].at >= Duration::from_millis(300),
        "the cooldown lasted {:?}",
        lines[recovered].at - lines[cooling].at
    );
    assert!(
        cooling_pings.len() <= 1,
        "{} pings while exhausted: {text:#?}",
        cooling_pings.len()
    );
    // ...and again once it has recovered.
    assert!(pings(&lines[recovered..shutdown]).len() >= 2, "{text:#?}");

    // STOPPING=1 when the shutdown begins, and nothing from the notifier after it.
    let stopping: Vec<usize> = (0..lines.len())
        .filter(|&i| text[i] == "STOPPING=1")
        .collect();
    assert_eq!(stopping.len(), 1, "{text:#?}");
    assert!(stopping[0] > shutdown && stopping[0] < end, "{text:#?}");
    assert!(
        text[stopping[0] + 1..end]
            .iter()
            .all(|l| l.starts_with("STATUS=stopping")),
        "{text:#?}"
    );

    // WATCHDOG_PID naming another process: the watchdog is not ours, no pings; the rest
    // still arrives.
    let lines = run_child(
        &socket_path("other"),
        &[("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")],
    );
    let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert!(pings(&lines).is_empty(), "{text:#?}");
    assert_eq!(
        text.iter().filter(|l| **l == "READY=1").count(),
        1,
        "{text:#?}"
    );
    assert_eq!(
        text.iter().filter(|l| **l == "STOPPING=1").count(),
        1,
        "{text:#?}"
    );
}
