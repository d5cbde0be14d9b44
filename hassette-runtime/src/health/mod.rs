//! An HTTP health endpoint for the whole app (feature `health`): `/livez`, `/readyz` and
//! `/status`, served by a [`HealthServer`] that runs as a resource of the app itself.
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
//! | `GET /livez` | `200 ok` while the process is worth keeping; `503` once a service has **Crashed** or the app is shutting down |
//! | `GET /readyz` | `200 ready` when every service (the health server aside) is **Running and ready**; `503` with the list of the others |
//! | `GET /status` | `200`, `application/json`: every service's status, readiness, restarts and last error |
//! | `HEAD` of the above | the same status and headers, no body |
//! | another method | `405` |
//! | another path | `404` |
//!
//! Liveness fails only when restarting the process is the cure: a crashed service takes the
//! app down anyway, and a Failed service being restarted, or one waiting for its cooldown,
//! is the supervisor's business, not the orchestrator's. Readiness is strict: a service
//! that is starting, restarting, not ready (`ctx.mark_not_ready`), exhausted or crashed
//! keeps `/readyz` at 503; a transient or temporary service that finished its job (a clean
//! return of `serve`) does not ([`ServiceSnapshot::counts_as_ready`](crate::ServiceSnapshot::counts_as_ready)).
//!
//! A `/status` answer (`last_error` is the error of the last status change that had one,
//! `null` otherwise):
//!
//! ```json
//! {"live":true,"ready":true,"shutting_down":false,"services":[
//!   {"name":"health","status":"running","ready":true,"restarts":0,"last_error":null},
//!   {"name":"Ticker","status":"running","ready":true,"restarts":1,"last_error":"connection reset"}]}
//! ```
//!
//! Status names in JSON are `not_started`, `starting`, `running`, `stopping`, `stopped`,
//! `failed`, `crashed`, `exhausted_cooling`, `exhausted_dead`.
//!
//! # Hostile and broken clients
//!
//! The endpoint is meant for probes, which connect, send one short request and read one
//! short answer. Whatever other clients do, it holds:
//!
//! - **At most [`MAX_CONNECTIONS`] open connections** ([`HealthServer::max_connections`]).
//!   When a new connection arrives with the cap reached, the *oldest* open connection is
//!   closed to make room for it. Idle and stalled clients are the old ones; a probe is
//!   answered within a millisecond of connecting, so `/livez` keeps answering however many
//!   idle clients hold connections, and the server never holds more than the cap's worth of
//!   file descriptors for clients.
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

use std::borrow::Cow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{BoxError, Hassette, Hooks, Resource, ServiceContext, ServiceSnapshot, Status};

/// The default bound on open client connections (see
/// [`HealthServer::max_connections`]): with it reached, a new connection closes the oldest.
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

/// Timeouts this long or longer mean "no limit" (and never overflow an `Instant`).
const NO_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// How long the accept loop waits for the connection it closed to make room to let go of
/// its slot; the closed task lets go at its next poll, so this is only a safety net.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

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

/// `None` for a timeout that means "no limit".
fn finite(timeout: Duration) -> Option<Duration> {
    (timeout < NO_LIMIT).then_some(timeout)
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
        *self.addr.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, addr: Option<SocketAddr>) {
        *self.addr.lock().unwrap_or_else(PoisonError::into_inner) = addr;
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
        }
    }

    /// At most `max` client connections are open at once (default [`MAX_CONNECTIONS`];
    /// 0 counts as 1). When a new one arrives with `max` open, the oldest open connection
    /// is closed to make room: idle or stalled clients cannot lock a probe out, and the
    /// server never holds more than `max` file descriptors for clients.
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

/// Binding the listening socket failed.
#[derive(Debug)]
struct BindError {
    addr: SocketAddr,
    source: std::io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot listen on {} for the health endpoint: {}",
            self.addr, self.source
        )
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl Hooks for HealthServer {
    fn display_name() -> Cow<'static, str> {
        Cow::Borrowed("health")
    }

    async fn on_initialize(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| BindError {
                addr: self.addr,
                source,
            })?;
        let local = listener.local_addr()?;
        self.bound.set(Some(local));
        tracing::info!(addr = %local, "health endpoint listening");
        let endpoint = Endpoint {
            app: ctx.app(),
            own_name: ctx.name().into(),
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
}

