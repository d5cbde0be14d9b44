//! A tiny app for `tests/drain.rs` and `tests/listeners.rs`, run by `run_until_signal`:
//!
//! - `net_probe drain`: a drain of 30s; its service prints `serving` once it runs,
//!   `draining` when `ctx.draining()` completes, and `cancelled` when its run is
//!   stopped; its `on_shutdown` then takes 2s.
//! - `net_probe listen ADDR`: a listener `http` declared on ADDR (taken from socket
//!   activation when the process was started with one); once it accepts, its service
//!   prints `serving ` and the address it listens on, and answers each client with
//!   `hello from ` and its pid, and closes. `ADDR` may be `127.0.0.1:0`.
//!
//! The tracing log goes to stderr. A start that fails prints its error there too and
//! exits 1 (`run_until_signal`).

use std::net::SocketAddr;
use std::time::Duration;

use hassette_runtime::prelude::*;
use tokio::io::AsyncWriteExt;

struct Drains;

#[service(restart = "permanent")]
impl Drains {
    async fn serve(&self, ctx: &ServiceContext) {
        println!("serving");
        tokio::select! {
            () = ctx.draining() => println!("draining"),
            () = ctx.cancelled() => {}
        }
        ctx.cancelled().await;
        println!("cancelled");
    }

    async fn on_shutdown(&self) {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

struct Hello;

#[service(restart = "permanent")]
impl Hello {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let listener = ctx.listener("http")?;
        println!("serving {}", listener.local_addr()?);
        loop {
            let (mut client, _) = tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                accepted = listener.accept() => accepted?,
            };
            let hello = format!("hello from {}\n", std::process::id());
            client.write_all(hello.as_bytes()).await?;
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let builder = match mode.as_str() {
        "drain" => Hassette::builder()
            .drain(Duration::from_secs(30))
            .service(Drains),
        "listen" => {
            let addr: SocketAddr = match args.next().unwrap_or_default().parse() {
                Ok(addr) => addr,
                Err(error) => {
                    eprintln!("net_probe listen ADDR: {error}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            Hassette::builder().listener("http", addr).service(Hello)
        }
        _ => {
            eprintln!("net_probe <drain|listen ADDR>");
            return std::process::ExitCode::FAILURE;
        }
    };
    match builder.build() {
        Ok(app) => app.run_until_signal().await,
        Err(error) => {
            eprintln!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}
