//! One supervised service per connection: a listener on 127.0.0.1 adds a temporary
//! child for each TCP connection, which echoes lines back. Three clients connect; one
//! misbehaves (sends `boom`) and fails only its own child; the report counts them all.
//!
//! ```text
//! cargo run --example connections   # then: nc 127.0.0.1 <port>; Ctrl-C to stop
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hassette_runtime::StatusEvent;
use hassette_runtime::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Accepts connections and supervises one child service per connection. The socket is
/// bound before the app starts, so its port is known at once and survives restarts.
struct Listener {
    listener: TcpListener,
    accepted: AtomicU64,
}

#[service(restart = "permanent", max_children = 1000, name = "listener")]
impl Listener {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        loop {
            let (stream, _) = tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                accepted = self.listener.accept() => accepted?,
            };
            let n = self.accepted.fetch_add(1, Relaxed) + 1;
            // One supervised child per connection: `listener/conn-1`, ... (its own status,
            // events, errors and line in the report). Children stop before their parent.
            let conn = Connection(Mutex::new(Some(stream)));
            if let Err(error) = ctx.add_child_named(format!("conn-{n}"), conn).await {
                eprintln!("connection {n} refused: {error}"); // e.g. max_children reached
            }
        }
    }
}

/// One client's connection: echoes each line back until the client hangs up. Temporary:
/// never restarted, and removed once it has ended.
struct Connection(Mutex<Option<TcpStream>>);

#[service(restart = "temporary", shutdown_timeout = "1s")]
impl Connection {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let Some(stream) = self.0.lock().map_err(|_| "poisoned")?.take() else {
            return Ok(());
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        loop {
            let line = tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                line = lines.next_line() => line?,
            };
            match line.as_deref() {
                None => return Ok(()),
                Some("boom") => return Err("the client sent `boom`".into()),
                Some(text) => write.write_all(format!("{text}\n").as_bytes()).await?,
            }
        }
    }
}

/// A client that sends `lines` and reads each echo back.
async fn client(addr: SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
    let (read, mut write) = TcpStream::connect(addr).await?.into_split();
    let mut echoes = BufReader::new(read).lines();
    let mut got = Vec::new();
    for line in lines {
        write.write_all(format!("{line}\n").as_bytes()).await?;
        if *line == "boom" {
            break;
        }
        if let Some(echo) = echoes.next_line().await? {
            got.push(echo);
        }
    }
    Ok(got)
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    let app = Hassette::builder()
        .service(Listener {
            listener,
            accepted: AtomicU64::new(0),
        })
        .build()?;

    // Three clients, one after the other; the second misbehaves.
    let clients = app.clone();
    tokio::spawn(async move {
        for lines in [&["hello", "world"][..], &["boom"], &["bye"]] {
            match client(addr, lines).await {
                Ok(echoes) => println!("client got {echoes:?}"),
                Err(error) => println!("client: {error}"),
            }
        }
        // Each connection's child is removed once its client has left.
        for _ in 0..100 {
            if clients.snapshot().len() == 1 {
                println!("only the listener is left");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    // Print every status change while the app runs until Ctrl-C or SIGTERM.
    let began = Instant::now();
    let print = |e: StatusEvent| println!("{:>6.2}s  {e}", (e.at - began).as_secs_f64());
    let mut events = app.events();
    let mut run = std::pin::pin!(app.clone().run_until_signal());
    let code = loop {
        tokio::select! {
            code = &mut run => break code,
            event = events.recv() => match event {
                Ok(event) => print(event),
                Err(lagged) => println!("({lagged})"), // then resync from app.snapshot()
            },
        }
    };
    // The app has stopped: its last events are in the channel already.
    while let Ok(event) = events.try_recv() {
        print(event);
    }
    println!("\n{}", app.shutdown().await); // after the stop: the stop's report
    Ok(code)
}
