//! Feature `systemd`: what `hassette_runtime::systemd::notify` tells a service manager,
//! read from a Unix datagram socket this test opens itself and names in `NOTIFY_SOCKET`.
//!
//! Environment variables are process-wide (and setting them is `unsafe`, which this
//! workspace forbids), so the app runs in a child process, `notify_probe` (see
//! tests/src/bin/notify_probe.rs), with `NOTIFY_SOCKET` and `WATCHDOG_USEC` in its
//! environment. The child drops marker datagrams (`X-MARK=...`) into the same socket as it
//! goes, so the test can check each notification against what the app was doing when it
//! was sent; and it takes each step when the test tells it to, once the test has seen
//! what the step before had to show.

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hassette_runtime::prelude::*;

/// Ready at once, never fails.
struct Steady;

#[service(restart = "permanent")]
impl Steady {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// One line received on the socket, and when.
#[derive(Debug)]
struct Line {
    at: Instant,
    text: String,
}

/// The watchdog's interval in these runs: half of `WATCHDOG_USEC=200000`.
const PING_EVERY: Duration = Duration::from_millis(100);

/// Runs `notify_probe` with `env` and collects every line it sends until it exits. It
/// tells the child to go on (`gate`, `fail`, `shutdown`) once the lines so far show what
/// the step before was to show, and `pings` more watchdog pings (or, when the run expects
/// none, as long as that many would take, so that none coming means something).
fn run_child(socket: &Path, env: &[(&str, &str)], pings: bool) -> Vec<Line> {
    let receiver = UnixDatagram::bind(socket).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_notify_probe"))
        .env("NOTIFY_SOCKET", socket)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `(word, since, more)`: say `word` once the marker or line `since` has come, and
    // `more` pings after it.
    let mut steps: std::collections::VecDeque<(&str, Since, usize)> = [
        ("gate", Since::Line("STATUS=3 running (1 not ready)"), 3),
        ("fail", Since::Line("READY=1"), 3),
        (
            "shutdown",
            // the notifier may report the recovery just before the child marks it
            Since::Latest(&[
                Since::Line("X-MARK=recovered"),
                Since::After("X-MARK=cooling", "STATUS=3 running"),
            ]),
            2,
        ),
    ]
    .into();
    let enough = |lines: &[Line], since: &Since, more: usize| {
        let Some(from) = since.find(lines) else {
            return false;
        };
        match pings {
            true => self::pings(&lines[from..]).len() >= more,
            false => lines[from].at.elapsed() >= PING_EVERY * more as u32,
        }
    };
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
        if let Some(&(word, ref since, more)) = steps.front()
            && enough(&lines, since, more)
        {
            let stdin = child.stdin.as_mut().unwrap();
            stdin.write_all(format!("{word}\n").as_bytes()).unwrap();
            stdin.flush().unwrap();
            steps.pop_front();
        }
        if exited.is_none() {
            exited = child.try_wait().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not finish; steps left {steps:?}; got {lines:#?}");
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
    assert!(steps.is_empty(), "steps left {steps:?}");
    if std::env::var_os("HASSETTE_SYSTEMD_SHOW").is_some() {
        eprintln!("{lines:#?}");
    }
    lines
}

/// Where a step of [`run_child`] counts from.
#[derive(Debug)]
enum Since {
    /// The first line equal to this one.
    Line(&'static str),
    /// The first line equal to the second one after the first line equal to the first.
    After(&'static str, &'static str),
    /// The latest of these, once all have come.
    Latest(&'static [Since]),
}

impl Since {
    fn find(&self, lines: &[Line]) -> Option<usize> {
        let first = |from: usize, text: &str| (from..lines.len()).find(|&i| lines[i].text == text);
        match *self {
            Since::Line(text) => first(0, text),
            Since::After(before, text) => first(first(0, before)?, text),
            Since::Latest(all) => all
                .iter()
                .map(|since| since.find(lines))
                .collect::<Option<Vec<usize>>>()?
                .into_iter()
                .max(),
        }
    }
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
    let lines = run_child(&socket_path("wd"), &[("WATCHDOG_USEC", "200000")], true);
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
        false,
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
