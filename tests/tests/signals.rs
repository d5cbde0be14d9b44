//! `run_until_signal` in a real process: graceful stop on SIGINT/SIGTERM, immediate exit
//! on a second signal, and the exit code. These run a small binary in real time (signals
//! cannot be paused), each within a few hundred milliseconds.

use std::time::{Duration, Instant};

use hassette_tests::process::{
    Spawned, command, signal, spawn_serving, spawn_serving_with, wait_for,
};

const PROBE: &str = env!("CARGO_BIN_EXE_signal_probe");

fn spawn(mode: &str) -> Spawned {
    spawn_serving(PROBE, mode)
}

/// Waits (at most 10s) and returns the exit code and stderr.
fn finish(child: Spawned) -> (Option<i32>, String) {
    let (code, stderr, _) =
        wait_for(child, Duration::from_secs(10)).expect("the process did not exit");
    (code, stderr)
}

#[test]
fn sigterm_stops_gracefully_with_exit_code_zero() {
    let child = spawn("clean");
    signal(&child, "-TERM");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("shutting down reason=received SIGTERM"),
        "{stderr}"
    );
    assert!(stderr.contains("from=stopping to=stopped"), "{stderr}");
}

#[test]
fn sigint_stops_gracefully_too() {
    let child = spawn("clean");
    signal(&child, "-INT");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("reason=received SIGINT"), "{stderr}");
}

#[test]
fn a_second_signal_exits_at_once() {
    let child = spawn("slow");
    signal(&child, "-INT");
    // the stop is in the slow `before_shutdown`
    child.wait_stderr("from=running to=stopping", Duration::from_secs(10));
    let began = Instant::now();
    signal(&child, "-INT");
    let (code, stderr) = finish(child);
    assert!(
        began.elapsed() < Duration::from_millis(1500),
        "waited for the slow hook"
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("received SIGINT again: exiting at once"),
        "{stderr}"
    );
}

#[test]
fn a_crash_shuts_the_app_down_by_itself_with_a_failure_code() {
    let child = spawn("crash");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("exiting with failure: `Probe` crashed"),
        "{stderr}"
    );
    assert!(stderr.contains("fatal: the disk is gone"), "{stderr}");
}

#[test]
fn an_aborted_serve_makes_the_exit_code_non_zero() {
    let child = spawn("abort");
    signal(&child, "-TERM");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("`Probe` had to be aborted"), "{stderr}");
    assert!(stderr.contains("(aborted)"), "{stderr}");
}

#[test]
fn a_failed_start_exits_non_zero_and_says_why() {
    let child = hassette_tests::process::spawn(&mut command(PROBE, "bad-start"));
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("exiting with failure: service `Probe` did not start: `on_initialize` failed: the config file is missing"),
        "{stderr}"
    );
}

#[test]
fn a_first_start_that_is_retried_does_not_end_the_process() {
    // the dependant's first start fails (its dependency takes longer than its startup
    // timeout); its policy restarts it, and it prints `serving` once it runs
    let child = spawn("slow-dependency");
    signal(&child, "-TERM");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("start failed; its restart policy starts it again"),
        "{stderr}"
    );
    assert!(!stderr.contains("exiting with failure"), "{stderr}");
}

#[test]
fn a_serve_holding_tokio_stdin_does_not_keep_the_process_alive() {
    // tokio's stdin reads on a blocking thread, which the runtime's drop would wait for
    // forever: the process exits with the report's code all the same
    let child = spawn("stdin");
    signal(&child, "-TERM");
    let (code, stderr, took) =
        wait_for(child, Duration::from_secs(10)).expect("the process did not exit");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {stderr}");
    assert!(
        stderr.contains("the runtime still waits for a blocking thread; exiting without it"),
        "{stderr}"
    );
}

/// A serve that blocks its thread, checking `is_cancelled` between blocking calls, under
/// `run_until` or `shutdown` and `#[tokio::main]`: the stop cuts it off and cancels its
/// run from outside its task, so the loop ends, gives its worker back, and the runtime's
/// drop (which waits for every worker) lets the process exit.
fn a_blocked_serve_ends_and_the_process_exits(run: &str) {
    let child = spawn_with("blocked", &[("PROBE_RUN", run)]);
    signal(&child, "-TERM");
    // about 3s: the stop budget (6 x 300ms + 1.1s), then the loop's next check
    let finished = wait_for(child, Duration::from_secs(10));
    let (code, stderr, _) = finished.expect("the process did not exit after main returned");
    assert!(stderr.contains("(aborted)"), "{stderr}");
    assert!(stderr.contains("main returned"), "{stderr}");
    assert_eq!(code, Some(1), "{stderr}");
}

#[test]
fn a_blocked_serve_ends_and_the_process_exits_after_run_until() {
    a_blocked_serve_ends_and_the_process_exits("run-until");
}

#[test]
fn a_blocked_serve_ends_and_the_process_exits_after_shutdown() {
    a_blocked_serve_ends_and_the_process_exits("shutdown");
}

