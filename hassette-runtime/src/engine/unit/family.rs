//! A parent's children (see `engine::family` for what is done with them).

use std::sync::{Arc, Mutex, MutexGuard};

use super::super::lock;
use super::Unit;
use crate::SharedError;

/// A parent's children.
#[derive(Debug, Default)]
pub(crate) struct Family {
    kin: Mutex<Kin>,
}

#[derive(Debug, Default)]
pub(in crate::engine) struct Kin {
    /// In order of addition.
    pub(in crate::engine) children: Vec<Arc<Unit>>,
    /// The error of the child that exhausted its budget, for the parent's run to fail
    /// with.
    pub(in crate::engine) escalated: Option<SharedError>,
}

impl Family {
    pub(in crate::engine) fn lock(&self) -> MutexGuard<'_, Kin> {
        lock(&self.kin) // (L1)
    }

    /// The error a child escalated, taken.
    pub(in crate::engine) fn take_escalated(&self) -> Option<SharedError> {
        self.lock().escalated.take()
    }
}
