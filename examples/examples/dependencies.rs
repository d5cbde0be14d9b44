//! `depends_on`: a service starts only once its dependencies are Running and ready, and
//! stops before them. Startup runs in waves; shutdown in reverse.
//!
//! ```text
//! cargo run --example dependencies   # Ctrl-C to stop
//! ```

use std::process::ExitCode;
use std::time::Duration;

use hassette_runtime::StatusEvent;
use hassette_runtime::prelude::*;
use tokio::time::{Instant, sleep};

/// Needs 400ms to accept connections, then says it is ready.
struct Database;

#[service(restart = "permanent", ready = "manual", name = "database")]
impl Database {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        sleep(Duration::from_millis(400)).await;
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

/// A cache filled from the database.
struct Cache;

#[service(restart = "permanent", depends_on(Database), name = "cache")]
impl Cache {
    async fn on_initialize(&self) {
        println!("          cache: warming up from the database (it is ready by now)");
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }
}

/// The front door: needs both.
struct Api;

#[service(restart = "permanent", depends_on(Database, Cache), name = "api")]
impl Api {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        ctx.cancelled().await;
        Ok(())
    }

    async fn on_shutdown(&self) {
        println!("          api: stops first, while the cache and database still run");
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Registered in any order: the order comes from depends_on.
    let app = Hassette::builder()
        .service(Api)
        .service(Cache)
        .service(Database)
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
