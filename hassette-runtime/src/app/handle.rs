//! Services added while the app runs, and the handle of any service.

use std::sync::Arc;

use crate::ServiceContext;
use crate::engine::{Addition, AppState, Shim, Unit, UnitInit};
use crate::{
    AddError, Hassette, LookupError, Overrides, RemoveError, RestartError, Service, ServiceReport,
    Status, WaitError,
};

/// A handle of one service, static or added at run time: its name, status, readiness,
/// restart, stop, and its value. Cheap to clone; it stays valid after the service is
/// removed (its status and report are then final).
///
/// ```no_run
/// # use hassette_runtime::prelude::*;
/// # struct Conn;
/// # #[service(restart = "temporary")]
/// # impl Conn { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
/// # async fn f(app: Hassette) -> Result<(), Box<dyn std::error::Error>> {
/// let conn = app.add_named("conn-1", Conn).await?;
/// conn.wait_ready().await?;
/// let report = conn.stop().await?;
/// println!("{} ended {}", conn.name(), report.status);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServiceHandle {
    app: Arc<AppState>,
    unit: Arc<Unit>,
}

impl std::fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("name", self.unit.name())
            .field("status", &self.unit.status())
            .finish()
    }
}

impl ServiceHandle {
    pub(crate) fn new(app: Arc<AppState>, unit: Arc<Unit>) -> Self {
        ServiceHandle { app, unit }
    }

    /// Its name, as in logs, events and reports (`parent/child` for a child).
    #[must_use]
    pub fn name(&self) -> &Arc<str> {
        self.unit.name()
    }

    /// Its status now.
    #[must_use]
    pub fn status(&self) -> Status {
        self.unit.status()
    }

    /// Waits until it is Running and ready; an error when it never will be (crashed,
    /// exhausted, stopped for good, removed) or the app shuts down.
    ///
    /// # Errors
    ///
    /// See [`WaitError`].
    pub async fn wait_ready(&self) -> Result<(), WaitError> {
        let waiter = crate::engine::caller(self.app.registry());
        self.app.wait_up(waiter.as_ref(), &self.unit).await
    }

    /// An operator restart, as [`Hassette::restart`].
    ///
    /// # Errors
    ///
    /// See [`RestartError`].
    pub async fn restart(&self) -> Result<(), RestartError> {
        self.app.restart(&self.unit).await
    }

    /// Stops the service and removes it; the name is free again once this returns. Its
    /// final report is counted into the shutdown report's
    /// [`removed`](crate::ShutdownReport::removed) totals.
    ///
    /// Runs once, in a task of its own: concurrent calls (and a call after the removal)
    /// all get the same report, and dropping the future does not take the request back.
    /// Called from inside the service itself (its hooks, `serve` or `ctx.spawn` tasks),
    /// or from inside one of its children or their children (which its stop stops first),
    /// it cannot wait for that stop: it returns the report as of the request, and the
    /// stop follows as soon as the caller yields.
    ///
    /// # Errors
    ///
    /// A service registered at `build()` ([`RemoveError::Static`]: it stops with the app)
    /// and one other added services depend on ([`RemoveError::Dependants`]).
    pub async fn stop(&self) -> Result<ServiceReport, RemoveError> {
        self.app.remove(&self.unit).await
    }

    /// Its report as it stands: its status, restarts, and its last
    /// [`KEPT_ERRORS`](crate::KEPT_ERRORS) errors, oldest first, with how many it met in
    /// all (what the shutdown report will say of it, so far). The health server's
    /// `/report?name=...` is this, as JSON.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # async fn f(app: Hassette) -> Result<(), Box<dyn std::error::Error>> {
    /// let report = app.handle("mailer")?.report();
    /// for error in &report.errors {
    ///     println!("{error}"); // "serve: connection refused"
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn report(&self) -> ServiceReport {
        self.unit.report()
    }

    /// Its children now, in order of addition (see
    /// [`ServiceContext::children`](crate::ServiceContext::children)): for a caller
    /// outside the service, or a grandparent walking the tree.
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// for service in app.snapshot() {
    ///     let handle = app.handle(&service.name).unwrap();
    ///     println!("{} has {} children", handle.name(), handle.children().len());
    /// }
    /// ```
    #[must_use]
    pub fn children(&self) -> Vec<ServiceHandle> {
        self.app
            .children_of(&self.unit)
            .into_iter()
            .map(|child| ServiceHandle::new(self.app.clone(), child))
            .collect()
    }

    /// The service's value, when it is a `T`.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # struct Device { id: u32 }
    /// # #[service(restart = "permanent")]
    /// # impl Device { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// # async fn f(app: Hassette) -> Result<(), Box<dyn std::error::Error>> {
    /// let device = app.handle("device-7")?.service::<Device>().expect("a Device");
    /// println!("{}", device.id);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn service<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.unit.value::<T>()
    }
}

