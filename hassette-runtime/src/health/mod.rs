//! An HTTP health endpoint for the whole app (feature `health`): `/livez`, `/readyz` and
//! `/status`, and a live status page at `/` for people, served by a [`HealthServer`] that
//! runs as a resource of the app itself.
//!
//! Register it like any resource; it binds its address in `on_initialize` (so a port that
//! is taken makes [`Hassette::start`] fail, naming the resource) and stops listening when
//! the app shuts down.
//!
//! ```no_run
//! use hassette_runtime::health::HealthServer;
//! use hassette_runtime::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let app = Hassette::builder()
//!     .resource(HealthServer::new(([0, 0, 0, 0], 8080)))
//!     .build()?;
//! let code = app.run_until_signal().await;
//! # let _ = code;
//! # Ok(())
//! # }
//! ```
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | `200`, `text/html; charset=utf-8`: the [status page](#the-status-page) |
//! | `GET /livez` | `200 ok` while the process is worth keeping; `503` once a service has **Crashed** or the stop is stuck |
//! | `GET /readyz` | `200 ready` when every service (the health server aside) is **Running and ready**; `503` with the list of the others, or `503 draining` during the drain ([`Builder::drain`](crate::Builder::drain)) |
//! | `GET /status` | `200`, `application/json`: every service's status, readiness, restarts and last error |
//! | `GET /events?after=N` | `200`, `application/json`: the [history](#the-history-events) of recent status changes after entry `N` (all of it without `after`) |
//! | `GET /report?name=NAME` | `200`, `application/json`: that service's report so far, with its last errors; `404` for an unknown name |
//! | `HEAD` of the above | the same status and headers, no body |
//! | another method | `405` |
//! | another path | `404` |
//!
//! Liveness fails only when restarting the process is the cure: a crashed service takes the
//! app down anyway, and a Failed service being restarted, or one waiting for its cooldown,
//! is the supervisor's business, not the orchestrator's. A graceful stop is not a reason
//! either (an orchestrator that restarts a container whose liveness fails would cut the
//! stop short): while the app drains and stops, `/livez` stays `200` and `/readyz` answers `503`.
//! The stop is *stuck*, and `/livez` answers `503`, once a service's stop has outlived
//! every bound it has (6 × its `shutdown_timeout` + 1.1 s, or the `shutdown_deadline`) and
//! the service was cut off because code that never awaits still holds its thread: the
//! stop goes on without it, and the process is not worth keeping. Readiness is strict: a service
//! that is starting, restarting, not ready (`ctx.mark_not_ready`), exhausted or crashed
//! keeps `/readyz` at 503; a transient or temporary service that finished its job (a clean
//! return of `serve`) does not, nor does a service declared `critical = false`
//! ([`ServiceSnapshot::counts_as_ready`](crate::ServiceSnapshot::counts_as_ready)).
//!
//! A `/status` answer is the serde form (feature `serde`, which `health` turns on) of
//! the app's liveness, readiness and [`Hassette::snapshot`]: each service is listed
//! as its [`ServiceSnapshot`](crate::ServiceSnapshot) serializes anywhere else, so the
//! names and units are those of [feature `serde`](crate#feature-serde). `last_error` is
//! the error of the last status change that had one, `null` otherwise; `finished` says
//! it is done for good after a clean return of `serve`; `retry_in_secs` is the time, in
//! seconds, until the next restart during a backoff or a cooldown (`null` otherwise);
//! `budget_used` the restarts in the budget's window now, of `budget_intensity`;
//! `uptime_secs` how long it has been Running and ready at a stretch (`null` while it is
//! not); `parent` the name of a child's parent and `group` that of its supervision group
//! (`null` for none):
//!
//! ```json
//! {"live":true,"ready":true,"shutting_down":false,"services":[
//!   {"name":"health","status":"running","ready":true,"restarts":0,"last_error":null,"finished":false,"critical":true,"retry_in_secs":null,"budget_used":0,"budget_intensity":5,"uptime_secs":61.2,"parent":null,"group":null},
//!   {"name":"hub/lamp","status":"failed","ready":false,"restarts":1,"last_error":"connection reset","finished":false,"critical":false,"retry_in_secs":1.5,"budget_used":2,"budget_intensity":5,"uptime_secs":null,"parent":"hub","group":null}]}
//! ```
//!
//! `/status` is not paged: it lists every service, however many, because the status page needs them all for its counts (per status, and
//! per status of each folded parent's children) and its filter; the page renders only
//! one page of rows. A service's last errors are not in it, but at `/report?name=NAME`
//! (the name percent-encoded, as `encodeURIComponent` writes it): the
//! [`ServiceReport`](crate::ServiceReport) of
//! [`ServiceHandle::report`](crate::ServiceHandle::report), asked for one service at a
//! time, when it is opened on the page.
//!
//! # The history (`/events`)
//!
//! The server keeps the app's last [`HISTORY_LEN`] status changes
//! ([`HealthServer::history`]), from its start on, each numbered (`seq`), as a
//! [`StatusEvent`](crate::StatusEvent) serializes, oldest first. A reader asks for those
//! after the last it saw, `/events?after=41`; `next` is the number the next change will
//! have; `dropped` counts those after `after` that fell out of the history before the
//! reader asked (it came back too late). The history follows the app's event stream; if
//! it ever falls behind it, an entry `{"seq": 42, "lost": 3, "age_secs": 1.0}` says how
//! many changes it missed.
//!
//! ```json
//! {"next":43,"dropped":0,"events":[
//!   {"seq":41,"service":"feed","from":"running","to":"failed","error":"upstream disconnected","age_secs":2.5,"retry_in_secs":0.0},
//!   {"seq":42,"service":"feed","from":"failed","to":"starting","error":null,"age_secs":1.5,"retry_in_secs":null}]}
//! ```
//!
//! Status names in JSON are `not_started`, `starting`, `running`, `stopping`, `stopped`,
//! `failed`, `crashed`, `exhausted_cooling`, `exhausted_dead` ([`Status::key`](crate::Status::key)).
//!
//! # The status page
//!
//! `GET /` serves one self-contained HTML page (inline style and script, nothing loaded
//! from elsewhere, under a `Content-Security-Policy` that allows only that and fetches from
//! its own origin). Open `http://ADDR/` in a browser: it polls `/status` and `/events`
//! every second and shows
//!
//! - whether the app is live, ready and shutting down, and whether the last poll got an
//!   answer (a failed poll shows **disconnected** and keeps the last answer, dimmed);
//!   when `/status` says `"degraded": true`, a banner naming the non-critical services
//!   that are down;
//! - every service's name, status (coloured), readiness, uptime, restarts, next retry,
//!   budget used of its intensity (`2 of 5`) and last error; a service that waits (the
//!   `waiting` field, when the server sends it) shows what for (`waiting for its parent
//!   hub`, `backoff, retry in 1.5 s`) and is never shown as a plain `stopped`;
//! - children under their parent, indented: a parent with more than 30 children is
//!   folded by default, its row counting its children per status, and a click on its
//!   button folds or unfolds it; a group member carries its group's name, and a
//!   non-critical service a `non-critical` mark (a critical one, the default, none);
//! - a click on a service opens it: its last errors, newest first, from `/report`;
//! - a count of services per status;
//! - a timeline of the last 500 changes from the server's history, so a page opened late
//!   shows the failures that came before it (many services making the same change at
//!   once, such as a parent's children starting, are one line), and what only the page
//!   sees (the app's readiness, services removed, the connection lost and restored).
//!
//! It holds at most 100 service rows in the DOM whatever the number of services (10 000
//! children under one parent included): the tree is paged 100 rows at a time, with a
//! text filter (on name, status and error; its matches are listed flat, by their full
//! names) and an "only problems" switch (anything but Running and ready, or Stopped); the
//! filter, the switch, the page, the parents folded or unfolded and the services opened
//! are kept in the URL (`/#q=conn&problems=1&page=2&x=hub&open=feed`).
//!
//! Names and errors are shown as text, never read as HTML: the page puts data in the DOM
//! through `textContent` only, so a service named `<script>alert(1)</script>` is listed
//! under that name. The page needs no login and shows what `/status` shows, so expose it
//! where you would expose `/status`.
//!
//! # Hostile and broken clients
//!
//! The endpoint is meant for probes, which connect, send one short request and read one
//! short answer. Whatever other clients do, it holds:
//!
//! - **At most [`MAX_CONNECTIONS`] open connections** ([`HealthServer::max_connections`]).
//!   With the cap reached the server stops accepting: new connections wait in the
//!   listen backlog (4096 deep, or the system's limit: `net.core.somaxconn` on Linux)
//!   and are accepted, in turn, as open ones end. No connection is accepted only to be
//!   reset, and none is closed to make room for another: a burst of 2 000 probes at once
//!   is answered in full. The server never holds more than the cap's worth of file
//!   descriptors for clients.
//! - **Only idle or slow clients are closed**, by the two timeouts below: a client that
//!   holds a place without sending a request, or without reading its answer, loses it
//!   after that long, so a probe queued behind idle clients is answered as their
//!   timeouts free their places, and an answer that is being written is never cut off
//!   for someone else.
//! - **A header read timeout** ([`HEADER_READ_TIMEOUT`],
//!   [`HealthServer::header_read_timeout`]): a client that has not sent complete request
//!   headers within it, on a new connection or between requests of a kept-alive one, is
//!   disconnected.
//! - **A write timeout** ([`WRITE_TIMEOUT`], [`HealthServer::write_timeout`]): a client that
//!   stops reading its answer, so that a write of it makes no progress for that long, is
//!   disconnected and the answer freed (like nginx's `send_timeout`; a client that keeps
//!   reading, however slowly, is not cut off).
//! - **A stop is never held by a client**: when the app shuts down or the server is
//!   restarted, the listener and every open connection are closed at once (an answer
//!   being written is cut off); the stop does not wait for a half-sent request, and the
//!   server is not reported `aborted` because of a client.

mod connections;
mod history;
mod http;
mod query;
mod render;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use self::connections::{BindError, accept_loop, listen};
use self::history::History;
use crate::{BoxError, Hassette, Hooks, Resource, ServiceContext};

/// The default bound on open client connections (see
/// [`HealthServer::max_connections`]): with it reached, new connections wait in the
/// listen backlog until one ends.
///
/// ```
/// assert_eq!(hassette_runtime::health::MAX_CONNECTIONS, 64);
/// ```
pub const MAX_CONNECTIONS: usize = 64;

/// The default time a client has to send complete request headers, on a new connection
/// or between two requests of a kept-alive one, before it is disconnected (see
/// [`HealthServer::header_read_timeout`]).
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(hassette_runtime::health::HEADER_READ_TIMEOUT, Duration::from_secs(5));
/// ```
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The default time a write of an answer may make no progress (the client does not read)
/// before the client is disconnected (see [`HealthServer::write_timeout`]).
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(hassette_runtime::health::WRITE_TIMEOUT, Duration::from_secs(5));
/// ```
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default length of the server's history of recent status changes, served at
/// `/events` (see [`HealthServer::history`]).
///
/// ```
/// assert_eq!(hassette_runtime::health::HISTORY_LEN, 500);
/// ```
pub const HISTORY_LEN: usize = 500;

/// The resource that serves `/livez`, `/readyz` and `/status` over HTTP/1.1.
///
/// It appears in snapshots, events and reports as `health`. The address it listens on is
/// fixed when it is created; bind port 0 and read [`local_addr`](Self::local_addr) (or a
/// [`HealthHandle`] kept before registering it) to let the system pick a free port.
///
/// ```
/// use hassette_runtime::Hassette;
/// use hassette_runtime::health::HealthServer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hassette_runtime::BoxError> {
/// let health = HealthServer::new(([127, 0, 0, 1], 0));
/// let handle = health.handle();
/// let app = Hassette::builder().resource(health).build()?;
/// app.start().await?;
/// println!("probe http://{}/readyz", handle.local_addr().unwrap());
/// app.shutdown().await;
/// assert_eq!(handle.local_addr(), None);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct HealthServer {
    addr: SocketAddr,
    bound: HealthHandle,
    limits: Limits,
    /// The recent status changes, kept across the server's restarts.
    history: Arc<History>,
    /// What `/metrics` renders (feature `metrics`).
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::MetricsHandle>,
}

