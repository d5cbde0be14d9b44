//! One event stream that can grow: a bounded tokio `broadcast` channel that the bus
//! replaces with a bigger one as the app grows, and the [`EventReceiver`] that reads it
//! across every replacement.
//!
//! Protocol (the numbers are cited where the code relies on them):
//! - (S1) The channel is made at the first subscription, at the capacity of that moment;
//!   `open` is set then. Until then a publish is one atomic load and no slot (tokio
//!   allocates them all up front) exists.
//! - (S2) `channel` is one `RwLock`: a publish sends under its read lock; a subscription
//!   and a replacement take its write lock. So a replacement is a clean cut: every event
//!   of the old channel was sent before every event of the new one.
//! - (S3) Every receiver handed out has a [`Handover`], of which the stream keeps a
//!   `Weak`. A replacement first subscribes to the new channel for every receiver still
//!   alive (before any event is sent on it) and queues that subscription in the
//!   receiver's handover; then it drops the old sender. A receiver reads its channel to
//!   the end, and where tokio says `Closed` it takes the next queued subscription: no
//!   event is lost to a replacement, and several replacements queue up in order. Only
//!   when nothing is queued (the app is gone) does the receiver return `Closed`.
//! - (S4) A receiver that falls more than its channel's capacity behind loses the oldest
//!   events of that channel and is told exactly how many (`Lagged(n)`), as with tokio's.
//! - (S5) Memory: an old channel is freed once its last receiver has moved on; the list
//!   of handovers is swept of dropped receivers whenever it has doubled since the last
//!   sweep (amortized O(1) a subscription). A stream never shrinks.
//! - Locks (numbered in `engine`'s header): `channel` (L6), then a handover's `next` (L7). A receiver takes only its own
//!   `next`, never `channel` while holding it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{lock, read_lock, write_lock};

/// A stream of events of type `T`: see the module's header.
pub(super) struct Stream<T> {
    /// Set once the channel exists (S1).
    open: AtomicBool,
    channel: RwLock<Channel<T>>,
}

/// The stream's channel and the receivers it hands over to the next one.
struct Channel<T> {
    /// The capacity of the channel, or of the one the first subscription will make.
    capacity: usize,
    sender: Option<broadcast::Sender<T>>,
    /// Every receiver handed out that may still be alive (S3).
    receivers: Vec<Weak<Handover<T>>>,
    /// How many of them were alive at the last sweep (S5).
    swept: usize,
}

impl<T> fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channel = read_lock(&self.channel); // (L6)
        f.debug_struct("Stream")
            .field("capacity", &channel.capacity)
            .field("open", &channel.sender.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a receiver goes when its channel is replaced: its subscriptions to the newer
/// channels, oldest first (S3).
struct Handover<T> {
    next: Mutex<VecDeque<broadcast::Receiver<T>>>,
}

impl<T> Handover<T> {
    fn new() -> Arc<Self> {
        Arc::new(Handover {
            next: Mutex::new(VecDeque::new()),
        })
    }

    fn next(&self) -> MutexGuard<'_, VecDeque<broadcast::Receiver<T>>> {
        lock(&self.next) // (L7)
    }
}

