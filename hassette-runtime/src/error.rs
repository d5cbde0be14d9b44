//! Errors: what services return, and what the runtime reports.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{ConfigError, Status};

/// The error type of hooks and `serve`: any error, boxed.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// An error as the runtime keeps it: shared between the event stream, the log and the
/// shutdown report, with its original type intact for `downcast_ref`.
pub type SharedError = Arc<dyn Error + Send + Sync + 'static>;

/// Wraps an error that must crash the service at once, whatever its restart policy.
///
/// A `serve` that returns `Fatal` ends `Crashed`, and the application shuts down with a
/// non-zero exit code. The runtime finds `Fatal` anywhere in the error's `source()` chain.
///
/// ```
/// use hassette_runtime::{BoxError, Fatal};
///
/// fn check_config(valid: bool) -> Result<(), BoxError> {
///     if !valid {
///         return Err(Fatal::new("configuration is corrupt").into());
///     }
///     Ok(())
/// }
/// let err = check_config(false).unwrap_err();
/// assert!(err.is::<Fatal>());
/// assert_eq!(err.to_string(), "fatal: configuration is corrupt");
/// ```
#[derive(Debug)]
pub struct Fatal(BoxError);

impl Fatal {
    /// Marks `error` as fatal.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Fatal(error.into())
    }

    /// The wrapped error.
    #[must_use]
    pub fn into_inner(self) -> BoxError {
        self.0
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fatal: {}", self.0)
    }
}

impl Error for Fatal {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

/// A panic inside `serve` or a hook, caught by the runtime, with the panic message kept.
///
/// ```
/// use hassette_runtime::Panicked;
/// let p = Panicked::new("index out of bounds");
/// assert_eq!(p.to_string(), "panicked: index out of bounds");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {message}")]
pub struct Panicked {
    message: String,
}

impl Panicked {
    /// A panic with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Panicked {
            message: message.into(),
        }
    }

    /// The panic message (`"<non-string panic payload>"` when it was not a string).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn from_payload(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "<non-string panic payload>".to_owned()
        };
        Panicked { message }
    }
}

/// A hook or `serve` that did not finish within its timeout.
///
/// ```
/// use hassette_runtime::TimedOut;
/// use std::time::Duration;
/// let e = TimedOut::new("on_shutdown", Duration::from_secs(5));
/// assert_eq!(e.to_string(), "`on_shutdown` did not finish within 5s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`{what}` did not finish within {after:?}")]
#[non_exhaustive]
pub struct TimedOut {
    /// The hook, `serve`, or `startup` for the whole start sequence.
    pub what: &'static str,
    /// The timeout that ran out.
    pub after: Duration,
}

impl TimedOut {
    /// `what` did not finish within `after`.
    #[must_use]
    pub const fn new(what: &'static str, after: Duration) -> Self {
        TimedOut { what, after }
    }
}

/// A hook, `serve` or the children of a run cut off because the app's
/// `shutdown_deadline` ran out before their own timeout did.
///
/// ```
/// use hassette_runtime::CutOff;
/// let e = CutOff::new("serve");
/// assert_eq!(e.to_string(), "`serve` was cut off: the shutdown deadline ran out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`{what}` was cut off: the shutdown deadline ran out")]
#[non_exhaustive]
pub struct CutOff {
    /// The hook, `serve`, or `children`.
    pub what: &'static str,
}

impl CutOff {
    /// `what` was cut off by the shutdown deadline.
    #[must_use]
    pub const fn new(what: &'static str) -> Self {
        CutOff { what }
    }
}

