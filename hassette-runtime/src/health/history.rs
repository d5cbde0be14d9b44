//! The health server's bounded history of recent status changes, served at `/events`: a
//! ring of the last [`HISTORY_LEN`](super::HISTORY_LEN) changes (or the server's own
//! [`history`](super::HealthServer::history) length), so a status page opened late still
//! shows the failures that came before it.
//!
//! Protocol:
//! - One task per run of the server ([`follow`]) reads the app's status events
//!   ([`Hassette::events`](crate::Hassette::events)) and pushes each into the ring, with a
//!   sequence number that only grows. The receiver outlives the run: it is put back in
//!   `receiver` when the task ends (or is dropped), so a restart of the server goes on
//!   where the last run stopped and a change made in between is not lost (or, when the
//!   stream could not keep it, is noted as lost).
//! - The ring never holds more than its length: the oldest entry goes when a new one
//!   comes. A reader that asks for what came after the entry it saw last learns how many
//!   of those fell out of the ring before it asked (`dropped`); a subscriber that fell
//!   behind the event stream leaves an entry saying how many changes it missed (`lost`).
//! - Locks: `ring` and `receiver` are the health server's own, each taken alone, never
//!   across an `.await`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::time::Instant;

use crate::sync::lock;
use crate::{EventReceiver, RecvError, ServiceContext, StatusEvent};

/// The bounded history: see the module's header.
#[derive(Debug)]
pub(super) struct History {
    len: usize,
    ring: Mutex<Ring>,
    /// The subscription, between two runs of the server.
    receiver: Mutex<Option<EventReceiver<StatusEvent>>>,
}

#[derive(Debug, Default)]
struct Ring {
    /// Oldest first; `entries[i]` has the sequence number `next - len + i`.
    entries: VecDeque<Entry>,
    /// The sequence number of the next entry.
    next: u64,
}

/// One entry of the history.
#[derive(Debug, Clone)]
enum Entry {
    /// A status change.
    Change(StatusEvent),
    /// The subscriber fell behind the event stream and missed this many changes.
    Lost { count: u64, at: Instant },
}

/// The `/events` answer: the entries after the one a reader saw last.
#[derive(Debug, Serialize)]
pub(super) struct Page {
    /// The sequence number the next entry will have: the `after` of the next request is
    /// this minus one.
    next: u64,
    /// How many entries after the reader's `after` fell out of the ring before it asked.
    dropped: u64,
    events: Vec<Row>,
}

/// One entry as `/events` lists it.
#[derive(Debug, Serialize)]
struct Row {
    seq: u64,
    #[serde(flatten)]
    entry: Entry,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match self {
            Entry::Change(event) => event.serialize(serializer),
            Entry::Lost { count, at } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("lost", count)?;
                let age = Instant::now().saturating_duration_since(*at);
                map.serialize_entry("age_secs", &age.as_secs_f64())?;
                map.end()
            }
        }
    }
}

impl History {
    /// A history that keeps the last `len` entries (none for 0).
    pub(super) fn new(len: usize) -> Self {
        History {
            len,
            ring: Mutex::new(Ring::default()),
            receiver: Mutex::new(None),
        }
    }

    fn push(&self, entry: Entry) {
        if self.len == 0 {
            return;
        }
        let mut ring = lock(&self.ring); // (alone)
        if ring.entries.len() == self.len {
            ring.entries.pop_front();
        }
        ring.entries.push_back(entry);
        ring.next += 1;
    }

    /// The entries after the one numbered `after` (all of them for `None`), oldest first.
    pub(super) fn after(&self, after: Option<u64>) -> Page {
        let ring = lock(&self.ring); // (alone)
        let first = ring.next - ring.entries.len() as u64;
        // A number from another history (the process restarted) is past `next`: all it
        // keeps, and those gone count as dropped.
        let wanted = match after {
            Some(seen) if seen < ring.next => seen + 1,
            _ => 0,
        };
        let dropped = first.saturating_sub(wanted);
        let from = wanted.max(first);
        let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
        let events = (ring.entries.iter().skip(skip).zip(from..))
            .map(|(entry, seq)| Row {
                seq,
                entry: entry.clone(),
            })
            .collect();
        Page {
            next: ring.next,
            dropped: if after.is_some() { dropped } else { 0 },
            events,
        }
    }

