//! Listening and the open connections: the bind error, the listening socket, the accept
//! loop, and the cap on open connections, all of them dropped when the server stops.
//!
//! Protocol:
//! - The accept loop takes a place under the cap (a semaphore permit) *before* it
//!   accepts. With the cap reached it stops accepting: new connections wait in the
//!   kernel's listen backlog ([`LISTEN_BACKLOG`] deep, not the 128 of a default bind)
//!   until an open one ends, and are then accepted in turn. None is accepted only to be
//!   reset.
//! - An open connection ends only by itself (the client is done), by one of its own
//!   timeouts (the header read timeout for an idle or slow client, the write timeout for
//!   one that does not read its answer), or by the server's stop. No client is ever
//!   closed to make room for another, so an answer being written is never cut off
//!   because someone else connected.
//! - The server's stop ends the accept loop (also while it waits for a place) and every
//!   open connection at once: no client holds the stop.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::http::serve_connection;
use super::{Endpoint, HealthHandle, Limits};
use crate::ServiceContext;

/// How many connections the kernel may hold for the server while the cap is reached (the
/// system may lower it: on Linux to `net.core.somaxconn`, 4096 by default since 5.4). A
/// default bind asks for 128, which a burst of probes overflows.
pub(super) const LISTEN_BACKLOG: u32 = 4096;

/// Binding the listening socket failed.
#[derive(Debug)]
pub(super) struct BindError {
    pub(super) addr: SocketAddr,
    pub(super) source: std::io::Error,
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

/// A listening socket on `addr`, with a backlog of [`LISTEN_BACKLOG`].
pub(super) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As a default bind does: a restarted process can listen again at once. (On Windows
    // it would let another process take the port, so it is left off there.)
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts clients until the server stops, each once a place under the cap is free, and
/// serves each on its own task; then stops listening.
pub(super) async fn accept_loop(
    listener: TcpListener,
    endpoint: Endpoint,
    ctx: ServiceContext,
    bound: HealthHandle,
    limits: Limits,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    // Whether the cap was reached and not left since (to log once, not per connection).
    let mut full = false;
    loop {
        let place = match places.clone().try_acquire_owned() {
            Ok(place) => {
                full = false;
                place
            }
            Err(_) => {
                if !full {
                    full = true;
                    tracing::info!(
                        service = %endpoint.own_name,
                        max_connections = limits.max_connections,
                        "health endpoint: the connection cap is reached; new clients wait in the listen backlog"
                    );
                }
                tokio::select! {
                    biased;
                    () = ctx.cancelled() => break,
                    place = places.clone().acquire_owned() => match place {
                        Ok(place) => place,
                        // The semaphore is never closed.
                        Err(_) => break,
                    },
                }
            }
        };
        tokio::select! {
            biased;
            () = ctx.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    ctx.spawn(serve_connection(
                        stream,
                        endpoint.clone(),
                        ctx.clone(),
                        Place { _permit: place },
                        limits,
                    ));
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

/// One open connection's place under the cap: dropping it (the connection has ended)
/// lets the accept loop take the next client from the backlog.
pub(super) struct Place {
    _permit: OwnedSemaphorePermit,
}

#[cfg(test)]
mod tests {
    use crate::health::HealthServer;

    #[test]
    fn a_cap_of_zero_counts_as_one() {
        let server = HealthServer::new(([127, 0, 0, 1], 0)).max_connections(0);
        assert_eq!(server.limits.max_connections, 1);
    }
}