async fn accept_loop(
    listener: TcpListener,
    endpoint: Endpoint,
    ctx: ServiceContext,
    bound: HealthHandle,
    limits: Limits,
) {
    let open = Arc::new(OpenConnections::new(limits.max_connections));
    loop {
        tokio::select! {
            biased;
            () = ctx.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = tokio::select! {
                        biased;
                        () = ctx.cancelled() => break,
                        slot = open.admit(&endpoint.own_name, peer) => slot,
                    };
                    if let Some(slot) = slot {
                        ctx.spawn(serve_connection(
                            stream,
                            endpoint.clone(),
                            ctx.clone(),
                            slot,
                            limits,
                        ));
                    }
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(service = %endpoint.own_name, %error, "health endpoint: accept failed");
                    tokio::select! {
                        () = ctx.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    bound.set(None);
}

/// The open client connections of one run of the server, and the cap on them.
struct OpenConnections {
    max: usize,
    /// One permit per connection that may be open.
    permits: Arc<Semaphore>,
    queue: Mutex<Queue>,
    /// Whether the cap was reached and not left since (to warn once, not per connection).
    full: AtomicBool,
}

/// The open connections, oldest first: an id and the token that closes it.
#[derive(Default)]
struct Queue {
    next_id: u64,
    open: VecDeque<(u64, CancellationToken)>,
}

/// One open connection's place under the cap: dropping it gives the place back.
struct Slot {
    id: u64,
    close: CancellationToken,
    connections: Arc<OpenConnections>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut queue = self.connections.lock();
        if let Some(at) = queue.open.iter().position(|(id, _)| *id == self.id) {
            queue.open.remove(at);
        }
    }
}

impl OpenConnections {
    fn new(max: usize) -> Self {
        OpenConnections {
            max,
            permits: Arc::new(Semaphore::new(max)),
            queue: Mutex::new(Queue::default()),
            full: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection from `peer`, closing the oldest open connection when
    /// the cap is reached; `None` (the new connection is refused) only when the closed
    /// one does not let go of its place in time.
    async fn admit(self: &Arc<Self>, service: &str, peer: SocketAddr) -> Option<Slot> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                self.full.store(false, Ordering::Relaxed);
                permit
            }
            Err(_) => {
                if !self.full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        service = %service,
                        max_connections = self.max,
                        "health endpoint: too many open connections; closing the oldest for each new one"
                    );
                }
                let oldest = self.lock().open.pop_front();
                if let Some((_, close)) = oldest {
                    close.cancel();
                }
                match tokio::time::timeout(EVICTION_WAIT, self.permits.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        tracing::warn!(service = %service, %peer, "health endpoint: refused a connection, no room under the cap");
                        return None;
                    }
                }
            }
        };
        let close = CancellationToken::new();
        let id = {
            let mut queue = self.lock();
            let id = queue.next_id;
            queue.next_id += 1;
            queue.open.push_back((id, close.clone()));
            id
        };
        Some(Slot {
            id,
            close,
            connections: self.clone(),
            _permit: permit,
        })
    }
}

/// Serves one client until it is done, fails a timeout, is closed to make room under the
/// cap, or the server stops: then the connection is dropped at once, whatever it was doing.
async fn serve_connection(
    stream: TcpStream,
    endpoint: Endpoint,
    ctx: ServiceContext,
    slot: Slot,
    limits: Limits,
) {
    let name = endpoint.own_name.clone();
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(&endpoint, request.method(), request.uri().path());
        std::future::ready(Ok::<_, Infallible>(response))
    });
    // A write that makes no progress for `write_timeout` (the client does not read its
    // answer) fails with `TimedOut`; the clock restarts with every write that goes through.
    let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
    stream.set_write_timeout(finite(limits.write_timeout));
    let io = TokioIo::new(Box::pin(stream));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(finite(limits.header_read_timeout))
        .serve_connection(io, service);
    let result = tokio::select! {
        biased;
        // A stop or restart of the server: no grace for a client (it could be half-way
        // through a request it never finishes).
        () = ctx.cancelled() => return,
        () = slot.close.cancelled() => {
            tracing::debug!(service = %name, "health endpoint: closed the oldest connection to make room");
            return;
        }
        result = connection => result,
    };
    if let Err(error) = result {
        tracing::debug!(service = %name, %error, "health endpoint: connection ended with an error");
    }
}

