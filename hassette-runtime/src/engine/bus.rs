//! The app's event streams (status changes and readiness changes), bounded, made at the
//! first subscription, and grown with the app.
//!
//! Protocol:
//! - Each stream is a [`Stream`] (see `stream` for how a receiver follows a replacement
//!   without missing an event). Events are published by `Unit::transition` while the
//!   unit's state lock is held, so one service's events are in order. A subscriber that
//!   falls more than the capacity behind loses the oldest events and is told how many
//!   (`RecvError::Lagged(n)`); the log and the shutdown report do not depend on the
//!   streams.
//! - The default capacity follows the number of live units, static and added: room for
//!   [`DEFAULT_EVENTS_PER_SERVICE`] events per unit, at least [`MIN_DEFAULT_CAPACITY`].
//!   The engine tells the bus of every unit added ([`EventBus::unit_added`], outside
//!   every lock) and removed ([`EventBus::unit_removed`]). When the live count passes a
//!   quarter of the capacity, the capacity doubles (at least) and each stream moves to a
//!   channel that big: O(log n) moves for n units. It never shrinks: after removals it
//!   stays at the peak, so memory is bounded by the most units ever live at once, never
//!   by how many were added in all. An explicit `Builder::event_capacity` stays fixed.
//! - The bus may have one [`Observer`], given by `build` (feature `metrics`'s): the engine
//!   tells it of every status change, final stop and removal through
//!   [`EventBus::observe`], outside every lock (a status change once the unit's lock is
//!   let go, before its waiters are woken; a removal once the unit is out of the table),
//!   so an observer may take its time or look at the app. One task tells one service's
//!   changes in the order it made them; two tasks changing one service at once (a
//!   group's escalation and the app's stop) may tell theirs in either order, so each
//!   change carries its run and an observer that keeps the latest status orders changes
//!   by run and by the status's place in a run (see [`Status::can_transition_to`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::policy::FailureKind;
use super::stream::{EventReceiver, Stream};
use crate::{ReadinessEvent, Status, StatusEvent};

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

/// What the engine tells an [`Observer`], outside every lock.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code, reason = "read by the observer, which a build may not have")]
pub(crate) enum Observed<'a> {
    /// `service` moved `from` -> `to` at `at`, in its `run`-th run (initializes counted;
    /// 0 before the first), with the kind of the failure that came with the change.
    Changed {
        service: &'a Arc<str>,
        from: Status,
        to: Status,
        /// The kind of the error that came with a move to Failed or Crashed (see
        /// `policy::FailureKind`).
        failure: Option<FailureKind>,
        run: u64,
        /// A move to Starting that is a restart along with its parent or group.
        along: bool,
        at: Instant,
    },
    /// `service`'s final stop took `took`.
    Stopped {
        service: &'a Arc<str>,
        took: Duration,
    },
    /// `service` was removed from the app: nothing more is told of it.
    Removed { service: &'a Arc<str> },
}

/// Follows the app from inside the engine: the one hook the engine calls (see the
/// module's header).
pub(crate) trait Observer: Send + Sync + fmt::Debug {
    /// Called outside every lock of the engine.
    fn observe(&self, what: Observed<'_>);
}

/// The app's event streams. Until someone subscribes to one there is no channel, and
/// publishing on it is one atomic load.
#[derive(Debug)]
pub(crate) struct EventBus {
    /// `Builder::event_capacity`, which stays fixed.
    explicit: Option<usize>,
    /// The units live now, static and added.
    live: AtomicUsize,
    /// The capacity of both streams; only grows.
    capacity: AtomicUsize,
    status: Arc<Stream<StatusEvent>>,
    readiness: Arc<Stream<ReadinessEvent>>,
    observer: Option<Box<dyn Observer>>,
}

impl EventBus {
    /// Streams of `capacity(explicit, services)` events, not allocated yet; `services`
    /// are the units known at `build()`; `observer` is told of every change.
    pub(crate) fn new(
        explicit: Option<usize>,
        services: usize,
        observer: Option<Box<dyn Observer>>,
    ) -> Self {
        let capacity = capacity(explicit, services);
        EventBus {
            explicit,
            live: AtomicUsize::new(services),
            capacity: AtomicUsize::new(capacity),
            status: Stream::new(capacity),
            readiness: Stream::new(capacity),
            observer,
        }
    }

