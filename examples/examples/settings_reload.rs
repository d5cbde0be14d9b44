//! Settings re-read on SIGHUP: the TOML file of `settings_file` (one `[services.<name>]`
//! table per service), applied at the start with `Builder::configure`, and again at every
//! `kill -HUP` (`systemctl reload`) with `Hassette::reconfigure`, while everything runs.
//!
//! `run_until_signal` reloads the app on SIGHUP: it runs `on_reload` of each service. The
//! one that holds the file, `settings`, re-reads it there and reconfigures each service it
//! names, which takes the new values from its next decision (here: the next restart's
//! backoff). A file that cannot be read keeps the settings in force; a value that breaks a
//! rule is refused for its service, naming the service and the key.
//!
//! ```text
//! cargo run --example settings_reload &   # examples/settings_reload.toml
//! # edit the file, then:
//! kill -HUP %1
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

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

fn read(path: &str) -> Result<Settings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    toml::from_str(&text).map_err(|e| e.to_string())
}

/// Applies each table of the file to the builder, before anything starts.
fn configure(mut builder: Builder, path: &str) -> Result<Builder, String> {
    for (name, overrides) in read(path)?.services {
        builder = builder.configure(name, overrides);
    }
    Ok(builder)
}

/// Holds the file: re-reads it at every reload and reconfigures the services it names.
struct SettingsFile {
    path: String,
}

#[service(restart = "permanent", name = "settings")]
impl SettingsFile {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }

    async fn on_reload(&self, ctx: &ServiceContext) {
        let settings = match read(&self.path) {
            Ok(settings) => settings,
            Err(error) => {
                println!("{}: {error}; the settings in force stay", self.path);
                return;
            }
        };
        let app = ctx.app();
        for (name, overrides) in settings.services {
            // Each table replaces the one in force for its service, as at the start.
            match app.reconfigure(&name, overrides) {
                Ok(()) => println!("settings: reconfigured {name}"),
                Err(error) => println!("settings: {error}; {name} keeps its settings"),
            }
        }
    }
}

/// Loses its upstream a second after each start: the restarts show the backoff in force.
struct Feed;

#[service(restart = "permanent", name = "feed", depends_on(SettingsFile))]
impl Feed {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::select! {
            () = ctx.cancelled() => Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => Err("upstream dropped".into()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/settings_reload.toml").to_owned()
    });
    let builder = Hassette::builder()
        .service(SettingsFile { path: path.clone() })
        .service(Feed);
    let app = match configure(builder, &path).and_then(|b| b.build().map_err(|e| e.to_string())) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut events = app.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let (Status::Failed, Some(retry_at)) = (event.to, event.retry_at) {
                let error = event.error.map(|e| e.to_string()).unwrap_or_default();
                // to 50ms: the event is stamped a moment after the failure, from which
                // the backoff runs
                let delay = retry_at.saturating_duration_since(event.at).as_micros();
                let ms = (delay + 25_000) / 50_000 * 50;
                println!("{}: failed ({error}), restarting in {ms}ms", event.service);
            }
        }
    });
    println!(
        "running; `kill -HUP {}` re-reads {path}",
        std::process::id()
    );
    app.run_until_signal().await
}
