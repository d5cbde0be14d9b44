//! The traits the runtime drives: [`Hooks`], [`Service`] and [`Resource`].

use std::borrow::Cow;
use std::error::Error;
use std::future::{Future, ready};

use crate::{BoxError, Dependency, ResourceSpec, RestartSpec};

mod context;
mod restart_context;

pub(crate) use context::RunRef;
pub use context::ServiceContext;

/// The six lifecycle hooks shared by services and resources, and `on_reload`, with no-op
/// defaults.
///
/// `#[service]` and `#[resource]` implement this trait from the hooks found in the `impl`
/// block; write it by hand only when you cannot use the attribute.
///
/// Order of a start: `before_initialize` → `on_initialize` → (serve is created) →
/// `after_initialize`. Order of a stop: `before_shutdown` → (serve is cancelled and
/// awaited) → `on_shutdown` → `after_shutdown`. A failing initialize hook stops the ones
/// after it; every shutdown hook runs even when an earlier one failed.
///
/// A hook that panics (also while building its future, or when its future is dropped at
/// its timeout) fails with [`Panicked`](crate::Panicked), like a hook returning an error.
/// When the app's shutdown reaches a service during an initialize hook, the run's token
/// is cancelled (`ctx.cancelled()` completes) and the hook gets `shutdown_timeout` more;
/// the initialize hooks after it do not run, and the shutdown hooks do.
///
/// ```
/// use hassette_runtime::{BoxError, Hooks, ServiceContext};
///
/// struct Cache;
/// impl Hooks for Cache {
///     async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
///         println!("{} warming up", ctx.name());
///         Ok(())
///     }
/// }
/// ```
pub trait Hooks: Send + Sync + Sized + 'static {
    /// The services and resources that must be Running and ready before this one starts.
    const DEPENDS_ON: &'static [Dependency] = &[];

    /// Which hooks the type defines, as named bits of the one hook table the macro and
    /// the runtime share. `#[service]` and `#[resource]` set it, so the runtime never
    /// builds the future of a no-op default; a hand-written impl keeps this default (all
    /// of them), and each hook is called. Not a public API.
    #[doc(hidden)]
    const __HOOKS: crate::__private::HookSet = crate::__private::HookSet::ALL;

    /// The name used in logs, events and reports (`name = "..."` in the attribute); by
    /// default the type's own name without its module path, like `Worker<String>`.
    fn display_name() -> Cow<'static, str> {
        Cow::Owned(short_type_name(std::any::type_name::<Self>()))
    }

    /// Runs first in a start.
    fn before_initialize(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        ready(Ok(()))
    }

    /// Runs second in a start; the usual place to open connections.
    fn on_initialize(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        ready(Ok(()))
    }

    /// Runs last in a start, after `serve` was created; `serve` runs next to it (it may not
    /// have begun yet).
    fn after_initialize(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        ready(Ok(()))
    }

    /// Runs first in a stop, while `serve` still runs.
    fn before_shutdown(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        ready(Ok(()))
    }

    /// Runs once `serve` has finished (or was aborted).
    fn on_shutdown(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        ready(Ok(()))
    }

    /// Runs last in a stop.
    fn after_shutdown(
        &self,
        ctx: &ServiceContext,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        ready(Ok(()))
    }

    /// Runs when the app is reloaded ([`Hassette::reload`](crate::Hassette::reload),
    /// SIGHUP under `run_until_signal`), while the service is Running: re-read settings,
    /// reopen log files. `serve` goes on running next to it. It is bounded by the
    /// service's `startup_timeout`; an error, a panic or the timeout fails the run, and
    /// the restart policy applies as for a failure of `serve`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use hassette_runtime::{BoxError, Hooks, ServiceContext};
    ///
    /// struct Feed { generation: AtomicU64 }
    /// impl Hooks for Feed {
    ///     async fn on_reload(&self, _ctx: &ServiceContext) -> Result<(), BoxError> {
    ///         self.generation.fetch_add(1, Ordering::Relaxed); // serve reads it
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn on_reload(&self, ctx: &ServiceContext) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        ready(Ok(()))
    }
}

/// A supervised long-lived task: [`Hooks`] plus `serve` and a restart policy.
///
/// Generated by `#[service(...)]` on an `impl` block. By hand:
///
/// ```
/// use hassette_runtime::{BoxError, Hooks, RestartSpec, RestartType, Service, ServiceContext};
///
/// struct Heartbeat;
/// impl Hooks for Heartbeat {}
/// impl Service for Heartbeat {
///     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Permanent);
///
///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
///         ctx.cancelled().await;
///         Ok(())
///     }
/// }
/// ```
pub trait Service: Hooks {
    /// The restart policy, timeouts and readiness mode.
    const RESTART_SPEC: RestartSpec;

    /// The service's work. Return `Ok(())` when `ctx` is cancelled.
    fn serve(&self, ctx: &ServiceContext) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Whether `error` (one of the `fatal(...)` types) must crash the service.
    /// [`Fatal`](crate::Fatal) is always fatal and need not be listed.
    fn is_fatal(error: &(dyn Error + 'static)) -> bool {
        let _ = error;
        false
    }

    /// Whether `error` (one of the `non_retryable(...)` types) must exhaust the service
    /// at once instead of being retried.
    fn is_non_retryable(error: &(dyn Error + 'static)) -> bool {
        let _ = error;
        false
    }
}

/// Something with a lifecycle but no `serve`: it is Running once its initialize hooks
/// have finished, and is never restarted.
///
/// Generated by `#[resource(...)]`. By hand:
///
/// ```
/// use hassette_runtime::{Hooks, Resource};
///
/// struct Pool;
/// impl Hooks for Pool {}
/// impl Resource for Pool {}
/// ```
pub trait Resource: Hooks {
    /// The timeouts of its hooks.
    const RESOURCE_SPEC: ResourceSpec = ResourceSpec::DEFAULT;
}

/// `std::any::type_name` without module paths: `app::net::Worker<alloc::string::String>`
/// becomes `Worker<String>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.truncate(segment_start);
            continue;
        }
        out.push(c);
        // A path segment is an identifier, or `{{closure}}` for a type declared inside
        // a function or closure body.
        if !(c.is_alphanumeric() || matches!(c, '_' | '{' | '}')) {
            segment_start = out.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn strips_module_paths_everywhere() {
        assert_eq!(short_type_name("app::net::Worker"), "Worker");
        assert_eq!(
            short_type_name("app::Worker<alloc::string::String, u8>"),
            "Worker<String, u8>"
        );
        assert_eq!(short_type_name("Plain"), "Plain");
        assert_eq!(
            short_type_name("tests::a_test::{{closure}}::Local<app::Item>"),
            "Local<Item>"
        );
    }
}
