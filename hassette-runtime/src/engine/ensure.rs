//! Add-or-get: the live unit of a name, or a new one added under it
//! (`ServiceContext::ensure_child`, `Hassette::ensure_named`).
//!
//! Protocol:
//! - A lookup comes first, and allocates nothing: a child by its short name in its
//!   parent's family (L1 in `engine`'s lock order; only that parent's children are
//!   looked at), any unit by its full name in the table (L2, read). A unit found is live
//!   unless its removal has begun (its table entry says `removing`: see `added`); a live unit of the type asked for is the answer, and `make` is not called.
//! - Absent, `make` is called (once per call of `ensure`) and its unit registered as
//!   `add` does (see `added`), but the name's check, made under the table's write lock,
//!   gives back the unit that took the name since the lookup (and the addition, unused)
//!   instead of an error: of two calls at once, one adds and the other gets its unit.
//! - A holder whose removal has begun is waited for (the removal's own wait, at most the
//!   unit's stop budget), then the name is looked up again, with the addition made kept
//!   for the next try. A caller that is that unit or one of its descendants (see `inside`)
//!   cannot wait for its stop, which stops the caller first: it gets
//!   `AddError::BeingRemoved` at once.
//! - A holder of another type, and for a child a unit of that full name that is not a
//!   child of this parent (`add_named("hub/x")`), is `AddError::NameTaken`.
//! - Dropped half-way, a call has added nothing (before the registration, one step under
//!   the locks) or left its unit registered (after it: the unit goes on starting), so a
//!   call again finds that unit; a removal it waited for goes on without it.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::added::{Addition, Claimed, as_child};
use super::state::AppState;
use super::unit::Unit;
use crate::AddError;

/// What a call asks for: a child of `parent` by its short name, or any unit by its full
/// name; of the type `type_id`.
#[derive(Clone, Copy)]
pub(crate) struct Wanted<'a> {
    pub(crate) parent: Option<&'a Arc<Unit>>,
    pub(crate) name: &'a str,
    pub(crate) type_id: TypeId,
}

/// Where the unit that holds a name stands.
enum Standing {
    /// Registered, no removal begun.
    Live,
    /// Its removal has begun.
    Removing,
    /// Out of the table since it was found.
    Gone,
}

/// The addition of a call: to make, or made and given back by a registration that found
/// the name held.
enum Pending<F> {
    Make(F),
    Made(Addition),
}

impl<F: FnOnce() -> Addition> Pending<F> {
    fn take(self) -> Addition {
        match self {
            Pending::Make(make) => make(),
            Pending::Made(addition) => addition,
        }
    }
}

impl AppState {
    /// The live unit `wanted` names, or `make()` added under that name (see the module's
    /// header); `make` gives the addition as `add` (or `add_child`: named by its short
    /// name) takes it.
    pub(crate) async fn ensure(
        self: &Arc<Self>,
        wanted: Wanted<'_>,
        make: impl FnOnce() -> Addition,
    ) -> Result<Arc<Unit>, AddError> {
        // Named as a child once, when made: an addition given back keeps its name.
        let make = || match wanted.parent {
            Some(parent) => as_child(parent, make()),
            None => make(),
        };
        let mut pending = Pending::Make(make);
        loop {
            let holder = match self.lookup(wanted) {
                Some(holder) => holder,
                None => {
                    let addition = pending.take();
                    match self.add_or_held(wanted.parent, addition, true).await? {
                        Claimed::New(unit) => return Ok(unit),
                        Claimed::Held(holder, addition) => {
                            pending = Pending::Made(addition);
                            holder
                        }
                    }
                }
            };
            let (standing, parent) = self.standing(&holder);
            if matches!(standing, Standing::Gone) {
                // Removed since it was found: look again.
                continue;
            }
            let stranger = wanted
                .parent
                .is_some_and(|wanted| parent != Some(wanted.id));
            if stranger || Any::type_id(&*holder.value) != wanted.type_id {
                return Err(AddError::NameTaken {
                    name: holder.name.clone(),
                });
            }
            if matches!(standing, Standing::Live) {
                return Ok(holder);
            }
            if super::inside::from_family_of(self.registry(), &holder) {
                return Err(AddError::BeingRemoved {
                    name: holder.name.clone(),
                });
            }
            // Only its end matters here; its report is its remover's.
            let _ = self.remove(&holder).await;
        }
    }

    /// The unit that holds the name `wanted` asks for now, if any; allocates nothing.
    fn lookup(&self, wanted: Wanted<'_>) -> Option<Arc<Unit>> {
        match wanted.parent {
            Some(parent) => self.child_of(parent, wanted.name),
            None => {
                let added = self.registry().added(); // (L2)
                self.registry().holder(&added, wanted.name)
            }
        }
    }

    /// Where `unit` stands now, and the id of its parent.
    fn standing(&self, unit: &Unit) -> (Standing, Option<usize>) {
        if !self.is_added(unit) {
            return (Standing::Live, None);
        }
        let added = self.registry().added(); // (L2)
        match added.standing(unit.id) {
            None => (Standing::Gone, None),
            Some((true, parent)) => (Standing::Removing, parent),
            Some((false, parent)) => (Standing::Live, parent),
        }
    }
}
