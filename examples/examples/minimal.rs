//! The smallest useful app: one service, stopped by Ctrl-C (or `--duration`).
//!
//! ```text
//! cargo run --example minimal -- --duration 3
//! ```

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
async fn main() -> Result<std::process::ExitCode, BoxError> {
    hassette_examples::init_logging();
    let duration = hassette_examples::duration_arg(Duration::from_secs(3))?;
    let app = Hassette::builder()
        .service(Ticker {
            ticks: AtomicU64::new(0),
        })
        .build()?;
    Ok(hassette_examples::run(app, duration, None).await)
}