    /// Tells the observer, if there is one, `what()`. Called outside every lock.
    pub(crate) fn observe<'a>(&self, what: impl FnOnce() -> Observed<'a>) {
        if let Some(observer) = &self.observer {
            observer.observe(what());
        }
    }

    /// A receiver of every status event from now on; the first call makes the channel.
    pub(crate) fn subscribe(&self) -> EventReceiver<StatusEvent> {
        self.status.subscribe()
    }

    /// A receiver of every readiness change from now on; the first call makes its
    /// channel (of the same capacity).
    pub(crate) fn subscribe_readiness(&self) -> EventReceiver<ReadinessEvent> {
        self.readiness.subscribe()
    }

    /// Sends `event()` on the readiness stream when anyone ever subscribed.
    pub(crate) fn publish_readiness(&self, event: impl FnOnce() -> ReadinessEvent) {
        self.readiness.publish(event);
    }

    /// Sends `event()` when anyone ever subscribed; no receiver is not an error.
    pub(crate) fn publish(&self, event: impl FnOnce() -> StatusEvent) {
        self.status.publish(event);
    }

    /// A unit was added while the app runs: the default capacity grows with the live
    /// count (see the module's header). Called outside every lock of the engine.
    pub(crate) fn unit_added(&self) {
        let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        if self.explicit.is_some() {
            return;
        }
        let wanted = capacity(None, live);
        let now = self.capacity.load(Ordering::Relaxed);
        if wanted <= now {
            return;
        }
        let grown = wanted.max(now.saturating_mul(2)).min(MAX_CAPACITY);
        // One of two racing additions grows each stream to the larger size.
        if self.capacity.fetch_max(grown, Ordering::Relaxed) < grown {
            self.status.grow(grown);
            self.readiness.grow(grown);
        }
    }

    /// A unit added while the app runs was removed (the capacity stays as it is).
    pub(crate) fn unit_removed(&self) {
        let _ = self
            .live
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
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
        let bus = EventBus::new(Some(usize::MAX), 0, None);
        bus.publish(|| unreachable!("nobody listens: the event is not even built"));
        assert!(!bus.status.is_open());
        let _events = bus.subscribe();
        assert!(bus.status.is_open());
        assert!(!bus.readiness.is_open());
    }

    #[test]
    fn the_capacity_follows_the_peak_of_live_units_and_an_explicit_one_stays() {
        let bus = EventBus::new(None, 10, None);
        let _events = bus.subscribe();
        for _ in 0..246 {
            bus.unit_added(); // 256 live: 1024 is room for 4 events each
        }
        assert_eq!(bus.status.capacity(), 1024);
        bus.unit_added();
        assert_eq!(bus.status.capacity(), 2048, "doubled at 257 live units");
        assert_eq!(bus.readiness.capacity(), 2048, "both streams");
        for _ in 0..5_000 {
            bus.unit_added();
        }
        assert_eq!(bus.status.capacity(), 32_768, "4 x 5 257 = 21 028, doubled");
        for _ in 0..5_100 {
            bus.unit_removed();
        }
        assert_eq!(
            bus.status.capacity(),
            32_768,
            "no shrinking: the peak stays"
        );
        // Units that come and go one at a time never grow it.
        let bus = EventBus::new(None, 0, None);
        for _ in 0..100_000 {
            bus.unit_added();
            bus.unit_removed();
        }
        assert_eq!(bus.status.capacity(), 1024);
        let bus = EventBus::new(Some(16), 0, None);
        for _ in 0..10_000 {
            bus.unit_added();
        }
        assert_eq!(
            bus.status.capacity(),
            16,
            "an explicit capacity stays fixed"
        );
    }
}
