//! Hassette runs long-lived async services inside one tokio process: it starts them in
//! dependency order, watches them, restarts the ones that fail according to a declared
//! policy, and stops everything gracefully.
//!
//! A service is a plain type whose `impl` block carries [`#[service(...)]`](service). The
//! attribute checks the declaration at compile time (no restart policy, no `serve`, a
//! misspelt hook or key, a bad duration: each is a compile error on your token) and
//! generates the [`Hooks`] and [`Service`] impls that the runtime drives.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
//! use std::time::Duration;
//! use hassette_runtime::prelude::*;
//!
//! struct Ticker { ticks: AtomicU64 }
//!
//! #[service(restart = "permanent", backoff(base = "100ms", max = "10s"))]
//! impl Ticker {
//!     async fn on_initialize(&self, ctx: &ServiceContext) {
//!         println!("{} starting", ctx.name());
//!     }
//!
//!     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
//!         loop {
//!             tokio::select! {
//!                 _ = ctx.cancelled() => return Ok(()),
//!                 _ = tokio::time::sleep(Duration::from_millis(10)) => {
//!                     self.ticks.fetch_add(1, Relaxed);
//!                 }
//!             }
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let app = Hassette::builder().service(Ticker { ticks: AtomicU64::new(0) }).build()?;
//! app.start().await?;
//! app.wait_ready::<Ticker>().await?;
//! let report = app.shutdown().await; // in a binary: `app.run_until_signal().await`
//! assert_eq!(report.services[0].status, Status::Stopped);
//! # Ok(())
//! # }
//! ```
//!
//! # Lifecycle
//!
//! ```text
//! initialize: Starting → wait for depends_on → before_initialize → on_initialize
//!             → serve created → after_initialize (serve begins next to it) → (returns, still Starting)
//!             serve begins → Running (ready at once, or at ctx.mark_ready())
//! serve ends: Ok / cancelled → Stopped;  Fatal or a fatal(...) type → Crashed;
//!             other error or panic → Failed  (an error while the app stops → Stopped)
//! shutdown:   Stopping → before_shutdown → cancel serve, wait shutdown_timeout (abort)
//!             → children → on_shutdown → after_shutdown → Stopped (unless already terminal)
//! ```
//!
//! A failing initialize hook marks the service Failed (Crashed at once for a fatal error,
//! as from `serve`) and skips the hooks after it; every
//! shutdown hook runs even when an earlier one failed, each bounded by `shutdown_timeout`,
//! and a panic in a hook counts as that hook's error. When `serve` ends by itself, the
//! shutdown hooks run at once without a Stopping status, so the status keeps saying why
//! it ended (Failed during a backoff, Crashed, Stopped). Every change is published as a
//! [`StatusEvent`] on [`Hassette::events`], logged with `tracing` inside a `service` span
//! carrying the service's name, and summed up in the [`ShutdownReport`].
//!
//! # Supervision
//!
//! A fatal error ([`Fatal`], or a type listed in `fatal(...)`), from a hook or `serve`,
//! crashes the service at once and shuts the app down with a non-zero exit code. On
//! Failed: a `non_retryable(...)` error
//! exhausts it at once; otherwise the sliding-window budget (at most `intensity` restarts
//! within any `period`) is checked and, if not exhausted, the service is restarted (stop,
//! then initialize on the same value, so state in `self` survives) after
//! `min(base * multiplier^(attempt-1), max)` (with `backoff(jitter = j)`, a delay drawn
//! from that times 1−j to that). The attempt count resets once the service
//! has been Running and ready for `stable_after`; the budget only resets after a cooldown.
//! A restart that is not Running and ready within `startup_timeout` is Failed again.
//!
//! | restart type | after a failure | after `serve` returns `Ok` | budget exhausted |
//! |---|---|---|---|
//! | `permanent` | restarted | restarted | Crashed, the app shuts down |
//! | `transient` | restarted | stays Stopped | ExhaustedCooling, then a fresh budget after `cooldown`; ExhaustedDead after `max_cooldown_cycles` |
//! | `temporary` | ExhaustedDead | stays Stopped | — |
//!
//! # Dependencies and shutdown
//!
//! `depends_on(A, B)` makes a service wait until A and B are Running and ready (each
//! within its own `startup_timeout`); [`Builder::build`] rejects cycles, and shutdown
//! stops dependants before their dependencies. [`Hassette::run_until_signal`] stops on
//! SIGINT or SIGTERM (a second signal exits at once) and returns a non-zero exit code
//! when a service crashed or had to be aborted.
//!
//! # Feature `serde`
//!
//! Derives `Serialize` for [`Status`], [`ServiceSnapshot`], [`ShutdownReport`] (with its
//! [`ServiceReport`]s, [`ReportedError`]s and [`RemovedServices`]), [`StatusEvent`] and
//! [`ReadinessEvent`], for dashboards and JSON logs. A status is its snake_case
//! [`key`](Status::key) (`"exhausted_cooling"`, as in the health server's `/status`), a
//! name a string, an error its `Display` text, a duration seconds as an `f64` in a field
//! ending in `_secs` (`took_secs`), and an instant, which means nothing outside the
//! process, the seconds from it or to it at the moment of serialization (`age_secs`,
//! `retry_in_secs`). Feature `health` turns it on: `/status` lists each service in its
//! serde form.
#![deny(missing_docs)]
// docs.rs builds with `--cfg docsrs` on nightly: feature-gated items get a badge there.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The vocabulary: what every layer speaks.
mod config;
mod error;
mod events;
mod listen;
mod operations;
mod report;
#[cfg(feature = "serde")]
mod serde_helpers;
mod spec;
mod status;
mod sync;
mod waiting;
// The service's contract: what a service implements and what it gets.
mod service;
// The engine (never public): how a service runs.
mod engine;
// The app: what a program holds and calls.
mod app;
// Feature leaves, on the public API (and, for `metrics`, the engine's one observer hook).
#[cfg(feature = "health")]
#[cfg_attr(docsrs, doc(cfg(feature = "health")))]
pub mod health;
#[cfg(all(feature = "systemd", unix))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "systemd", unix))))]
pub mod systemd;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use app::{Builder, EXIT_GRACE, GroupBuilder, Hassette, ServiceHandle, ServiceSnapshot};
pub use config::{ConfigError, Overrides};
pub use engine::EventReceiver;
pub use error::{
    AddError, BoxError, BuildError, ChildExhausted, CutOff, Fatal, LookupError, Panicked,
    RemoveError, RestartError, SharedError, StartError, StartFailure, TimedOut, WaitError,
};
pub use events::{ReadinessEvent, StatusEvent};
/// The error of [`parse_duration`]: what is wrong with the text, and the accepted forms.
pub use hassette_spec::DurationError;
pub use listen::ListenerError;
pub use operations::{NoHeartbeat, ReconfigureError, ReloadError, ReloadReport, ReloadSkipped};
pub use report::{
    ERROR_COLUMN_WIDTH, KEPT_ERRORS, KEPT_REMOVED_FAILURES, NAME_COLUMN_WIDTH, RemovedServices,
    ReportedError, ServiceReport, ShutdownReport,
};
pub use service::{Hooks, Resource, Service, ServiceContext};
pub use spec::{
    Dependency, ReadyMode, ResourceSpec, RestartSpec, RestartType, SpecViolation, Strategy,
    UnknownRestartType, parse_duration,
};
pub use status::Status;
/// tokio's errors of a broadcast receiver, which [`EventReceiver`] returns, re-exported so
/// that matching them needs no import from tokio.
///
/// ```
/// use hassette_runtime::{RecvError, TryRecvError};
///
/// let app = hassette_runtime::Hassette::builder().build().unwrap();
/// let mut events = app.events();
/// assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
/// # let _: Option<RecvError> = None;
/// ```
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};
/// tokio-util's cancellation token, which [`ServiceContext::cancellation_token`] hands out,
/// re-exported so that naming it needs no dependency of your own on tokio-util (0.7).
///
/// ```
/// use hassette_runtime::CancellationToken;
///
/// let token = CancellationToken::new();
/// token.cancel();
/// assert!(token.is_cancelled());
/// ```
pub use tokio_util::sync::CancellationToken;
pub use waiting::Waiting;

