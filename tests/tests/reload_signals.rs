//! `run_until_signal` reloads on SIGHUP, in a real process (`signal_probe`, see
//! tests/src/bin/signal_probe.rs; its service keeps every hook, `on_reload` included),
//! and with feature `systemd` tells a fake `NOTIFY_SOCKET` (a datagram socket this test
//! binds) `RELOADING=1` with `MONOTONIC_USEC=` before the reload and `READY=1` after.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use hassette_tests::process::{signal, spawn_serving, spawn_serving_with, wait_for};

const PROBE: &str = env!("CARGO_BIN_EXE_signal_probe");

#[test]
fn sighup_reloads_and_the_app_goes_on() {
    let child = spawn_serving(PROBE, "clean");
    signal(&child, "-HUP");
    child.wait_stderr(
        "reload: 1 reloaded, 0 failed, 0 skipped",
        Duration::from_secs(10),
    );
    // Again: the listener stays.
    signal(&child, "-HUP");
    let began = Instant::now();
    while child.stderr_text().matches("reload: 1 reloaded").count() < 2 {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{}",
            child.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "-TERM");
    let (code, stderr, _) = wait_for(child, Duration::from_secs(10)).expect("it exits");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr.matches("reload: 1 reloaded").count(), 2, "{stderr}");
    assert!(stderr.contains("reason=received SIGTERM"), "{stderr}");
}

/// The datagrams received until one holds `what` (at most 10s).
fn until(socket: &UnixDatagram, what: &str) -> Vec<String> {
    let began = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while began.elapsed() < Duration::from_secs(10) {
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = text.lines().any(|line| line == what);
            got.push(text);
            if done {
                return got;
            }
        }
    }
    panic!("no `{what}` within 10s: {got:?}");
}

#[test]
fn systemd_hears_reloading_with_the_monotonic_clock_then_ready() {
    let dir = std::env::temp_dir().join(format!("hassette-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let child = spawn_serving_with(
        PROBE,
        "clean",
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("PROBE_QUIET", "1"),
        ],
    );
    until(&socket, "READY=1");
    let before = clock_usec();
    signal(&child, "-HUP");
    let reloading = until(&socket, "RELOADING=1");
    let after = clock_usec();
    let message = reloading.last().unwrap();
    let usec: i128 = message
        .lines()
        .find_map(|line| line.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {message:?}"))
        .parse()
        .unwrap();
    assert!(
        before <= usec && usec <= after,
        "{before} <= {usec} <= {after}"
    );
    // Then READY=1: the reload is done.
    until(&socket, "READY=1");
    signal(&child, "-TERM");
    let (code, stderr, _) = wait_for(child, Duration::from_secs(10)).expect("it exits");
    assert_eq!(code, Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `CLOCK_MONOTONIC` now, in microseconds, as systemd reads it.
fn clock_usec() -> i128 {
    match sd_notify::NotifyState::monotonic_usec_now().unwrap() {
        sd_notify::NotifyState::MonotonicUsec(usec) => usec,
        other => panic!("{other:?}"),
    }
}
