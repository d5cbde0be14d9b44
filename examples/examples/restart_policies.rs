//! The three restart types side by side, each failing the same way.
//!
//! ```text
//! cargo run --example restart_policies -- --duration 5
//! ```

use std::time::Duration;

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
async fn main() -> Result<std::process::ExitCode, BoxError> {
    hassette_examples::init_logging();
    let duration = hassette_examples::duration_arg(Duration::from_secs(5))?;
    let app = Hassette::builder()
        .service(Permanent)
        .service(Transient)
        .service(Temporary)
        .build()?;
    let printer = hassette_examples::print_events(&app, Instant::now());
    Ok(hassette_examples::run(app, duration, Some(printer)).await)
}
