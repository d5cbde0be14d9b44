//! The `#[service]` and `#[resource]` attributes of `hassette-runtime`.
//!
//! Use them through `hassette_runtime` (`use hassette_runtime::prelude::*;`), which
//! re-exports them; this crate only generates code that targets that crate.
//!
//! Layout, as in `thiserror-impl` and `serde_derive`: `args` turns the attribute's keys
//! into typed options (with `value` for what follows a key), `model` the
//! `impl` block into a typed model, `validate` checks both with one function per rule,
//! every error going into one `diag::Ctxt`, and `expand` generates the trait impls from
//! a valid model only; an invalid block is emitted unchanged with its errors and the
//! `fallback` impls, so no follow-on error hides the real ones.
//!
//! What a declaration means is not written here but in `hassette-spec`, which the runtime
//! reads too (as `serde_derive_internals` serves `serde_derive`): the keys, the duration
//! grammar, the defaults, the rules (a `Violation` this crate points at the user's token,
//! `diag::Ctxt::violation`) and the hook table.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod args;
mod diag;
mod expand;
mod fallback;
mod model;
mod validate;
mod value;

use proc_macro::TokenStream;

use crate::args::Kind;

/// Makes the type of an inherent `impl` block a supervised service.
///
/// The block holds `serve` (required), any of the six hooks and `on_reload`; the attribute
/// checks them
/// and the keys at compile time, then implements `Hooks` and `Service` so that the
/// runtime can start, watch, restart and stop the service.
///
/// ```ignore
/// use hassette_runtime::prelude::*;
///
/// struct Ticker;
///
/// #[service(restart = "permanent", backoff(base = "100ms", max = "10s"))]
/// impl Ticker {
///     async fn on_initialize(&self) -> Result<(), BoxError> {
///         Ok(())
///     }
///
///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
///         ctx.cancelled().await;
///         Ok(())
///     }
/// }
/// ```
///
/// # Methods
///
/// - `serve`, required: the service's work; it should return once `ctx` is cancelled.
/// - `before_initialize`, `on_initialize`, `after_initialize`, `before_shutdown`,
///   `on_shutdown`, `after_shutdown`, optional.
/// - `on_reload`, optional: runs next to `serve` when the app is reloaded
///   (`Hassette::reload`, SIGHUP), bounded by `startup_timeout`; a failure fails the run.
///
/// Each is `async fn name(&self)` or `async fn name(&self, ctx: &ServiceContext)`, and
/// returns nothing, `()`, or `Result<(), E>` where `E: Into<BoxError>`. Other methods of
/// the block are left alone, except that a name one typo away from a hook is an error
/// (move such a helper to another `impl` block). `initialize`, `shutdown` and `restart`
/// cannot be defined: the runtime drives them.
///
/// # Keys
///
/// Durations are strings of a whole number and a unit, `ms`, `s`, `m` or `h`, combined
/// from the largest unit to the smallest: `"250ms"`, `"2s"`, `"5m"`, `"1h"`, `"1m30s"`,
/// `"0s"`.
///
/// | key | value | default |
/// |---|---|---|
/// | `restart` | `"permanent"` (restarted after a failure or a clean return), `"transient"` (after a failure only), `"temporary"` (never) | **required** |
/// | `backoff(base, multiplier, max, jitter)` | delay before restart `n`: `min(base * multiplier^(n-1), max)`; with `jitter` (a fraction in `0.0..=1.0`), each delay `d` is drawn uniformly from `[d·(1−jitter), d]`, never longer; each part optional | `base = "2s"`, `multiplier = 2.0`, `max = "60s"`, `jitter = 0.0` |
/// | `budget(intensity, period)` | at most `intensity` (≥ 1) restarts within any `period` | `intensity = 5`, `period = "5m"` |
/// | `startup_timeout` | initialize plus reaching Running and ready | `"30s"` |
/// | `shutdown_timeout` | for `serve` to return after cancellation, and for each shutdown hook | `"5s"` |
/// | `stable_after` | Running and ready this long resets the backoff attempt count | `"60s"` |
/// | `cooldown` | transient only: wait after exhaustion, then retry with a fresh budget | `"5m"` |
/// | `max_cooldown_cycles` | transient only: cooldowns before giving up; `0` is never | `0` |
/// | `fatal(Type, ...)` | error types (found in the `source()` chain) that crash at once | none |
/// | `non_retryable(Type, ...)` | error types that exhaust the policy at once | none |
/// | `depends_on(Type, ...)` | services and resources that must be Running and ready first | none |
/// | `ready` | `"auto"` (ready when `serve` begins) or `"manual"` (`ctx.mark_ready()`) | `"auto"` |
/// | `critical` | `false`: its state does not hold back the app's readiness (`/readyz`, systemd's `READY=1`) and its failure never spreads (exhausted, it ends `ExhaustedDead` instead of crashing the app or failing its parent); it shows everywhere else. `true`: a child counts too | `true` at the top level, `false` for a child |
/// | `max_children` | at most this many children (`ctx.add_child`) at once; at least 1 | no limit |
/// | `watchdog` | a duration above zero: while Running, `ctx.heartbeat()` at least that often, or the run fails | none |
/// | `name` | the name in logs, events and reports | the type's name |
/// | `crate` | the path of the runtime, for crates that re-export it | `"::hassette_runtime"` |
///
/// Contradictions are errors: `backoff`, `budget`, `cooldown`, `max_cooldown_cycles` or
/// `stable_after` with `restart = "temporary"`; `cooldown` or `max_cooldown_cycles` with
/// `restart = "permanent"`; a backoff `max` below `base`; a `multiplier` below 1.0; a
/// `jitter` outside `0.0..=1.0`; an `intensity` of 0; `depends_on(Self)`.
///
/// ```ignore
/// #[service(
///     restart = "transient",
///     backoff(base = "250ms", multiplier = 1.5, max = "30s", jitter = 0.2),
///     budget(intensity = 3, period = "1m"),
///     startup_timeout = "10s",
///     shutdown_timeout = "2s",
///     stable_after = "2m",
///     cooldown = "10m",
///     max_cooldown_cycles = 3,
///     fatal(ConfigError),
///     non_retryable(AuthError),
///     depends_on(Database),
///     ready = "manual",
///     name = "poller",
///     crate = "::my_framework::hassette",
/// )]
/// impl Poller {
///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), PollError> {
///         self.connect().await?;
///         ctx.mark_ready();
///         ctx.cancelled().await;
///         Ok(())
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::attribute(Kind::Service, args.into(), input.into()).into()
}

