//! The tree of services: a service's children listed, found by name and removed, and
//! add-or-get (`ensure_child`, `ensure_named`).

use std::any::TypeId;

use crate::ServiceContext;
use crate::engine::{Addition, Shim, UnitInit, Wanted};
use crate::{AddError, Hassette, LookupError, RemoveError, Service, ServiceHandle, ServiceReport};

/// The addition `make()` gives, by `name` (found by name only).
fn named<T: Service>(name: &str, make: impl FnOnce() -> T) -> impl FnOnce() -> Addition {
    move || Addition {
        init: UnitInit::of(name.into(), make(), Shim::service::<T>()),
        depends_on: T::DEPENDS_ON,
        by_type: false,
    }
}

impl ServiceContext {
    /// This service's children now, in order of addition.
    ///
    /// Handles rather than names: a caller usually goes on to read a child's status,
    /// wait for it, stop it or reach its value, and a name would need a second lookup
    /// that may find nothing by then. A child stays listed while this service restarts
    /// (its children are stopped and initialized again with it) and until its removal
    /// is done; a temporary child that has ended is removed. Only this service's own
    /// children are looked at (grandchildren are their parent's: see
    /// [`ServiceHandle::children`]), so the cost is that of its own children, whatever
    /// the rest of the app holds.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
    ///     for child in ctx.children() {
    ///         println!("{}: {}", child.name(), child.status());
    ///     }
    ///     Ok(())
    /// }
    /// ```
    #[must_use]
    pub fn children(&self) -> Vec<ServiceHandle> {
        let app = self.app_state();
        app.children_of(self.unit())
            .into_iter()
            .map(|child| ServiceHandle::new(app.clone(), child))
            .collect()
    }

    /// This service's child named `name`: the name given to
    /// [`add_child_named`](Self::add_child_named) (or the type's display name, for
    /// [`add_child`](Self::add_child)), not the full `parent/child` path. `None` when it
    /// has no child of that name now. A lookup in this service's own children; nothing
    /// is allocated.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
    ///     if let Some(lamp) = ctx.child("lamp-1") {
    ///         assert_eq!(&**lamp.name(), format!("{}/lamp-1", ctx.name()));
    ///     }
    ///     Ok(())
    /// }
    /// ```
    #[must_use]
    pub fn child(&self, name: &str) -> Option<ServiceHandle> {
        let app = self.app_state();
        let child = app.child_of(self.unit(), name)?;
        Some(ServiceHandle::new(app.clone(), child))
    }

    /// Stops and removes this service's child `name` (its short name, as
    /// [`child`](Self::child) finds it): [`ServiceHandle::stop`] of that child, with the
    /// same guarantees. Runs once, whatever happens to the future; called from inside
    /// that child (or one of its children), it returns the report as of the request, and
    /// the stop follows.
    ///
    /// # Errors
    ///
    /// [`LookupError::NoChild`] (in [`RemoveError::Lookup`]) when this service has no
    /// child of that name now: another service's child is not found by its short name
    /// here (remove it by its full name with [`Hassette::remove`]). As
    /// [`ServiceHandle::stop`] otherwise ([`RemoveError::Dependants`]).
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// async fn serve(ctx: &ServiceContext) -> Result<(), BoxError> {
    ///     let report = ctx.remove_child("lamp-1").await?;
    ///     println!("lamp-1 ended {}", report.status);
    ///     Ok(())
    /// }
    /// ```
    pub async fn remove_child(&self, name: &str) -> Result<ServiceReport, RemoveError> {
        let Some(child) = self.child(name) else {
            return Err(RemoveError::Lookup(LookupError::NoChild {
                parent: self.unit().name().clone(),
                name: name.into(),
            }));
        };
        child.stop().await
    }

