//! A scriptable service for the integration tests: each hook and `serve` does what the
//! test scripted for its next call (succeed, fail, panic, hang, ...) and writes what it did
//! to a shared log, so a test can compare the exact order of hooks.

#![allow(missing_debug_implementations)]

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_runtime::{
    BoxError, Dependency, EventReceiver, Fatal, Hooks, Resource, RestartSpec, RestartType, Service,
    ServiceContext, StatusEvent,
};

/// What one call of a hook or `serve` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Hooks: return `Ok`. Serve: run until cancelled, then return `Ok`.
    Ok,
    /// Serve: return `Ok` at once, without waiting for cancellation.
    Return,
    /// Return an error at once.
    Err,
    /// Return a `Fatal` error at once.
    Fatal,
    /// Return a `Boom` error at once (a type a test may declare fatal or non-retryable).
    Boom,
    /// Panic with the message "kaboom".
    Panic,
    /// Never finish, ignoring cancellation.
    Hang,
    /// Sleep this long, ignoring cancellation, then behave like `Ok`.
    Sleep(Duration),
    /// Serve: run (ready) this long, then return an error.
    ErrAfter(Duration),
    /// Serve: wait for cancellation, then return a "channel closed" error.
    ClosedOnCancel,
    /// Serve: mark ready after this delay, then behave like `Ok` (for `ready = manual`).
    ReadyAfter(Duration),
}

/// The error `Act::Err` returns.
#[derive(Debug)]
pub struct Oops(pub &'static str);
impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Oops {}

/// The error `Act::Boom` returns.
#[derive(Debug)]
pub struct Boom;
impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}
impl std::error::Error for Boom {}

/// The restart policy and dependencies of a [`Probe`] type.
pub trait Profile: Send + Sync + 'static {
    /// The spec.
    const SPEC: RestartSpec;
    /// Its `depends_on`.
    const DEPENDS_ON: &'static [Dependency] = &[];
    /// Whether `Boom` is fatal.
    const BOOM_FATAL: bool = false;
    /// Whether `Boom` is non-retryable.
    const BOOM_NON_RETRYABLE: bool = false;
}

/// The shared, ordered log of what probes did.
#[derive(Clone, Default, Debug)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Appends one line.
    pub fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }
    /// Everything so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    /// Lines of one probe, without the `name:` prefix.
    pub fn of(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}:");
        self.lines()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
    /// How many lines equal `line`.
    pub fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|l| *l == line).count()
    }
}

/// A service (or resource) whose behaviour is scripted per call.
pub struct Probe<P: Profile> {
    name: &'static str,
    log: Log,
    script: Mutex<HashMap<&'static str, VecDeque<Act>>>,
    defaults: Mutex<HashMap<&'static str, Act>>,
    _profile: PhantomData<fn() -> P>,
}

impl<P: Profile> Probe<P> {
    /// A probe named `name` for the log, where every call does `Act::Ok`.
    pub fn new(name: &'static str, log: &Log) -> Self {
        Probe {
            name,
            log: log.clone(),
            script: Mutex::default(),
            defaults: Mutex::default(),
            _profile: PhantomData,
        }
    }

    /// The next calls of `what` (a hook name or `serve`) do `acts`, in order; after them,
    /// the default for `what`.
    pub fn then(self, what: &'static str, acts: impl IntoIterator<Item = Act>) -> Self {
        self.script
            .lock()
            .unwrap()
            .entry(what)
            .or_default()
            .extend(acts);
        self
    }

    /// Every call of `what` not scripted by [`then`](Self::then) does `act`.
    pub fn always(self, what: &'static str, act: Act) -> Self {
        self.defaults.lock().unwrap().insert(what, act);
        self
    }

    fn next(&self, what: &'static str) -> Act {
        let scripted = self
            .script
            .lock()
            .unwrap()
            .get_mut(what)
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| *self.defaults.lock().unwrap().get(what).unwrap_or(&Act::Ok))
    }

    async fn hook(&self, what: &'static str, ctx: &ServiceContext) -> Result<(), BoxError> {
        let act = self.next(what);
        self.log.push(format!("{}:{what}", self.name));
        let _ = ctx;
        match act {
            Act::Ok | Act::Return | Act::ClosedOnCancel | Act::ReadyAfter(_) | Act::ErrAfter(_) => {
                Ok(())
            }
            Act::Err => Err(Oops("hook failed").into()),
            Act::Fatal => Err(Fatal::new("fatal hook").into()),
            Act::Boom => Err(Boom.into()),
            Act::Panic => panic!("kaboom"),
            Act::Hang => std::future::pending().await,
            Act::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        }
    }

    async fn run(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let act = self.next("serve");
        self.log.push(format!("{}:serve", self.name));
        let result = match act {
            Act::Ok => {
                ctx.cancelled().await;
                Ok(())
            }
            Act::ReadyAfter(d) => {
                tokio::time::sleep(d).await;
                ctx.mark_ready();
                ctx.cancelled().await;
                Ok(())
            }
            Act::Return => Ok(()),
            Act::Err => Err(Oops("serve failed").into()),
            Act::Fatal => Err(Fatal::new("fatal serve").into()),
            Act::Boom => Err(Boom.into()),
            Act::Panic => panic!("kaboom"),
            Act::Hang => std::future::pending().await,
            Act::Sleep(d) => {
                tokio::time::sleep(d).await;
                ctx.cancelled().await;
                Ok(())
            }
            Act::ErrAfter(d) => {
                tokio::time::sleep(d).await;
                Err(Oops("serve failed").into())
            }
            Act::ClosedOnCancel => {
                ctx.cancelled().await;
                Err(Oops("channel closed").into())
            }
        };
        self.log.push(format!("{}:serve:end", self.name));
        result
    }
}

