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
///
/// With feature `serde`: `{"what": "serve", "error": "connection refused"}`, the error
/// as its `Display` text.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ReportedError {
    /// `serve`, a hook's name, `startup`, or `children`.
    pub what: &'static str,
    /// The error.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_helpers::error")
    )]
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
///
/// # Display
///
/// One line with the cells of its row in [`ShutdownReport`]'s table, labelled: its name,
/// status, restarts, errors, how long its stop took and its last error, each cut and
/// escaped as there (a name of any length or content stays within
/// [`NAME_COLUMN_WIDTH`] chars on the one line, the error within [`ERROR_COLUMN_WIDTH`]):
///
/// ```
/// # use hassette_runtime::{ServiceReport, Status};
/// let mut report = ServiceReport::new("db".into());
/// report.status = Status::Stopped;
/// report.stop_took = std::time::Duration::from_millis(12);
/// assert_eq!(
///     report.to_string(),
///     "db: stopped, 0 restarts, 0 errors, stop took 12.0ms, last error: -"
/// );
/// ```
///
/// With feature `serde` its fields serialize under their names, except `stop_took`, which
/// is `stop_took_secs`, in seconds (`0.25`); the status is its [`key`](Status::key).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    /// How many times it was restarted on its own account: after its own failure, or
    /// at an operator's request.
    pub restarts: u64,
    /// How many times it was restarted along with its parent (a child, whose parent
    /// restarted) or its group (a member that did not fail itself), counted apart from
    /// [`restarts`](Self::restarts).
    pub collateral_restarts: u64,
    /// Whether its failure may take the app down (see
    /// [`ServiceSnapshot::critical`](crate::ServiceSnapshot::critical)).
    pub critical: bool,
    /// Whether `serve` or its children outlived `shutdown_timeout` and were aborted.
    pub aborted: bool,
    /// How long its final stop took.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "stop_took_secs",
            serialize_with = "crate::serde_helpers::secs"
        )
    )]
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
            collateral_restarts: 0,
            critical: true,
            aborted: false,
            stop_took: Duration::ZERO,
        }
    }

    /// Whether this service makes the process exit non-zero: it crashed, or its stop
    /// timed out and was aborted.
    ///
    /// A service that is not [`critical`](Self::critical) never crashes by running out
    /// of restarts (it ends `ExhaustedDead`, which [`degrades`](Self::degrades) the app),
    /// so only a critical one's failure makes the exit code non-zero; a fatal error
    /// (`Fatal`, a `fatal(...)` type) is a service asking to take the app down, and
    /// crashes it whoever raises it.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        self.status == Status::Crashed || self.aborted
    }

    /// Whether it is down and not critical: the app goes on, degraded (see
    /// [`ShutdownReport::degraded`]).
    ///
    /// ```
    /// # use hassette_runtime::{ServiceReport, Status};
    /// let mut lamp = ServiceReport::new("hub/lamp".into());
    /// lamp.status = Status::ExhaustedDead;
    /// assert!(!lamp.degrades(), "critical: it would have taken the app down");
    /// lamp.critical = false;
    /// assert!(lamp.degrades() && !lamp.is_failure());
    /// ```
    #[must_use]
    pub fn degrades(&self) -> bool {
        crate::status::degrades(self.critical, self.status)
    }

    /// The cells its line and its row in the table show, bounded and escaped.
    fn cells(&self) -> Cells {
        Cells {
            name: cell(&self.name, NAME_COLUMN_WIDTH),
            stop_took: format!("{:.1?}", self.stop_took),
            last: self.errors.last().map_or_else(
                || "-".to_owned(),
                |e| cell(&e.to_string(), ERROR_COLUMN_WIDTH),
            ),
            flag: if self.aborted { " (aborted)" } else { "" },
        }
    }
}

/// The text cells of one service's row (its numbers and status print as they are).
struct Cells {
    name: String,
    stop_took: String,
    last: String,
    flag: &'static str,
}