impl Hassette {
    /// Adds the one instance of `T` while the app runs: registers it, initializes it
    /// (returning as [`start`](Self::start) does, while it may still be Starting) and
    /// supervises it by its own `RESTART_SPEC`. Its `depends_on` may name any service
    /// registered by type, static or added; it waits for them as usual.
    ///
    /// Services added this way stop before the static ones at the shutdown, and are in
    /// every view: [`status_by_name`](Self::status_by_name), [`snapshot`](Self::snapshot),
    /// the events and the final report. A temporary one is removed once it has ended.
    ///
    /// # Errors
    ///
    /// The type's one instance or the name is taken, the app has not started or is
    /// shutting down, a dependency is not registered by type, or its first initialize
    /// failed ([`AddError::Start`]; it then stays supervised, as at `start()`).
    ///
    /// Awaited inside a service whose readiness the new one's start waits for (an
    /// `on_initialize` that adds a service which `depends_on` it, directly or through
    /// others), it cannot wait for that start: it returns [`AddError::WaitCycle`], naming
    /// the cycle, at once, and the new service starts once the caller is ready. The
    /// caller's hook decides what the error means for its own start (returned with `?`,
    /// it fails that start).
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # struct Metrics;
    /// # #[service(restart = "permanent")]
    /// # impl Metrics { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// # async fn f(app: Hassette) -> Result<(), Box<dyn std::error::Error>> {
    /// let metrics = app.add(Metrics).await?;
    /// assert_eq!(metrics.status(), Status::Running);
    /// # Ok(()) }
    /// ```
    pub async fn add<T: Service>(&self, service: T) -> Result<ServiceHandle, AddError> {
        let init = UnitInit::of(T::display_name().into(), service, Shim::service::<T>());
        self.add_unit(init, T::DEPENDS_ON, true).await
    }

    /// Adds one of many instances of `T` under a unique `name` while the app runs (see
    /// [`add`](Self::add)): one per connection, device or job.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add); the name may not be taken by any service, static or added.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # struct Conn;
    /// # #[service(restart = "temporary")]
    /// # impl Conn { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// # async fn f(app: Hassette) -> Result<(), Box<dyn std::error::Error>> {
    /// for n in 0..3 {
    ///     app.add_named(format!("conn-{n}"), Conn).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn add_named<T: Service>(
        &self,
        name: impl Into<Arc<str>>,
        service: T,
    ) -> Result<ServiceHandle, AddError> {
        let init = UnitInit::of(name.into(), service, Shim::service::<T>());
        self.add_unit(init, T::DEPENDS_ON, false).await
    }

    /// [`add_named`](Self::add_named) with values known only at run time in place of
    /// the declared timeouts, backoff or budget (see [`Overrides`]).
    ///
    /// # Errors
    ///
    /// As [`add_named`](Self::add_named), and [`AddError::Config`] for an override that
    /// breaks the attribute's rules (nothing is added then).
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # use hassette_runtime::Overrides;
    /// # struct Device;
    /// # #[service(restart = "permanent")]
    /// # impl Device { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// # async fn f(app: Hassette) -> Result<(), Box<dyn std::error::Error>> {
    /// let slow_link = std::time::Duration::from_secs(20);
    /// app.add_named_with("device-9", Device, Overrides::new().startup_timeout(slow_link))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_named_with<T: Service>(
        &self,
        name: impl Into<Arc<str>>,
        service: T,
        overrides: Overrides,
    ) -> Result<ServiceHandle, AddError> {
        let mut init = UnitInit::of(name.into(), service, Shim::service::<T>());
        init.configure(overrides);
        self.add_unit(init, T::DEPENDS_ON, false).await
    }

    async fn add_unit(
        &self,
        init: UnitInit,
        depends_on: &'static [crate::Dependency],
        by_type: bool,
    ) -> Result<ServiceHandle, AddError> {
        let addition = Addition {
            init,
            depends_on,
            by_type,
        };
        let unit = self.inner.add(addition).await?;
        Ok(ServiceHandle::new(self.inner.clone(), unit))
    }

    /// The handle of the service with this name, static or added.
    ///
    /// # Errors
    ///
    /// [`LookupError::UnknownName`] when no service has this name (now).
    ///
    /// ```
    /// # let app = hassette_runtime::Hassette::builder().build().unwrap();
    /// assert!(app.handle("conn-1").is_err());
    /// ```
    pub fn handle(&self, name: &str) -> Result<ServiceHandle, LookupError> {
        let unit = self.inner.registry().by_name(name)?;
        Ok(ServiceHandle::new(self.inner.clone(), unit))
    }

    /// Stops and removes the added service with this name: [`ServiceHandle::stop`] by
    /// name.
    ///
    /// # Errors
    ///
    /// An unknown name, and as [`ServiceHandle::stop`].
    ///
    /// ```no_run
    /// # async fn f(app: hassette_runtime::Hassette) -> Result<(), hassette_runtime::RemoveError> {
    /// let report = app.remove("conn-1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove(&self, name: &str) -> Result<ServiceReport, RemoveError> {
        self.handle(name)?.stop().await
    }
}

