//! Runs every example and checks what it prints, so the README's `cargo run --example
//! demo` and the others keep working. The focused examples run until a signal, as a
//! reader's would: each test waits for the lines that show the example did its part,
//! then sends SIGINT (or SIGTERM) and checks the graceful stop and its report.

// Without Unix signals only the demo runs here.
#![cfg_attr(not(unix), allow(dead_code))]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long an example may take to print a line a test waits for, or to exit: far more
/// than any needs, so a loaded machine does not fail them; a hung example fails its test.
const PATIENCE: Duration = Duration::from_secs(30);

/// `target/<profile>/examples/<name>`, which `cargo test` builds before running this.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the example with `--duration seconds` and returns its stdout; it must exit 0.
fn run_for(name: &str, seconds: &str) -> String {
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

/// A running example whose stdout is read line by line as it prints it.
struct Running {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Everything it has printed so far.
    out: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// A test that fails half-way leaves no example running.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn start(name: &'static str) -> Running {
        Running::start_with(name, &[])
    }

    /// [`start`](Self::start) with arguments.
    fn start_with(name: &'static str, args: &[&std::ffi::OsStr]) -> Running {
        let mut child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Running {
            name,
            child,
            lines,
            out: String::new(),
            stderr: Some(stderr),
        }
    }

    /// Waits until it has printed a line containing `needle` (or has printed one
    /// already) and returns that line.
    fn wait_for(&mut self, needle: &str) -> String {
        self.wait_until(needle, |out| out.contains(needle));
        let line = self.out.lines().find(|l| l.contains(needle)).unwrap();
        line.to_owned()
    }

    /// Waits until what it has printed so far satisfies `done`.
    fn wait_until(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(&self.out) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                let _ = self.child.kill();
                panic!("{}: no {what} in\n{}", self.name, self.out);
            };
            self.out.push_str(&line);
            self.out.push('\n');
        }
    }

    /// Sends it a signal, as Ctrl-C (`INT`) or systemd (`TERM`) would.
    #[cfg(unix)]
    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}: {sent}");
    }

    /// Waits for it to exit, which it must do with code 0, and returns all it printed.
    fn finish(mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{} did not exit after the signal:\n{}", self.name, self.out);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader thread ends at end of file, which comes with the exit.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.out.push_str(&line);
            self.out.push('\n');
        }
        let stderr = self
            .stderr
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default();
        assert!(
            status.success(),
            "{} failed: {status}\n{}\n{stderr}",
            self.name,
            self.out
        );
        std::mem::take(&mut self.out)
    }
}

/// Runs the example until it has printed each of `until`, then interrupts it as Ctrl-C
/// would, and returns all it printed; it must have stopped gracefully, with code 0.
#[cfg(unix)]
fn run_until(name: &'static str, until: &[&str]) -> String {
    let mut running = Running::start(name);
    for needle in until {
        running.wait_for(needle);
    }
    running.signal("INT");
    running.finish()
}

