//! What the demo uses: the `--duration` flag, logging, printing the event stream, and the
//! echo listener. The examples themselves are in `examples/`: `cargo run --example demo`.
//! The focused examples (`minimal`, `connections`, ...) use none of this: each file
//! stands alone, with only `hassette-runtime`, `tokio` and `tracing-subscriber`.

use std::io::IsTerminal;
use std::time::Duration;

use hassette_runtime::Hassette;
use tokio::sync::broadcast::error::RecvError;
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

/// Prints every status change as `  1.50s  name  from -> to  (error)`, from a task of its
/// own; hand it to [`run`], which lets it print every last event before the report.
pub fn print_events(app: &Hassette, began: Instant) -> Printer {
    let mut events = app.events();
    let (done, mut finish) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let print = |event: hassette_runtime::StatusEvent| {
            let error = event.error.map(|e| format!("  ({e})")).unwrap_or_default();
            println!(
                "{:>6.2}s  {:<10} {} -> {}{error}",
                (event.at - began).as_secs_f64(),
                event.service,
                event.from,
                event.to
            );
        };
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Ok(event) => print(event),
                    Err(RecvError::Lagged(missed)) => println!("  ({missed} events missed)"),
                    Err(RecvError::Closed) => return,
                },
                _ = &mut finish => break,
            }
        }
        // The app has stopped: every event it will ever send is in the channel already.
        while let Ok(event) = events.try_recv() {
            print(event);
        }
    });
    Printer { done, task }
}

/// The task that [`print_events`] started.
#[derive(Debug)]
pub struct Printer {
    done: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Printer {
    /// Prints what is left in the stream, then stops.
    pub async fn finish(self) {
        let _ = self.done.send(());
        let _ = self.task.await;
    }
}

/// Runs the app until Ctrl-C or SIGTERM, or for `duration`, then prints the rest of the
/// event stream (with `printer`) and the shutdown report, and returns the exit code.
pub async fn run(
    app: Hassette,
    duration: Option<Duration>,
    printer: Option<Printer>,
) -> std::process::ExitCode {
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
    if let Some(printer) = printer {
        printer.finish().await;
    }
    println!("\n{}", app.shutdown().await);
    code
}

/// The per-connection pattern: a listener service whose `serve` accepts TCP connections
/// and adds a temporary child service for each, which echoes lines back. A connection
/// that misbehaves (sends `boom`) fails only its own child; a child that ends is removed,
/// and the shutdown report counts them. (`examples/connections.rs` carries its own copy,
/// binding its socket before the app starts, so that file stands alone.)
pub mod echo {
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use hassette_runtime::ServiceHandle;
    use hassette_runtime::prelude::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    /// Accepts connections on 127.0.0.1 and supervises one child per connection (which
    /// answers `who` with the open connections: the listener's children).
    #[derive(Debug)]
    pub struct Listener {
        port: u16,
        accepted: AtomicU64,
        bound: watch::Sender<Option<SocketAddr>>,
    }

    impl Listener {
        /// A listener on `127.0.0.1:port` (0: a free port).
        pub fn new(port: u16) -> Self {
            Listener {
                port,
                accepted: AtomicU64::new(0),
                bound: watch::channel(None).0,
            }
        }

        /// Waits for the address it listens on.
        pub async fn local_addr(&self) -> Option<SocketAddr> {
            let mut bound = self.bound.subscribe();
            bound.wait_for(Option::is_some).await.ok().and_then(|a| *a)
        }
    }

    #[service(restart = "permanent", max_children = 1000, name = "listener")]
    impl Listener {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
            self.bound.send_replace(Some(listener.local_addr()?));
            // Its own handle, for its connections to list their siblings.
            let me = ctx.app().handle(ctx.name())?;
            loop {
                let (stream, _) = tokio::select! {
                    () = ctx.cancelled() => return Ok(()),
                    accepted = listener.accept() => accepted?,
                };
                let n = self.accepted.fetch_add(1, Ordering::Relaxed) + 1;
                // One supervised child per connection: `listener/conn-1`, ...
                let conn = Connection {
                    stream: Mutex::new(Some(stream)),
                    listener: me.clone(),
                };
                match ctx.add_child_named(format!("conn-{n}"), conn).await {
                    Ok(_) => tracing::debug!(open = ctx.children().len(), "connection accepted"),
                    Err(error) => tracing::warn!(%error, "connection refused"),
                }
            }
        }
    }

    /// One client's connection: echoes each line back until the client hangs up; `who`
    /// answers with the open connections, by their own names (`conn-1 conn-3`).
    struct Connection {
        stream: Mutex<Option<TcpStream>>,
        listener: ServiceHandle,
    }

    #[service(restart = "temporary", shutdown_timeout = "1s")]
    impl Connection {
        async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
            let stream = self.stream.lock().map_err(|_| "poisoned")?.take();
            let Some(stream) = stream else {
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
    pub async fn client(addr: SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
        let stream = TcpStream::connect(addr).await?;
        let (read, mut write) = stream.into_split();
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
}
