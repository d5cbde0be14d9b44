//! `run_until_signal` in a real process: graceful stop on SIGINT/SIGTERM, immediate exit
//! on a second signal, and the exit code. These run a small binary in real time (signals
//! cannot be paused), each within a few hundred milliseconds.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hassette_tests::process::{signal, spawn_serving, wait_for};

fn spawn(mode: &str) -> Child {
    spawn_serving(env!("CARGO_BIN_EXE_signal_probe"), mode)
}

/// Waits (at most 10s) and returns the exit code and stderr.
fn finish(child: Child) -> (Option<i32>, String) {
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
    std::thread::sleep(Duration::from_millis(200));
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
    let child = Command::new(env!("CARGO_BIN_EXE_signal_probe"))
        .arg("bad-start")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("exiting with failure: service `Probe` did not start: `on_initialize` failed: the config file is missing"),
        "{stderr}"
    );
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
