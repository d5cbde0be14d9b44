//! `ready = "manual"`: a service decides when it is ready, withdraws readiness while it
//! reconnects, and another service waits for it with `ctx.wait_ready`.
//!
//! ```text
//! cargo run --example manual_ready   # Ctrl-C to stop
//! ```

use std::process::ExitCode;
use std::time::Duration;

use hassette_runtime::prelude::*;
use tokio::time::sleep;

/// Ready once it has replayed its backlog; not ready again while it reconnects.
struct Broker;

#[service(restart = "permanent", ready = "manual", name = "broker")]
impl Broker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        println!("broker: replaying the backlog");
        sleep(Duration::from_millis(500)).await;
        println!("broker: ready");
        ctx.mark_ready();
        sleep(Duration::from_millis(800)).await;
        ctx.mark_not_ready("reconnecting");
        println!("broker: not ready (reconnecting)");
        sleep(Duration::from_millis(300)).await;
        println!("broker: ready again");
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

/// Waits for the broker from inside its own start, without a `depends_on` (so the two
/// stop together at shutdown; declare `depends_on(Broker)` when the order matters).
struct Consumer;

#[service(restart = "permanent", name = "consumer")]
impl Consumer {
    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.wait_ready::<Broker>().await?;
        println!("consumer: the broker is ready, subscribing");
        Ok(())
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let app = Hassette::builder()
        .service(Broker)
        .service(Consumer)
        .build()?;
    let code = app.clone().run_until_signal().await; // until Ctrl-C or SIGTERM
    println!("\n{}", app.shutdown().await); // after the stop: the stop's report
    Ok(code)
}
