//! Per-service settings from a TOML file: one `[services.<name>]` table per service, with
//! the keys of `#[service(...)]` and its durations (`"250ms"`, `"1m30s"`), applied with
//! `Builder::configure`. A misspelt key or a value that breaks a rule is refused with the
//! file's line and key before anything starts; so is a table for a service that is not
//! registered.
//!
//! ```text
//! cargo run --example settings_file                        # examples/settings.toml
//! cargo run --example settings_file -- my-settings.toml
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use hassette_runtime::prelude::*;
use hassette_runtime::{Builder, Overrides};
use serde::Deserialize;

/// The file: a table of settings per service name (`Overrides` reads one table).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    services: BTreeMap<String, Overrides>,
}

/// Reads the file and applies each service's table to the builder.
fn configure(mut builder: Builder, path: &str) -> Result<Builder, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let settings: Settings = toml::from_str(&text).map_err(|e| e.to_string())?;
    for (name, overrides) in settings.services {
        builder = builder.configure(name, overrides);
    }
    Ok(builder)
}

/// Fails its first run; declares a 5s backoff, which the file shortens.
struct Feed {
    runs: AtomicU32,
}

#[service(restart = "transient", name = "feed", backoff(base = "5s"))]
impl Feed {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        if self.runs.fetch_add(1, Relaxed) == 0 {
            return Err("upstream not ready".into());
        }
        ctx.cancelled().await;
        Ok(())
    }
}

struct Store;

#[service(restart = "permanent", name = "store")]
impl Store {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/settings.toml").to_owned()
    });
    let builder = Hassette::builder()
        .service(Feed {
            runs: AtomicU32::new(0),
        })
        .service(Store);
    // A bad file and a bad value are both refused here, before anything starts.
    let app = match configure(builder, &path).and_then(|b| b.build().map_err(|e| e.to_string())) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut events = app.events();
    if let Err(error) = app.start().await {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    // The feed's first run fails; it is restarted after the file's backoff. (The store
    // may come up after that failure: only the failed service's run is the one awaited.)
    let mut failed = None;
    while let Ok(event) = events.recv().await {
        match (event.to, event.retry_at) {
            (Status::Failed, Some(retry_at)) => {
                let error = event.error.map(|e| e.to_string()).unwrap_or_default();
                // to 50ms: the event is stamped a moment after the failure, from which the
                // backoff runs
                let delay = retry_at.saturating_duration_since(event.at).as_micros();
                let ms = (delay + 25_000) / 50_000 * 50;
                println!("{}: failed ({error}), restarting in {ms}ms", event.service);
                failed = Some(event.service);
            }
            (Status::Running, _) if failed.as_ref() == Some(&event.service) => {
                println!("{}: running again", event.service);
                break;
            }
            _ => {}
        }
    }
    println!("{}", app.shutdown().await);
    ExitCode::SUCCESS
}
