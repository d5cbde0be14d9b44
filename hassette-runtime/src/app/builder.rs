//! Registering services: [`Builder`], and the checks `build` makes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{
    AppParts, AppState, EventBus, Group, GroupDef, Member, Observer, Registry, Shim, Unit, UnitInit,
};
use crate::{BuildError, Dependency, Hassette, Hooks, Overrides, Resource, Service};
use crate::{GroupBuilder, Strategy};

/// Registers the services and resources of a [`Hassette`] app.
///
/// ```
/// use hassette_runtime::prelude::*;
/// use std::time::Duration;
///
/// struct Worker(u32);
/// impl Hooks for Worker {}
/// impl Service for Worker {
///     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Transient);
///     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
///         ctx.cancelled().await;
///         Ok(())
///     }
/// }
///
/// let app = Hassette::builder()
///     .service_named("worker-1", Worker(1))
///     .service_named("worker-2", Worker(2))
///     .shutdown_deadline(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(app.status_by_name("worker-2")?, Status::NotStarted);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    pending: Vec<Pending>,
    event_capacity: Option<usize>,
    shutdown_deadline: Option<Duration>,
    groups: Vec<GroupDef>,
    /// The group that `service`/`resource` calls add to, inside [`Builder::group`].
    current_group: Option<usize>,
    /// [`Builder::configure`]'s overrides, by service name.
    overrides: Vec<(Arc<str>, Overrides)>,
    /// [`Builder::drain`]'s period.
    drain: Duration,
    /// [`Builder::listener`]'s listeners, in order.
    listeners: Vec<(Arc<str>, SocketAddr)>,
}

struct Pending {
    /// Everything but the dependency ids, which `build` resolves.
    init: UnitInit,
    depends_on: &'static [Dependency],
    /// Registered with `service_named`: found by name, not by type.
    named: bool,
    group: Option<usize>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("services", &self.pending.len())
            .field("event_capacity", &self.event_capacity)
            .field("shutdown_deadline", &self.shutdown_deadline)
            .field("groups", &self.groups.len())
            .field("drain", &self.drain)
            .field("listeners", &self.listeners)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// An empty builder; the same as [`Hassette::builder`].
    ///
    /// ```
    /// let app = hassette_runtime::Builder::new().build().unwrap();
    /// assert!(app.statuses().is_empty());
    /// ```
    pub fn new() -> Self {
        Builder {
            pending: Vec::new(),
            event_capacity: None,
            shutdown_deadline: None,
            groups: Vec::new(),
            current_group: None,
            overrides: Vec::new(),
            drain: Duration::ZERO,
            listeners: Vec::new(),
        }
    }

    /// Replaces the declared timeouts, backoff or budget of the service registered under
    /// `name` (static: [`Hassette::add_named_with`] does it for one added at run time)
    /// with values known only at run time. Checked at [`build`](Self::build) by the
    /// attribute's rules (see [`Overrides`]); a later `configure` of the same name
    /// replaces the earlier one entirely (the earlier is neither applied nor checked).
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # use hassette_runtime::Overrides;
    /// # use std::time::Duration;
    /// # struct Poller;
    /// # #[service(restart = "permanent")]
    /// # impl Poller { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// let timeout = Duration::from_secs(2); // read from a file or the environment
    /// let app = Hassette::builder()
    ///     .service_named("poller-eu", Poller)
    ///     .configure("poller-eu", Overrides::new().shutdown_timeout(timeout))
    ///     .build()?;
    ///
    /// let bad = Hassette::builder()
    ///     .service(Poller)
    ///     .configure("Poller", Overrides::new().backoff_multiplier(0.5))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(bad.to_string().starts_with("service `Poller`: `backoff_multiplier` is 0.5"));
    /// # Ok::<(), hassette_runtime::BuildError>(())
    /// ```
    pub fn configure(mut self, name: impl Into<Arc<str>>, overrides: Overrides) -> Self {
        self.overrides.push((name.into(), overrides));
        self
    }

