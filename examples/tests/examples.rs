//! Runs every example for a short while and checks what it prints, so the README's
//! `cargo run --example demo` and the others keep working.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, which `cargo test` builds before running this.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the example for `seconds` and returns its stdout; it must exit 0.
fn run(name: &str, seconds: &str) -> String {
    let output = Command::new(example(name))
        .args(["--duration", seconds])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

fn assert_has(output: &str, needles: &[&str]) {
    for needle in needles {
        assert!(output.contains(needle), "missing {needle:?} in\n{output}");
    }
}

#[test]
fn demo() {
    let out = run("demo", "7");
    assert_has(
        &out,
        &[
            "database   starting -> running",
            "api        starting -> running",
            "feed       running -> failed  (upstream disconnected)",
            "feed       failed -> starting",
            "mailer     failed -> exhausted (cooling)  (connection refused by smtp.example)",
            "mailer     exhausted (cooling) -> starting",
            "[ health: running | database: running | api: running",
            "listener/conn-1 starting -> running",
            "listener/conn-2 running -> failed  (the client sent `boom`)",
            "removed while running: 3 (1 failed",
            "status page: http://127.0.0.1:",
            "api drained after",
            "service   status",
            "reason: shutdown requested",
        ],
    );
    // the dependency: api runs only once the database is ready (300ms)
    let api_up = out
        .lines()
        .find(|l| l.contains("api        starting -> running"))
        .unwrap();
    let at: f64 = api_up
        .trim_start()
        .split('s')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(at >= 0.3, "{api_up}");
}

#[test]
fn minimal() {
    let out = run("minimal", "1.7");
    assert_has(&out, &["tick 1", "tick 2", "ticked ", "Ticker   stopped"]);
}

#[test]
fn dependencies() {
    let out = run("dependencies", "1");
    let order: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("starting -> running") || l.contains("stopping -> stopped"))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        order,
        ["database", "cache", "api", "api", "cache", "database"]
    );
}

#[test]
fn restart_policies() {
    let out = run("restart_policies", "4");
    assert_has(
        &out,
        &[
            "permanent  failed -> starting",
            "transient  failed -> exhausted (cooling)",
            "transient  exhausted (cooling) -> starting",
            "temporary  failed -> exhausted (dead)",
        ],
    );
    assert!(!out.contains("temporary  failed -> starting"), "{out}");
}

#[test]
fn manual_ready() {
    let out = run("manual_ready", "2.5");
    assert_has(
        &out,
        &[
            "broker: ready",
            "consumer: the broker is ready",
            "broker: not ready (reconnecting)",
            "broker: ready again",
        ],
    );
    let pos = |s: &str| out.find(s).unwrap();
    assert!(pos("broker: ready\n") < pos("consumer: the broker is ready"));
}

#[test]
fn connections() {
    let out = run("connections", "2");
    assert_has(
        &out,
        &[
            "listening on 127.0.0.1:",
            "listener/conn-1 starting -> running",
            "client got [\"hello\", \"world\"]",
            "listener/conn-2 running -> failed  (the client sent `boom`)",
            "client got [\"bye\"]",
            "only the listener is left",
            "removed while running: 3 (1 failed",
        ],
    );
    // The misbehaving connection failed alone: the listener never did.
    assert!(!out.contains("listener   running -> failed"), "{out}");
}
