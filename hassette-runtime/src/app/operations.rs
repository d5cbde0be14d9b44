//! The operations on a live app that keep it running: [`Hassette::reload`],
//! [`Hassette::reconfigure`], and the reload on SIGHUP that `run_until_signal` does.

use crate::{Hassette, Overrides, ReconfigureError, ReloadError, ReloadReport};

impl Hassette {
    /// Reloads the app: runs `on_reload` of every live service that defines it, in
    /// dependency waves (a service after the ones it depends on, a child after its
    /// parent; each wave waits for the one before), while each goes on serving.
    ///
    /// Each `on_reload` is bounded by its service's `startup_timeout`. One that fails
    /// (an error, a panic, the timeout) fails that run: it is in the report, and the
    /// service's restart policy applies as for a failure of `serve`. A service that is
    /// not Running when its wave comes (starting, in its backoff, stopped) is skipped.
    /// `run_until_signal` calls it on SIGHUP (Unix).
    ///
    /// # Errors
    ///
    /// [`ReloadError::NotStarted`] before [`start`](Self::start),
    /// [`ReloadError::ShuttingDown`] once the shutdown has begun, and
    /// [`ReloadError::InsideReload`] when called from inside an `on_reload` of the reload
    /// in flight (or from a child of a service in its `on_reload`), which would wait for
    /// itself.
    ///
    /// # Cancel safety
    ///
    /// One reload at a time runs, in a task of its own; calls are coalesced: a call while
    /// one runs (from another task, or the same caller again after its future was
    /// dropped half-way) joins it and returns its report, and a call after it has ended
    /// begins the next. A reload's future dropped half-way leaves the reload going.
    /// Awaited from a service's `serve` or `ctx.spawn` task it returns as from outside:
    /// `serve` keeps running next to its own `on_reload`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use hassette_runtime::prelude::*;
    ///
    /// struct Feed { reloads: AtomicU32 }
    /// #[service(restart = "permanent")]
    /// impl Feed {
    ///     async fn serve(&self, ctx: &ServiceContext) { ctx.cancelled().await }
    ///     async fn on_reload(&self) { self.reloads.fetch_add(1, Ordering::Relaxed); }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let app = Hassette::builder().service(Feed { reloads: AtomicU32::new(0) }).build()?;
    /// app.start().await?;
    /// app.wait_ready::<Feed>().await?;
    /// let report = app.reload().await?;
    /// assert_eq!(report.reloaded.len(), 1);
    /// let feed = app.handle("Feed")?.service::<Feed>().ok_or("no Feed")?;
    /// assert_eq!(feed.reloads.load(Ordering::Relaxed), 1);
    /// app.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.inner.reload().await
    }

    /// Applies `overrides` to the live unit `name` (static or added, a child by its full
    /// name) from its next decision on: the next timeout, backoff, budget check or
    /// watchdog reads them; a wait already under way keeps its bound. They replace the
    /// unit's type's values as a registration's overrides do, and replace any earlier
    /// ones entirely. They are checked by the same rules as the attribute and
    /// [`Builder::configure`](crate::Builder::configure).
    ///
    /// # Errors
    ///
    /// [`ReconfigureError::Lookup`] for an unknown name, [`ReconfigureError::Config`]
    /// (naming the service and the key) for a value that breaks a rule, and
    /// [`ReconfigureError::Stopping`] once the unit or the app is stopping for good.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hassette_runtime::prelude::*;
    /// use hassette_runtime::{Overrides, ReconfigureError};
    ///
    /// struct Poller;
    /// #[service(restart = "permanent")]
    /// impl Poller { async fn serve(&self, ctx: &ServiceContext) { ctx.cancelled().await } }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let app = Hassette::builder().service(Poller).build()?;
    /// app.start().await?;
    /// app.reconfigure("Poller", Overrides::new().backoff_base(Duration::from_millis(50)))?;
    /// let error = app.reconfigure("Poller", Overrides::new().budget_intensity(0)).unwrap_err();
    /// assert!(matches!(&error, ReconfigureError::Config(e) if e.key == "budget_intensity"));
    /// app.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn reconfigure(&self, name: &str, overrides: Overrides) -> Result<(), ReconfigureError> {
        self.inner.reconfigure(name, &overrides)
    }
}

/// Reloads the app on every SIGHUP until the shutdown begins (for `run_until_signal`);
/// with feature `systemd`, tells systemd `RELOADING=1` with `MONOTONIC_USEC=` before
/// each reload and `READY=1` after it, as `Type=notify-reload` and `ExecReload=` expect.
#[cfg(unix)]
pub(super) struct Hangups(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Hangups {
    /// Installs the listener at once, so that a SIGHUP during a slow start reloads (or,
    /// before the start, is refused and logged) instead of ending the process.
    pub(super) fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Hangups(signal(SignalKind::hangup())?))
    }

    /// Reloads at every SIGHUP, until the shutdown begins.
    pub(super) async fn reload_on_each(mut self, app: Hassette) {
        loop {
            tokio::select! {
                biased;
                () = app.shutdown_begun() => return,
                received = self.0.recv() => if received.is_none() {
                    return;
                },
            }
            tracing::info!("SIGHUP: reloading");
            #[cfg(feature = "systemd")]
            crate::systemd::reloading();
            match app.reload().await {
                Ok(report) if report.is_success() => {}
                Ok(report) => tracing::warn!("the reload failed for some services\n{report}"),
                Err(error) => tracing::warn!(%error, "SIGHUP: not reloaded"),
            }
            #[cfg(feature = "systemd")]
            crate::systemd::reloaded();
        }
    }
}