/// Whether `T` is `error` itself or anywhere in its `source()` chain.
pub(crate) fn chain_has<T: Error + 'static>(error: &(dyn Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Why `Builder::build` refused the application.
///
/// ```
/// use hassette_runtime::BuildError;
/// let e = BuildError::DependencyCycle { cycle: "A -> B -> A".into() };
/// assert_eq!(e.to_string(), "dependency cycle: A -> B -> A; remove one `depends_on` of the cycle");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A service's spec (its type's `RESTART_SPEC`, or with its overrides) breaks the
    /// attribute's rules.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A group's budget breaks the rules of a service's budget (an intensity of 0, a
    /// zero period).
    #[error("group `{group}`: {violation}")]
    GroupBudget {
        /// The group.
        group: Arc<str>,
        /// The rule it breaks.
        violation: crate::SpecViolation,
    },
    /// `Builder::configure` names a service that is not registered.
    #[error(
        "`configure` names `{name}`, but no service is registered under this name; check the spelling, or register it first"
    )]
    UnknownConfigured {
        /// The name.
        name: Arc<str>,
    },
    /// `depends_on` forms a cycle; `cycle` reads `A -> B -> A`.
    #[error("dependency cycle: {cycle}; remove one `depends_on` of the cycle")]
    DependencyCycle {
        /// The services of the cycle, first one repeated at the end.
        cycle: String,
    },
    /// A `depends_on` names a type that was never registered.
    #[error(
        "service `{service}` depends on `{dependency}`, which is not registered; register it with `Builder::service` or `Builder::resource`"
    )]
    UnknownDependency {
        /// The dependant.
        service: Arc<str>,
        /// The missing type.
        dependency: &'static str,
    },
    /// A `depends_on` names a type registered only by name, which is ambiguous.
    #[error(
        "service `{service}` depends on `{dependency}`, which is registered by name with `service_named`; a dependency must be registered once with `Builder::service`"
    )]
    NamedDependency {
        /// The dependant.
        service: Arc<str>,
        /// The type registered by name.
        dependency: &'static str,
    },
    /// The same type was registered twice with `Builder::service` or `Builder::resource`.
    #[error(
        "`{type_name}` is registered twice; register many instances of one type with `Builder::service_named`"
    )]
    DuplicateType {
        /// The type registered twice.
        type_name: &'static str,
    },
    /// Two services share a name.
    #[error("two services are named `{name}`; each name must be unique")]
    DuplicateName {
        /// The shared name.
        name: Arc<str>,
    },
    /// A listener of `Builder::listener` has a name systemd would not pass, or the name
    /// of another listener.
    #[error("listener `{name}`: {problem}")]
    Listener {
        /// The listener's name.
        name: Arc<str>,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// A service looked up by type or name that the application does not know.
///
/// ```
/// use hassette_runtime::LookupError;
/// let e = LookupError::UnknownName { name: "worker-7".into() };
/// assert_eq!(e.to_string(), "no service is named `worker-7`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No instance of this type is registered.
    #[error(
        "`{type_name}` is not registered; add it with `Builder::service` or `Builder::resource`"
    )]
    NotRegistered {
        /// The type looked up.
        type_name: &'static str,
    },
    /// The type is registered by name, possibly many times; look it up by name.
    #[error(
        "`{type_name}` is registered by name with `service_named`; look it up with `status_by_name` or `restart_by_name`"
    )]
    RegisteredByName {
        /// The type looked up.
        type_name: &'static str,
    },
    /// No service has this name.
    #[error("no service is named `{name}`")]
    UnknownName {
        /// The name looked up.
        name: Arc<str>,
    },
    /// The service has no child of this name (its own children only: a child is named by
    /// the name given to `add_child_named`; remove another service's child by its full
    /// name with `Hassette::remove`).
    ///
    /// ```
    /// use hassette_runtime::LookupError;
    /// let e = LookupError::NoChild { parent: "hub".into(), name: "lamp-9".into() };
    /// assert_eq!(e.to_string(), "`hub` has no child named `lamp-9`");
    /// ```
    #[error("`{parent}` has no child named `{name}`")]
    NoChild {
        /// The parent asked.
        parent: Arc<str>,
        /// The child's name looked up.
        name: Arc<str>,
    },
}

/// Why a wait for another service's readiness gave up.
///
/// ```
/// use hassette_runtime::{Status, WaitError};
/// let e = WaitError::Ended { service: "db".into(), status: Status::Crashed };
/// assert_eq!(e.to_string(), "`db` will not become ready: it is crashed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The service waited for is not registered.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The wait would close a wait-for cycle and could never finish.
    #[error(
        "`{waiter}` waits for `{target}` while `{target}` waits for `{waiter}` (wait cycle {cycle}); a service must not wait on a dependant's or parent's readiness during its own start"
    )]
    Cycle {
        /// The service that asked to wait.
        waiter: Arc<str>,
        /// The service it waited for.
        target: Arc<str>,
        /// The whole cycle, `A -> B -> A`.
        cycle: String,
    },
    /// The service waited for rests in a status it will not leave by itself.
    #[error("`{service}` will not become ready: it is {status}")]
    Ended {
        /// The service waited for.
        service: Arc<str>,
        /// Its status.
        status: Status,
    },
    /// The application is shutting down.
    #[error("the application is shutting down")]
    ShuttingDown,
}