#[test]
fn a_second_signal_after_the_report_still_exits_at_once() {
    // `run_until_signal` in a task of its own, with a serve that holds tokio's stdin: the
    // runtime's drop after `main` waits for that blocking thread for ever, and no exit
    // watchdog is armed off the main thread; the next signal must still end the process.
    let child = spawn_with("stdin", &[("PROBE_RUN", "spawned")]);
    signal(&child, "-TERM");
    child.wait_stderr("main returned", Duration::from_secs(10));
    let began = Instant::now();
    signal(&child, "-TERM");
    let (code, stderr, _) =
        wait_for(child, Duration::from_secs(10)).expect("the second signal did not end it");
    assert!(
        began.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(code, Some(143), "{stderr}");
    assert!(
        stderr.contains("received SIGTERM after the shutdown: exiting at once"),
        "{stderr}"
    );
}

#[test]
fn a_signal_during_a_slow_start_is_a_clean_stop() {
    let child = spawn("slow-start");
    signal(&child, "-TERM");
    let (code, stderr, took) =
        wait_for(child, Duration::from_secs(10)).expect("the process did not exit");
    assert_eq!(code, Some(0), "{stderr}");
    // the hook saw its run cancelled: not the 30s it would otherwise sleep
    assert!(took < Duration::from_secs(3), "took {took:?}: {stderr}");
    assert!(!stderr.contains("exiting with failure"), "{stderr}");
}

#[test]
fn a_job_that_ends_the_app_exits_zero() {
    let child = spawn("job");
    let (code, stderr, _) =
        wait_for(child, Duration::from_secs(10)).expect("the job did not end the app");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("reason: the job is done"), "{stderr}");
}

fn spawn_with(mode: &str, env: &[(&str, &str)]) -> Spawned {
    spawn_serving_with(PROBE, mode, env)
}

#[test]
fn the_report_is_logged_once() {
    let child = spawn("clean");
    signal(&child, "-TERM");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr.matches("shutdown report").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("last error").count(), 1, "{stderr}");
    assert!(!stderr.contains("exiting with failure"), "{stderr}");
}

#[test]
fn a_failure_logs_the_report_once_at_error_with_the_reason() {
    let child = spawn("crash");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.matches("last error").count(), 1, "{stderr}");
    let log = stderr
        .lines()
        .find(|l| l.contains("exiting with failure; shutdown report"))
        .unwrap_or_else(|| panic!("no report in the log: {stderr}"));
    assert!(log.contains("ERROR"), "{log}");
    // the record's fields follow its (multi-line) message
    assert!(stderr.contains("why=`Probe` crashed"), "{stderr}");
}

#[test]
fn without_a_subscriber_a_failure_prints_one_line_and_not_the_report() {
    let child = spawn_with("crash", &[("PROBE_QUIET", "1")]);
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr, "hassette: exiting with failure: `Probe` crashed\n");
}

#[test]
fn without_a_subscriber_a_clean_stop_prints_nothing() {
    let child = spawn_with("clean", &[("PROBE_QUIET", "1")]);
    signal(&child, "-TERM");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

/// With feature `systemd`, `run_until_signal` tells systemd by itself; a notifier the
/// program spawns too returns at once, so each message comes once.
#[test]
fn run_until_signal_notifies_systemd_by_itself_and_only_once() {
    use std::os::unix::net::UnixDatagram;

    let socket = std::env::temp_dir().join(format!("hassette-sig-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let receiver = UnixDatagram::bind(&socket).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut child = spawn_with(
        "clean",
        &[
            ("PROBE_NOTIFY_TOO", "1"),
            ("PROBE_QUIET", "1"),
            ("NOTIFY_SOCKET", socket.to_str().unwrap()),
        ],
    );
    let mut lines: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut signalled = false;
    loop {
        match receiver.recv(&mut buf) {
            Ok(n) => lines.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            ),
            // nothing queued: once the child has exited, every datagram it sent is in
            Err(_) if signalled && child.has_exited() => break,
            Err(_) => {}
        }
        if !signalled && lines.iter().any(|l| l == "READY=1") {
            signal(&child, "-TERM");
            signalled = true;
        }
        assert!(Instant::now() < deadline, "no end; got {lines:?}");
    }
    let _ = std::fs::remove_file(&socket);
    let (code, stderr, _) = wait_for(child, Duration::from_secs(1)).unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let count = |what: &str| lines.iter().filter(|l| *l == what).count();
    assert_eq!(count("READY=1"), 1, "{lines:?}");
    assert_eq!(count("STOPPING=1"), 1, "{lines:?}");
    assert!(lines.iter().any(|l| l == "STATUS=1 running"), "{lines:?}");
    let ready = lines.iter().position(|l| l == "READY=1").unwrap();
    let stopping = lines.iter().position(|l| l == "STOPPING=1").unwrap();
    assert!(ready < stopping, "{lines:?}");
}
