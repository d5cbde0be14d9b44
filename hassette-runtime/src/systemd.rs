//! Tells systemd how the app is doing, over the `sd_notify` protocol (feature `systemd`).
//!
//! [`Hassette::run_until_signal`] does it by itself when this feature is on: run the
//! program as a `Type=notify` unit. A program with its own stop trigger
//! ([`Hassette::run_until`]) spawns [`notify`] next to it.
//!
//! | message | when |
//! |---|---|
//! | `READY=1` | once, when every service is Running and ready (systemd then counts the unit as started) |
//! | `STATUS=...` | whenever the counts change, e.g. `STATUS=4 running (1 not ready), 1 failed`, ending in `; degraded (1 not critical and down)` while a service that is not critical is down (shown by `systemctl status`) |
//! | `WATCHDOG=1` | every half of `WatchdogSec=`, only while no critical service is Crashed, ExhaustedCooling or ExhaustedDead |
//! | `STOPPING=1` | when the shutdown begins (a signal, a crash, or [`Hassette::shutdown`]), at the start of its drain |
//! | `FDSTORE=1`, `FDNAME=<name>` | once the listeners of [`Builder::listener`](crate::Builder::listener) are open, one message per listener with its descriptor, for the next process (set `FileDescriptorStoreMax=`) |
//! | `RELOADING=1`, `MONOTONIC_USEC=` | under [`Hassette::run_until_signal`], at a SIGHUP, before the reload ([`Hassette::reload`]) |
//! | `READY=1` | after that reload |
//!
//! Withholding the watchdog pings is how a critical service that is out of restarts
//! escalates (one that is not critical only degrades the app, which goes on):
//! systemd kills the process after `WatchdogSec=` and, with `Restart=on-failure`, starts
//! it again with fresh state. Outside systemd (`NOTIFY_SOCKET` unset) [`notify`] returns
//! at once, so the same binary runs anywhere.
//!
//! The protocol itself (socket, message format, `WATCHDOG_USEC`/`WATCHDOG_PID`) is the
//! [`sd-notify`](https://docs.rs/sd-notify) crate's.
//!
//! ```ini
//! [Service]
//! Type=notify
//! NotifyAccess=main
//! WatchdogSec=30s
//! Restart=on-failure
//! ExecStart=/usr/local/bin/my-app
//! ```
//!
//! ```no_run
//! use hassette_runtime::prelude::*;
//!
//! #[tokio::main]
//! async fn main() -> Result<std::process::ExitCode, BoxError> {
//!     let app = Hassette::builder() /* .service(...) */ .build()?;
//!     // with feature `systemd`, this also tells systemd READY=1, STATUS=, STOPPING=1
//!     Ok(app.run_until_signal().await)
//! }
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::{Hassette, ServiceSnapshot, Status};

mod fdstore;

/// At most this many `STATUS=` refreshes a second, however many events arrive: a burst
/// of ten thousand services starting costs a few snapshots, not ten thousand.
const MIN_GAP: Duration = Duration::from_millis(100);

/// Readiness changes publish no event; a periodic look catches them.
const REFRESH: Duration = Duration::from_secs(1);