fn respond(endpoint: &Endpoint, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let (code, content_type, body) = match path {
        "/livez" | "/readyz" | "/status" if method != Method::GET && method != Method::HEAD => (
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "method not allowed: use GET\n".to_owned(),
        ),
        "/livez" => {
            let health = Health::of(endpoint);
            let code = if health.live {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (code, TEXT, health.livez_body())
        }
        "/readyz" => {
            let health = Health::of(endpoint);
            let code = if health.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (code, TEXT, health.readyz_body())
        }
        "/status" => (StatusCode::OK, JSON, Health::of(endpoint).status_json()),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()),
    };
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(body)
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if code == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// One look at the app, from which all three answers are made.
struct Health {
    services: Vec<ServiceSnapshot>,
    own_name: Arc<str>,
    shutting_down: bool,
    live: bool,
    ready: bool,
}

impl Health {
    fn of(endpoint: &Endpoint) -> Self {
        let services = endpoint.app.snapshot();
        let shutting_down = endpoint.app.is_shutting_down();
        let crashed = services.iter().any(|s| s.status == Status::Crashed);
        let ready = !shutting_down
            && services
                .iter()
                .all(|s| *s.name == *endpoint.own_name || s.counts_as_ready());
        Health {
            services,
            own_name: endpoint.own_name.clone(),
            shutting_down,
            live: !shutting_down && !crashed,
            ready,
        }
    }

    fn livez_body(&self) -> String {
        if self.live {
            return "ok\n".to_owned();
        }
        let mut body = String::from("not live:");
        if self.shutting_down {
            body.push_str(" shutting down;");
        }
        let crashed: Vec<&str> = self
            .services
            .iter()
            .filter(|s| s.status == Status::Crashed)
            .map(|s| &*s.name)
            .collect();
        if !crashed.is_empty() {
            let _ = write!(body, " crashed: {};", crashed.join(", "));
        }
        body.pop();
        body.push('\n');
        body
    }

    fn readyz_body(&self) -> String {
        if self.ready {
            return "ready\n".to_owned();
        }
        let mut body = String::from("not ready:");
        if self.shutting_down {
            body.push_str(" shutting down;");
        }
        let mut first = true;
        for s in self
            .services
            .iter()
            .filter(|s| !s.counts_as_ready() && *s.name != *self.own_name)
        {
            body.push_str(if first { " " } else { ", " });
            first = false;
            if s.status == Status::Running {
                let _ = write!(body, "{} (running, not ready)", s.name);
            } else {
                let _ = write!(body, "{} ({})", s.name, s.status);
            }
        }
        if body.ends_with(';') {
            body.pop();
        }
        body.push('\n');
        body
    }

    fn status_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.services.len() * 96);
        let _ = write!(
            out,
            "{{\"live\":{},\"ready\":{},\"shutting_down\":{},\"services\":[",
            self.live, self.ready, self.shutting_down
        );
        for (i, s) in self.services.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            push_json_string(&mut out, &s.name);
            let _ = write!(
                out,
                ",\"status\":\"{}\",\"ready\":{},\"restarts\":{},\"last_error\":",
                status_key(s.status),
                s.ready,
                s.restarts
            );
            match &s.last_error {
                Some(error) => push_json_string(&mut out, &error.to_string()),
                None => out.push_str("null"),
            }
            out.push('}');
        }
        out.push_str("]}\n");
        out
    }
}

/// The machine-readable name of a status in `/status`.
fn status_key(status: Status) -> &'static str {
    match status {
        Status::NotStarted => "not_started",
        Status::Starting => "starting",
        Status::Running => "running",
        Status::Stopping => "stopping",
        Status::Stopped => "stopped",
        Status::Failed => "failed",
        Status::Crashed => "crashed",
        Status::ExhaustedCooling => "exhausted_cooling",
        Status::ExhaustedDead => "exhausted_dead",
    }
}

/// Appends `s` as a JSON string literal (RFC 8259: quote, backslash and control
/// characters escaped).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::{push_json_string, status_key};
    use crate::Status;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a \"quoted\" \\ path\nline\u{1}\té");
        assert_eq!(out, r#""a \"quoted\" \\ path\nline\u0001\té""#);
    }

    #[test]
    fn every_status_has_a_snake_case_key() {
        for status in Status::ALL {
            let key = status_key(status);
            assert!(key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
