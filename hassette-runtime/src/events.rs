//! Status events, one for every status change of every service, and readiness events,
//! one for every change of a service's readiness (the streams themselves are the
//! engine's `bus`).

use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;

use crate::{SharedError, Status};

/// One status change of one service, as published on [`Hassette::events`](crate::Hassette::events).
///
/// `error` carries the failure that caused a change to `Failed`, `Crashed` or an exhausted
/// status, an error that `serve` returned while it was being stopped, and the last hook
/// error of a stop.
///
/// ```
/// # use hassette_runtime::prelude::*;
/// # struct Ticker;
/// # impl Hooks for Ticker {}
/// # impl Service for Ticker {
/// #     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);
/// #     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { ctx.cancelled().await; Ok(()) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let app = Hassette::builder().service(Ticker).build()?;
/// let mut events = app.events();
/// app.start().await?;
/// let first = events.recv().await?;
/// assert_eq!((first.from, first.to), (Status::NotStarted, Status::Starting));
/// assert_eq!(&*first.service, "Ticker");
/// # app.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// With feature `serde`, the instants are made relative to the moment of serialization
/// (an [`Instant`] means nothing outside the process): `at` is `age_secs`, the seconds
/// since the change, and `retry_at` is `retry_in_secs`, the seconds left until the
/// restart (0 once due, `null` when none); `error` is its `Display` text or `null`:
///
/// ```json
/// {"service": "db", "from": "running", "to": "failed", "error": "connection refused",
///  "age_secs": 0.0, "retry_in_secs": 2.0}
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StatusEvent {
    /// The service's name.
    pub service: Arc<str>,
    /// The status it left.
    pub from: Status,
    /// The status it entered.
    pub to: Status,
    /// The error behind the change, if any.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_helpers::option_error")
    )]
    pub error: Option<SharedError>,
    /// When it happened, on tokio's clock (exact under a paused clock).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "age_secs", serialize_with = "crate::serde_helpers::age")
    )]
    pub at: Instant,
    /// When the next restart comes: on a `Failed` event of a `serve` failure (its
    /// backoff runs from the failure) and on an `ExhaustedCooling` event (the end of the
    /// cooldown). A failed start's `Failed` event has none; the snapshot
    /// ([`ServiceSnapshot::retry_at`](crate::ServiceSnapshot::retry_at)) has the time
    /// of every restart that is waited for.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "retry_in_secs",
            serialize_with = "crate::serde_helpers::option_until"
        )
    )]
    pub retry_at: Option<Instant>,
}

impl fmt::Display for StatusEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.service, self.from, self.to)?;
        if let Some(error) = &self.error {
            write!(f, " ({error})")?;
        }
        Ok(())
    }
}

/// One change of one service's readiness, as published on
/// [`Hassette::readiness_events`](crate::Hassette::readiness_events): ready (it said so,
/// or `serve` began with `ready = "auto"`), or not ready, with the reason (what it gave
/// to `ctx.mark_not_ready`, or the status its run left Running for).
///
/// ```
/// # use hassette_runtime::prelude::*;
/// # struct Ticker;
/// # #[service(restart = "temporary")]
/// # impl Ticker { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { ctx.cancelled().await; Ok(()) } }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let app = Hassette::builder().service(Ticker).build()?;
/// let mut readiness = app.readiness_events();
/// app.start().await?;
/// let first = readiness.recv().await?;
/// assert!(first.ready);
/// app.shutdown().await;
/// let second = readiness.recv().await?;
/// assert_eq!((second.ready, second.reason.as_deref()), (false, Some("stopping")));
/// # Ok(())
/// # }
/// ```
///
/// With feature `serde`, like a [`StatusEvent`]: `at` is `age_secs`, the seconds since
/// the change at the moment of serialization:
/// `{"service": "db", "ready": false, "reason": "stopping", "age_secs": 0.0}`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ReadinessEvent {
    /// The service's name.
    pub service: Arc<str>,
    /// Whether it is ready now.
    pub ready: bool,
    /// Why it is not ready (`None` when it is).
    pub reason: Option<Arc<str>>,
    /// When it happened, on tokio's clock.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "age_secs", serialize_with = "crate::serde_helpers::age")
    )]
    pub at: Instant,
}

impl fmt::Display for ReadinessEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.reason, self.ready) {
            (_, true) => write!(f, "{}: ready", self.service),
            (Some(reason), false) => write!(f, "{}: not ready ({reason})", self.service),
            (None, false) => write!(f, "{}: not ready", self.service),
        }
    }
}