/// The bounds a server puts on its clients.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_connections: usize,
    header_read_timeout: Duration,
    write_timeout: Duration,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        max_connections: MAX_CONNECTIONS,
        header_read_timeout: HEADER_READ_TIMEOUT,
        write_timeout: WRITE_TIMEOUT,
    };
}

/// A cloneable view of where a [`HealthServer`] listens, kept before the server is moved
/// into the builder.
///
/// ```
/// use hassette_runtime::health::HealthServer;
///
/// let handle = HealthServer::new(([127, 0, 0, 1], 0)).handle();
/// assert_eq!(handle.local_addr(), None); // not started yet
/// ```
#[derive(Debug, Clone, Default)]
pub struct HealthHandle {
    addr: Arc<Mutex<Option<SocketAddr>>>,
}

impl HealthHandle {
    /// The address the server is listening on, with the port the system chose for port 0;
    /// `None` before it has bound and once it has stopped listening.
    ///
    /// ```
    /// # let handle = hassette_runtime::health::HealthServer::new(([127, 0, 0, 1], 0)).handle();
    /// if let Some(addr) = handle.local_addr() {
    ///     println!("curl http://{addr}/status");
    /// }
    /// ```
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *crate::sync::lock(&self.addr)
    }

    fn set(&self, addr: Option<SocketAddr>) {
        *crate::sync::lock(&self.addr) = addr;
    }
}

