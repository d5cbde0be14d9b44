//! The three restart types side by side, each failing the same way.
//!
//! ```text
//! cargo run --example restart_policies   # Ctrl-C to stop
//! ```

use std::process::ExitCode;
use std::time::Duration;

use hassette_runtime::StatusEvent;
use hassette_runtime::prelude::*;
use tokio::time::{Instant, sleep};

/// Runs for 300ms, then loses its connection (unless stopped first).
async fn fail_soon(ctx: &ServiceContext) -> Result<(), BoxError> {
    tokio::select! {
        () = ctx.cancelled() => Ok(()),
        () = sleep(Duration::from_millis(300)) => Err("lost the connection".into()),
    }
}

/// Always restarted; its budget is large enough to outlive the demo.
struct Permanent;

#[service(
    restart = "permanent",
    backoff(base = "200ms", max = "1s"),
    budget(intensity = 50, period = "1m"),
    name = "permanent"
)]
impl Permanent {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        fail_soon(ctx).await
    }
}

/// Restarted after failures; exhausts its budget of 2, cools down for 1s, and tries again.
struct Transient;

#[service(
    restart = "transient",
    backoff(base = "200ms"),
    budget(intensity = 2, period = "1m"),
    cooldown = "1s",
    name = "transient"
)]
impl Transient {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        fail_soon(ctx).await
    }
}

/// Never restarted: Failed, then ExhaustedDead.
struct Temporary;

#[service(restart = "temporary", name = "temporary")]
impl Temporary {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        fail_soon(ctx).await
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let app = Hassette::builder()
        .service(Permanent)
        .service(Transient)
        .service(Temporary)
        .build()?;

    // Print every status change while the app runs until Ctrl-C or SIGTERM.
    let began = Instant::now();
    let print = |e: StatusEvent| println!("{:>6.2}s  {e}", (e.at - began).as_secs_f64());
    let mut events = app.events();
    let mut run = std::pin::pin!(app.clone().run_until_signal());
    let code = loop {
        tokio::select! {
            code = &mut run => break code,
            event = events.recv() => match event {
                Ok(event) => print(event),
                Err(lagged) => println!("({lagged})"), // then resync from app.snapshot()
            },
        }
    };
    // The app has stopped: its last events are in the channel already.
    while let Ok(event) = events.try_recv() {
        print(event);
    }
    println!("\n{}", app.shutdown().await); // after the stop: the stop's report
    Ok(code)
}
