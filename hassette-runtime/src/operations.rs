//! What the operations on a live app say: a reload's report and errors
//! ([`Hassette::reload`](crate::Hassette::reload)), a reconfiguration's error
//! ([`Hassette::reconfigure`](crate::Hassette::reconfigure)), and the error of a run its
//! watchdog ended ([`NoHeartbeat`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{ConfigError, LookupError, SharedError};

/// What [`Hassette::reload`](crate::Hassette::reload) did to each live service that
/// defines `on_reload`, in the order it ran them (dependency waves: a service after the
/// ones it depends on, a child after its parent).
///
/// ```
/// use hassette_runtime::ReloadReport;
///
/// let report = ReloadReport::default();
/// assert!(report.is_success());
/// assert_eq!(report.to_string(), "reload: nothing to reload");
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The services whose `on_reload` returned `Ok`.
    pub reloaded: Vec<Arc<str>>,
    /// The services whose `on_reload` failed (an error, a panic or its `startup_timeout`
    /// ran out): that run failed, and its restart policy applies.
    pub failed: Vec<(Arc<str>, SharedError)>,
    /// The services that define `on_reload` but were not reloaded, and why: not Running
    /// when their wave came, stopped or restarted meanwhile, or the app began to stop.
    pub skipped: Vec<(Arc<str>, ReloadSkipped)>,
}

impl ReloadReport {
    /// Whether no `on_reload` failed.
    ///
    /// ```
    /// # let report = hassette_runtime::ReloadReport::default();
    /// if !report.is_success() {
    ///     eprintln!("{report}");
    /// }
    /// ```
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
    }
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ok, failed, skipped) = (self.reloaded.len(), self.failed.len(), self.skipped.len());
        if ok + failed + skipped == 0 {
            return f.write_str("reload: nothing to reload");
        }
        write!(
            f,
            "reload: {ok} reloaded, {failed} failed, {skipped} skipped"
        )?;
        for (service, error) in &self.failed {
            write!(f, "\n  `{service}` failed: {error}")?;
        }
        for (service, why) in &self.skipped {
            write!(f, "\n  `{service}` skipped: {why}")?;
        }
        Ok(())
    }
}

/// Why a reload skipped a service that defines `on_reload`.
///
/// ```
/// use hassette_runtime::ReloadSkipped;
/// assert_eq!(ReloadSkipped::NotRunning.to_string(), "it was not running");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadSkipped {
    /// It was not Running when its wave came (starting, in its backoff, stopped).
    NotRunning,
    /// It was stopped, restarted or removed before its `on_reload` could run.
    Interrupted,
    /// The app began to stop.
    ShuttingDown,
    /// Its supervisor was busy (a hook of a restart, say) for its whole
    /// `startup_timeout`.
    Busy,
}

impl fmt::Display for ReloadSkipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReloadSkipped::NotRunning => "it was not running",
            ReloadSkipped::Interrupted => "it was stopped or restarted first",
            ReloadSkipped::ShuttingDown => "the application is shutting down",
            ReloadSkipped::Busy => "it was busy for its whole startup timeout",
        })
    }
}

/// Why [`Hassette::reload`](crate::Hassette::reload) did not reload.
///
/// ```
/// use hassette_runtime::ReloadError;
/// assert_eq!(
///     ReloadError::NotStarted.to_string(),
///     "cannot reload: the application has not been started; call `start` first"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The application has not been started.
    #[error("cannot reload: the application has not been started; call `start` first")]
    NotStarted,
    /// The application is shutting down (or has stopped).
    #[error("cannot reload: the application is shutting down")]
    ShuttingDown,
    /// Asked for from inside the `on_reload` of a reload in flight (or from a child of a
    /// service in its `on_reload`): waiting for that reload would wait for the caller.
    #[error(
        "cannot reload from inside `{service}`'s `on_reload`: the reload in flight is this one; it completes once `on_reload` returns"
    )]
    InsideReload {
        /// The service whose `on_reload` (or whose child) asked.
        service: Arc<str>,
    },
}

/// Why [`Hassette::reconfigure`](crate::Hassette::reconfigure) did not apply the new
/// settings.
///
/// ```
/// use hassette_runtime::{LookupError, ReconfigureError};
/// let e = ReconfigureError::from(LookupError::UnknownName { name: "worker-9".into() });
/// assert_eq!(e.to_string(), "no service is named `worker-9`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconfigureError {
    /// No unit has this name.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A value breaks the attribute's rules: the error names the service and the key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The unit is being removed, or the application is shutting down.
    #[error("cannot reconfigure `{service}`: it is stopping for good")]
    Stopping {
        /// The service.
        service: Arc<str>,
    },
}

/// The error of a run that did not call
/// [`ServiceContext::heartbeat`](crate::ServiceContext::heartbeat) within its `watchdog`:
/// the run fails, and its restart policy applies (metrics count it as a `timeout`).
///
/// ```
/// use std::time::Duration;
/// use hassette_runtime::NoHeartbeat;
///
/// let e = NoHeartbeat::new("poller", Duration::from_secs(10));
/// assert_eq!(e.to_string(), "service `poller`: no heartbeat for 10s (its watchdog)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service `{service}`: no heartbeat for {} (its watchdog)", hassette_spec::format_duration(*.after))]
#[non_exhaustive]
pub struct NoHeartbeat {
    /// The service.
    pub service: Arc<str>,
    /// Its `watchdog`.
    pub after: Duration,
}

impl NoHeartbeat {
    /// `service` went `after` without a heartbeat.
    #[must_use]
    pub fn new(service: impl Into<Arc<str>>, after: Duration) -> Self {
        NoHeartbeat {
            service: service.into(),
            after,
        }
    }
}