impl HealthServer {
    /// A health server that will listen on `addr` (for example `([0, 0, 0, 0], 8080)` or
    /// `"127.0.0.1:8080".parse::<SocketAddr>()?`) once the app starts.
    ///
    /// ```
    /// use hassette_runtime::Hassette;
    /// use hassette_runtime::health::HealthServer;
    ///
    /// let app = Hassette::builder()
    ///     .resource(HealthServer::new(([0, 0, 0, 0], 8080)))
    ///     .build()
    ///     .unwrap();
    /// # drop(app);
    /// ```
    #[must_use]
    pub fn new(addr: impl Into<SocketAddr>) -> Self {
        HealthServer {
            addr: addr.into(),
            bound: HealthHandle::default(),
            limits: Limits::DEFAULT,
            history: Arc::new(History::new(HISTORY_LEN)),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// Keeps the last `len` status changes of the app (default [`HISTORY_LEN`]) and
    /// serves them at `/events`, so a status page opened late shows what happened before
    /// it opened; 0 keeps none. The history is bounded whatever the churn: the oldest
    /// change goes when a new one comes.
    ///
    /// ```
    /// use hassette_runtime::health::HealthServer;
    ///
    /// let server = HealthServer::new(([0, 0, 0, 0], 8080)).history(2_000);
    /// # drop(server);
    /// ```
    #[must_use]
    pub fn history(mut self, len: usize) -> Self {
        self.history = Arc::new(History::new(len));
        self
    }

    /// Serves `handle`'s metrics at `/metrics`, in the Prometheus text format (feature
    /// `metrics`; see [`crate::metrics`] for what the app reports): the handle
    /// [`metrics::install`](crate::metrics::install) returns, whose recorder forgets the
    /// series of removed services, or the `PrometheusHandle` of a recorder installed
    /// otherwise. Without it, `/metrics` is 404.
    ///
    /// ```
    /// use hassette_runtime::health::HealthServer;
    /// use hassette_runtime::metrics::PrometheusBuilder;
    ///
    /// let recorder = PrometheusBuilder::new().build_recorder();
    /// let server = HealthServer::new(([127, 0, 0, 1], 9000)).metrics(recorder.handle());
    /// # drop(server);
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    #[must_use]
    pub fn metrics(mut self, handle: impl Into<crate::metrics::MetricsHandle>) -> Self {
        self.metrics = Some(handle.into());
        self
    }

    /// At most `max` client connections are open at once (default [`MAX_CONNECTIONS`];
    /// 0 counts as 1). With `max` open, the server accepts no more: new clients wait in
    /// the listen backlog until an open connection ends (its client is done, or it is
    /// idle or slow past the [header read](Self::header_read_timeout) or
    /// [write](Self::write_timeout) timeout), and the server never holds more than `max`
    /// file descriptors for clients.
    ///
    /// ```
    /// use hassette_runtime::health::HealthServer;
    ///
    /// let server = HealthServer::new(([0, 0, 0, 0], 8080)).max_connections(16);
    /// # drop(server);
    /// ```
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// How long a client may take to send complete request headers, on a new connection
    /// or between two requests of a kept-alive one, before it is disconnected (default
    /// [`HEADER_READ_TIMEOUT`]). A client that sends half a request never holds a stop
    /// of the app or of the server, whatever this is; [`Duration::MAX`] means no limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hassette_runtime::health::HealthServer;
    ///
    /// let server = HealthServer::new(([0, 0, 0, 0], 8080))
    ///     .header_read_timeout(Duration::from_secs(2));
    /// # drop(server);
    /// ```
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long a write of an answer may make no progress, because the client does not
    /// read it, before the client is disconnected and the answer freed (default
    /// [`WRITE_TIMEOUT`]). The clock restarts with every write that goes through, so a
    /// client that reads slowly but steadily is not cut off. [`Duration::MAX`] means no
    /// limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hassette_runtime::health::HealthServer;
    ///
    /// let server = HealthServer::new(([0, 0, 0, 0], 8080))
    ///     .write_timeout(Duration::from_secs(1));
    /// # drop(server);
    /// ```
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.limits.write_timeout = timeout;
        self
    }

    /// The address it was asked to listen on.
    ///
    /// ```
    /// # use hassette_runtime::health::HealthServer;
    /// let server = HealthServer::new(([127, 0, 0, 1], 9000));
    /// assert_eq!(server.addr().port(), 9000);
    /// ```
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address it listens on right now (see [`HealthHandle::local_addr`]).
    ///
    /// ```
    /// # use hassette_runtime::health::HealthServer;
    /// assert_eq!(HealthServer::new(([127, 0, 0, 1], 0)).local_addr(), None);
    /// ```
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.bound.local_addr()
    }