pub use hassette_macros::{resource, service};

/// The README's examples, compiled as doctests so they cannot drift from the API (with the
/// features its examples use, as `cargo test --workspace` builds them).
#[doc = include_str!("../../README.md")]
#[cfg(all(doctest, feature = "systemd", feature = "health"))]
pub struct ReadmeDoctests;

/// The names most programs need: `use hassette_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::{
        BoxError, Fatal, Hassette, Hooks, Resource, RestartSpec, RestartType, Service,
        ServiceContext, Status, resource, service,
    };
}

/// What the code generated by `#[service]` and `#[resource]` uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use core;
    pub use hassette_spec::{Hook, HookSet};
    pub use std::time::Duration;

    use crate::BoxError;

    /// The return types a hook or `serve` may have: `()` or `Result<(), E>` with
    /// `E: Into<BoxError>`.
    #[diagnostic::on_unimplemented(
        message = "a hook or `serve` must return `()` or `Result<(), E>` where `E: Into<BoxError>`, not `{Self}`",
        label = "this return type is not supported",
        note = "return `Result<(), hassette_runtime::BoxError>` to pass any error on"
    )]
    pub trait HookOutput {
        /// Turns the hook's return value into the runtime's result.
        fn into_hook_result(self) -> Result<(), BoxError>;
    }

    impl HookOutput for () {
        #[inline]
        fn into_hook_result(self) -> Result<(), BoxError> {
            Ok(())
        }
    }

    impl<E: Into<BoxError>> HookOutput for Result<(), E> {
        #[inline]
        fn into_hook_result(self) -> Result<(), BoxError> {
            self.map_err(Into::into)
        }
    }

    /// Whether `error` or its source chain holds a `T`; for `fatal(...)` and
    /// `non_retryable(...)`.
    #[inline]
    pub fn chain_has<T: std::error::Error + 'static>(
        error: &(dyn std::error::Error + 'static),
    ) -> bool {
        crate::error::chain_has::<T>(error)
    }
}
