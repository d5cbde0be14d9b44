//! A worker pool: four supervised workers take jobs from one bounded queue that a
//! producer fills. Job 3 panics: only the worker that ran it fails and is restarted, the
//! others carry on. At Ctrl-C or SIGTERM the queue closes (the producer stops), and the
//! workers finish the job in hand and drain the jobs still queued before they stop.
//!
//! ```text
//! cargo run --example worker_pool   # Ctrl-C to stop
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hassette_runtime::StatusEvent;
use hassette_runtime::prelude::*;
use tokio::sync::{Mutex, mpsc};
use tokio::time::{Instant, sleep};

struct Job(u64);

impl Job {
    async fn run(&self) {
        sleep(Duration::from_millis(150)).await; // the work
        if self.0 == 3 {
            panic!("job 3: corrupt payload");
        }
    }
}

/// What the queue accepted and what the workers finished.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    done: AtomicU64,
}

/// Queues a job every 25ms, faster than the pool works: when the queue is full, `send`
/// waits (backpressure).
struct Producer {
    queue: mpsc::Sender<Job>,
    tally: Arc<Tally>,
}

#[service(restart = "permanent", name = "producer")]
impl Producer {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        loop {
            let job = Job(self.tally.sent.load(Relaxed) + 1);
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                sent = self.queue.send(job) => sent.map_err(|_| "the queue is closed")?,
            }
            self.tally.sent.fetch_add(1, Relaxed);
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                () = sleep(Duration::from_millis(25)) => {}
            }
        }
    }
}

/// One of the pool: the workers share the queue's receiving end, one waiting on it at a
/// time. Transient: restarted after a failure (a panic), stopped for good once the queue
/// is closed and drained.
struct Worker {
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    tally: Arc<Tally>,
}

#[service(
    restart = "transient",
    backoff(base = "100ms"),
    shutdown_timeout = "5s" // bounds the drain: the jobs in hand and in the queue
)]
impl Worker {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        while let Some(job) = self.next_job(ctx).await {
            job.run().await; // a panic here fails this worker only; its job is lost
            self.tally.done.fetch_add(1, Relaxed);
            println!("{}: job {} done", ctx.name(), job.0);
        }
        Ok(()) // the queue is closed and empty
    }
}

impl Worker {
    /// The next job; once the app stops, the jobs still queued, then `None`.
    async fn next_job(&self, ctx: &ServiceContext) -> Option<Job> {
        let mut queue = self.queue.lock().await;
        tokio::select! {
            biased;
            () = ctx.cancelled() => {
                if !ctx.app().is_shutting_down() {
                    return None; // this worker alone is stopped: the others keep the queue
                }
                if !queue.is_closed() {
                    queue.close(); // no new jobs: the producer's `send` fails
                    println!("{}: stopping; draining the {} queued jobs", ctx.name(), queue.len());
                }
                queue.recv().await
            }
            job = queue.recv() => job,
        }
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let (send, receive) = mpsc::channel(8);
    let queue = Arc::new(Mutex::new(receive));
    let tally = Arc::new(Tally::default());
    let workers = (1..=4).map(|i| {
        let worker = Worker {
            queue: queue.clone(),
            tally: tally.clone(),
        };
        (format!("worker-{i}"), worker)
    });
    let app = Hassette::builder()
        .service(Producer {
            queue: send,
            tally: tally.clone(),
        })
        .services_named(workers)
        .build()?;

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
    let (sent, done) = (tally.sent.load(Relaxed), tally.done.load(Relaxed));
    println!("queued {sent} jobs: {done} done, {} lost", sent - done);
    Ok(code)
}