/// Reports the app's state to systemd until the shutdown begins.
/// [`Hassette::run_until_signal`] runs it by itself; spawn it next to
/// [`Hassette::run_until`] (or [`Hassette::start`]) in a program that stops by other means.
/// One app has one notifier: a second call, or one next to `run_until_signal`, returns at
/// once, so systemd never hears `READY=1` twice. A notifier dropped half-way gives the
/// app back, and the next call speaks for it.
///
/// - `STATUS=<counts>` at once and whenever the counts per status change (at most ten
///   times a second; a burst of changes is summed up), in the order of [`Status::ALL`],
///   e.g. `4 running (1 not ready), 1 failed`;
/// - `READY=1` once, as soon as every service is Running and ready, or finished its job
///   for good ([`ServiceSnapshot::counts_as_ready`](crate::ServiceSnapshot::counts_as_ready):
///   a one-shot `temporary` job does not hold the unit back; an exhausted one does, and
///   systemd's `TimeoutStartSec=` then fails the unit);
/// - `WATCHDOG=1` every half of `WATCHDOG_USEC` when systemd asks for a watchdog
///   (`WatchdogSec=`), skipped while any service is [`Crashed`](Status::Crashed),
///   [`ExhaustedCooling`](Status::ExhaustedCooling) or
///   [`ExhaustedDead`](Status::ExhaustedDead), so systemd restarts the process then;
/// - `STOPPING=1` when the shutdown begins, and then it returns.
///
/// Returns at once when `NOTIFY_SOCKET` is not set, i.e. outside a `Type=notify` unit.
/// A message that cannot be sent is logged with `tracing` (a warning for the first of a
/// row of failures) and the notifier carries on.
///
/// ```no_run
/// # async fn f(app: hassette_runtime::Hassette, stop: tokio::sync::oneshot::Receiver<()>) {
/// tokio::spawn(hassette_runtime::systemd::notify(app.clone()));
/// let report = app.run_until(async { stop.await.unwrap_or(()) }).await;
/// # drop(report);
/// # }
/// ```
///
/// Outside systemd it is a no-op:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = hassette_runtime::Hassette::builder().build().unwrap();
/// if std::env::var_os("NOTIFY_SOCKET").is_none() {
///     hassette_runtime::systemd::notify(app).await; // returns at once
/// }
/// # }
/// ```
pub async fn notify(app: Hassette) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let Some(_claim) = Claim::of(&app) else {
        return; // another notifier (`run_until_signal`'s, say) speaks for this app
    };
    // Subscribe before the first snapshot, so that no change falls in between.
    let mut events = app.events();
    let mut events_open = true;
    let mut watchdog = sd_notify::watchdog_enabled()
        .filter(|usec| !usec.is_zero())
        .map(|usec| interval(usec / 2));
    let mut refresh = interval(REFRESH);
    refresh.reset(); // the first refresh is right below, not at the first tick
    let mut link = Link::default();
    let mut due: Option<Instant> = None;
    let mut last_refresh: Option<Instant> = None;
    let mut last_status = String::new();
    let mut ready_sent = false;
    let mut all_up: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;
    let mut refresh_now = true;
    let mut store = fdstore::Store::default();
    loop {
        if refresh_now {
            store.send(&app);
            due = None;
            last_refresh = Some(Instant::now());
            let snapshot = app.snapshot();
            let status = status_line(&snapshot);
            if status != last_status {
                link.send(&[NotifyState::Status(&status)]);
                last_status = status;
            }
            if !ready_sent {
                if snapshot.iter().all(|s| s.counts_as_ready()) {
                    link.send(&[NotifyState::Ready]);
                    ready_sent = true;
                    all_up = None;
                } else {
                    // Wake up the moment the ones still down are up, without waiting for
                    // the periodic refresh: a manual `mark_ready` publishes no event.
                    let down = snapshot
                        .into_iter()
                        .filter(|s| !s.counts_as_ready())
                        .map(|s| s.name)
                        .collect();
                    all_up = Some(Box::pin(wait_all_up(app.clone(), down)));
                }
            }
        }
        refresh_now = true;
        tokio::select! {
            biased;
            () = app.shutdown_begun() => {
                store.send(&app);
                link.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
                return;
            }
            _ = tick(watchdog.as_mut()) => {
                if is_healthy(&app.snapshot()) {
                    link.send(&[NotifyState::Watchdog]);
                }
                refresh_now = false;
            }
            received = events.recv(), if events_open => {
                if let Err(RecvError::Closed) = received {
                    events_open = false;
                } else {
                    while let Ok(_) | Err(TryRecvError::Lagged(_)) = events.try_recv() {}
                    let now = Instant::now();
                    due.get_or_insert(last_refresh.map_or(now, |at| (at + MIN_GAP).max(now)));
                }
                refresh_now = false;
            }
            () = sleep_until(due) => {}
            _ = refresh.tick() => {}
            () = poll_optional(&mut all_up) => {}
        }
    }
}

/// The apps a notifier speaks for now, by [`Hassette::id`]: one notifier per app.
static SPEAKING: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

/// A notifier's claim to speak for its app, given back when dropped (the notifier
/// returned, or was dropped half-way). It holds the app, so the app's id cannot be
/// another app's while the claim lasts.
struct Claim(Hassette);

impl Claim {
    /// Claims `app` for one notifier: `None` while another one holds it.
    fn of(app: &Hassette) -> Option<Claim> {
        let mut speaking = crate::sync::lock(&SPEAKING);
        speaking.insert(app.id()).then(|| Claim(app.clone()))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut speaking = crate::sync::lock(&SPEAKING);
        speaking.remove(&self.0.id());
    }
}

