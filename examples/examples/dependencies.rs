//! `depends_on`: a service starts only once its dependencies are Running and ready, and
//! stops before them. Startup runs in waves; shutdown in reverse.
//!
//! ```text
//! cargo run --example dependencies -- --duration 2
//! ```

use std::time::Duration;

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
async fn main() -> Result<std::process::ExitCode, BoxError> {
    hassette_examples::init_logging();
    let duration = hassette_examples::duration_arg(Duration::from_secs(2))?;
    // Registered in any order: the order comes from depends_on.
    let app = Hassette::builder()
        .service(Api)
        .service(Cache)
        .service(Database)
        .build()?;
    let printer = hassette_examples::print_events(&app, Instant::now());
    Ok(hassette_examples::run(app, duration, Some(printer)).await)
}