impl<T: Clone> Stream<T> {
    /// A stream whose channel, once made, has room for `capacity` events.
    pub(super) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Stream {
            open: AtomicBool::new(false),
            channel: RwLock::new(Channel {
                capacity,
                sender: None,
                receivers: Vec::new(),
                swept: 0,
            }),
        })
    }

    /// A receiver of every event from now on; the first call makes the channel (S1).
    pub(super) fn subscribe(self: &Arc<Self>) -> EventReceiver<T> {
        let mut channel = write_lock(&self.channel); // (L6)
        let capacity = channel.capacity;
        let sender = channel.sender.get_or_insert_with(|| {
            self.open.store(true, Ordering::Release);
            broadcast::channel(capacity).0
        });
        let rx = sender.subscribe();
        let handover = Handover::new();
        // (S5)
        if channel.receivers.len() >= 2 * channel.swept.max(8) {
            channel.receivers.retain(|weak| weak.strong_count() > 0);
            channel.swept = channel.receivers.len();
        }
        channel.receivers.push(Arc::downgrade(&handover));
        EventReceiver {
            rx,
            handover,
            stream: Arc::downgrade(self),
        }
    }

    /// Sends `event()` when anyone ever subscribed; no receiver is not an error.
    pub(super) fn publish(&self, event: impl FnOnce() -> T) {
        if !self.open.load(Ordering::Acquire) {
            return;
        }
        // (S2)
        let channel = read_lock(&self.channel); // (L6)
        if let Some(sender) = &channel.sender {
            let _ = sender.send(event());
        }
    }

    /// Gives the stream room for `capacity` events (never less than it has): a bigger
    /// channel replaces the current one, every receiver following (S3).
    pub(super) fn grow(&self, capacity: usize) {
        // The new slots are allocated before the lock: a publish waits for the hand-over
        // only.
        let made = self
            .open
            .load(Ordering::Acquire)
            .then(|| broadcast::channel(capacity).0);
        let mut channel = write_lock(&self.channel); // (L6)
        if channel.capacity >= capacity {
            return;
        }
        channel.capacity = capacity;
        let Some(old) = channel.sender.take() else {
            return; // (S1): the first subscription makes it at this capacity
        };
        let sender = made.unwrap_or_else(|| broadcast::channel(capacity).0);
        channel.receivers.retain(|weak| match weak.upgrade() {
            Some(handover) => {
                handover.next().push_back(sender.subscribe());
                true
            }
            None => false,
        });
        channel.swept = channel.receivers.len();
        channel.sender = Some(sender);
        // Its receivers read what it holds, then see `Closed` and move on.
        drop(old);
    }

    /// The capacity of the channel (made or to be made).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        read_lock(&self.channel).capacity // (L6)
    }

    /// Whether the channel was made.
    #[cfg(test)]
    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

/// A receiver of the app's [status](crate::Hassette::events) or
/// [readiness](crate::Hassette::readiness_events) events: every event sent after it was
/// made, in order, until the app is gone.
///
/// It reads like tokio's `broadcast::Receiver`, with tokio's errors. The stream is
/// bounded: a receiver that falls further behind than the capacity loses the oldest
/// events and is told exactly how many (`Err(RecvError::Lagged(n))`, then the oldest
/// event still kept). By default the capacity follows the number of services, added ones
/// included; as it grows, the stream moves to a bigger channel, and a receiver made
/// earlier follows it without missing an event. `Err(RecvError::Closed)` comes once the
/// app is gone and every event was read.
///
/// ```
/// # use hassette_runtime::prelude::*;
/// # struct Ticker;
/// # impl Hooks for Ticker {}
/// # impl Service for Ticker {
/// #     const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Temporary);
/// #     async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { ctx.cancelled().await; Ok(()) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// use hassette_runtime::{EventReceiver, StatusEvent, TryRecvError};
///
/// let app = Hassette::builder().build()?;
/// let mut events: EventReceiver<StatusEvent> = app.events();
/// app.start().await?;
/// app.add(Ticker).await?.wait_ready().await?;
/// assert_eq!(events.recv().await?.to, Status::Starting);
/// assert_eq!(events.recv().await?.to, Status::Running);
/// assert!(events.is_empty());
/// assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
/// # app.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct EventReceiver<T> {
    rx: broadcast::Receiver<T>,
    handover: Arc<Handover<T>>,
    /// To subscribe again; gone with the app.
    stream: Weak<Stream<T>>,
}

