//! A tiny app for the busy-loop tests, on a multi-thread runtime with two workers:
//! `busy_probe <what>[+deadline][+drop]`. Prints `serving` once its service runs, and
//! `spinning` as a busy serve enters its loop.
//!
//! `<what>`:
//! - `busy`: serve spins at once and never awaits, so cancelling it cannot stop it;
//! - `yield-busy`: serve yields once, then spins like `busy`;
//! - `hook`: serve is well-behaved, but `before_shutdown` blocks its thread forever.
//!
//! `+deadline` gives the app a 1s shutdown deadline. `+drop` drops the tokio runtime at
//! the end as `#[tokio::main]` does (which waits for every worker thread, the spinning one
//! included); without it the runtime is left behind with `shutdown_background`.

use std::io::Write;
use std::time::Duration;

use hassette_runtime::{
    BoxError, Hassette, Hooks, RestartSpec, RestartType, Service, ServiceContext,
};

struct Busy {
    what: String,
}

impl Hooks for Busy {
    async fn before_shutdown(&self, _: &ServiceContext) -> Result<(), BoxError> {
        if self.what == "hook" {
            // blocks the worker thread: no await, so no timeout can cut it off
            loop {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

impl Service for Busy {
    const RESTART_SPEC: RestartSpec = RestartSpec {
        shutdown_timeout: Duration::from_millis(300),
        ..RestartSpec::new(RestartType::Permanent)
    };

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        println!("serving");
        std::io::stdout().flush()?;
        if self.what == "yield-busy" {
            tokio::task::yield_now().await;
        }
        if self.what.ends_with("busy") {
            println!("spinning");
            std::io::stdout().flush()?;
            // never awaits again: a busy loop
            let mut spins = 0u64;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        ctx.cancelled().await;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut parts = mode.split('+');
    let what = parts.next().unwrap_or_default().to_owned();
    let flags: Vec<&str> = parts.collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut builder = Hassette::builder().service(Busy { what });
    if flags.contains(&"deadline") {
        builder = builder.shutdown_deadline(Duration::from_secs(1));
    }
    let app = match builder.build() {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(app.run_until_signal());
    eprintln!("busy_probe: run_until_signal returned");
    if flags.contains(&"drop") {
        drop(runtime);
    } else {
        // the spinning task holds a worker thread forever: leave it behind
        runtime.shutdown_background();
    }
    code
}