impl fmt::Display for ServiceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Cells {
            name,
            stop_took,
            last,
            flag,
        } = self.cells();
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{name}: {}, {} restart{}, {} error{}, stop took {stop_took}, last error: {last}{flag}",
            self.status,
            self.restarts,
            plural(self.restarts),
            self.error_count,
            plural(self.error_count),
        )
    }
}

/// The outcome of [`Hassette::shutdown`](crate::Hassette::shutdown): one
/// [`ServiceReport`] per service, in registration order.
///
/// ```
/// # use hassette_runtime::ShutdownReport;
/// let report = ShutdownReport::default();
/// assert!(report.is_success());
/// assert_eq!(report.exit_code(), std::process::ExitCode::SUCCESS);
/// ```
///
/// # Display
///
/// A short table for a terminal: a header, one line per service (name, status, restarts,
/// errors, how long its stop took, its last error), a line naming the services that
/// degrade the app (if any), then a line with the shutdown's duration and reason. Every cell stays on its line and within a bound, whatever the
/// names and errors hold, so a report of thousands of services is as many short lines:
///
/// - The name column is as wide as the longest name, and at most [`NAME_COLUMN_WIDTH`]
///   chars. A longer name is cut at a char boundary and ends in `…`; the whole name is in
///   [`ServiceReport::name`].
/// - The last error (and the reason) is cut the same way after [`ERROR_COLUMN_WIDTH`]
///   chars; every error is kept whole in [`ServiceReport::errors`].
/// - A control character in any of them (a line break of a multi-line error, a tab, a
///   terminal escape), a Unicode line separator or a bidirectional control is written
///   escaped, as `\n`, `\t`, `\u{1b}`, `\u{202e}`.
///
/// Widths are counted in chars, not bytes: a multi-byte name is never split inside a
/// char, and the columns align for text whose chars are one column wide (a wide char such
/// as an emoji takes two columns in most terminals and shifts the rest of its line).
///
/// ```
/// # use hassette_runtime::{ServiceReport, ShutdownReport};
/// let mut report = ShutdownReport::default();
/// report.services.push(ServiceReport::new("db".into()));
/// report.services.push(ServiceReport::new("x".repeat(100).into()));
/// let text = report.to_string();
/// let line = text.lines().nth(2).unwrap();
/// assert!(line.starts_with(&format!("{}…  not started", "x".repeat(39))));
/// ```
///
/// # Serialization
///
/// With feature `serde`, an object whose fields are these under their names, except
/// `took`, which is `took_secs`, in seconds (`1.5`); every name and error is whole (the
/// table's cuts and escapes are the terminal's, not the data's):
///
/// ```json
/// {"services": [{"name": "db", "status": "stopped", "errors": [], "error_count": 0,
///                "restarts": 0, "collateral_restarts": 0, "critical": true, "aborted": false,
///                "stop_took_secs": 0.012}],
///  "took_secs": 0.012, "deadline_exceeded": false, "reason": "signal", "start_failed": false,
///  "removed": {"count": 0, "failed": 0, "restarts": 0, "errors": 0, "last_failures": []},
///  "degraded": false}
/// ```
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Every service, in registration order.
    pub services: Vec<ServiceReport>,
    /// How long the whole shutdown took.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "took_secs", serialize_with = "crate::serde_helpers::secs")
    )]
    pub took: Duration,
    /// Whether the total shutdown deadline ran out before every service had stopped.
    pub deadline_exceeded: bool,
    /// Why the shutdown began (a signal, a crash, a call of `shutdown`).
    pub reason: Option<String>,
    /// The shutdown began because a start failed that will not be retried
    /// ([`StartError::ends_the_app`](crate::StartError::ends_the_app): a temporary
    /// service, a non-retryable or fatal error, a spent budget), under
    /// [`Hassette::run_until`](crate::Hassette::run_until),
    /// [`run_until_signal`](crate::Hassette::run_until_signal) or `TestApp`; `reason`
    /// is that error. Such a report is not a success.
    pub start_failed: bool,
    /// The services added at run time and removed before the shutdown, in bounded
    /// totals (the live ones are in `services`).
    pub removed: RemovedServices,
    /// Whether the app was degraded when it stopped: a service that is not critical was
    /// down ([`ServiceReport::degrades`]). It does not make the exit code non-zero.
    pub degraded: bool,
}

