//! The smallest useful app: one service, stopped by Ctrl-C (or SIGTERM).
//!
//! ```text
//! cargo run --example minimal
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hassette_runtime::prelude::*;

struct Ticker {
    ticks: AtomicU64,
}

#[service(restart = "permanent")]
impl Ticker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        loop {
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    println!("tick {}", self.ticks.fetch_add(1, Relaxed) + 1);
                }
            }
        }
    }

    async fn after_shutdown(&self) {
        println!("ticked {} times", self.ticks.load(Relaxed));
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    // Logs go to stderr (`RUST_LOG=info` shows every status change).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let app = Hassette::builder()
        .service(Ticker {
            ticks: AtomicU64::new(0),
        })
        .build()?;
    println!("press Ctrl-C to stop");
    let code = app.clone().run_until_signal().await;
    println!("\n{}", app.shutdown().await); // after the stop: the stop's report
    Ok(code)
}
