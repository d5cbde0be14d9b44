//! One supervised service per connection: a listener on 127.0.0.1 adds a temporary
//! child for each TCP connection (see `hassette_examples::echo`). Three clients connect;
//! one misbehaves and fails only its own child; the report counts them all.
//!
//! ```text
//! cargo run --example connections                  # then: nc 127.0.0.1 <port>
//! cargo run --example connections -- --duration 2
//! ```

use std::time::Duration;

use hassette_examples::echo::{Listener, client};
use hassette_runtime::prelude::*;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, BoxError> {
    hassette_examples::init_logging();
    let duration = hassette_examples::duration_arg(Duration::from_secs(3))?;
    let app = Hassette::builder().service(Listener::new(0)).build()?;
    let printer = hassette_examples::print_events(&app, Instant::now());
    let listener = app
        .handle("listener")?
        .service::<Listener>()
        .ok_or("no listener")?;
    let clients = app.clone();
    tokio::spawn(async move {
        let Some(addr) = listener.local_addr().await else {
            return;
        };
        println!("          listening on {addr}");
        for lines in [&["hello", "world"][..], &["boom"], &["bye"]] {
            match client(addr, lines).await {
                Ok(echoes) => println!("          client got {echoes:?}"),
                Err(error) => println!("          client: {error}"),
            }
        }
        // Each connection's child is removed once its client has left.
        for _ in 0..100 {
            if clients.snapshot().len() == 1 {
                println!("          only the listener is left");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    Ok(hassette_examples::run(app, duration, Some(printer)).await)
}
