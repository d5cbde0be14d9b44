//! The app's event stream: a bounded tokio `broadcast` channel, created at the first
//! subscription.
//!
//! Protocol: tokio allocates every slot up front, so an app nobody listens to pays
//! nothing for its capacity, and publishing without a subscriber is one atomic load (the
//! event is not even built). Events are published by `Unit::transition` while the unit's
//! state lock is held, so one service's events are in order. A subscriber that falls more
//! than the capacity behind loses the oldest events and is told how many
//! (`RecvError::Lagged(n)`); the log and the shutdown report do not depend on the stream.

use std::sync::OnceLock;

use tokio::sync::broadcast;

use crate::{ReadinessEvent, StatusEvent};

/// The smallest default capacity, whatever the number of services.
const MIN_DEFAULT_CAPACITY: usize = 1024;

/// Events per service the default capacity has room for: a fail and restart cycle is
/// three (Running -> Failed -> Starting -> Running), a group restart four (Stopping,
/// Stopped, Starting, Running), so every service may go through one at the same moment
/// without a subscriber that reads afterwards missing anything.
const DEFAULT_EVENTS_PER_SERVICE: usize = 4;

/// The largest capacity: `Builder::event_capacity` clamps to it, and so does the default.
/// tokio's channel panics above `usize::MAX / 2` and allocates every slot when it is
/// created (about 80 bytes each), so this bounds that allocation to about 80 MiB.
pub(crate) const MAX_CAPACITY: usize = 1 << 20;

/// The capacity of the stream: `explicit` (from `Builder::event_capacity`) or, by
/// default, room for [`DEFAULT_EVENTS_PER_SERVICE`] events per service, at least
/// [`MIN_DEFAULT_CAPACITY`]; always within `1..=MAX_CAPACITY`.
pub(crate) fn capacity(explicit: Option<usize>, services: usize) -> usize {
    explicit
        .unwrap_or_else(|| {
            services
                .saturating_mul(DEFAULT_EVENTS_PER_SERVICE)
                .max(MIN_DEFAULT_CAPACITY)
        })
        .clamp(1, MAX_CAPACITY)
}

/// The app's event stream. Until someone subscribes there is no channel, and publishing
/// is one atomic load: no slot is allocated, and the channel's own receiver count (behind
/// a lock shared by every service) is never touched.
#[derive(Debug)]
pub(crate) struct EventBus {
    capacity: usize,
    sender: OnceLock<broadcast::Sender<StatusEvent>>,
    /// The readiness stream, made at its first subscription too.
    readiness: OnceLock<broadcast::Sender<ReadinessEvent>>,
}

impl EventBus {
    /// A stream of `capacity(explicit, services)` events, not allocated yet.
    pub(crate) fn new(explicit: Option<usize>, services: usize) -> Self {
        EventBus {
            capacity: capacity(explicit, services),
            sender: OnceLock::new(),
            readiness: OnceLock::new(),
        }
    }

    /// A receiver of every event from now on; the first call creates the channel.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StatusEvent> {
        self.sender
            .get_or_init(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// A receiver of every readiness change from now on; the first call creates its
    /// channel (of the same capacity).
    pub(crate) fn subscribe_readiness(&self) -> broadcast::Receiver<ReadinessEvent> {
        self.readiness
            .get_or_init(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Sends `event()` on the readiness stream when anyone ever subscribed.
    pub(crate) fn publish_readiness(&self, event: impl FnOnce() -> ReadinessEvent) {
        if let Some(sender) = self.readiness.get() {
            let _ = sender.send(event());
        }
    }

    /// Sends `event()` when anyone ever subscribed; no receiver is not an error.
    pub(crate) fn publish(&self, event: impl FnOnce() -> StatusEvent) {
        if let Some(sender) = self.sender.get() {
            let _ = sender.send(event());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_grows_with_the_services_and_every_capacity_is_bounded() {
        assert_eq!(capacity(None, 0), 1024);
        assert_eq!(capacity(None, 256), 1024);
        assert_eq!(capacity(None, 10_000), 40_000);
        assert_eq!(capacity(None, usize::MAX), MAX_CAPACITY);
        assert_eq!(capacity(Some(16), 10_000), 16, "an explicit capacity wins");
        assert_eq!(capacity(Some(0), 0), 1);
        assert_eq!(capacity(Some(usize::MAX), 0), MAX_CAPACITY);
    }

    #[test]
    fn no_channel_until_someone_subscribes() {
        let bus = EventBus::new(Some(usize::MAX), 0);
        bus.publish(|| unreachable!("nobody listens: the event is not even built"));
        assert!(bus.sender.get().is_none());
        let _events = bus.subscribe();
        assert!(bus.sender.get().is_some());
    }
}