/// Makes the type of an inherent `impl` block a resource: something with a lifecycle but
/// no task of its own, like a connection pool.
///
/// A resource has the six hooks of a service and `on_reload` (all optional, same forms)
/// but no `serve`,
/// and is Running once its initialize hooks have finished. It is never restarted, so the
/// supervision keys of [`macro@service`] (`restart`, `backoff`, `budget`, `cooldown`,
/// `max_cooldown_cycles`, `fatal`, `non_retryable`, `stable_after`, `ready`) are errors.
/// Register it with `Builder::resource`.
///
/// | key | value | default |
/// |---|---|---|
/// | `startup_timeout` | for the initialize hooks | `"30s"` |
/// | `shutdown_timeout` | for each shutdown hook | `"5s"` |
/// | `depends_on(Type, ...)` | services and resources that must be Running and ready first | none |
/// | `name` | the name in logs, events and reports | the type's name |
/// | `crate` | the path of the runtime, for crates that re-export it | `"::hassette_runtime"` |
///
/// ```ignore
/// use hassette_runtime::prelude::*;
///
/// struct Pool;
///
/// #[resource(startup_timeout = "5s", name = "db-pool")]
/// impl Pool {
///     async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
///         Ok(())
///     }
///
///     async fn on_shutdown(&self) {}
/// }
/// ```
#[proc_macro_attribute]
pub fn resource(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::attribute(Kind::Resource, args.into(), input.into()).into()
}
