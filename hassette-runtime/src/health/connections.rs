//! Listening and the open connections: the bind error, the accept loop, and the cap on
//! open connections (the oldest closed to make room for a new one), all of them dropped
//! when the server stops.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::http::serve_connection;
use super::{Endpoint, HealthHandle, Limits};
use crate::ServiceContext;

/// How long the accept loop waits for the connection it closed to make room to let go of
/// its slot; the closed task lets go at its next poll, so this is only a safety net.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

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

/// Accepts clients until the server stops, each under the cap and served on its own task;
/// then stops listening.
pub(super) async fn accept_loop(
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
pub(super) struct Slot {
    id: u64,
    pub(super) close: CancellationToken,
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::{EVICTION_WAIT, OpenConnections};
    use crate::health::HealthServer;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40_000))
    }

    /// The ids of the open connections, oldest first.
    fn ids(open: &OpenConnections) -> Vec<u64> {
        open.lock().open.iter().map(|(id, _)| *id).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_cap_closes_the_oldest_to_make_room() {
        let open = Arc::new(OpenConnections::new(2));
        let first = open.admit("health", peer()).await.unwrap();
        let second = open.admit("health", peer()).await.unwrap();
        let first_closed = first.close.clone();
        // Like `serve_connection`, the closed connection lets go of its slot.
        tokio::spawn(async move {
            first.close.cancelled().await;
            drop(first);
        });
        let third = open.admit("health", peer()).await.unwrap();
        assert!(first_closed.is_cancelled());
        assert!(!second.close.is_cancelled());
        assert_eq!(ids(&open), [second.id, third.id]);
        drop(second);
        assert_eq!(ids(&open), [third.id]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_is_refused_when_the_closed_one_keeps_its_slot() {
        let open = Arc::new(OpenConnections::new(1));
        let held = open.admit("health", peer()).await.unwrap();
        let start = tokio::time::Instant::now();
        assert!(open.admit("health", peer()).await.is_none());
        assert!(start.elapsed() >= EVICTION_WAIT);
        assert!(held.close.is_cancelled());
        assert!(ids(&open).is_empty(), "the closed one left the queue");
        drop(held);
        assert!(open.admit("health", peer()).await.is_some());
    }

    #[tokio::test]
    async fn a_cap_of_zero_counts_as_one() {
        let server = HealthServer::new(([127, 0, 0, 1], 0)).max_connections(0);
        let open = Arc::new(OpenConnections::new(server.limits.max_connections));
        let only = open.admit("health", peer()).await.unwrap();
        assert_eq!(ids(&open), [only.id]);
    }
}
