//! The only code of the engine that is generic over a service's type: a table of thin
//! functions per type that call its hooks and `serve`, built once at compile time.
//!
//! Everything else (the lifecycle driver, the supervisor, the policy, the timers, the
//! reports) is ordinary code compiled once for every service type: a user with 30
//! service types compiles the engine once, not 30 times. A hook's future is boxed at
//! the call (one allocation per hook that the type defines, per run: a default hook is
//! never called, see `Hooks::__HOOKS`); the future of `serve` is in the run's cell
//! (`cell::RunOf`), the one allocation a run makes for its context and its `serve`. The methods are the one table of
//! `hassette_spec::Hook` that the macro also reads, so the bits it sets are the ones
//! checked here.

use std::any::Any;
use std::error::Error;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

pub(crate) use hassette_spec::Hook;
use hassette_spec::HookSet;

use super::cell::{RunCell, RunOf, RunParts};
use crate::error::chain_has;
use crate::{BoxError, Fatal, Hooks, Resource, RestartSpec, Service, ServiceContext};

/// The future of a hook or of `serve`, with its service and context moved in.
pub(crate) type HookFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// The service value, as the engine keeps it.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// What the engine knows of one service or resource type.
pub(crate) struct Shim {
    pub(super) spec: RestartSpec,
    /// `false` for a resource, which has no `serve`.
    pub(super) serves: bool,
    /// `Hooks::__HOOKS`.
    hooks: HookSet,
    hook: fn(&Value, Hook, &ServiceContext) -> HookFuture,
    run: fn(&Value, RunParts) -> Pin<Box<dyn RunCell>>,
    is_fatal: fn(&(dyn Error + 'static)) -> bool,
    is_non_retryable: fn(&(dyn Error + 'static)) -> bool,
}

impl std::fmt::Debug for Shim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shim")
            .field("serves", &self.serves)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Shim {
    /// The table of the service type `T`.
    pub(crate) fn service<T: Service>() -> &'static Shim {
        ShimOf::<T>::SERVICE
    }

    /// The table of the resource type `T`.
    pub(crate) fn resource<T: Resource>() -> &'static Shim {
        ShimOf::<T>::RESOURCE
    }

    /// The future of `hook`, or `None` when the type keeps the no-op default (and for
    /// `serve`, whose future is in the run's cell: see [`run`](Self::run)).
    ///
    /// Calling the user's method is deferred to the future's first poll, so a hook that
    /// panics while it builds its future panics where the driver catches its poll.
    pub(crate) fn hook(
        &self,
        value: &Value,
        hook: Hook,
        ctx: &ServiceContext,
    ) -> Option<HookFuture> {
        if !self.hooks.contains(hook) {
            return None;
        }
        Some(match hook {
            Hook::Serve => return None,
            Hook::BeforeInitialize
            | Hook::OnInitialize
            | Hook::AfterInitialize
            | Hook::BeforeShutdown
            | Hook::OnShutdown
            | Hook::AfterShutdown
            | Hook::OnReload => (self.hook)(value, hook, ctx),
        })
    }

    /// Whether the type defines `hook` (else the no-op default is never called).
    pub(crate) fn defines(&self, hook: Hook) -> bool {
        self.hooks.contains(hook)
    }

    /// Whether the type defines `on_reload` (a reload skips the others).
    pub(crate) fn reloads(&self) -> bool {
        self.hooks.contains(Hook::OnReload)
    }

    /// Whether the type defines an initialize hook (whose wait needs the startup deadline).
    pub(crate) fn has_init_hooks(&self) -> bool {
        self.hooks.intersects(HookSet::INITIALIZE)
    }

    /// Whether the type defines a hook that runs after `serve` has ended (`on_shutdown`,
    /// `after_shutdown`).
    pub(crate) fn has_late_stop_hooks(&self) -> bool {
        self.hooks.contains(Hook::OnShutdown) || self.hooks.contains(Hook::AfterShutdown)
    }

    /// A run's cell, with the future of `serve` in it (which has not begun until polled;
    /// none for a resource).
    pub(crate) fn run(&self, value: &Value, parts: RunParts) -> Pin<Box<dyn RunCell>> {
        (self.run)(value, parts)
    }

    /// Whether `error` crashes the service: [`Fatal`] anywhere in its chain, or a type of
    /// its `fatal(...)` list.
    pub(crate) fn is_fatal(&self, error: &(dyn Error + 'static)) -> bool {
        chain_has::<Fatal>(error) || (self.is_fatal)(error)
    }

    /// Whether `error` exhausts the service at once (`non_retryable(...)`).
    pub(crate) fn is_non_retryable(&self, error: &(dyn Error + 'static)) -> bool {
        (self.is_non_retryable)(error)
    }
}

struct ShimOf<T>(PhantomData<fn() -> T>);

impl<T: Service> ShimOf<T> {
    const SERVICE: &'static Shim = &Shim {
        spec: T::RESTART_SPEC,
        serves: true,
        hooks: T::__HOOKS,
        hook: call_hook::<T>,
        run: run_of::<T>,
        is_fatal: T::is_fatal,
        is_non_retryable: T::is_non_retryable,
    };
}

impl<T: Resource> ShimOf<T> {
    const RESOURCE: &'static Shim = &Shim {
        spec: RestartSpec::for_resource(T::RESOURCE_SPEC),
        serves: false,
        hooks: T::__HOOKS,
        hook: call_hook::<T>,
        run: no_serve,
        is_fatal: never,
        is_non_retryable: never,
    };
}

/// The unit's value as a `T`: the builder stores it with its type's table, so the
/// cast cannot fail.
fn this<T: Hooks>(value: &Value) -> Arc<T> {
    match Arc::clone(value).downcast::<T>() {
        Ok(this) => this,
        Err(_) => unreachable!("a unit's value has the type of its table"),
    }
}

/// The future of a lifecycle hook (the table calls `serve` through its own function).
///
/// Only the hooks the type defines are compiled for it: each arm's condition is a
/// constant of `T` (`Shim::hook` never asks for another), so the compiler drops the
/// other arms, and their futures and vtables, before it generates code. A default hook
/// costs no build time.
fn call_hook<T: Hooks>(value: &Value, hook: Hook, ctx: &ServiceContext) -> HookFuture {
    let this = this::<T>(value);
    let ctx = ctx.clone();
    match hook {
        Hook::BeforeInitialize if const { T::__HOOKS.contains(Hook::BeforeInitialize) } => {
            Box::pin(async move { this.before_initialize(&ctx).await })
        }
        Hook::OnInitialize if const { T::__HOOKS.contains(Hook::OnInitialize) } => {
            Box::pin(async move { this.on_initialize(&ctx).await })
        }
        Hook::AfterInitialize if const { T::__HOOKS.contains(Hook::AfterInitialize) } => {
            Box::pin(async move { this.after_initialize(&ctx).await })
        }
        Hook::BeforeShutdown if const { T::__HOOKS.contains(Hook::BeforeShutdown) } => {
            Box::pin(async move { this.before_shutdown(&ctx).await })
        }
        Hook::OnShutdown if const { T::__HOOKS.contains(Hook::OnShutdown) } => {
            Box::pin(async move { this.on_shutdown(&ctx).await })
        }
        Hook::AfterShutdown if const { T::__HOOKS.contains(Hook::AfterShutdown) } => {
            Box::pin(async move { this.after_shutdown(&ctx).await })
        }
        Hook::OnReload if const { T::__HOOKS.contains(Hook::OnReload) } => {
            Box::pin(async move { this.on_reload(&ctx).await })
        }
        // `serve` (which has its own function), or a hook the type keeps as the default.
        Hook::Serve
        | Hook::BeforeInitialize
        | Hook::OnInitialize
        | Hook::AfterInitialize
        | Hook::BeforeShutdown
        | Hook::OnShutdown
        | Hook::AfterShutdown
        | Hook::OnReload => Box::pin(std::future::ready(Ok(()))),
    }
}

/// A run's cell with the future of `T::serve` in it.
fn run_of<T: Service>(value: &Value, parts: RunParts) -> Pin<Box<dyn RunCell>> {
    let this = this::<T>(value);
    let ctx = parts.ctx.clone();
    Box::pin(RunOf::new(
        parts,
        Some(async move { this.serve(&ctx).await }),
    ))
}

/// A resource's run cell: no `serve` (one type for every resource).
fn no_serve(_: &Value, parts: RunParts) -> Pin<Box<dyn RunCell>> {
    Box::pin(RunOf::<std::future::Pending<Result<(), BoxError>>>::new(
        parts, None,
    ))
}

fn never(_: &(dyn Error + 'static)) -> bool {
    false
}