/// How many failed removed services [`RemovedServices::last_failures`] keeps.
pub const KEPT_REMOVED_FAILURES: usize = 16;

/// What is left of the services added at run time and removed before the shutdown: a
/// program that adds one per connection removes millions, so the report keeps totals
/// and the last failures, not every report.
///
/// ```
/// # let report = hassette_runtime::ShutdownReport::default();
/// println!("{} removed, {} of them failed", report.removed.count, report.removed.failed);
/// ```
///
/// With feature `serde` its fields serialize under their names.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RemovedServices {
    /// How many were removed.
    pub count: u64,
    /// How many of them ended failing: in a failure status (failed, crashed, exhausted)
    /// or with their stop aborted.
    pub failed: u64,
    /// How many restarts they had, in all.
    pub restarts: u64,
    /// How many errors they met, in all.
    pub errors: u64,
    /// The reports of the last [`KEPT_REMOVED_FAILURES`] that ended failing, oldest first.
    pub last_failures: Vec<ServiceReport>,
}

impl RemovedServices {
    /// Counts one removed service's report in.
    pub(crate) fn count_in(&mut self, report: ServiceReport) {
        self.count += 1;
        self.restarts += report.restarts;
        self.errors += report.error_count;
        if report.status.is_failure() || report.is_failure() {
            self.failed += 1;
            if self.last_failures.len() == KEPT_REMOVED_FAILURES {
                self.last_failures.remove(0);
            }
            self.last_failures.push(report);
        }
    }
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
    ///
    /// Only the services still registered at the shutdown count: one removed while the
    /// app ran (a connection's child that failed, say) was dealt with then, and is
    /// counted in [`removed`](Self::removed) instead.
    #[must_use]
    pub fn is_success(&self) -> bool {
        !self.deadline_exceeded
            && !self.start_failed
            && !self.services.iter().any(ServiceReport::is_failure)
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
        const HEADER: &str = "service";
        let width = self
            .services
            .iter()
            .map(|s| cell_width(&s.name, NAME_COLUMN_WIDTH))
            .max()
            .unwrap_or(0)
            .max(HEADER.len());
        writeln!(
            f,
            "{HEADER:<width$}  {:<19}  {:>8}  {:>6}  {:>9}  last error",
            "status", "restarts", "errors", "stop took"
        )?;
        for s in &self.services {
            let Cells {
                name,
                stop_took,
                last,
                flag,
            } = s.cells();
            writeln!(
                f,
                "{name:<width$}  {:<19}  {:>8}  {:>6}  {stop_took:>9}  {last}{flag}",
                s.status, s.restarts, s.error_count,
            )?;
        }
        if self.degraded {
            let down: Vec<&str> = self
                .services
                .iter()
                .filter(|s| s.degrades())
                .map(|s| &*s.name)
                .collect();
            writeln!(
                f,
                "degraded: {} not critical and down ({})",
                down.len(),
                cell(&down.join(", "), ERROR_COLUMN_WIDTH)
            )?;
        }
        let removed = &self.removed;
        if removed.count > 0 {
            writeln!(
                f,
                "removed while running: {} ({} failed, {} restarts, {} errors)",
                removed.count, removed.failed, removed.restarts, removed.errors
            )?;
        }
        write!(f, "shutdown took {:.1?}", self.took)?;
        if self.deadline_exceeded {
            write!(f, " (deadline exceeded)")?;
        }
        if let Some(reason) = &self.reason {
            write!(f, "; reason: {}", cell(reason, ERROR_COLUMN_WIDTH))?;
        }
        Ok(())
    }
}

