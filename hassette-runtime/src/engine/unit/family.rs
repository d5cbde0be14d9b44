//! A parent's children (see `engine::family` for what is done with them): in order of
//! addition, and found by their own short name (`add_child_named`'s name), each in
//! O(log n) of the parent's own children, whatever the rest of the app holds.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
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
    /// By id: ids only grow, and a child is entered under this lock as its id is drawn,
    /// so this is the order of addition.
    children: BTreeMap<usize, Arc<Unit>>,
    /// The same children, by their short name.
    names: HashSet<Short>,
    /// Where a child's short name begins in its full name (`parent/`'s length), the
    /// same for every child of one parent.
    at: usize,
    /// The error of the child that exhausted its budget, for the parent's run to fail
    /// with.
    pub(in crate::engine) escalated: Option<SharedError>,
}

/// A child, hashed and compared by its short name: the part of its full name
/// (`parent/child`) from byte `at` on. A lookup by `&str` needs no key of its own.
#[derive(Debug)]
struct Short {
    unit: Arc<Unit>,
    at: usize,
}

impl Short {
    fn name(&self) -> &str {
        self.unit.name.get(self.at..).unwrap_or_default()
    }
}

impl Borrow<str> for Short {
    fn borrow(&self) -> &str {
        self.name()
    }
}

impl PartialEq for Short {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Short {}

impl Hash for Short {
    // As `str` hashes, which `Borrow<str>` requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl Kin {
    /// How many children it has.
    pub(in crate::engine) fn len(&self) -> usize {
        self.children.len()
    }

    /// Enters `child`, whose short name begins at byte `at` of its full name (the same
    /// for every child: `parent/`'s length); the last added so far (its id is the
    /// largest).
    pub(in crate::engine) fn push(&mut self, child: Arc<Unit>, at: usize) {
        self.at = at;
        self.children.insert(child.id, child.clone());
        self.names.insert(Short { unit: child, at });
    }

    /// Takes the child with this id out.
    pub(in crate::engine) fn remove(&mut self, id: usize) {
        let Some(child) = self.children.remove(&id) else {
            return;
        };
        // A child leaves its family and the table at once (see `added`'s `forget`),
        // so no namesake can be here yet.
        self.names
            .remove(child.name.get(self.at..).unwrap_or_default());
    }

    /// The children in order of addition.
    pub(in crate::engine) fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<Unit>> {
        self.children.values()
    }

    /// The child with this short name.
    pub(in crate::engine) fn find(&self, short: &str) -> Option<&Arc<Unit>> {
        self.names.get(short).map(|entry| &entry.unit)
    }

    /// Takes every child out, in order of addition.
    pub(in crate::engine) fn take_all(&mut self) -> Vec<Arc<Unit>> {
        self.names.clear();
        std::mem::take(&mut self.children).into_values().collect()
    }
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