/// Sends `GET path` over HTTP/1.1 on a new connection (the response is read later, with
/// [`response`]): a client as plain as curl, written out so that nothing hides.
fn request(addr: &str, path: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

/// The status line and the body of the response on `stream`, read until the server
/// closes the connection.
fn response(mut stream: std::net::TcpStream) -> (String, String) {
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

fn assert_has(output: &str, needles: &[&str]) {
    for needle in needles {
        assert!(output.contains(needle), "missing {needle:?} in\n{output}");
    }
}

#[test]
fn demo() {
    let out = run_for("demo", "7");
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
            "open connections: conn-3",
            "removed while running: 3 (1 failed",
            "status page: http://127.0.0.1:",
            "api draining after",
            "api reloaded its settings after",
            " reloaded, 0 failed, 0 skipped",
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
    // the drain comes before the stop: api keeps serving through it
    let draining = out.find("api draining after").unwrap();
    let stopping = out.find("api        running -> stopping").unwrap();
    assert!(draining < stopping, "{out}");
}

#[cfg(unix)]
#[test]
fn minimal() {
    let out = run_until("minimal", &["tick 2"]);
    assert_has(
        &out,
        &["ticked ", "Ticker   stopped", "reason: received SIGINT"],
    );
}

#[cfg(unix)]
#[test]
fn dependencies() {
    let out = run_until("dependencies", &["api: starting -> running"]);
    let order: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("starting -> running") || l.contains("stopping -> stopped"))
        .map(|l| l.split_whitespace().nth(1).unwrap().trim_end_matches(':'))
        .collect();
    assert_eq!(
        order,
        ["database", "cache", "api", "api", "cache", "database"]
    );
}

#[cfg(unix)]
#[test]
fn restart_policies() {
    let out = run_until(
        "restart_policies",
        &[
            "permanent: failed -> starting",
            "temporary: failed -> exhausted (dead)",
            "transient: failed -> exhausted (cooling)",
            "transient: exhausted (cooling) -> starting",
        ],
    );
    assert!(!out.contains("temporary: failed -> starting"), "{out}");
}

#[cfg(unix)]
#[test]
fn manual_ready() {
    let out = run_until("manual_ready", &["broker: ready again"]);
    assert_has(
        &out,
        &[
            "consumer: the broker is ready",
            "broker: not ready (reconnecting)",
        ],
    );
    let pos = |s: &str| out.find(s).unwrap();
    assert!(pos("broker: ready\n") < pos("consumer: the broker is ready"));
}

#[cfg(unix)]
#[test]
fn connections() {
    let out = run_until("connections", &["only the listener is left"]);
    assert_has(
        &out,
        &[
            "listening on 127.0.0.1:",
            "listener/conn-1: starting -> running",
            "1 connection(s) open",
            "client got [\"hello\", \"conn-1\"]",
            "listener/conn-2: running -> failed (the client sent `boom`)",
            "client got [\"bye\"]",
            "removed while running: 3 (1 failed",
        ],
    );
    // The misbehaving connection failed alone: the listener never did.
    assert!(!out.contains("listener: running -> failed"), "{out}");
}

#[cfg(unix)]
#[test]
fn axum_server() {
    let mut server = Running::start("axum_server");
    let line = server.wait_for("listening on http://");
    let addr = line.rsplit('/').next().unwrap().to_owned();

    let (status, body) = response(request(&addr, "/"));
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "hello, request 1\n")
    );
    let (status, body) = response(request(&addr, "/services"));
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "http: running\n")
    );
    let (status, _) = response(request(&addr, "/nowhere"));
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // A request in flight when SIGTERM arrives is answered in full before the stop ends.
    let slow = request(&addr, "/slow");
    server.wait_for("GET /slow: waiting for the shutdown");
    server.signal("TERM");
    let (status, body) = response(slow);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "finished after the shutdown began\n")
    );
    let out = server.finish();
    assert_has(
        &out,
        &[
            "GET /slow: answered during the shutdown",
            "served 3 requests",
            "reason: received SIGTERM",
        ],
    );
    // stopped by the cancellation, within its shutdown_timeout: not aborted
    let http = out.lines().find(|l| l.starts_with("http ")).unwrap();
    assert!(
        http.contains(" stopped ") && !http.contains("aborted"),
        "{out}"
    );
}

#[cfg(unix)]
#[test]
fn worker_pool() {
    let mut pool = Running::start("worker_pool");
    let failed = pool.wait_for("running -> failed (panicked: job 3: corrupt payload)");
    let worker = failed.split_whitespace().nth(1).unwrap();
    let worker = worker.trim_end_matches(':').to_owned();
    // Restarted after its backoff, it takes jobs again.
    let restarted = format!("{worker}: failed -> starting");
    let works_again = format!("{worker}: job ");
    pool.wait_until("job done by the restarted worker", |out| {
        out.find(&restarted)
            .is_some_and(|at| out[at..].contains(&works_again))
    });
    pool.signal("INT");
    let out = pool.finish();

    // The others carried on meanwhile: none of them failed, each did jobs after it.
    let after_failure = &out[out.find(&failed).unwrap()..];
    for other in (1..=4).map(|i| format!("worker-{i}")) {
        if other != worker {
            assert!(after_failure.contains(&format!("{other}: job ")), "{out}");
        }
    }
    assert_eq!(out.matches("-> failed").count(), 1, "{out}");
    // The drain: every job the queue accepted was done once, but the one that panicked.
    assert_has(&out, &["stopping; draining the", "reason: received SIGINT"]);
    let tally = out.lines().find(|l| l.starts_with("queued ")).unwrap();
    let numbers: Vec<u64> = tally
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [queued, done, lost] = numbers[..] else {
        panic!("{tally}")
    };
    assert_eq!((done + 1, lost), (queued, 1), "{out}");
    for job in (1..=queued).filter(|&job| job != 3) {
        let line = format!(": job {job} done\n");
        assert_eq!(out.matches(&line).count(), 1, "job {job}:\n{out}");
    }
    // In the report: the failed worker restarted once; every worker stopped.
    let report = &out[out.find("service   status").unwrap()..];
    let rows: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("worker-"))
        .collect();
    assert_eq!(rows.len(), 4, "{report}");
    for row in rows {
        let cells: Vec<&str> = row.split_whitespace().collect();
        let restarts = if cells[0] == worker { "1" } else { "0" };
        assert_eq!(cells[1..3], ["stopped", restarts], "{row}");
    }
}

