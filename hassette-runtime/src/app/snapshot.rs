//! A point-in-time view of every service, for health endpoints and status lines.

use std::sync::Arc;

use crate::{Hassette, Status};

impl Hassette {
    /// A point-in-time view of every service (the static ones in registration order, then
    /// those added while the app runs): what a health or status endpoint shows.
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// for s in app.snapshot() {
    ///     println!("{} {} restarts={}", s.name, s.status, s.restarts);
    /// }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Vec<ServiceSnapshot> {
        let now = tokio::time::Instant::now();
        self.inner
            .registry()
            .all_with_parents()
            .into_iter()
            .map(|(u, parent)| {
                let state = u.state();
                ServiceSnapshot {
                    name: u.name().clone(),
                    status: state.status,
                    ready: state.is_up(),
                    restarts: u.restarts(),
                    collateral_restarts: u.collateral_restarts(),
                    waiting: self.inner.waiting(&u),
                    last_error: u.last_error(),
                    finished: u.finished(state.status) && !self.inner.is_stopping(),
                    critical: u.critical(),
                    retry_at: u.retry_at(),
                    budget_used: u.budget_used(),
                    budget_intensity: u.spec().budget_intensity,
                    uptime: state
                        .up_since()
                        .map(|since| now.saturating_duration_since(since)),
                    parent,
                    group: self.inner.group_of(&u),
                }
            })
            .collect()
    }
}

/// One service as [`Hassette::snapshot`] saw it.
///
/// With feature `serde` its fields serialize under their names, with `last_error` as its
/// `Display` text (or `null`) and `retry_at` as `retry_in_secs`, the seconds left until
/// the restart at the moment of serialization (0 once due, `null` when none is waited
/// for). This is also how the health server's `/status` lists each service (feature
/// `health`): one serializer, one set of names and units.
///
/// ```json
/// {"name": "hub/lamp", "status": "failed", "ready": false, "restarts": 1,
///  "collateral_restarts": 0, "last_error": "connection refused", "finished": false,
///  "critical": true, "retry_in_secs": 1.5, "budget_used": 1, "budget_intensity": 5,
///  "waiting": {"kind": "backoff", "retry_in_secs": 1.5}, "uptime_secs": null,
///  "parent": "hub", "group": null}
/// ```
///
/// `waiting` is `null` or a [`Waiting`](crate::Waiting) object: `{"kind": "parent" |
/// "dependency" | "group", "on": "<name>"}` or `{"kind": "backoff" | "cooldown",
/// "retry_in_secs": 1.5}`.
///
/// It carries the last error only. The last [`KEPT_ERRORS`](crate::KEPT_ERRORS) errors
/// of a service are in its report ([`ServiceHandle::report`](crate::ServiceHandle::report),
/// and the health server's `/report?name=...`), asked for one service at a time: a
/// snapshot is taken for every service at once (every second by the status page, for
/// thousands of services), and sixteen errors each would multiply its size for what a
/// reader opens one service to see.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ServiceSnapshot {
    /// The service's name.
    pub name: Arc<str>,
    /// Its status.
    pub status: Status,
    /// Whether it is Running and ready.
    pub ready: bool,
    /// How many times it has been restarted on its own account: after its own failure,
    /// or at an operator's request.
    pub restarts: u64,
    /// How many times it has been restarted along with its parent (a child whose parent
    /// restarted) or its group (a member restarted for another's failure): counted
    /// apart, so a child's `restarts` are its own.
    pub collateral_restarts: u64,
    /// The last error that came with a status change, if any.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_helpers::option_error")
    )]
    pub last_error: Option<crate::SharedError>,
    /// Done for good by a clean return of `serve` (a transient or temporary service that
    /// finished its job): not ready, and not expected to be.
    pub finished: bool,
    /// Whether its state holds back the app's readiness and its failure the app (the
    /// `critical` key, or [`Overrides::critical`](crate::Overrides::critical)). Unless
    /// one says otherwise, a service registered with the builder or added with
    /// `Hassette::add*` is critical and a child (`ServiceContext::add_child*`) is not.
    /// One that is not critical is left out of the app's readiness, and exhausting its
    /// budget ends it `ExhaustedDead` (a temporary one added at run time is removed)
    /// instead of crashing the app or failing its parent; the app is then degraded (see
    /// [`degrades`](Self::degrades)).
    pub critical: bool,
    /// When its next restart comes, while it waits out a backoff or a cooldown.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "retry_in_secs",
            serialize_with = "crate::serde_helpers::option_until"
        )
    )]
    pub retry_at: Option<tokio::time::Instant>,
    /// The restarts in its budget's window now: those within `budget_period` before the
    /// snapshot (counted at the snapshot, not as of its last restart decision).
    pub budget_used: u32,
    /// Why it is not running, when it waits for something that will pass: its parent's
    /// restart, a dependency, its backoff or cooldown, its group (see
    /// [`Waiting`](crate::Waiting)); `None` otherwise (running, stopped for good,
    /// exhausted, or the app stops). A child stopped for its parent's restart always
    /// says so.
    pub waiting: Option<crate::Waiting>,
    /// Its budget's `intensity`: how many restarts its window allows, so
    /// [`budget_used`](Self::budget_used) reads as "2 of 5".
    pub budget_intensity: u32,
    /// How long it has been up: Running and ready, at a stretch, up to the snapshot
    /// (`None` while it is not; a run that marks itself not ready starts a new
    /// stretch when it is ready again). With feature `serde`, `uptime_secs` in seconds.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "uptime_secs",
            serialize_with = "crate::serde_helpers::option_secs"
        )
    )]
    pub uptime: Option<std::time::Duration>,
    /// The name of its parent, for a child added with
    /// [`ServiceContext::add_child`](crate::ServiceContext::add_child); `None` for a
    /// service with no parent.
    pub parent: Option<Arc<str>>,
    /// The name of the supervision group it is a member of (the innermost one, see
    /// [`Builder::group`](crate::Builder::group)), if any.
    pub group: Option<Arc<str>>,
}

impl ServiceSnapshot {
    /// Ready, [`finished`](Self::finished), or not [`critical`](Self::critical): what an
    /// app-wide readiness check (a `/readyz` probe, systemd's `READY=1`) waits for, so
    /// one-shot jobs and background workers in their backoff do not keep the app unready.
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// let app_ready = app.snapshot().iter().all(|s| s.counts_as_ready());
    /// # assert!(app_ready);
    /// ```
    #[must_use]
    pub fn counts_as_ready(&self) -> bool {
        self.ready || self.finished || !self.critical
    }

    /// Whether it degrades the app: it is not [`critical`](Self::critical) and it is
    /// down (failed, crashed or exhausted). The app goes on without it, still ready, and
    /// says it is degraded: `/status`'s `"degraded"`, systemd's `STATUS=`, the shutdown
    /// report's [`degraded`](crate::ShutdownReport::degraded).
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// let degraded = app.snapshot().iter().any(|s| s.degrades());
    /// # assert!(!degraded);
    /// ```
    #[must_use]
    pub fn degrades(&self) -> bool {
        crate::status::degrades(self.critical, self.status)
    }
}
