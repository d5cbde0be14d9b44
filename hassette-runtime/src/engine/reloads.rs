//! The app's reloads as a part of its state: the one in flight, and how a supervisor is
//! asked for a reload and answers (the procedure is `reload`'s).
//!
//! Protocol: the first caller begins a reload and keeps its report's watch in `current`;
//! a caller while it runs joins that watch; a caller after it has its report begins the
//! next one. `current` is taken alone, and never across an `.await`.

use std::sync::Mutex;

use tokio::sync::{oneshot, watch};

use super::lock;
use crate::{ReloadReport, ReloadSkipped, SharedError};

/// A unit's answer to a reload.
#[derive(Debug)]
pub(crate) enum ReloadAnswer {
    /// `on_reload` returned `Ok`.
    Reloaded,
    /// `on_reload` failed: the run failed with this error.
    Failed(SharedError),
    /// It was not run.
    Skipped(ReloadSkipped),
}

/// How a supervisor answers a reload.
pub(crate) type ReloadRequest = oneshot::Sender<ReloadAnswer>;

/// The app's reloads: the one in flight.
#[derive(Debug, Default)]
pub(crate) struct Reloads {
    /// The report of the last reload begun (`None` inside: still in flight). Taken alone.
    current: Mutex<Option<watch::Receiver<Option<ReloadReport>>>>,
}

impl Reloads {
    /// The report of the reload in flight, or of one begun now by `begin` (given the
    /// sender of its report).
    pub(super) fn join_or_begin(
        &self,
        begin: impl FnOnce(watch::Sender<Option<ReloadReport>>),
    ) -> watch::Receiver<Option<ReloadReport>> {
        let mut current = lock(&self.current); // (alone)
        match current.as_ref() {
            Some(rx) if rx.borrow().is_none() => rx.clone(),
            _ => {
                let (tx, rx) = watch::channel(None);
                *current = Some(rx.clone());
                begin(tx);
                rx
            }
        }
    }
}