/// Why a service could not start; returned by `Hassette::start`.
///
/// ```
/// use hassette_runtime::StartError;
/// let e = StartError::new("ticker", hassette_runtime::StartFailure::Interrupted);
/// assert_eq!(e.to_string(), "service `ticker` did not start: the application shut down while it was starting");
/// assert!(!e.ends_the_app());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", start_error(service, failure))]
#[non_exhaustive]
pub struct StartError {
    /// The service (the listener, for [`StartFailure::Listener`]).
    pub service: Arc<str>,
    /// What went wrong.
    #[source]
    pub failure: StartFailure,
    /// Its restart policy starts the service again after this failure.
    retried: bool,
    /// The service is not critical: its failure goes no further.
    contained: bool,
}

impl StartError {
    /// A start error of `service` (one that is not retried).
    pub fn new(service: impl Into<Arc<str>>, failure: StartFailure) -> Self {
        StartError {
            service: service.into(),
            failure,
            retried: false,
            contained: false,
        }
    }

    /// The error of a first start that the service's policy retries.
    pub(crate) fn retried(mut self) -> Self {
        self.retried = true;
        self
    }

    /// The error of a service that is not critical: it does not end the app.
    pub(crate) fn contained(mut self, contained: bool) -> Self {
        self.contained = contained;
        self
    }

    /// Whether this failure ends the app: the service will not be started again (it is
    /// temporary, the error is fatal or non-retryable, its budget is spent). `false` when
    /// its restart policy starts it again after the backoff (a dependency that was slow
    /// to come up, an initialize error), for a service that is not critical (its failure
    /// never spreads: it is left ExhaustedDead and the app goes on, degraded), and for a
    /// start the shutdown interrupted (the app is stopping anyway, and that is no
    /// failure).
    ///
    /// The one rule of [`Hassette::run_until_signal`](crate::Hassette::run_until_signal),
    /// [`Hassette::run_until`](crate::Hassette::run_until) and the `testing` feature's
    /// `TestApp::start`: they shut the app down on an error that ends it (with the error as
    /// the reason, and a non-zero exit code from `run_until_signal`) and go on
    /// supervising after any other. A program that calls `start` itself can do the same:
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) {
    /// if let Err(error) = app.start().await {
    ///     if error.ends_the_app() {
    ///         eprintln!("{error}");
    ///         app.shutdown().await;
    ///     }
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn ends_the_app(&self) -> bool {
        !self.retried && !self.contained && !matches!(self.failure, StartFailure::Interrupted)
    }
}

/// What went wrong while a service started.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StartFailure {
    /// An initialize hook returned an error or panicked; the hooks after it did not run.
    #[error("`{hook}` failed: {error}")]
    Hook {
        /// The hook's name.
        hook: &'static str,
        /// Its error.
        error: SharedError,
    },
    /// A dependency did not become Running and ready within this service's startup timeout.
    ///
    /// ```
    /// use hassette_runtime::StartFailure;
    /// use std::time::Duration;
    /// let slow = StartFailure::DependencyTimeout {
    ///     dependency: "db".into(),
    ///     timeout: Duration::from_secs(7),
    ///     unmarked: false,
    /// };
    /// assert_eq!(
    ///     slow.to_string(),
    ///     "dependency `db` was not running and ready within 7s; check why it is slow, or raise `startup_timeout`"
    /// );
    /// let unmarked = StartFailure::DependencyTimeout {
    ///     dependency: "db".into(),
    ///     timeout: Duration::from_secs(7),
    ///     unmarked: true,
    /// };
    /// assert!(unmarked.to_string().starts_with(
    ///     "dependency `db` is running but not ready: it has `ready = \"manual\"` and never \
    ///      called `ctx.mark_ready()` within 7s"
    /// ));
    /// ```
    #[error("{}", dependency_timeout(dependency, *timeout, *unmarked))]
    DependencyTimeout {
        /// The dependency.
        dependency: Arc<str>,
        /// The dependant's startup timeout.
        timeout: Duration,
        /// The dependency was Running, with `ready = "manual"`, but not marked ready
        /// (`ServiceContext::mark_ready` not called, or withdrawn) when the time ran out.
        unmarked: bool,
    },
    /// A dependency failed for good while this service waited for it.
    #[error("dependency could not become ready: {0}")]
    Dependency(WaitError),
    /// The start sequence did not finish within the startup timeout.
    #[error("{0}; raise `startup_timeout` or make the hook faster")]
    TimedOut(TimedOut),
    /// The application shut down while the service was starting.
    #[error("the application shut down while it was starting")]
    Interrupted,
    /// A listener of the app ([`Builder::listener`](crate::Builder::listener)) could not
    /// be opened, so no service was started; [`StartError::service`] is the listener's
    /// name.
    #[error(transparent)]
    Listener(crate::ListenerError),
}