impl<P: Profile> Hooks for Probe<P> {
    const DEPENDS_ON: &'static [Dependency] = P::DEPENDS_ON;

    async fn before_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("before_initialize", ctx).await
    }
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("on_initialize", ctx).await
    }
    async fn after_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.log.push(format!(
            "{}:status-in-after_initialize:{}",
            self.name,
            ctx.status()
        ));
        self.hook("after_initialize", ctx).await
    }
    async fn before_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("before_shutdown", ctx).await
    }
    async fn on_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("on_shutdown", ctx).await
    }
    async fn after_shutdown(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.hook("after_shutdown", ctx).await
    }
}

impl<P: Profile> Service for Probe<P> {
    const RESTART_SPEC: RestartSpec = P::SPEC;

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.run(ctx).await
    }

    fn is_fatal(error: &(dyn std::error::Error + 'static)) -> bool {
        P::BOOM_FATAL && error.is::<Boom>()
    }

    fn is_non_retryable(error: &(dyn std::error::Error + 'static)) -> bool {
        P::BOOM_NON_RETRYABLE && error.is::<Boom>()
    }
}

impl<P: Profile> Resource for Probe<P> {}

/// Declares a profile type: `profile!(Name, RestartType::X, { field: value, ... })`.
#[macro_export]
macro_rules! profile {
    ($name:ident, $restart:expr $(, { $($field:ident : $value:expr),* $(,)? })? $(, depends_on = [$($dep:ty),*])? $(, boom_fatal = $fatal:expr)? $(, boom_non_retryable = $nr:expr)?) => {
        pub struct $name;
        impl $crate::Profile for $name {
            const SPEC: ::hassette_runtime::RestartSpec = ::hassette_runtime::RestartSpec {
                $($($field: $value,)*)?
                ..::hassette_runtime::RestartSpec::new($restart)
            };
            $(const DEPENDS_ON: &'static [::hassette_runtime::Dependency] = &[$(::hassette_runtime::Dependency::on::<$dep>()),*];)?
            $(const BOOM_FATAL: bool = $fatal;)?
            $(const BOOM_NON_RETRYABLE: bool = $nr;)?
        }
    };
}

profile!(Temp, RestartType::Temporary);

/// Every event until the receiver is empty, as `service: from -> to` lines.
pub fn drain(events: &mut EventReceiver<StatusEvent>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        out.push(format!(
            "{}: {:?} -> {:?}",
            event.service, event.from, event.to
        ));
    }
    out
}

/// Every event until the receiver is empty.
pub fn drain_events(events: &mut EventReceiver<StatusEvent>) -> Vec<StatusEvent> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        out.push(event);
    }
    out
}

/// Lets every ready task run (the paused clock does not move).
pub async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

/// A `tracing` writer that keeps what was logged, for the logging tests.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// A plain-text subscriber (no time, no colours) up to `level` that writes here.
    pub fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish()
    }
}

/// `Duration::from_secs`.
pub const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `Duration::from_millis`.
pub const fn ms(s: u64) -> Duration {
    Duration::from_millis(s)
}

/// The kind of probe most tests use: temporary, default timeouts.
pub type TempProbe = Probe<Temp>;

/// Helpers for tests that run a small app in a child process (signals, busy threads).
pub mod process {
    use std::io::Read;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::{Duration, Instant};

    /// A child process whose stdout and stderr are read as they come, each by a thread
    /// of its own, so that a test waits for what it needs (a line printed, the exit)
    /// instead of sleeping. Its stdin is a pipe that stays open, unwritten, as long as
    /// it lives.
    pub struct Spawned {
        child: Child,
        stdout: Arc<Stream>,
        stderr: Arc<Stream>,
    }

    /// What one output of the child has printed so far, and whether it is closed.
    #[derive(Default)]
    struct Stream {
        text: Mutex<(String, bool)>,
        grew: Condvar,
    }

