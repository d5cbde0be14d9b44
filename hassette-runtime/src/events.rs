//! Status events: one for every status change of every service.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::broadcast;
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

/// The app's event stream. Until someone subscribes, publishing is one relaxed load: the
/// broadcast channel's own receiver count sits behind a lock shared by every service.
#[derive(Debug)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<StatusEvent>,
    subscribed: AtomicBool,
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        EventBus {
            sender: broadcast::channel(capacity).0,
            subscribed: AtomicBool::new(false),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StatusEvent> {
        self.subscribed.store(true, Ordering::Relaxed);
        self.sender.subscribe()
    }

    /// Sends `event()` when anyone listens; no receiver is not an error.
    pub(crate) fn publish(&self, event: impl FnOnce() -> StatusEvent) {
        if self.subscribed.load(Ordering::Relaxed) {
            let _ = self.sender.send(event());
        }
    }
}
