//! What the examples share: the `--duration` flag, logging, and printing the event stream.
//! The examples themselves are in `examples/`: `cargo run --example demo`.

use std::io::IsTerminal;
use std::time::Duration;

use hassette_runtime::Hassette;
use tokio::time::{Instant, sleep};

/// Parses `[--duration SECONDS]`. Without it, an example runs until Ctrl-C on a terminal
/// and for `default` otherwise (nobody can press Ctrl-C in CI).
pub fn duration_arg(default: Duration) -> Result<Option<Duration>, String> {
    let mut args = std::env::args().skip(1);
    let mut duration = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                let secs = args.next().ok_or("--duration needs a number of seconds")?;
                let secs: f64 = secs
                    .parse()
                    .map_err(|_| format!("--duration: `{secs}` is not a number of seconds"))?;
                duration = Some(Duration::from_secs_f64(secs.max(0.0)));
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: [--duration SECONDS]"
                ));
            }
        }
    }
    if duration.is_none() && !std::io::stdout().is_terminal() {
        duration = Some(default);
    }
    Ok(duration)
}

/// Logs to stderr, `RUST_LOG` or errors only by default: the examples print the event
/// stream themselves.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .init();
}

/// Prints every status change as `  1.50s  name  from -> to  (error)`.
pub fn print_events(app: &Hassette, began: Instant) {
    let mut events = app.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            let error = event.error.map(|e| format!("  ({e})")).unwrap_or_default();
            println!(
                "{:>6.2}s  {:<10} {} -> {}{error}",
                (event.at - began).as_secs_f64(),
                event.service,
                event.from,
                event.to
            );
        }
    });
}

/// Runs the app until Ctrl-C or SIGTERM, or for `duration`, then prints the shutdown
/// report and returns the exit code.
pub async fn run(app: Hassette, duration: Option<Duration>) -> std::process::ExitCode {
    match duration {
        Some(limit) => {
            println!("running for {limit:?} (Ctrl-C stops it sooner)");
            let stopper = app.clone();
            tokio::spawn(async move {
                sleep(limit).await;
                stopper.shutdown().await;
            });
        }
        None => println!("press Ctrl-C to stop"),
    }
    let code = app.clone().run_until_signal().await;
    println!("\n{}", app.shutdown().await);
    code
}