/// The text of a [`StartError`]: the service and what went wrong; a listener says it
/// itself.
fn start_error(service: &str, failure: &StartFailure) -> String {
    match failure {
        StartFailure::Listener(error) => format!("the app did not start: {error}"),
        failure => format!("service `{service}` did not start: {failure}"),
    }
}

/// The text of [`StartFailure::DependencyTimeout`].
fn dependency_timeout(dependency: &str, timeout: Duration, unmarked: bool) -> String {
    match unmarked {
        true => format!(
            "dependency `{dependency}` is running but not ready: it has `ready = \"manual\"` and \
             never called `ctx.mark_ready()` within {timeout:?} (or withdrew it with \
             `ctx.mark_not_ready`); call it once the service can serve, or raise \
             `startup_timeout`"
        ),
        false => format!(
            "dependency `{dependency}` was not running and ready within {timeout:?}; check why \
             it is slow, or raise `startup_timeout`"
        ),
    }
}

/// What a permanent service's budget runs out with when its last run returned `Ok`: a
/// permanent service is restarted after every return of `serve`, so one that returns at
/// once spends its budget without a single error. `in_a_row` of the `ends` within the
/// budget's `period` were returns (the last ones).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReturnedOk {
    pub(crate) in_a_row: u32,
    pub(crate) ends: u32,
    pub(crate) period: Duration,
}

impl fmt::Display for ReturnedOk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ends, period) = (self.ends, hassette_spec::format_duration(self.period));
        match self.in_a_row {
            n if n >= ends => write!(f, "returned Ok {ends} times within {period}")?,
            1 => write!(
                f,
                "returned Ok the last of {ends} times it ended within {period}"
            )?,
            n => write!(
                f,
                "returned Ok the last {n} of {ends} times it ended within {period}"
            )?,
        }
        f.write_str("; a permanent service is restarted after every return")
    }
}

impl Error for ReturnedOk {}

/// Why `Hassette::restart` did not restart the service.
///
/// ```
/// use hassette_runtime::RestartError;
/// let e = RestartError::ShuttingDown { service: "cache".into() };
/// assert_eq!(e.to_string(), "cannot restart `cache`: the application is shutting down");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestartError {
    /// The service is not registered.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The application has not been started; call `start` first.
    #[error("cannot restart `{service}`: the application has not been started; call `start` first")]
    NotStarted {
        /// The service.
        service: Arc<str>,
    },
    /// The application is shutting down; nothing restarts any more.
    #[error("cannot restart `{service}`: the application is shutting down")]
    ShuttingDown {
        /// The service.
        service: Arc<str>,
    },
    /// The unit is a resource: resources are not supervised and never restarted, so
    /// their dependants never see them go away. Restart the services that use it, or
    /// stop the app.
    #[error(
        "cannot restart `{service}`: it is a resource, and resources are never restarted; restart the services that use it instead"
    )]
    Resource {
        /// The resource.
        service: Arc<str>,
    },
    /// The service is being removed (or was): nothing restarts it any more.
    #[error("cannot restart `{service}`: it is being removed")]
    Removed {
        /// The service.
        service: Arc<str>,
    },
    /// The new run did not reach Running.
    #[error("restarted `{service}`, but it is {status}; see its events or the log for the error")]
    Failed {
        /// The service.
        service: Arc<str>,
        /// Where the new run ended up.
        status: Status,
    },
}

/// The error a parent's run fails with when one of its critical children exhausted its
/// restart budget: the parent's own policy then restarts it, with its children. (A child
/// that is not critical, the default, ends `ExhaustedDead` instead, and its parent goes
/// on.)
///
/// ```
/// use hassette_runtime::ChildExhausted;
/// let e = ChildExhausted::new("hub/dev-1", std::sync::Arc::new(std::io::Error::other("gone")));
/// assert_eq!(e.to_string(), "child `hub/dev-1` exhausted its restarts: gone");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("child `{child}` exhausted its restarts: {error}")]
#[non_exhaustive]
pub struct ChildExhausted {
    /// The child's full name.
    pub child: Arc<str>,
    /// Its last error.
    #[source]
    pub error: SharedError,
}

impl ChildExhausted {
    /// The child `child` exhausted its restarts; `error` was its last.
    pub fn new(child: impl Into<Arc<str>>, error: SharedError) -> Self {
        ChildExhausted {
            child: child.into(),
            error,
        }
    }
}