/// Completes once each of `names` has been Running and ready; stays pending when one of
/// them will not be (an event or the periodic refresh then replaces this future).
async fn wait_all_up(app: Hassette, names: Vec<Arc<str>>) {
    for name in names {
        if app.wait_ready_by_name(&name).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `STATUS=` text: the count of each status present, e.g. `4 running (1 not ready), 1 failed`,
/// and, when a service that is not critical is down, `; degraded (1 not critical and down)`.
fn status_line(snapshot: &[ServiceSnapshot]) -> String {
    let mut counts = [0usize; Status::ALL.len()];
    let mut not_ready = 0;
    for s in snapshot {
        if let Some(i) = Status::ALL.iter().position(|&x| x == s.status) {
            counts[i] += 1;
        }
        not_ready += usize::from(s.status == Status::Running && !s.ready);
    }
    let mut line = String::new();
    for (status, &count) in Status::ALL.iter().zip(&counts) {
        if count == 0 {
            continue;
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        let _ = write!(line, "{count} {status}");
        if *status == Status::Running && not_ready > 0 {
            let _ = write!(line, " ({not_ready} not ready)");
        }
    }
    if line.is_empty() {
        line.push_str("no services");
    }
    let degraded = snapshot.iter().filter(|s| s.degrades()).count();
    if degraded > 0 {
        let _ = write!(line, "; degraded ({degraded} not critical and down)");
    }
    line
}

/// Whether the watchdog may be fed: no critical service is Crashed or exhausted (one that
/// is not critical degrades the app, which goes on: restarting the process is no cure).
fn is_healthy(snapshot: &[ServiceSnapshot]) -> bool {
    !snapshot.iter().any(|s| {
        s.critical
            && matches!(
                s.status,
                Status::Crashed | Status::ExhaustedCooling | Status::ExhaustedDead
            )
    })
}

fn interval(period: Duration) -> Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

async fn tick(interval: Option<&mut Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

async fn poll_optional(future: &mut Option<Pin<Box<dyn Future<Output = ()> + Send>>>) {
    match future {
        Some(pending) => {
            pending.await;
            *future = None;
        }
        None => std::future::pending().await,
    }
}

/// The notification socket, through `sd-notify`; logs failures without flooding the log.
#[derive(Debug, Default)]
struct Link {
    failing: bool,
}

impl Link {
    fn send(&mut self, states: &[NotifyState<'_>]) {
        match sd_notify::notify(states) {
            Ok(()) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("sd_notify works again");
                }
            }
            Err(error) if !self.failing => {
                self.failing = true;
                tracing::warn!(%error, "cannot notify systemd");
            }
            Err(error) => tracing::debug!(%error, "cannot notify systemd"),
        }
    }
}

/// Tells systemd that a reload begins: `RELOADING=1` with `MONOTONIC_USEC=` (the
/// `CLOCK_MONOTONIC` time now, in microseconds, which systemd requires to accept the
/// reload); [`reloaded`] ends it. Outside systemd (`NOTIFY_SOCKET` unset), nothing.
pub(crate) fn reloading() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let result = NotifyState::monotonic_usec_now()
        .and_then(|now| sd_notify::notify(&[NotifyState::Reloading, now]));
    if let Err(error) = result {
        tracing::warn!(%error, "cannot tell systemd RELOADING=1");
    }
}

/// Tells systemd that the reload [`reloading`] announced is done: `READY=1`.
pub(crate) fn reloaded() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(error) = sd_notify::notify(&[NotifyState::Ready]) {
        tracing::warn!(%error, "cannot tell systemd READY=1 after the reload");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(status: Status, ready: bool) -> ServiceSnapshot {
        ServiceSnapshot {
            name: "s".into(),
            status,
            ready,
            restarts: 0,
            collateral_restarts: 0,
            last_error: None,
            finished: false,
            critical: true,
            retry_at: None,
            budget_used: 0,
            waiting: None,
            budget_intensity: 1,
            uptime: None,
            parent: None,
            group: None,
        }
    }

    #[test]
    fn one_notifier_per_app_until_its_claim_is_dropped() {
        let app = Hassette::builder().build().unwrap();
        let other = Hassette::builder().build().unwrap();
        let first = Claim::of(&app).expect("no notifier speaks for it yet");
        assert!(Claim::of(&app).is_none(), "one notifier per app");
        assert!(Claim::of(&app.clone()).is_none(), "a clone is the same app");
        let next = Claim::of(&other).expect("another app has its own notifier");
        drop(first);
        assert!(Claim::of(&app).is_some(), "given back when dropped");
        drop(next);
    }

    #[test]
    fn status_line_counts_each_status_in_order() {
        assert_eq!(status_line(&[]), "no services");
        let snapshot = [
            snap(Status::Failed, false),
            snap(Status::Running, true),
            snap(Status::Running, false),
            snap(Status::Starting, false),
            snap(Status::Running, true),
        ];
        assert_eq!(
            status_line(&snapshot),
            "1 starting, 3 running (1 not ready), 1 failed"
        );
    }

    #[test]
    fn status_line_says_degraded_while_one_that_is_not_critical_is_down() {
        let lamp = |status| ServiceSnapshot {
            critical: false,
            ..snap(status, false)
        };
        let snapshot = [
            snap(Status::Running, true),
            lamp(Status::ExhaustedDead),
            lamp(Status::Running),
        ];
        assert_eq!(
            status_line(&snapshot),
            "2 running (1 not ready), 1 exhausted (dead); degraded (1 not critical and down)"
        );
        // Not critical and out of restarts: the watchdog is still fed (the app goes on).
        assert!(is_healthy(&snapshot));
        assert!(!is_healthy(&[snap(Status::ExhaustedDead, false)]));
        // A critical one that is down is no degradation: the app is not ready.
        assert_eq!(status_line(&[snap(Status::Failed, false)]), "1 failed");
    }
}