/// The widest the service column of a [`ShutdownReport`]'s table gets, in chars; a
/// longer name is cut and ends in `…`.
pub const NAME_COLUMN_WIDTH: usize = 40;

/// How much of a service's last error (and of the shutdown's reason) a
/// [`ShutdownReport`]'s table shows, in chars; a longer text is cut and ends in `…`.
pub const ERROR_COLUMN_WIDTH: usize = 120;

/// `text` as one cell of the table: control characters escaped (so it stays on its line
/// and cannot drive the terminal), at most `max` chars (`max` ≥ 1), a longer text cut at a
/// char boundary with `…` as its last char. Reads no more of `text` than it shows.
fn cell(text: &str, max: usize) -> String {
    let mut chars = escaped(text);
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.pop();
        out.push('…');
    }
    out
}

/// How many chars [`cell`] makes of `text`, without building it.
fn cell_width(text: &str, max: usize) -> usize {
    escaped(text).take(max).count()
}

/// The chars of `text`, each one that would break the line or reorder or restyle the
/// terminal's text (a control character, a Unicode line or paragraph separator, a
/// bidirectional control) replaced by its escape (`\n`, `\u{1b}`, `\u{202e}`).
fn escaped(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().flat_map(|c| {
        let hostile = c.is_control()
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            );
        let (plain, escape) = if hostile {
            (None, Some(c.escape_default()))
        } else {
            (Some(c), None)
        };
        plain.into_iter().chain(escape.into_iter().flatten())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> ServiceReport {
        ServiceReport::new(name.into())
    }

    fn report(services: Vec<ServiceReport>) -> ShutdownReport {
        ShutdownReport {
            services,
            ..ShutdownReport::default()
        }
    }

    fn record(report: &mut ServiceReport, what: &'static str, error: SharedError) {
        report.errors.push(ReportedError { what, error });
        report.error_count += 1;
    }

    fn error(text: &str) -> SharedError {
        Arc::new(std::io::Error::other(text.to_owned()))
    }

    /// The name cell of the service line `n` (0 is the first service).
    fn name_cell(text: &str, n: usize) -> &str {
        let line = text.lines().nth(n + 1).unwrap_or_default();
        line.split("  ").next().unwrap_or_default()
    }

    #[test]
    fn a_normal_table_aligns() {
        let mut db = service("db");
        db.status = Status::Stopped;
        db.stop_took = Duration::from_millis(12);
        let mut sync = service("café-sync");
        sync.status = Status::Crashed;
        sync.restarts = 3;
        record(
            &mut sync,
            "serve",
            error("connection refused\nretrying\tlater"),
        );
        sync.aborted = true;
        let mut report = report(vec![db, sync]);
        report.took = Duration::from_millis(1500);
        report.reason = Some("crash of `café-sync`".to_owned());
        assert_eq!(
            report.to_string(),
            "\
service    status               restarts  errors  stop took  last error
db         stopped                     0       0     12.0ms  -
café-sync  crashed                     3       1      0.0ns  serve: connection refused\\nretrying\\tlater (aborted)
shutdown took 1.5s; reason: crash of `café-sync`"
        );
    }

    #[test]
    fn a_name_over_64_kib_does_not_panic_and_is_cut() {
        let long = "n".repeat(70_000);
        let text = report(vec![service("db"), service(&long)]).to_string();
        let expected = format!("{}…", "n".repeat(NAME_COLUMN_WIDTH - 1));
        assert_eq!(name_cell(&text, 1), expected);
        let db = text.lines().nth(1).unwrap_or_default();
        let padded = format!("{:<width$}  not started", "db", width = NAME_COLUMN_WIDTH);
        assert!(db.starts_with(&padded), "{db}");
        assert!(text.len() < 1_000, "{} bytes", text.len());
    }

    #[test]
    fn one_long_name_among_a_thousand_does_not_pad_every_line() {
        let mut services: Vec<_> = (0..1_000)
            .map(|i| service(&format!("worker-{i}")))
            .collect();
        services.push(service(&"x".repeat(60_000)));
        let text = report(services).to_string();
        assert_eq!(text.lines().count(), 1_003);
        for line in text.lines() {
            assert!(line.len() < 200, "a line of {} bytes", line.len());
        }
        assert!(text.len() < 1_003 * 200, "{} bytes", text.len());
    }

    #[test]
    fn multi_byte_names_are_cut_at_a_char_boundary_and_align() {
        let accents = "é".repeat(50);
        let crabs = "🦀".repeat(45);
        let mixed = format!("a{}", "日本".repeat(30));
        let text = report(vec![
            service(&accents),
            service(&crabs),
            service(&mixed),
            service("db"),
        ])
        .to_string();
        let keep = NAME_COLUMN_WIDTH - 1;
        assert_eq!(name_cell(&text, 0), format!("{}…", "é".repeat(keep)));
        assert_eq!(name_cell(&text, 1), format!("{}…", "🦀".repeat(keep)));
        let cut: String = mixed.chars().take(keep).collect();
        assert_eq!(name_cell(&text, 2), format!("{cut}…"));
        // Every line's status column starts after the same number of chars.
        let starts: Vec<Option<usize>> = text
            .lines()
            .skip(1)
            .take(4)
            .map(|line| Some(line[..line.find("not started")?].chars().count()))
            .collect();
        assert_eq!(starts, [Some(NAME_COLUMN_WIDTH + 2); 4], "{text}");
    }

    #[test]
    fn a_multi_byte_name_within_the_cap_sets_the_width_in_chars() {
        let text = report(vec![service("ééééééééé"), service("db")]).to_string();
        // Nine chars (18 bytes): the column is nine wide, not eighteen.
        assert_eq!(
            text.lines().nth(2),
            Some("db         not started                 0       0      0.0ns  -")
        );
    }

    #[test]
    fn a_service_s_line_has_the_cells_of_its_row() {
        let mut sync = service("café-sync");
        sync.status = Status::Crashed;
        sync.restarts = 3;
        sync.aborted = true;
        record(&mut sync, "serve", error("refused\nretrying"));
        assert_eq!(
            sync.to_string(),
            "café-sync: crashed, 3 restarts, 1 error, stop took 0.0ns, last error: serve: \
             refused\\nretrying (aborted)"
        );
        let row = report(vec![sync.clone()]).to_string();
        let row = row.lines().nth(1).unwrap_or_default();
        assert!(
            row.ends_with("0.0ns  serve: refused\\nretrying (aborted)"),
            "{row}"
        );
        // A huge error is cut as in the table.
        record(&mut sync, "serve", error(&"e".repeat(100_000)));
        let line = sync.to_string();
        let last = line.split("last error: ").nth(1).unwrap_or_default();
        assert_eq!(
            last.chars().count(),
            ERROR_COLUMN_WIDTH + " (aborted)".len()
        );
    }

    #[test]
    fn errors_and_the_reason_stay_on_one_bounded_line() {
        let mut s = service("db");
        let huge = format!("first line\n{}", "e".repeat(100_000));
        record(&mut s, "serve", error(&huge));
        let mut report = report(vec![s]);
        report.reason = Some(format!("\u{1b}[2Jcleared\r\n{}", "r".repeat(10_000)));
        let text = report.to_string();
        assert_eq!(text.lines().count(), 3, "{text}");
        let line = text.lines().nth(1).unwrap_or_default();
        let last = line.split("  ").last().unwrap_or_default();
        assert!(last.starts_with("serve: first line\\n"), "{last}");
        assert!(last.ends_with('…'), "{last}");
        assert_eq!(last.chars().count(), ERROR_COLUMN_WIDTH);
        let footer = text.lines().nth(2).unwrap_or_default();
        assert!(
            footer.starts_with("shutdown took 0.0ns; reason: \\u{1b}[2Jcleared\\r\\n"),
            "{footer}"
        );
        assert!(!text.contains('\u{1b}') && !text.contains('\r'));
        assert!(footer.len() < 200, "{footer}");
    }
}