    impl Stream {
        /// A thread that reads `from` into a new stream until it is closed.
        fn read(mut from: impl Read + Send + 'static) -> Arc<Self> {
            let stream = Arc::new(Stream::default());
            let filled = stream.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = from.read(&mut buf).unwrap_or(0);
                    let mut text = filled.text.lock().unwrap();
                    match n {
                        0 => text.1 = true,
                        n => text.0.push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                    filled.grew.notify_all();
                    if n == 0 {
                        return;
                    }
                }
            });
            stream
        }

        /// Waits up to `limit` until `done` holds for the text and whether the stream is
        /// closed; the text, and whether it did.
        fn wait(&self, limit: Duration, done: impl Fn(&str, bool) -> bool) -> (String, bool) {
            let text = self.text.lock().unwrap();
            let (text, _) = self
                .grew
                .wait_timeout_while(text, limit, |(text, closed)| !done(text, *closed))
                .unwrap();
            (text.0.clone(), done(&text.0, text.1))
        }

        fn text(&self) -> String {
            self.text.lock().unwrap().0.clone()
        }
    }

    /// Runs `binary mode` and returns once it printed `serving` (its service runs, so a
    /// signal is handled by the app).
    pub fn spawn_serving(binary: &str, mode: &str) -> Spawned {
        spawn_serving_with(binary, mode, &[])
    }

    /// [`spawn_serving`] with `env` added.
    pub fn spawn_serving_with(binary: &str, mode: &str, env: &[(&str, &str)]) -> Spawned {
        let child = spawn(command(binary, mode).envs(env.iter().copied()));
        let (stdout, _) = child.stdout.wait(Duration::from_secs(30), |text, closed| {
            text.contains('\n') || closed
        });
        assert_eq!(
            stdout.lines().next(),
            Some("serving"),
            "{}",
            child.stderr_text()
        );
        child
    }

    /// `binary mode`, without systemd's variables (a test run under systemd must not
    /// talk to it) unless the caller sets them again.
    pub fn command(binary: &str, mode: &str) -> Command {
        let mut command = Command::new(binary);
        command
            .arg(mode)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC");
        command
    }

    /// Runs `command` with its output read as it comes.
    pub fn spawn(command: &mut Command) -> Spawned {
        spawn_with_stdin(command, Stdio::piped())
    }

    /// [`spawn`] with `stdin` as the child's standard input (a socket to pass on, say).
    pub fn spawn_with_stdin(command: &mut Command, stdin: Stdio) -> Spawned {
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Stream::read(child.stdout.take().unwrap());
        let stderr = Stream::read(child.stderr.take().unwrap());
        Spawned {
            child,
            stdout,
            stderr,
        }
    }

    impl Spawned {
        /// Sends `signal` (like `-TERM`).
        pub fn signal(&self, signal: &str) {
            let status = Command::new("kill")
                .args([signal, &self.child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }

        /// Waits up to `limit` until stdout holds `what`; panics with both outputs if it
        /// does not by then.
        pub fn wait_stdout(&self, what: &str, limit: Duration) {
            let (text, seen) = self.stdout.wait(limit, |text, _| text.contains(what));
            assert!(
                seen,
                "no `{what}` on stdout within {limit:?}: {text}\nstderr: {}",
                self.stderr_text()
            );
        }

        /// Waits up to `limit` until stderr holds `what`; panics with it if it does not
        /// by then.
        pub fn wait_stderr(&self, what: &str, limit: Duration) {
            let (text, seen) = self.stderr.wait(limit, |text, _| text.contains(what));
            assert!(seen, "no `{what}` on stderr within {limit:?}: {text}");
        }

        /// What it printed on stdout so far.
        pub fn stdout_text(&self) -> String {
            self.stdout.text()
        }

        /// What it printed on stderr so far.
        pub fn stderr_text(&self) -> String {
            self.stderr.text()
        }

        /// Its process id.
        pub fn id(&self) -> u32 {
            self.child.id()
        }

        /// Whether it has exited.
        pub fn has_exited(&mut self) -> bool {
            self.child.try_wait().unwrap().is_some()
        }
    }

    impl Drop for Spawned {
        fn drop(&mut self) {
            // a test that failed half-way leaves no process behind
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Sends `signal` (like `-TERM`) to the child.
    pub fn signal(child: &Spawned, signal: &str) {
        child.signal(signal);
    }

    /// Waits up to `limit` for the process to exit (its stderr closes as it does); `None`
    /// (and the process killed) when it did not by then. Returns the exit code, stderr
    /// and how long it took.
    pub fn wait_for(
        mut child: Spawned,
        limit: Duration,
    ) -> Option<(Option<i32>, String, Duration)> {
        let began = Instant::now();
        let (stderr, closed) = child.stderr.wait(limit, |_, closed| closed);
        if !closed {
            return None;
        }
        let took = began.elapsed();
        let code = child.child.wait().unwrap().code();
        Some((code, stderr, took))
    }
}
