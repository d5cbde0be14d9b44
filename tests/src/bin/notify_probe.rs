//! The app under systemd for `tests/systemd.rs`: run with `NOTIFY_SOCKET` (and
//! `WATCHDOG_USEC`) naming the test's socket. It drops marker datagrams (`X-MARK=...`) into
//! the same socket as it goes, so the test can check each notification against what the
//! app was doing when it was sent, and before each step it waits for the test's word on
//! stdin (`gate`, `fail`, `shutdown`): the test says it once it has seen what it needs
//! (enough watchdog pings, a status), so nothing here sleeps. It panics (and exits
//! non-zero) when something it waits for does not come.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hassette_runtime::prelude::*;
use tokio::sync::{Notify, mpsc};

/// Ready only when the test says so.
struct Gate {
    open: Arc<Notify>,
}

#[service(restart = "permanent", ready = "manual")]
impl Gate {
    async fn serve(&self, ctx: &ServiceContext) {
        tokio::select! {
            () = ctx.cancelled() => return,
            () = self.open.notified() => ctx.mark_ready(),
        }
        ctx.cancelled().await;
    }
}

/// Ready at once, never fails.
struct Steady;

#[service(restart = "permanent")]
impl Steady {
    async fn serve(&self, ctx: &ServiceContext) {
        ctx.cancelled().await;
    }
}

/// Fails its next `fail` runs once kicked: two failures against a budget of one restart
/// exhaust it into ExhaustedCooling for 400ms, then it restarts and runs again.
struct Flaky {
    kick: Arc<Notify>,
    fail: Arc<AtomicU32>,
}

#[service(
    restart = "transient",
    backoff(base = "0s"),
    budget(intensity = 1, period = "1m"),
    cooldown = "400ms"
)]
impl Flaky {
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        loop {
            let left = self.fail.load(Ordering::SeqCst);
            if left > 0 {
                self.fail.store(left - 1, Ordering::SeqCst);
                return Err("scripted failure".into());
            }
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                () = self.kick.notified() => {}
            }
        }
    }
}

/// Sends a marker datagram to the notification socket.
fn mark(what: &str) {
    let path = std::env::var_os("NOTIFY_SOCKET").expect("NOTIFY_SOCKET");
    UnixDatagram::unbound()
        .unwrap()
        .send_to(format!("X-MARK={what}\n").as_bytes(), path)
        .unwrap();
}

/// Waits for an event that moves `service` to `to`.
async fn wait_for(
    events: &mut hassette_runtime::EventReceiver<hassette_runtime::StatusEvent>,
    service: &str,
    to: Status,
) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.unwrap();
            if &*event.service == service && event.to == to {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{service} never became {to}"));
}

/// The test's words, line by line, read by a thread of their own (tokio's stdin would
/// hold the runtime's drop at the end).
fn words() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits (at most 30s) for the test to say `word`.
async fn told(words: &mut mpsc::UnboundedReceiver<String>, word: &str) {
    let said = tokio::time::timeout(Duration::from_secs(30), words.recv()).await;
    match said {
        Ok(Some(said)) => assert_eq!(said, word),
        Ok(None) => panic!("stdin closed before `{word}`"),
        Err(_) => panic!("the test did not say `{word}` within 30s"),
    }
}

#[tokio::main(worker_threads = 2)]
async fn main() {
    let mut words = words();
    let open = Arc::new(Notify::new());
    let kick = Arc::new(Notify::new());
    let fail = Arc::new(AtomicU32::new(0));
    let app = Hassette::builder()
        .service(Steady)
        .service(Gate { open: open.clone() })
        .service(Flaky {
            kick: kick.clone(),
            fail: fail.clone(),
        })
        .build()
        .unwrap();
    let mut events = app.events();
    // A notifier dropped half-way (after its first STATUS=) gives the app back: the next
    // one speaks for it, READY=1 and all.
    let dropped = hassette_runtime::systemd::notify(app.clone());
    assert!(
        tokio::time::timeout(Duration::from_millis(20), dropped)
            .await
            .is_err()
    );
    mark("handover");
    let notifier = tokio::spawn(hassette_runtime::systemd::notify(app.clone()));
    app.start().await.unwrap();
    app.wait_ready::<Steady>().await.unwrap();
    app.wait_ready::<Flaky>().await.unwrap();

    told(&mut words, "gate").await;
    mark("gate");
    open.notify_one();
    app.wait_ready::<Gate>().await.unwrap();

    told(&mut words, "fail").await;
    fail.store(2, Ordering::SeqCst);
    kick.notify_one();
    wait_for(&mut events, "Flaky", Status::ExhaustedCooling).await;
    mark("cooling");
    wait_for(&mut events, "Flaky", Status::Running).await;
    mark("recovered");

    told(&mut words, "shutdown").await;
    mark("shutdown");
    let report = app.shutdown().await;
    assert!(report.is_success(), "{report}");
    tokio::time::timeout(Duration::from_secs(2), notifier)
        .await
        .expect("the notifier returns after STOPPING=1")
        .unwrap();
    mark("end");
}
