//! One supervised service per connection: a listener on 127.0.0.1 adds a temporary
//! child for each TCP connection, which echoes lines back (and answers `who` with the
//! open connections: its listener's `children()`). Three clients connect; one misbehaves
//! (sends `boom`) and fails only its own child; the report counts them all.
//!
//! ```text
//! cargo run --example connections   # then: nc 127.0.0.1 <port>; Ctrl-C to stop
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hassette_runtime::prelude::*;
use hassette_runtime::{ServiceHandle, StatusEvent};
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
        // Its own handle, for its connections to list their siblings.
        let listener = ctx.app().handle(ctx.name())?;
        loop {
            let (stream, _) = tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                accepted = self.listener.accept() => accepted?,
            };
            let n = self.accepted.fetch_add(1, Relaxed) + 1;
            // One supervised child per connection: `listener/conn-1`, ... (its own status,
            // events, errors and line in the report). Children stop before their parent.
            let conn = Connection {
                stream: Mutex::new(Some(stream)),
                listener: listener.clone(),
            };
            match ctx.add_child_named(format!("conn-{n}"), conn).await {
                // Its children: the connections open now, in order of addition.
                Ok(_) => println!("{} connection(s) open", ctx.children().len()),
                Err(error) => eprintln!("connection {n} refused: {error}"), // e.g. max_children
            }
        }
    }
}

/// One client's connection: echoes each line back until the client hangs up; `who`
/// answers with the open connections. Temporary: never restarted, and removed once it
/// has ended.
struct Connection {
    stream: Mutex<Option<TcpStream>>,
    listener: ServiceHandle,
}

#[service(restart = "temporary", shutdown_timeout = "1s")]
impl Connection {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let Some(stream) = self.stream.lock().map_err(|_| "poisoned")?.take() else {
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
                Some("who") => {
                    // Its siblings (and itself), by their own names: `conn-1 conn-3`.
                    let open: Vec<String> = (self.listener.children().iter())
                        .filter_map(|c| c.name().rsplit('/').next().map(str::to_owned))
                        .collect();
                    write
                        .write_all(format!("{}\n", open.join(" ")).as_bytes())
                        .await?;
                }
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
        for lines in [&["hello", "who"][..], &["boom"], &["bye"]] {
            match client(addr, lines).await {
                Ok(echoes) => println!("client got {echoes:?}"),
                Err(error) => println!("client: {error}"),
            }
        }
        // Each connection's child is removed once its client has left.
        let Ok(listener) = clients.handle("listener") else {
            return;
        };
        for _ in 0..100 {
            if listener.children().is_empty() {
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
