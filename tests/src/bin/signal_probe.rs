//! A tiny app for the signal tests:
//! `signal_probe <clean|slow|crash|abort|bad-start|slow-start|stdin|job>`. Prints `serving`
//! once its service runs (`slow-start`: once its slow `on_initialize` has begun), then
//! waits for a signal (or crashes, or ends the app itself: `job`). `stdin`: serve reads
//! tokio's stdin, which holds a blocking thread that no cancellation can take back.
//!
//! `PROBE_QUIET=1`: no tracing subscriber. `PROBE_NOTIFY_TOO=1`: `main` also spawns
//! `systemd::notify`, next to the one `run_until_signal` runs by itself.

use std::time::Duration;

use hassette_runtime::{
    BoxError, Fatal, Hassette, Hooks, RestartSpec, RestartType, Service, ServiceContext,
};

struct Probe {
    mode: String,
}

impl Hooks for Probe {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.mode == "bad-start" {
            return Err("the config file is missing".into());
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

impl Service for Probe {
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::var_os("PROBE_QUIET").is_none() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let mode = std::env::args().nth(1).unwrap_or_default();
    let app = match Hassette::builder().service(Probe { mode }).build() {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if std::env::var_os("PROBE_NOTIFY_TOO").is_some() {
        tokio::spawn(hassette_runtime::systemd::notify(app.clone()));
    }
    app.run_until_signal().await
}
