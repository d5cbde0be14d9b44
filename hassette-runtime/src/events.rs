//! Status events: one for every status change of every service (the stream itself is
//! the engine's `bus`).

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
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatusEvent {
    /// The service's name.
    pub service: Arc<str>,
    /// The status it left.
    pub from: Status,
    /// The status it entered.
    pub to: Status,
    /// The error behind the change, if any.
    pub error: Option<SharedError>,
    /// When it happened, on tokio's clock (exact under a paused clock).
    pub at: Instant,
    /// When the next restart comes, on an `ExhaustedCooling` event (the end of the
    /// cooldown). A `Failed` event comes before its policy has decided (the run's clean-up
    /// runs first), so the time of that restart is in the snapshot
    /// ([`ServiceSnapshot::retry_at`](crate::ServiceSnapshot::retry_at)) once it is known.
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