// Children are added through the context, but their handle is the app layer's.
impl ServiceContext {
    /// Adds a child: a service owned by this one, named `this/child` (its type's display
    /// name), in logs, events and reports.
    ///
    /// A child added during this service's initialize hooks starts after its
    /// `after_initialize`, and this returns at once (the child is NotStarted); one added
    /// later starts at once, and this returns once its first initialize is done, as
    /// [`Hassette::add`] does. When this service's run stops, its children stop after
    /// `serve` has ended and before `on_shutdown`, the last added first; its next run
    /// initializes them again (meanwhile a child's snapshot says it waits for its
    /// parent, [`Waiting::Parent`](crate::Waiting::Parent), and such a restart counts in
    /// its `collateral_restarts`, not its `restarts`). A temporary child that has ended is
    /// removed. A child is not critical unless its type declares `critical = true` or
    /// [`Overrides::critical`](crate::Overrides::critical) says so: it does not hold back
    /// the app's readiness, and when it exhausts its restart budget it ends
    /// `ExhaustedDead` (removed if temporary) while this service runs on. A critical
    /// child that exhausts its budget fails this service's run
    /// ([`ChildExhausted`](crate::ChildExhausted)), and this service's own policy
    /// restarts it, with its children. Removing this service removes its children.
    ///
    /// # Errors
    ///
    /// As [`Hassette::add`] ([`AddError::WaitCycle`] for a child that `depends_on` this
    /// service, awaited before this service is ready); also [`AddError::ChildLimit`] past
    /// this service's `max_children`, and [`AddError::ParentStopping`] once this service is
    /// stopping for good (removed, or the app shuts down).
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # struct Conn;
    /// # #[service(restart = "temporary")]
    /// # impl Conn { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
    ///     let conn = ctx.add_child(Conn).await?;
    ///     assert!(conn.name().ends_with("/Conn"));
    ///     Ok(())
    /// }
    /// ```
    pub async fn add_child<T: Service>(&self, service: T) -> Result<ServiceHandle, AddError> {
        let init = UnitInit::of(T::display_name().into(), service, Shim::service::<T>());
        self.add_child_unit(init, T::DEPENDS_ON).await
    }

    /// Adds a child named `this/name`: one of many children of one type, one per
    /// connection, say (see [`add_child`](Self::add_child)).
    ///
    /// # Errors
    ///
    /// As [`add_child`](Self::add_child); the full name may not be taken.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # struct Conn;
    /// # #[service(restart = "temporary")]
    /// # impl Conn { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
    ///     for n in 0..3 {
    ///         ctx.add_child_named(format!("conn-{n}"), Conn).await?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub async fn add_child_named<T: Service>(
        &self,
        name: impl Into<Arc<str>>,
        service: T,
    ) -> Result<ServiceHandle, AddError> {
        let init = UnitInit::of(name.into(), service, Shim::service::<T>());
        self.add_child_unit(init, T::DEPENDS_ON).await
    }

    /// [`add_child_named`](Self::add_child_named) with values known only at run time in
    /// place of the declared timeouts, backoff or budget (see [`Overrides`]).
    ///
    /// # Errors
    ///
    /// As [`add_child_named`](Self::add_child_named), and [`AddError::Config`] for an
    /// override that breaks the attribute's rules.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// # use hassette_runtime::Overrides;
    /// # struct Conn;
    /// # #[service(restart = "temporary")]
    /// # impl Conn { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
    ///     let grace = std::time::Duration::from_millis(200);
    ///     ctx.add_child_named_with("conn-1", Conn, Overrides::new().shutdown_timeout(grace))
    ///         .await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn add_child_named_with<T: Service>(
        &self,
        name: impl Into<Arc<str>>,
        service: T,
        overrides: Overrides,
    ) -> Result<ServiceHandle, AddError> {
        let mut init = UnitInit::of(name.into(), service, Shim::service::<T>());
        init.configure(overrides);
        self.add_child_unit(init, T::DEPENDS_ON).await
    }

    async fn add_child_unit(
        &self,
        init: UnitInit,
        depends_on: &'static [crate::Dependency],
    ) -> Result<ServiceHandle, AddError> {
        let addition = Addition {
            init,
            depends_on,
            by_type: false,
        };
        let app = self.app_state();
        let unit = app.add_child(self.unit(), addition).await?;
        Ok(ServiceHandle::new(app.clone(), unit))
    }
}