    /// Registers the one instance of `T`, found by type (`status::<T>()`) and by its name.
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # struct Cache;
    /// # impl Hooks for Cache {}
    /// # impl Service for Cache {
    /// #     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Transient);
    /// #     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) }
    /// # }
    /// let app = Hassette::builder().service(Cache).build()?;
    /// assert_eq!(app.status::<Cache>()?, Status::NotStarted);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn service<T: Service>(self, service: T) -> Self {
        let named = false;
        self.push::<T>(
            T::display_name().into(),
            service,
            Shim::service::<T>(),
            named,
        )
    }

    /// Registers one of many instances of `T` under a unique `name`, found by name
    /// (`status_by_name`), for worker pools and one service per device or connection.
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # struct Cache;
    /// # impl Hooks for Cache {}
    /// # impl Service for Cache {
    /// #     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Transient);
    /// #     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) }
    /// # }
    /// let mut builder = Hassette::builder();
    /// for shard in 0..4 {
    ///     builder = builder.service_named(format!("cache-{shard}"), Cache);
    /// }
    /// let app = builder.build()?;
    /// assert_eq!(app.status_by_name("cache-3")?, Status::NotStarted);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn service_named<T: Service>(self, name: impl Into<Arc<str>>, service: T) -> Self {
        let named = true;
        self.push::<T>(name.into(), service, Shim::service::<T>(), named)
    }

    /// Registers many instances of `T`, each under its unique name: a worker pool in one
    /// call ([`service_named`](Self::service_named) for each).
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # struct Worker(usize);
    /// # #[service(restart = "permanent")]
    /// # impl Worker { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    /// let app = Hassette::builder()
    ///     .services_named((0..4).map(|n| (format!("worker-{n}"), Worker(n))))
    ///     .build()?;
    /// assert_eq!(app.statuses().len(), 4);
    /// # Ok::<(), hassette_runtime::BuildError>(())
    /// ```
    pub fn services_named<T: Service, N: Into<Arc<str>>>(
        self,
        services: impl IntoIterator<Item = (N, T)>,
    ) -> Self {
        services.into_iter().fold(self, |builder, (name, service)| {
            builder.service_named(name, service)
        })
    }

    /// Registers the one instance of a resource: hooks but no `serve`, never restarted.
    ///
    /// ```
    /// use hassette_runtime::{Hassette, Hooks, Resource};
    /// struct Pool;
    /// impl Hooks for Pool {}
    /// impl Resource for Pool {}
    /// let app = Hassette::builder().resource(Pool).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resource<T: Resource>(self, resource: T) -> Self {
        let named = false;
        self.push::<T>(
            T::display_name().into(),
            resource,
            Shim::resource::<T>(),
            named,
        )
    }

    /// How many status events a slow [`events`](Hassette::events) receiver may fall
    /// behind before it loses the oldest (it is then told how many it missed:
    /// `RecvError::Lagged(n)`).
    ///
    /// By default, room for 4 events per live service (every service may fail and restart
    /// at the same moment), at least 1024: the services registered here, and those added
    /// while the app runs, as they are added (the stream then moves to a channel at least
    /// twice as big, and receivers follow it without missing an event; it stays at the
    /// peak after removals). A value set here stays fixed, whatever is added. Any value is
    /// clamped to `1..=`[`MAX_EVENT_CAPACITY`](Self::MAX_EVENT_CAPACITY), and tokio rounds
    /// it up to a power of two. The channel and all its slots (about 80 bytes each) are
    /// allocated at the first [`events`](Hassette::events) call: an app nobody subscribes
    /// to pays nothing.
    ///
    /// ```
    /// # use hassette_runtime::Hassette;
    /// let app = Hassette::builder().event_capacity(16_384).build().unwrap();
    /// // too large for any channel: clamped to `MAX_EVENT_CAPACITY`, not a panic
    /// let huge = Hassette::builder().event_capacity(usize::MAX).build().unwrap();
    /// # drop((app, huge));
    /// ```
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = Some(capacity);
        self
    }

    /// The largest [`event_capacity`](Self::event_capacity): 2^20 events (about 80 MiB of
    /// slots once someone subscribes). A larger value, and the default of a very large
    /// app, is clamped to it.
    ///
    /// ```
    /// assert_eq!(hassette_runtime::Builder::MAX_EVENT_CAPACITY, 1 << 20);
    /// ```
    pub const MAX_EVENT_CAPACITY: usize = crate::engine::MAX_CAPACITY;

    /// Bounds the whole shutdown: services still stopping after `limit` are aborted and
    /// the report says so (default: no bound beyond each service's own timeouts).
    ///
    /// Set it when a service may run code that never reaches an `.await` (a busy loop, a
    /// blocking call): cancellation is cooperative, so such code can hold a worker thread,
    /// and in rare schedules the tasks queued on that thread with it; the deadline is the
    /// bound that always holds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = hassette_runtime::Hassette::builder()
    ///     .shutdown_deadline(Duration::from_secs(20))
    ///     .build()
    ///     .unwrap();
    /// # drop(app);
    /// ```
    pub fn shutdown_deadline(mut self, limit: Duration) -> Self {
        self.shutdown_deadline = Some(limit);
        self
    }

    /// How long the app drains before it stops (default: zero, no drain).
    ///
    /// When the shutdown begins (a signal, [`ServiceContext::shutdown_app`](crate::ServiceContext::shutdown_app),
    /// [`Hassette::shutdown`], a crash), the app first says it is going away while every
    /// service keeps running and is supervised as usual: `/readyz` of the `health`
    /// feature answers `503 draining` (`/livez` stays `200`), systemd hears `STOPPING=1`
    /// (feature `systemd`), [`Hassette::shutdown_begun`] and
    /// [`ServiceContext::draining`](crate::ServiceContext::draining) complete. Once the
    /// period is over, the services are stopped as without a drain. Load balancers and
    /// Kubernetes take the instance out of rotation meanwhile, so requests in flight and
    /// those routed late are still served. Under [`Hassette::run_until_signal`] a second
    /// signal during the drain skips the rest of it (and a signal after that exits at
    /// once). Only an app that is up drains: not one whose [`start`](Hassette::start) was
    /// never called or is still under way, nor one whose start failed for good. A `shutdown_deadline` bounds the stop that follows, not the drain.
    ///
    /// Keep it below the time the orchestrator allows for the whole stop (Kubernetes'
    /// `terminationGracePeriodSeconds`, systemd's `TimeoutStopSec=`), with room for the
    /// stop itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// let app = hassette_runtime::Hassette::builder()
    ///     .drain(Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// # drop(app);
    /// ```
    pub fn drain(mut self, period: Duration) -> Self {
        self.drain = period;
        self
    }

    /// Declares a TCP listener that the app owns, under `name`: a service accepts on it
    /// through [`ServiceContext::listener`](crate::ServiceContext::listener).
    ///
    /// [`Hassette::start`] opens it before any service runs: from systemd socket
    /// activation when the process was given a socket under this name (`LISTEN_FDS` and
    /// `LISTEN_PID` for this process, the name in `LISTEN_FDNAMES`, i.e. the socket
    /// unit's `FileDescriptorName=`), else bound to `addr` (port 0: a free port, see
    /// [`Hassette::listener_addr`]). A bind that fails, or activation variables that do
    /// not add up, fail `start` with [`StartFailure::Listener`](crate::StartFailure::Listener)
    /// naming the listener.
    ///
    /// The socket stays open as long as the app: a service that restarts does not close
    /// the port, and a client that connects meanwhile waits in the listen backlog until
    /// the next run accepts it. With feature `systemd`, the listeners also go to systemd's
    /// file-descriptor store (see [`systemd`](crate::systemd)), so a restart of the whole
    /// process keeps them too.
    ///
    /// [`build`](Self::build) refuses a name used twice, and one systemd could not pass
    /// back (empty, over 255 characters, or other than printable ASCII without `:`).
    ///
    /// ```
    /// let app = hassette_runtime::Hassette::builder()
    ///     .listener("http", ([127, 0, 0, 1], 8080))
    ///     .build()?;
    /// # drop(app);
    /// # Ok::<(), hassette_runtime::BuildError>(())
    /// ```
    pub fn listener(mut self, name: impl Into<Arc<str>>, addr: impl Into<SocketAddr>) -> Self {
        self.listeners.push((name.into(), addr.into()));
        self
    }

    /// The one generic step of a registration: everything after it is the same code for
    /// every type (see `shim`).
    fn push<T: Hooks>(
        mut self,
        name: Arc<str>,
        value: T,
        shim: &'static Shim,
        named: bool,
    ) -> Self {
        self.pending.push(Pending {
            init: UnitInit::of(name, value, shim),
            depends_on: T::DEPENDS_ON,
            named,
            group: self.current_group,
        });
        if let Some(gid) = self.current_group {
            self.groups[gid]
                .members
                .push(Member::Unit(self.pending.len() - 1));
        }
        self
    }

    /// Registers a supervision group: the services added inside `members` are restarted
    /// together according to `strategy`, within the group's own budget (see
    /// [`GroupBuilder::budget`]). Services restarted because of a sibling go through their
    /// whole stop (in reverse registration order) and initialize (in order). A group whose
    /// budget runs out escalates to its parent group, which treats it as one failed
    /// member; at the top, the app shuts down with a non-zero exit code, unless every
    /// service that failed is not critical (`critical = false`, or
    /// [`Overrides::critical`]): those end `ExhaustedDead` and the app goes on, degraded.
    /// Groups nest.
    ///
    /// A member's own restart policy still decides whether and after what backoff it is
    /// restarted; the group decides what else restarts with it. An operator's
    /// [`Hassette::restart`] restarts only the one service.
    ///
    /// Members start again in registration order, each after the one before it has
    /// initialized: register a member's `depends_on` targets before it in the group.
    ///
    /// ```
    /// use hassette_runtime::prelude::*;
    /// use hassette_runtime::Strategy;
    /// # struct Source; struct Sink;
    /// # #[service(restart = "permanent")]
    /// # impl Source { async fn serve(&self, ctx: &ServiceContext) { ctx.cancelled().await } }
    /// # #[service(restart = "permanent")]
    /// # impl Sink { async fn serve(&self, ctx: &ServiceContext) { ctx.cancelled().await } }
    ///
    /// let app = Hassette::builder()
    ///     .group("pipeline", Strategy::OneForAll, |g| g.service(Source).service(Sink))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group(
        mut self,
        name: impl Into<Arc<str>>,
        strategy: Strategy,
        members: impl FnOnce(GroupBuilder) -> GroupBuilder,
    ) -> Self {
        let gid = self.groups.len();
        self.groups.push(GroupDef {
            name: name.into(),
            strategy,
            parent: self.current_group,
            members: Vec::new(),
            intensity: 5,
            period: Duration::from_secs(5 * 60),
        });
        if let Some(parent) = self.current_group {
            self.groups[parent].members.push(Member::Group(gid));
        }
        let outer = self.current_group.replace(gid);
        let mut builder = members(GroupBuilder { builder: self, gid }).builder;
        builder.current_group = outer;
        builder
    }

    pub(crate) fn group_def(&mut self, gid: usize) -> &mut GroupDef {
        &mut self.groups[gid]
    }

    /// Checks the registrations and builds the app.
    ///
    /// # Errors
    ///
    /// A spec that breaks the attribute's rules ([`RestartSpec::check`](crate::RestartSpec::check):
    /// a type's `RESTART_SPEC`, hand-written or not, with its
    /// [`configure`](Self::configure) overrides; [`BuildError::Config`]) or a group's
    /// budget that does ([`BuildError::GroupBudget`]), a `configure` of an unknown name, a
    /// type registered twice with `service`/`resource`, two services with one name, a
    /// `depends_on` on an unregistered type or on a type registered only by name, a
    /// dependency cycle (named `A -> B -> A`), and a listener's name used twice or that
    /// systemd could not pass ([`BuildError::Listener`]).
    ///
    /// ```
    /// # use hassette_runtime::prelude::*;
    /// # struct Cache;
    /// # impl Hooks for Cache {}
    /// # impl Service for Cache {
    /// #     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Transient);
    /// #     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) }
    /// # }
    /// let error = Hassette::builder().service(Cache).service(Cache).build().unwrap_err();
    /// assert!(error.to_string().ends_with(
    ///     "Cache` is registered twice; register many instances of one type with `Builder::service_named`"
    /// ));
    /// ```
    pub fn build(mut self) -> Result<Hassette, BuildError> {
        if !self.overrides.is_empty() {
            let index: std::collections::HashMap<Arc<str>, usize> = (self.pending.iter())
                .enumerate()
                .map(|(id, p)| (p.init.name.clone(), id))
                .collect();
            for (name, overrides) in std::mem::take(&mut self.overrides) {
                let Some(&id) = index.get(&name) else {
                    return Err(BuildError::UnknownConfigured { name });
                };
                // In call order: a later `configure` of a name replaces the earlier one.
                self.pending[id].init.configure(overrides);
            }
        }
        for (index, (name, _)) in self.listeners.iter().enumerate() {
            let problem = match crate::listen::check_name(name) {
                Err(problem) => Some(problem),
                Ok(()) if self.listeners[..index].iter().any(|(n, _)| n == name) => {
                    Some("two listeners have this name; each name must be unique")
                }
                Ok(()) => None,
            };
            if let Some(problem) = problem {
                let name = name.clone();
                return Err(BuildError::Listener { name, problem });
            }
        }
        // Every spec by the attribute's rules: the type's (hand-written or generated),
        // with its overrides applied; then every group's budget.
        for pending in &mut self.pending {
            pending.init.check()?;
        }
        for def in &self.groups {
            hassette_spec::rules::budget(def.intensity, def.period).map_err(|violation| {
                BuildError::GroupBudget {
                    group: def.name.clone(),
                    violation: crate::SpecViolation::from_rule(violation),
                }
            })?;
        }
        let mut registry = Registry::default();
        for (id, pending) in self.pending.iter().enumerate() {
            let init = &pending.init;
            let ty = (init.type_id, init.type_name);
            registry.claim(id, ty, &init.name, pending.named)?;
        }
        let mut dependencies = Vec::with_capacity(self.pending.len());
        for pending in &self.pending {
            let name = &pending.init.name;
            let ids = pending
                .depends_on
                .iter()
                .map(|dep| registry.resolve(name, dep))
                .collect::<Result<Box<[usize]>, _>>()?;
            dependencies.push(ids);
        }
        let waves = crate::engine::waves(&dependencies, |id| &self.pending[id].init.name)?;

        let events = EventBus::new(self.event_capacity, self.pending.len(), observer());
        let events = Arc::new(events);
        let units = self.pending.into_iter().zip(dependencies);
        for (id, (pending, dependencies)) in units.enumerate() {
            let init = UnitInit {
                dependencies,
                group: pending.group,
                ..pending.init
            };
            registry.push(Arc::new(Unit::new(id, init, events.clone())));
        }
        Ok(Hassette::from_state(AppState::new(AppParts {
            registry,
            waves,
            events,
            shutdown_deadline: self.shutdown_deadline,
            groups: Group::from_defs(&self.groups),
            drain: self.drain,
            listeners: crate::listen::Listeners::new(self.listeners),
        })))
    }
}

/// What follows the engine's changes: feature `metrics`'s meter (see `engine::bus`).
#[cfg(feature = "metrics")]
fn observer() -> Option<Box<dyn Observer>> {
    Some(Box::<crate::metrics::Meter>::default())
}

/// Nothing follows the engine's changes without feature `metrics`.
#[cfg(not(feature = "metrics"))]
fn observer() -> Option<Box<dyn Observer>> {
    None
}