impl<T: Clone> EventReceiver<T> {
    /// The next event, waiting for one if none is there.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] with the number of events this receiver missed because it
    /// fell behind (the next call goes on with the oldest event still kept), and
    /// [`RecvError::Closed`] once the app is gone and every event was read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it returns, it has taken no event.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        loop {
            match self.rx.recv().await {
                Err(RecvError::Closed) if self.move_on() => {}
                received => return received,
            }
        }
    }

    /// The next event if one is there, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when none is there yet, and the `Lagged` and `Closed` of
    /// [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        loop {
            match self.rx.try_recv() {
                Err(TryRecvError::Closed) if self.move_on() => {}
                received => return received,
            }
        }
    }

    /// A new receiver of the same stream, of every event from now on (not of those this
    /// one has not read yet). Once the app is gone, one that is closed.
    #[must_use]
    pub fn resubscribe(&self) -> Self {
        match self.stream.upgrade() {
            Some(stream) => stream.subscribe(),
            None => {
                let (sender, rx) = broadcast::channel(1);
                drop(sender);
                EventReceiver {
                    rx,
                    handover: Handover::new(),
                    stream: Weak::new(),
                }
            }
        }
    }

    /// Its old channel was replaced and read to the end: goes on with the next (S3).
    fn move_on(&mut self) -> bool {
        let next = self.handover.next().pop_front();
        match next {
            Some(rx) => {
                self.rx = rx;
                true
            }
            None => false,
        }
    }
}

impl<T> EventReceiver<T> {
    /// How many events are waiting to be read (as many as the capacity keeps).
    #[must_use]
    pub fn len(&self) -> usize {
        self.rx.len()
            + self
                .handover
                .next()
                .iter()
                .map(|rx| rx.len())
                .sum::<usize>()
    }

    /// Whether no event is waiting to be read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> fmt::Debug for EventReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReceiver")
            .field("waiting", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_follows_every_replacement_in_order_and_misses_nothing() {
        let stream = Stream::<u32>::new(2);
        let mut early = stream.subscribe();
        stream.publish(|| 1);
        stream.publish(|| 2);
        stream.grow(4);
        let mut middle = stream.subscribe();
        stream.publish(|| 3);
        stream.grow(8);
        stream.publish(|| 4);
        stream.publish(|| 5);
        assert_eq!(early.len(), 5);
        let read: Vec<u32> = std::iter::from_fn(|| early.try_recv().ok()).collect();
        assert_eq!(read, [1, 2, 3, 4, 5]);
        assert!(matches!(early.try_recv(), Err(TryRecvError::Empty)));
        let read: Vec<u32> = std::iter::from_fn(|| middle.try_recv().ok()).collect();
        assert_eq!(read, [3, 4, 5]);
    }

    #[test]
    fn a_lag_is_counted_per_channel_and_the_end_is_closed() {
        let stream = Stream::<u32>::new(2);
        let mut rx = stream.subscribe();
        for i in 0..5 {
            stream.publish(|| i);
        }
        stream.grow(4);
        stream.publish(|| 5);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Lagged(3))));
        let read: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(read, [3, 4, 5]);
        let again = rx.resubscribe();
        drop(stream);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
        let mut late = again.resubscribe();
        assert!(matches!(late.try_recv(), Err(TryRecvError::Closed)));
    }

    #[test]
    fn nothing_is_made_until_someone_subscribes_and_a_stream_never_shrinks() {
        let stream = Stream::<u32>::new(4);
        stream.publish(|| unreachable!("nobody listens: the event is not even built"));
        stream.grow(16);
        stream.grow(8);
        assert!(!stream.is_open());
        assert_eq!(stream.capacity(), 16);
        let _rx = stream.subscribe();
        assert!(stream.is_open());
    }

    #[test]
    fn dropped_receivers_are_swept() {
        let stream = Stream::<u32>::new(4);
        for _ in 0..1000 {
            drop(stream.subscribe());
        }
        let _kept = stream.subscribe();
        let channel = stream.channel.read().unwrap();
        assert!(channel.receivers.len() <= 16, "{}", channel.receivers.len());
    }
}