    /// Follows the app's status events into the history until `ctx`'s run ends (see the
    /// module's header): subscribes at once (when no subscription is kept from an
    /// earlier run), and returns the task of the server's run that reads them.
    pub(super) fn follow(
        self: Arc<Self>,
        ctx: &ServiceContext,
    ) -> impl Future<Output = ()> + use<> {
        let app = ctx.app();
        let kept = (self.len > 0).then(|| self.take_or(|| app.events()));
        let ctx = ctx.clone();
        async move {
            if let Some(kept) = kept {
                self.follow_until(kept, ctx.cancelled()).await;
            }
        }
    }

    /// The subscription kept from an earlier run, or `subscribe()`'s.
    fn take_or(
        &self,
        subscribe: impl FnOnce() -> EventReceiver<StatusEvent>,
    ) -> EventReceiver<StatusEvent> {
        let taken = lock(&self.receiver).take(); // (alone)
        taken.unwrap_or_else(subscribe)
    }

    /// [`follow`](Self::follow)'s task: reads `receiver` until `stop` completes or the
    /// app is gone, then keeps it for the next run.
    async fn follow_until(
        &self,
        receiver: EventReceiver<StatusEvent>,
        stop: impl Future<Output = ()>,
    ) {
        let mut kept = Kept {
            history: self,
            receiver: Some(receiver),
        };
        let Some(receiver) = kept.receiver.as_mut() else {
            return;
        };
        let mut stop = std::pin::pin!(stop);
        loop {
            let received = tokio::select! {
                biased;
                () = &mut stop => return,
                received = receiver.recv() => received,
            };
            match received {
                Ok(event) => self.push(Entry::Change(event)),
                Err(RecvError::Lagged(count)) => self.push(Entry::Lost {
                    count,
                    at: Instant::now(),
                }),
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Puts the receiver back into the history when the task that reads it ends, however it
/// ends (its run stopped, or it was dropped).
struct Kept<'a> {
    history: &'a History,
    receiver: Option<EventReceiver<StatusEvent>>,
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        *lock(&self.history.receiver) = self.receiver.take(); // (alone)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Entry, History};
    use crate::{Status, StatusEvent};

    fn change(i: usize) -> Entry {
        Entry::Change(StatusEvent {
            service: format!("s{i}").into(),
            from: Status::Running,
            to: Status::Failed,
            error: None,
            at: tokio::time::Instant::now(),
            retry_at: None,
        })
    }

    fn services(page: &super::Page) -> Vec<String> {
        page.events
            .iter()
            .map(|row| match &row.entry {
                Entry::Change(event) => event.service.to_string(),
                Entry::Lost { count, .. } => format!("lost {count}"),
            })
            .collect()
    }

    #[test]
    fn a_huge_churn_keeps_the_last_entries_in_order() {
        let history = History::new(100);
        for i in 0..1_000_000 {
            history.push(change(i));
        }
        let page = history.after(None);
        assert_eq!(page.next, 1_000_000);
        assert_eq!(page.events.len(), 100);
        assert_eq!(lock_len(&history), 100);
        let expected: Vec<String> = (999_900..1_000_000).map(|i| format!("s{i}")).collect();
        assert_eq!(services(&page), expected);
        let seqs: Vec<u64> = page.events.iter().map(|row| row.seq).collect();
        assert_eq!(seqs, (999_900..1_000_000).collect::<Vec<u64>>());
    }

    fn lock_len(history: &History) -> usize {
        crate::sync::lock(&history.ring).entries.len()
    }

    #[test]
    fn a_reader_gets_what_came_after_what_it_saw_and_how_much_it_missed() {
        let history = History::new(3);
        assert_eq!(history.after(None).next, 0);
        assert!(history.after(Some(0)).events.is_empty());
        for i in 0..2 {
            history.push(change(i));
        }
        let page = history.after(Some(0));
        assert_eq!((services(&page), page.dropped), (vec!["s1".to_owned()], 0));
        for i in 2..7 {
            history.push(change(i));
        }
        // It saw s1 (seq 1); s2 and s3 fell out of the ring before it asked again.
        let page = history.after(Some(1));
        assert_eq!(services(&page), ["s4", "s5", "s6"]);
        assert_eq!((page.dropped, page.next), (2, 7));
        // Up to date: nothing new, nothing missed.
        let page = history.after(Some(6));
        assert!(page.events.is_empty() && page.dropped == 0);
        // A number from another history (the process restarted: past `next`): everything
        // kept, and the count of those gone.
        let page = history.after(Some(1_000));
        assert_eq!(services(&page), ["s4", "s5", "s6"]);
        assert_eq!(page.dropped, 4);
    }

    #[test]
    fn no_length_keeps_nothing() {
        let history = History::new(0);
        history.push(change(0));
        let page = history.after(None);
        assert!(page.events.is_empty());
        assert_eq!(page.next, 0);
    }

    #[test]
    fn the_json_of_a_page() {
        let history = History::new(4);
        history.push(change(0));
        history.push(Entry::Lost {
            count: 12,
            at: tokio::time::Instant::now(),
        });
        let json = serde_json::to_value(history.after(None)).unwrap();
        assert_eq!(json["next"], 2);
        assert_eq!(json["dropped"], 0);
        let events = json["events"].as_array().unwrap();
        assert_eq!(events[0]["seq"], 0);
        assert_eq!(events[0]["service"], "s0");
        assert_eq!(events[0]["to"], "failed");
        assert_eq!(events[1]["seq"], 1);
        assert_eq!(events[1]["lost"], 12);
        assert!(events[1]["age_secs"].is_f64());
    }

    /// A follower that fell behind the app's events notes how many it missed, then goes
    /// on with the oldest still kept, in order; stopped, it keeps its place for the next
    /// run.
    #[tokio::test(start_paused = true)]
    async fn a_lagging_subscriber_notes_what_it_missed_and_keeps_its_place() {
        use crate::prelude::*;

        struct Idle;
        impl Hooks for Idle {}
        impl Service for Idle {
            const RESTART_SPEC: RestartSpec = RestartSpec::new(RestartType::Permanent);
            async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
                ctx.cancelled().await;
                Ok(())
            }
        }

        let history = Arc::new(History::new(100));
        let app = Hassette::builder()
            .service_named("a", Idle)
            .service_named("b", Idle)
            .event_capacity(2)
            .build()
            .unwrap();
        // The follower's receiver, made before anything happened and not read while
        // the changes go by: it lags.
        *crate::sync::lock(&history.receiver) = Some(app.events());
        app.start().await.unwrap();
        app.wait_ready_by_name("a").await.unwrap();
        app.wait_ready_by_name("b").await.unwrap();
        app.restart_by_name("a").await.unwrap();
        app.wait_ready_by_name("a").await.unwrap();

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let follower = tokio::spawn({
            let history = history.clone();
            async move {
                let subscribe = || panic!("the kept receiver is used");
                let receiver = history.take_or(subscribe);
                history
                    .follow_until(receiver, async {
                        let _ = stopped.await;
                    })
                    .await;
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while history.after(None).events.len() < 3 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the follower read the stream");
        let page = history.after(None);
        let seen = services(&page);
        // The capacity kept the last two changes (a: Starting, Running); the others are
        // counted.
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen[0].starts_with("lost "), "{seen:?}");
        let to: Vec<Status> = page.events[1..]
            .iter()
            .filter_map(|row| match &row.entry {
                Entry::Change(e) if &*e.service == "a" => Some(e.to),
                _ => None,
            })
            .collect();
        assert_eq!(to, [Status::Starting, Status::Running]);

        // Stopped, the follower puts its receiver back: the next run goes on from there.
        stop.send(()).unwrap();
        follower.await.unwrap();
        assert!(crate::sync::lock(&history.receiver).is_some());
        app.shutdown().await;
        let next = history.after(None).next;
        let again = tokio::spawn({
            let history = history.clone();
            async move {
                let subscribe = || panic!("the kept receiver is used");
                let receiver = history.take_or(subscribe);
                history.follow_until(receiver, std::future::pending()).await;
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while history.after(Some(next - 1)).events.is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the next run read the changes made while none ran");
        // The shutdown's changes, made while no follower ran, were kept for it (as far
        // as the stream's capacity goes).
        let page = history.after(Some(next - 1));
        let last = page.events.last().map(|row| match &row.entry {
            Entry::Change(e) => e.to,
            Entry::Lost { .. } => Status::NotStarted,
        });
        assert_eq!(last, Some(Status::Stopped));
        again.abort();
    }
}
