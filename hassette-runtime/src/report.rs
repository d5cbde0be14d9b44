//! What `Hassette::shutdown` hands back: how every service ended.

use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::{SharedError, Status};

/// How many errors a [`ServiceReport`] keeps; older ones are counted, not kept, so a
/// service failing for days cannot grow memory without bound.
pub const KEPT_ERRORS: usize = 16;

/// One error a service met, and where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReportedError {
    /// `serve`, a hook's name, `startup`, or `children`.
    pub what: &'static str,
    /// The error.
    pub error: SharedError,
}

impl fmt::Display for ReportedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

/// How one service ended.
///
/// ```
/// # use hassette_runtime::{ServiceReport, Status};
/// let report = ServiceReport::new("db".into());
/// assert_eq!(report.status, Status::NotStarted);
/// assert!(!report.aborted);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceReport {
    /// The service's name.
    pub name: Arc<str>,
    /// Its final status.
    pub status: Status,
    /// Its last [`KEPT_ERRORS`] errors: serve failures and hook errors, oldest first.
    pub errors: Vec<ReportedError>,
    /// How many errors it met in all (may exceed `errors.len()`).
    pub error_count: u64,
    /// How many times it was restarted.
    pub restarts: u64,
    /// Whether `serve` or its children outlived `shutdown_timeout` and were aborted.
    pub aborted: bool,
    /// How long its final stop took.
    pub stop_took: Duration,
}

impl ServiceReport {
    /// An empty report of a service that never started.
    #[must_use]
    pub fn new(name: Arc<str>) -> Self {
        ServiceReport {
            name,
            status: Status::NotStarted,
            errors: Vec::new(),
            error_count: 0,
            restarts: 0,
            aborted: false,
            stop_took: Duration::ZERO,
        }
    }

    pub(crate) fn record(&mut self, what: &'static str, error: SharedError) {
        if self.errors.len() == KEPT_ERRORS {
            self.errors.remove(0);
        }
        self.errors.push(ReportedError { what, error });
        self.error_count += 1;
    }

    /// Whether this service makes the process exit non-zero: it crashed, or its stop
    /// timed out and was aborted.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        self.status == Status::Crashed || self.aborted
    }
}

/// The outcome of [`Hassette::shutdown`](crate::Hassette::shutdown): one
/// [`ServiceReport`] per service, in registration order.
///
/// Its `Display` prints a short table, one line per service.
///
/// ```
/// # use hassette_runtime::ShutdownReport;
/// let report = ShutdownReport::default();
/// assert!(report.is_success());
/// assert_eq!(report.exit_code(), std::process::ExitCode::SUCCESS);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Every service, in registration order.
    pub services: Vec<ServiceReport>,
    /// How long the whole shutdown took.
    pub took: Duration,
    /// Whether the total shutdown deadline ran out before every service had stopped.
    pub deadline_exceeded: bool,
    /// Why the shutdown began (a signal, a crash, a call of `shutdown`).
    pub reason: Option<String>,
}

impl ShutdownReport {
    /// The report of one service by name.
    ///
    /// ```
    /// # let report = hassette_runtime::ShutdownReport::default();
    /// assert!(report.service("db").is_none());
    /// ```
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&ServiceReport> {
        self.services.iter().find(|s| &*s.name == name)
    }

    /// True when nothing crashed, no stop was aborted and the deadline held.
    #[must_use]
    pub fn is_success(&self) -> bool {
        !self.deadline_exceeded && !self.services.iter().any(ServiceReport::is_failure)
    }

    /// `SUCCESS` exactly when [`is_success`](Self::is_success), else `FAILURE`.
    #[must_use]
    pub fn exit_code(&self) -> ExitCode {
        if self.is_success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .services
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(7)
            .max(7);
        writeln!(
            f,
            "{:<width$}  {:<19}  {:>8}  {:>6}  {:>9}  last error",
            "service", "status", "restarts", "errors", "stop took"
        )?;
        for s in &self.services {
            let flag = if s.aborted { " (aborted)" } else { "" };
            let last = s
                .errors
                .last()
                .map_or_else(|| "-".to_owned(), ToString::to_string);
            writeln!(
                f,
                "{:<width$}  {:<19}  {:>8}  {:>6}  {:>9}  {last}{flag}",
                s.name,
                s.status,
                s.restarts,
                s.error_count,
                format!("{:.1?}", s.stop_took),
            )?;
        }
        write!(f, "shutdown took {:.1?}", self.took)?;
        if self.deadline_exceeded {
            write!(f, " (deadline exceeded)")?;
        }
        if let Some(reason) = &self.reason {
            write!(f, "; reason: {reason}")?;
        }
        Ok(())
    }
}
