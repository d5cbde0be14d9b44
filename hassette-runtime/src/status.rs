//! The statuses a service moves through.

use std::fmt;

/// Where a service is in its lifecycle.
///
/// Every change is published as a [`StatusEvent`](crate::StatusEvent). The terminal
/// statuses ([`Stopped`](Status::Stopped), [`Crashed`](Status::Crashed) and
/// [`ExhaustedDead`](Status::ExhaustedDead)) are the ones a service rests in once the
/// supervisor has nothing more to do for it.
///
/// ```
/// use hassette_runtime::Status;
///
/// assert!(Status::Crashed.is_terminal());
/// assert!(!Status::Failed.is_terminal()); // the supervisor may still restart it
/// assert_eq!(Status::ExhaustedCooling.to_string(), "exhausted (cooling)");
/// ```
///
/// With feature `serde` it serializes as its [`key`](Status::key), a snake_case string
/// (`"exhausted_cooling"`), the name the health server's `/status` JSON uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Status {
    /// Registered, never started.
    NotStarted,
    /// `initialize` is running, or `serve` has been spawned but has not begun yet.
    Starting,
    /// `serve` is running (or, for a resource, its hooks have finished).
    Running,
    /// `shutdown` is running.
    Stopping,
    /// Stopped cleanly: serve returned `Ok`, was cancelled, or the app shut it down.
    Stopped,
    /// Serve or a hook failed; the supervisor decides what happens next.
    Failed,
    /// A fatal error; the application shuts down.
    Crashed,
    /// A transient service used up its restart budget and waits for its cooldown.
    ExhaustedCooling,
    /// The service will never be restarted again.
    ExhaustedDead,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 9] = [
        Status::NotStarted,
        Status::Starting,
        Status::Running,
        Status::Stopping,
        Status::Stopped,
        Status::Failed,
        Status::Crashed,
        Status::ExhaustedCooling,
        Status::ExhaustedDead,
    ];

    /// Whether the service rests here: `Stopped`, `Crashed` or `ExhaustedDead`.
    ///
    /// ```
    /// # use hassette_runtime::Status;
    /// assert!(Status::Stopped.is_terminal());
    /// assert!(!Status::ExhaustedCooling.is_terminal());
    /// ```
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Stopped | Status::Crashed | Status::ExhaustedDead
        )
    }

    /// Whether this status means something went wrong: `Failed`, `Crashed` or one of the
    /// exhausted statuses.
    ///
    /// ```
    /// # use hassette_runtime::Status;
    /// assert!(Status::ExhaustedDead.is_failure());
    /// assert!(!Status::Stopped.is_failure());
    /// ```
    #[must_use]
    pub const fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Crashed | Status::ExhaustedCooling | Status::ExhaustedDead
        )
    }

    /// Whether the lifecycle driver may move a service from `self` to `to`.
    ///
    /// The runtime checks every change against this table; in debug builds an invalid
    /// change is logged as a bug and panics the test that caused it.
    ///
    /// | from | to |
    /// |---|---|
    /// | NotStarted | Starting |
    /// | Starting | Running, Stopping, Stopped, Failed, Crashed (a fatal error of an initialize hook) |
    /// | Running | Stopping, Stopped, Failed, Crashed (a fatal error of `serve`) |
    /// | Stopping | Stopped, Crashed |
    /// | Stopped | Starting, Crashed or ExhaustedDead (a permanent service whose clean returns used up its budget; ExhaustedDead when it is not critical) |
    /// | Failed | Starting, Stopped, Crashed, ExhaustedCooling, ExhaustedDead |
    /// | ExhaustedCooling | Starting, Stopped |
    /// | ExhaustedDead | Starting (an operator's restart) |
    /// | Crashed | — |
    ///
    /// A fatal error ([`Fatal`](crate::Fatal) or a `fatal(...)` type) has one sequence
    /// wherever it comes from: straight to Crashed, never through Failed (which says a
    /// restart may come).
    ///
    /// ```
    /// # use hassette_runtime::Status;
    /// assert!(Status::Failed.can_transition_to(Status::Starting));
    /// assert!(!Status::Crashed.can_transition_to(Status::Running));
    /// ```
    #[must_use]
    pub const fn can_transition_to(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (NotStarted, Starting)
                | (Starting, Running | Stopping | Stopped | Failed | Crashed)
                | (Running, Stopping | Stopped | Failed | Crashed)
                | (Stopping, Stopped | Crashed)
                | (Stopped, Starting | Crashed | ExhaustedDead)
                | (
                    Failed,
                    Starting | Stopped | Crashed | ExhaustedCooling | ExhaustedDead
                )
                | (ExhaustedCooling, Starting | Stopped)
                | (ExhaustedDead, Starting)
        )
    }

    /// The lowercase, human-readable name used in logs and reports.
    ///
    /// ```
    /// # use hassette_runtime::Status;
    /// assert_eq!(Status::NotStarted.as_str(), "not started");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
            Status::Crashed => "crashed",
            Status::ExhaustedCooling => "exhausted (cooling)",
            Status::ExhaustedDead => "exhausted (dead)",
        }
    }

    /// The machine-readable name, in snake_case: `not_started`, `starting`, `running`,
    /// `stopping`, `stopped`, `failed`, `crashed`, `exhausted_cooling`, `exhausted_dead`.
    ///
    /// The health server's `/status` JSON names statuses this way, and so does the
    /// `Serialize` impl of feature `serde`; [`as_str`](Self::as_str) is the name for
    /// people.
    ///
    /// ```
    /// # use hassette_runtime::Status;
    /// assert_eq!(Status::ExhaustedCooling.key(), "exhausted_cooling");
    /// ```
    #[must_use]
    pub const fn key(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
            Status::Crashed => "crashed",
            Status::ExhaustedCooling => "exhausted_cooling",
            Status::ExhaustedDead => "exhausted_dead",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A status serializes as a string, its [`key`](Status::key): `"not_started"`,
/// `"exhausted_cooling"`, as in the health server's `/status` JSON.
#[cfg(feature = "serde")]
impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

/// Whether a unit of this criticality and status degrades the app: it is down (a failure
/// status) and not critical, so the app goes on without it. The one rule behind
/// `ServiceSnapshot::degrades` and `ServiceReport::degrades`.
pub(crate) const fn degrades(critical: bool, status: Status) -> bool {
    !critical && status.is_failure()
}