/// Why `Hassette::add` (or `ServiceContext::add_child`) did not add the service.
///
/// ```
/// use hassette_runtime::AddError;
/// let e = AddError::NameTaken { name: "conn-7".into() };
/// assert_eq!(
///     e.to_string(),
///     "cannot add `conn-7`: a service with this name is registered; choose another name, or remove that one first"
/// );
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// Another service (static or added, a child's `parent/child` path included) has
    /// this name.
    #[error(
        "cannot add `{name}`: a service with this name is registered; choose another name, or remove that one first"
    )]
    NameTaken {
        /// The name.
        name: Arc<str>,
    },
    /// The one instance of this type is registered already.
    #[error(
        "cannot add `{type_name}`: its one instance is registered already; add more instances by name with `add_named`"
    )]
    TypeTaken {
        /// The type.
        type_name: &'static str,
    },
    /// The application has not been started; services are added while it runs.
    #[error(
        "cannot add `{service}`: the application has not been started; register it with the builder, or call `start` first"
    )]
    NotStarted {
        /// The service.
        service: Arc<str>,
    },
    /// The application is shutting down; nothing is added any more.
    #[error("cannot add `{service}`: the application is shutting down")]
    ShuttingDown {
        /// The service.
        service: Arc<str>,
    },
    /// A `depends_on` names a type that is not registered by type.
    #[error("cannot add `{service}`: its dependency {error}")]
    Dependency {
        /// The service.
        service: Arc<str>,
        /// Why the dependency was not found.
        #[source]
        error: LookupError,
    },
    /// The parent has as many children as its limit allows.
    #[error(
        "cannot add `{service}`: its parent `{parent}` has {limit} children, its limit; remove one first, or raise the limit"
    )]
    ChildLimit {
        /// The child's full name.
        service: Arc<str>,
        /// The parent.
        parent: Arc<str>,
        /// The parent's limit.
        limit: usize,
    },
    /// Its spec (its type's `RESTART_SPEC`, or with its overrides) breaks the attribute's
    /// rules; nothing is added.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The parent is stopping or gone: its children stop with it.
    #[error("cannot add `{service}`: its parent `{parent}` is stopping")]
    ParentStopping {
        /// The child's full name.
        service: Arc<str>,
        /// The parent.
        parent: Arc<str>,
    },
    /// The service was added, but the service that awaited `add` cannot wait for its
    /// first start, which waits (directly or through others) for the caller to be ready:
    /// a wait-for cycle, such as an `on_initialize` that adds a service which `depends_on`
    /// it. The service stays registered and starts once its dependencies are ready; find
    /// it with `Hassette::handle`.
    #[error(
        "added `{service}`, which starts once its dependencies are ready, but cannot wait for its start: {error}"
    )]
    WaitCycle {
        /// The service added.
        service: Arc<str>,
        /// The cycle ([`WaitError::Cycle`]): the caller waits for the service, which
        /// waits for the caller.
        #[source]
        error: WaitError,
    },
    /// The service of this name is being removed, and the caller is that service or one
    /// of its children (or theirs), whose stop that removal waits for: it cannot wait for
    /// the removal to end, so nothing was added. Call again once the removal is done, or
    /// from outside that service.
    ///
    /// ```
    /// use hassette_runtime::AddError;
    /// let e = AddError::BeingRemoved { name: "hub/lamp-1".into() };
    /// assert_eq!(
    ///     e.to_string(),
    ///     "cannot add `hub/lamp-1`: the service of this name is being removed, and the caller is part of it, so it cannot wait for that; call again from outside it"
    /// );
    /// ```
    #[error(
        "cannot add `{name}`: the service of this name is being removed, and the caller is part of it, so it cannot wait for that; call again from outside it"
    )]
    BeingRemoved {
        /// The name.
        name: Arc<str>,
    },
    /// The service was added, but its first initialize failed. It stays registered and
    /// supervised, as a failed first start at `start()` does: its policy restarts it; find
    /// it with `Hassette::handle` (or remove it).
    #[error("added `{}`, but {}", .0.service, .0.failure)]
    Start(#[source] StartError),
}

/// Why `Hassette::remove` (or `ServiceHandle::stop`) did not remove the service.
///
/// ```
/// use hassette_runtime::RemoveError;
/// let e = RemoveError::Static { service: "db".into() };
/// assert_eq!(
///     e.to_string(),
///     "cannot remove `db`: it was registered at build() and stops with the application; restart it instead"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoveError {
    /// No service has this name.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// Services registered at `build()` stay for the application's life.
    #[error(
        "cannot remove `{service}`: it was registered at build() and stops with the application; restart it instead"
    )]
    Static {
        /// The service.
        service: Arc<str>,
    },
    /// Other services depend on it (`depends_on`); remove them first.
    #[error("cannot remove `{service}`: {dependants} depend on it; remove them first")]
    Dependants {
        /// The service.
        service: Arc<str>,
        /// The services that depend on it, comma-separated.
        dependants: String,
    },
}