    /// Add-or-get: this service's live child `name`, or `make()` added under that name as
    /// [`add_child_named`](Self::add_child_named) adds it (one per device or connection
    /// that may be announced twice).
    ///
    /// - A live child of that name and type is returned as it is (it may be Starting:
    ///   [`ServiceHandle::wait_ready`] waits for it), and `make` is not called: the cost
    ///   is a lookup in this service's own children, nothing allocated. Live means
    ///   registered and no removal begun, whatever its status: one that has stopped for
    ///   good (a transient child that finished, one that exhausted its budget) is returned
    ///   too; restart or remove it.
    /// - Else `make()` is added, and this returns as `add_child_named` does.
    /// - Two calls at once for one name give one child: one adds it, the other gets it
    ///   (its `make` may have been called, and its value is then dropped).
    /// - A child whose removal has begun is not live: this waits for that removal (at
    ///   most the child's stop budget) and adds a new one.
    /// - A future dropped half-way has added nothing, or left the child added (it goes on
    ///   starting); a call again gets it.
    ///
    /// # Errors
    ///
    /// [`AddError::NameTaken`] when the name is held by a service of another type (or the
    /// full name `this/name` by a service that is not this one's child);
    /// [`AddError::BeingRemoved`] when the child of that name is being removed and the
    /// caller is that child (or one of its children), which cannot wait for its own
    /// stop; as [`add_child_named`](Self::add_child_named) otherwise.
    ///
    /// ```no_run
    /// # use hassette_runtime::prelude::*;
    /// struct Lamp { id: u32 }
    ///
    /// #[service(restart = "permanent")]
    /// impl Lamp {
    ///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
    ///         ctx.cancelled().await;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// async fn announced(hub: &ServiceContext, id: u32) -> Result<(), BoxError> {
    ///     // A lamp announced twice is one child.
    ///     let lamp = hub.ensure_child(&format!("lamp-{id}"), || Lamp { id }).await?;
    ///     assert_eq!(lamp.service::<Lamp>().map(|lamp| lamp.id), Some(id));
    ///     Ok(())
    /// }
    /// ```
    pub async fn ensure_child<T: Service>(
        &self,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Result<ServiceHandle, AddError> {
        let app = self.app_state();
        let wanted = Wanted {
            parent: Some(self.unit()),
            name,
            type_id: TypeId::of::<T>(),
        };
        let unit = app.ensure(wanted, named(name, make)).await?;
        Ok(ServiceHandle::new(app.clone(), unit))
    }
}

impl Hassette {
    /// Add-or-get by name: the live service `name` (static or added, a child's
    /// `parent/child` path included), or `make()` added under that name as
    /// [`add_named`](Self::add_named) adds it. The rules of
    /// [`ServiceContext::ensure_child`] hold: a live service of that name and type is
    /// returned as it is, without calling `make`; two calls at once give one service; one
    /// being removed is waited for, then added anew; a future dropped half-way and called
    /// again gives one service.
    ///
    /// # Errors
    ///
    /// [`AddError::NameTaken`] when the name is held by a service of another type;
    /// [`AddError::BeingRemoved`] when the service of that name is being removed and
    /// the caller is that service (or one of its children); as
    /// [`add_named`](Self::add_named) otherwise.
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// struct Conn;
    ///
    /// #[service(restart = "permanent")]
    /// impl Conn {
    ///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
    ///         ctx.cancelled().await;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let app = Hassette::builder().build()?;
    /// app.start().await?;
    /// let first = app.ensure_named("conn-1", || Conn).await?;
    /// // Announced again: the live one, and the second `Conn` is not made.
    /// let again = app.ensure_named("conn-1", || Conn).await?;
    /// assert_eq!(first.name(), again.name());
    /// assert_eq!(app.snapshot().len(), 1);
    /// app.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ensure_named<T: Service>(
        &self,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Result<ServiceHandle, AddError> {
        let wanted = Wanted {
            parent: None,
            name,
            type_id: TypeId::of::<T>(),
        };
        let unit = self.inner.ensure(wanted, named(name, make)).await?;
        Ok(ServiceHandle::new(self.inner.clone(), unit))
    }
}