    /// A handle that tells where the server listens, to keep before the server is moved
    /// into [`Builder::resource`](crate::Builder::resource).
    ///
    /// ```
    /// # use hassette_runtime::health::HealthServer;
    /// let server = HealthServer::new(([127, 0, 0, 1], 0));
    /// let handle = server.handle();
    /// let app = hassette_runtime::Hassette::builder().resource(server).build().unwrap();
    /// # drop((app, handle));
    /// ```
    #[must_use]
    pub fn handle(&self) -> HealthHandle {
        self.bound.clone()
    }
}

impl Hooks for HealthServer {
    fn display_name() -> Cow<'static, str> {
        Cow::Borrowed("health")
    }

    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let listener = listen(self.addr).map_err(|source| BindError {
            addr: self.addr,
            source,
        })?;
        let local = listener.local_addr()?;
        self.bound.set(Some(local));
        tracing::info!(addr = %local, "health endpoint listening");
        ctx.spawn(self.history.clone().follow(ctx));
        let endpoint = Endpoint {
            app: ctx.app(),
            own_name: ctx.name().into(),
            history: self.history.clone(),
            #[cfg(feature = "metrics")]
            metrics: self.metrics.clone(),
        };
        ctx.spawn(accept_loop(
            listener,
            endpoint,
            ctx.clone(),
            self.bound.clone(),
            self.limits,
        ));
        Ok(())
    }
}

impl Resource for HealthServer {}

/// What a request handler needs: the app and the server's own name (left out of `/readyz`).
#[derive(Clone)]
struct Endpoint {
    app: Hassette,
    own_name: Arc<str>,
    history: Arc<History>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::MetricsHandle>,
}
