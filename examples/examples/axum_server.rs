//! An axum HTTP server as a supervised service: bound in `serve` (a taken port is a
//! failure, retried after the backoff), ready once bound, and stopped gracefully by
//! axum's `with_graceful_shutdown` over `ctx.cancelled_owned()`: at Ctrl-C or SIGTERM it
//! stops accepting and lets the requests in flight finish, within `shutdown_timeout`.
//!
//! ```text
//! cargo run --example axum_server            # a free port; PORT=3000 for a fixed one
//! curl http://127.0.0.1:<port>/              # hello, request 1
//! curl http://127.0.0.1:<port>/services      # http: running
//! curl http://127.0.0.1:<port>/slow          # answers once the server is stopping: Ctrl-C
//! ```
//!
//! Cargo.toml: `axum = { version = "0.8", default-features = false, features = ["http1", "tokio"] }`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hassette_runtime::prelude::*;
use tokio::net::TcpListener;

struct HttpServer {
    addr: SocketAddr,
    /// Kept in the service, so the count survives restarts.
    requests: Arc<AtomicU64>,
}

/// What the handlers read: the request count and the run's context (for the app's
/// statuses and the stop).
#[derive(Clone)]
struct Shared {
    requests: Arc<AtomicU64>,
    ctx: ServiceContext,
}

#[service(
    restart = "permanent",
    ready = "manual",
    backoff(base = "1s", max = "30s"),
    shutdown_timeout = "10s",
    name = "http"
)]
impl HttpServer {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let listener = TcpListener::bind(self.addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        ctx.mark_ready(); // dependants (and /readyz) wait for the bound socket
        let shared = Shared {
            requests: self.requests.clone(),
            ctx: ctx.clone(),
        };
        let router = Router::new()
            .route("/", get(hello))
            .route("/services", get(services))
            .route("/slow", get(slow))
            .with_state(shared);
        axum::serve(listener, router)
            .with_graceful_shutdown(ctx.cancelled_owned())
            .await?;
        Ok(())
    }

    async fn after_shutdown(&self) {
        println!("served {} requests", self.requests.load(Relaxed));
    }
}

async fn hello(State(shared): State<Shared>) -> String {
    let n = shared.requests.fetch_add(1, Relaxed) + 1;
    format!("hello, request {n}\n")
}

/// Every service of the app and its status, one a line.
async fn services(State(shared): State<Shared>) -> String {
    shared.requests.fetch_add(1, Relaxed);
    let statuses = shared.ctx.app().statuses();
    statuses
        .iter()
        .map(|(n, s)| format!("{n}: {s}\n"))
        .collect()
}

/// A request still in flight when the stop begins, made deterministic: it answers only
/// once the server is stopping, 200ms later; the graceful shutdown waits for it.
async fn slow(State(shared): State<Shared>) -> String {
    shared.requests.fetch_add(1, Relaxed);
    println!("GET /slow: waiting for the shutdown");
    shared.ctx.cancelled().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("GET /slow: answered during the shutdown");
    "finished after the shutdown began\n".to_owned()
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let port = std::env::var("PORT").map_or(Ok(0), |p| p.parse())?;
    let app = Hassette::builder()
        .service(HttpServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            requests: Arc::new(AtomicU64::new(0)),
        })
        .build()?;
    let code = app.clone().run_until_signal().await; // until Ctrl-C or SIGTERM
    println!("\n{}", app.shutdown().await); // after the stop: the stop's report
    Ok(code)
}
