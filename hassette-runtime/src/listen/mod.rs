//! The TCP listeners an app owns ([`Builder::listener`](crate::Builder::listener)): opened
//! once when the app starts, taken from socket activation when the service manager
//! passed them, bound otherwise, and kept open until the app is dropped.
//!
//! Protocol: the app's one start task opens every declared listener ([`Listeners::open`])
//! before it launches a single supervisor, so no service runs before they are open, and
//! a failure fails `start` naming the listener. A service gets its own handle
//! ([`Listeners::get`]): a new descriptor for the same socket, registered with the
//! runtime of the caller. Dropping it (the run ends, the service restarts) closes only
//! that descriptor: the socket stays open, and connections that arrive meanwhile wait in
//! its backlog for the next run to accept them. No lock: the open listeners are set
//! once.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

mod error;

#[cfg(unix)]
mod activation;

pub use error::ListenerError;

/// The listen backlog of a listener the app binds itself (the system caps it:
/// `net.core.somaxconn` on Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// The listeners of one app: declared at build, opened at start.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    declared: Vec<(Arc<str>, SocketAddr)>,
    open: OnceLock<Vec<Open>>,
}

/// One open listener.
#[derive(Debug)]
struct Open {
    name: Arc<str>,
    /// The app's own descriptor, never registered with a runtime: services get copies.
    socket: std::net::TcpListener,
    addr: SocketAddr,
}

impl Listeners {
    /// The declared listeners, by name and address (the names are unique: `build`
    /// checks them).
    pub(crate) fn new(declared: Vec<(Arc<str>, SocketAddr)>) -> Self {
        Listeners {
            declared,
            open: OnceLock::new(),
        }
    }

    /// Opens every declared listener, in order: the socket passed under its name by
    /// socket activation, else a new one bound to its address. Called once, by the
    /// start; needs a tokio runtime.
    pub(crate) fn open(&self) -> Result<(), ListenerError> {
        if self.declared.is_empty() || self.open.get().is_some() {
            return Ok(());
        }
        let mut open = Vec::with_capacity(self.declared.len());
        for (name, addr) in &self.declared {
            let io = |error| ListenerError::Io {
                name: name.clone(),
                error: Arc::new(error),
            };
            let (socket, activated) = match passed(name)? {
                Some(socket) => (socket, true),
                None => (bind(name, *addr)?, false),
            };
            socket.set_nonblocking(true).map_err(io)?;
            let local = socket.local_addr().map_err(io)?;
            tracing::info!(listener = %name, addr = %local, activated, "listening");
            open.push(Open {
                name: name.clone(),
                socket,
                addr: local,
            });
        }
        let _ = self.open.set(open);
        Ok(())
    }

    /// The open listener's address, by name.
    pub(crate) fn addr(&self, name: &str) -> Result<SocketAddr, ListenerError> {
        self.find(name).map(|open| open.addr)
    }

    /// A new handle to the open listener `name`, registered with the caller's runtime
    /// (an error outside one, not a panic).
    pub(crate) fn get(&self, name: &str) -> Result<tokio::net::TcpListener, ListenerError> {
        let open = self.find(name)?;
        let io = |error| ListenerError::Io {
            name: open.name.clone(),
            error: Arc::new(error),
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io(std::io::Error::other(
                "a handle is registered with a tokio runtime: ask from inside one",
            )));
        }
        let copy = open.socket.try_clone().map_err(io)?;
        tokio::net::TcpListener::from_std(copy).map_err(io)
    }

    /// Every open listener's name and address, in the order they were declared.
    pub(crate) fn addrs(&self) -> Vec<(Arc<str>, SocketAddr)> {
        let open = self.open.get().map(Vec::as_slice).unwrap_or_default();
        open.iter().map(|o| (o.name.clone(), o.addr)).collect()
    }

    fn find(&self, name: &str) -> Result<&Open, ListenerError> {
        let Some((declared, _)) = self.declared.iter().find(|(n, _)| **n == *name) else {
            return Err(ListenerError::Unknown {
                name: name.into(),
                declared: self.declared.iter().map(|(n, _)| n.clone()).collect(),
            });
        };
        let open = self.open.get().map(Vec::as_slice).unwrap_or_default();
        open.iter()
            .find(|o| *o.name == *name)
            .ok_or_else(|| ListenerError::NotOpen {
                name: declared.clone(),
            })
    }
}

/// The socket passed under `name` by socket activation, if any.
#[cfg(unix)]
fn passed(name: &Arc<str>) -> Result<Option<std::net::TcpListener>, ListenerError> {
    activation::take(name).map_err(|problem| ListenerError::Activation {
        name: name.clone(),
        problem,
    })
}

/// Socket activation is systemd's: elsewhere every listener is bound.
#[cfg(not(unix))]
fn passed(_: &Arc<str>) -> Result<Option<std::net::TcpListener>, ListenerError> {
    Ok(None)
}

/// A new listening socket on `addr`, with a backlog of [`LISTEN_BACKLOG`].
fn bind(name: &Arc<str>, addr: SocketAddr) -> Result<std::net::TcpListener, ListenerError> {
    let listen = || {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // As a default bind does: a restarted process can listen again at once. (On
        // Windows it would let another process take the port, so it is left off there.)
        #[cfg(not(windows))]
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)?.into_std()
    };
    listen().map_err(|error| ListenerError::Bind {
        name: name.clone(),
        addr,
        error: Arc::new(error),
        hint: hint(name),
    })
}

/// For a failed bind: the names socket activation passed, when it passed some.
#[cfg(unix)]
fn hint(name: &str) -> String {
    match activation::passed_names() {
        Some(names) => format!(
            " (socket activation passed descriptors named `{names}`, none `{name}`: name the socket `{name}` with `FileDescriptorName=`)"
        ),
        None => String::new(),
    }
}

#[cfg(not(unix))]
fn hint(_: &str) -> String {
    String::new()
}

/// Whether `name` may name a listener: what systemd accepts in `FDNAME=` and
/// `LISTEN_FDNAMES`, 1 to 255 printable ASCII characters but `:`. `Err` says why not.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("a listener's name has 1 to 255 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(
            "a listener's name is printable ASCII without spaces or `:` (systemd's `FileDescriptorName=`)",
        );
    }
    Ok(())
}