/// The example's own `settings.toml`: the feed's declared 5s backoff is the file's 250ms.
#[test]
fn settings_file() {
    let output = Command::new(example("settings_file")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{output:?}");
    assert_has(
        &stdout,
        &[
            "feed: failed (upstream not ready), restarting in 250ms",
            "feed: running again",
            "feed     stopped                     1",
        ],
    );
}

/// The settings re-read on SIGHUP: a new backoff takes effect at the next restart; a
/// value that breaks a rule is refused naming the service and the key, and a file that
/// cannot be read keeps the settings in force; the app runs on through all of it.
#[cfg(unix)]
#[test]
fn settings_reload_on_sighup() {
    let dir = std::env::temp_dir().join(format!("hassette-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("settings.toml");
    let write = |backoff: &str| {
        let text = format!(
            "[services.feed]\n{backoff}\nbudget = {{ intensity = 1000, period = \"1m\" }}\n"
        );
        std::fs::write(&path, text).unwrap();
    };
    write("backoff = { base = \"250ms\", multiplier = 1.0 }");
    let mut running = Running::start_with("settings_reload", &[path.as_os_str()]);
    running.wait_for("feed: failed (upstream dropped), restarting in 250ms");
    write("backoff = { base = \"2s\", multiplier = 1.0 }");
    running.signal("HUP");
    running.wait_for("settings: reconfigured feed");
    running.wait_for("feed: failed (upstream dropped), restarting in 2000ms");
    // Refused for its service, naming it and the key: the 2s backoff stays.
    write("cooldown = \"1m\"");
    running.signal("HUP");
    running.wait_for("settings: service `feed`: `cooldown` has no effect on a permanent service");
    std::fs::write(&path, "[services.feed]\nbackoff = { base = \"2 s\" }\n").unwrap();
    running.signal("HUP");
    running.wait_for("the settings in force stay");
    let seen = running.out.matches("restarting in 2000ms").count();
    running.wait_until("another 2s restart", |out| {
        out.matches("restarting in 2000ms").count() > seen
    });
    running.signal("INT");
    let out = running.finish();
    assert!(out.contains("feed keeps its settings"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file with a value that breaks a rule is refused before anything starts, naming the
/// file's line and key (`backoff.multiplier`, `budget.period`), as is a misspelt key.
#[test]
fn settings_file_refuses_a_bad_value_by_its_key() {
    let dir = std::env::temp_dir().join(format!("hassette-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "multiplier.toml",
            "[services.feed]\nstartup_timeout = \"10s\"\nbackoff = { base = \"1s\", multiplier = 0.5 }\n",
            "line 3",
            "`backoff.multiplier` is 0.5, less than 1.0, so each delay would be shorter than the \
             last; write `multiplier = 1.0` for a constant delay, or more to grow it",
        ),
        (
            "period.toml",
            "[services.feed.budget]\nintensity = 3\nperiod = \"0s\"\n",
            "line 1",
            "`budget.period` must be longer than zero",
        ),
        (
            "misspelt.toml",
            "[services.store]\nshutdown_timout = \"1m30s\"\n",
            "line 1",
            "unknown key `shutdown_timout` in a service's settings; did you mean \
             `shutdown_timeout`?",
        ),
        (
            "unknown-service.toml",
            "[services.feeed]\nshutdown_timeout = \"1s\"\n",
            "",
            "`configure` names `feeed`, but no service is registered under this name",
        ),
    ];
    for (file, text, line, expected) in cases {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let output = Command::new(example("settings_file"))
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file}: {output:?}");
        assert!(output.stdout.is_empty(), "{file}: started: {output:?}");
        assert_has(&stderr, &[line, expected]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
