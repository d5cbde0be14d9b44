//! The main demo: four services with a dependency, a flaky one restarted with visible
//! backoff, a transient one that exhausts its budget and cools down, a TCP listener that
//! supervises one child per connection (one client misbehaves and fails only its own
//! child; the last asks for the open connections, the listener's children), a reload
//! at 3s (`on_reload` of the api runs while it serves; `kill -HUP` does the same), a
//! status line, and a graceful shutdown that prints the report: first a drain of one
//! second (`/readyz` answers `503 draining` while every service keeps serving), then the
//! stop.
//!
//! ```text
//! cargo run --example demo                 # until Ctrl-C (20s when not on a terminal)
//! cargo run --example demo -- --duration 8 # stop by itself after 8 seconds
//! HASSETTE_HEALTH_PORT=8080 cargo run --example demo   # then: curl localhost:8080/status
//! ```
//!
//! It also serves `/livez`, `/readyz` and `/status` on 127.0.0.1 (a free port unless
//! `HASSETTE_HEALTH_PORT` says otherwise), and talks to systemd when run under it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hassette_examples::echo::{Listener, client};
use hassette_runtime::health::HealthServer;
use hassette_runtime::prelude::*;
use tokio::time::{Instant, sleep};

/// Opens a (pretend) connection pool, then marks itself ready.
struct Database {
    queries: AtomicU64,
}

#[service(restart = "permanent", ready = "manual", name = "database")]
impl Database {
    async fn on_initialize(&self, ctx: &ServiceContext) {
        println!("          {} connecting", ctx.name());
    }

    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        sleep(Duration::from_millis(300)).await; // the handshake
        ctx.mark_ready();
        ctx.cancelled().await;
        Ok(())
    }
}

/// Answers requests; starts only once the database is ready.
struct Api {
    served: AtomicU64,
}

#[service(restart = "permanent", depends_on(Database), name = "api")]
impl Api {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let db = ctx.service::<Database>()?;
        let mut draining = false;
        loop {
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                // the shutdown began: the load balancer takes us out, we keep serving
                () = ctx.draining(), if !draining => {
                    draining = true;
                    println!(
                        "          api draining after {} requests: /readyz says 503, requests are still served",
                        self.served.load(Relaxed)
                    );
                }
                () = sleep(Duration::from_millis(250)) => {
                    self.served.fetch_add(1, Relaxed);
                    db.queries.fetch_add(1, Relaxed);
                }
            }
        }
    }

    async fn on_reload(&self) {
        println!(
            "          api reloaded its settings after {} requests, serving on",
            self.served.load(Relaxed)
        );
    }

    async fn on_shutdown(&self) {
        println!(
            "          api drained after {} requests",
            self.served.load(Relaxed)
        );
    }
}

/// Loses its upstream every few seconds; restarted with 0.5s, 1s, 2s, 4s, 4s... backoff.
struct Feed;

#[service(
    restart = "permanent",
    backoff(base = "500ms", multiplier = 2.0, max = "4s"),
    budget(intensity = 100, period = "5m"),
    name = "feed"
)]
impl Feed {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        tokio::select! {
            () = ctx.cancelled() => Ok(()),
            () = sleep(Duration::from_secs(2)) => Err("upstream disconnected".into()),
        }
    }
}

/// Its mail server refuses every connection: two restarts, then a 4s cooldown, twice,
/// then it gives up for good.
struct Mailer;

#[service(
    restart = "transient",
    backoff(base = "250ms"),
    budget(intensity = 2, period = "1m"),
    cooldown = "4s",
    max_cooldown_cycles = 2,
    name = "mailer"
)]
impl Mailer {
    async fn serve(&self) -> Result<(), BoxError> {
        sleep(Duration::from_millis(100)).await;
        Err("connection refused by smtp.example".into())
    }
}

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, BoxError> {
    hassette_examples::init_logging();
    let duration = hassette_examples::duration_arg(Duration::from_secs(20))?;

    let port = std::env::var("HASSETTE_HEALTH_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let health = HealthServer::new(([127, 0, 0, 1], port));
    let health_addr = health.handle();
    let app = Hassette::builder()
        // at the shutdown, a second of drain before the stop (see `api`)
        .drain(Duration::from_secs(1))
        .resource(health)
        .service(Database {
            queries: AtomicU64::new(0),
        })
        .service(Api {
            served: AtomicU64::new(0),
        })
        .service(Feed)
        .service(Mailer)
        .service(Listener::new(0))
        .build()?;

    let began = Instant::now();
    let printer = hassette_examples::print_events(&app, began);
    let started = app.clone();
    tokio::spawn(async move {
        if started.wait_ready::<HealthServer>().await.is_ok()
            && let Some(addr) = health_addr.local_addr()
        {
            println!("          status page: http://{addr}/ (also /status, /livez, /readyz)");
        }
    });
    // Three clients of the listener, one of which misbehaves.
    let listener = app
        .handle("listener")?
        .service::<Listener>()
        .ok_or("no listener")?;
    tokio::spawn(async move {
        let Some(addr) = listener.local_addr().await else {
            return;
        };
        for lines in [&["hello"][..], &["boom"], &["who"]] {
            sleep(Duration::from_secs(1)).await;
            // The last asks which connections are open: the listener's children.
            if let Ok(echoes) = client(addr, lines).await
                && lines == ["who"]
            {
                println!("          open connections: {}", echoes.join(" "));
            }
        }
    });
    // A reload, as `kill -HUP` (or `systemctl reload`) asks for one.
    let reloading = app.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(3)).await;
        match reloading.reload().await {
            Ok(report) => println!("{:>6.2}s  {report}", began.elapsed().as_secs_f64()),
            Err(error) => println!("          {error}"),
        }
    });
    let status_app = app.clone();
    tokio::spawn(async move {
        loop {
            sleep(Duration::from_secs(2)).await;
            let line: Vec<String> = status_app
                .statuses()
                .iter()
                .map(|(n, s)| format!("{n}: {s}"))
                .collect();
            println!(
                "{:>6.2}s  [ {} ]",
                began.elapsed().as_secs_f64(),
                line.join(" | ")
            );
        }
    });
    Ok(hassette_examples::run(app, duration, Some(printer)).await)
}
