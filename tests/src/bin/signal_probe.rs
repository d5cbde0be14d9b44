//! A tiny app for the signal tests:
//! `signal_probe <clean|slow|crash|abort|bad-start|slow-start|stdin|job|blocked>`. Prints
//! `serving` once its service runs (`slow-start`: once its slow `on_initialize` has
//! begun), then waits for a signal (or crashes, or ends the app itself: `job`).
//! `bad-start`: `on_initialize` fails with an error the type declares non-retryable. `stdin`:
//! serve reads tokio's stdin, which holds a blocking thread that no cancellation can take
//! back. `blocked`: serve blocks its thread in a loop that checks `ctx.is_cancelled()`
//! between sleeps of 200ms, and prints `the blocked loop ended` when it sees it.
//! `slow-dependency`: the service depends on one that takes 300ms to start, gives it
//! 100ms (so its first start fails, and is retried 100ms later), and prints `serving`
//! once it runs.
//!
//! `PROBE_QUIET=1`: no tracing subscriber. `PROBE_NOTIFY_TOO=1`: `main` also spawns
//! `systemd::notify`, next to the one `run_until_signal` runs by itself.
//!
//! `PROBE_RUN` says how `main` runs the app: unset, `run_until_signal` (on the main
//! thread); `spawned`, `run_until_signal` in a task of its own; `run-until`, `run_until`
//! until a SIGTERM; `shutdown`, `start`, then `shutdown` after a SIGTERM. With
//! `PROBE_RUN` set, `main returned` goes to stderr as `main` returns (the runtime's drop
//! comes after it).

use std::time::Duration;

use hassette_runtime::{
    BoxError, Dependency, Fatal, Hassette, Hooks, RestartSpec, RestartType, Service, ServiceContext,
};

struct Probe {
    mode: String,
}

impl Hooks for Probe {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.mode == "bad-start" {
            return Err(ConfigMissing.into());
        }
        if self.mode == "slow-start" {
            println!("serving");
            tokio::select! {
                () = ctx.cancelled() => {}
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
        Ok(())
    }

    async fn before_shutdown(&self, _: &ServiceContext) -> Result<(), BoxError> {
        if self.mode == "slow" {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok(())
    }
}

/// `bad-start`'s error: not worth a retry, so the start that fails with it ends the app.
#[derive(Debug, thiserror::Error)]
#[error("the config file is missing")]
struct ConfigMissing;

impl Service for Probe {
    fn is_non_retryable(error: &(dyn std::error::Error + 'static)) -> bool {
        error.is::<ConfigMissing>()
    }

    const RESTART_SPEC: RestartSpec = RestartSpec {
        shutdown_timeout: Duration::from_millis(300),
        ..RestartSpec::new(RestartType::Permanent)
    };

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        println!("serving");
        match self.mode.as_str() {
            "crash" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(Fatal::new("the disk is gone").into())
            }
            "abort" => std::future::pending().await,
            "stdin" => {
                use tokio::io::AsyncBufReadExt;
                let mut line = String::new();
                let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
                tokio::select! {
                    () = ctx.cancelled() => Ok(()),
                    read = stdin.read_line(&mut line) => read.map(drop).map_err(Into::into),
                }
            }
            "blocked" => {
                // never awaits: only a cancellation visible from outside this task ends it
                while !ctx.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(200));
                }
                println!("the blocked loop ended");
                Ok(())
            }
            "job" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ctx.shutdown_app("the job is done");
                ctx.cancelled().await;
                Ok(())
            }
            _ => {
                ctx.cancelled().await;
                Ok(())
            }
        }
    }
}

/// Up 300ms after it begins.
struct Slow;

impl Hooks for Slow {
    async fn on_initialize(&self, _: &ServiceContext) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }
}

impl Service for Slow {
    const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Permanent);

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// Gives `Slow` 100ms, so its first start fails; restarted after 100ms.
struct Dependant;

impl Hooks for Dependant {
    const DEPENDS_ON: &'static [Dependency] = &[Dependency::on::<Slow>()];
}

impl Service for Dependant {
    const RESTART_SPEC: RestartSpec = RestartSpec {
        startup_timeout: Duration::from_millis(100),
        backoff_base: Duration::from_millis(100),
        ..RestartSpec::new(RestartType::Permanent)
    };

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        println!("serving");
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::var_os("PROBE_QUIET").is_none() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let mode = std::env::args().nth(1).unwrap_or_default();
    let builder = match mode.as_str() {
        "slow-dependency" => Hassette::builder().service(Slow).service(Dependant),
        _ => Hassette::builder().service(Probe { mode }),
    };
    let app = match builder.build() {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if std::env::var_os("PROBE_NOTIFY_TOO").is_some() {
        tokio::spawn(hassette_runtime::systemd::notify(app.clone()));
    }
    let code = match std::env::var("PROBE_RUN").as_deref() {
        Ok("spawned") => tokio::spawn(app.run_until_signal())
            .await
            .unwrap_or(std::process::ExitCode::FAILURE),
        Ok("run-until") => {
            let report = app.run_until(sigterm()).await;
            eprintln!("{report}");
            report.exit_code()
        }
        Ok("shutdown") => {
            let term = sigterm();
            let _ = app.start().await;
            term.await;
            let report = app.shutdown().await;
            eprintln!("{report}");
            report.exit_code()
        }
        _ => app.run_until_signal().await,
    };
    if std::env::var_os("PROBE_RUN").is_some() {
        eprintln!("main returned");
    }
    code
}

/// The next SIGTERM, for the modes that do not listen through `run_until_signal`; it
/// listens from the call, so a signal sent once `serving` is printed is not lost.
fn sigterm() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    async move {
        match term {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => eprintln!("cannot listen for SIGTERM: {error}"),
        }
    }
}
