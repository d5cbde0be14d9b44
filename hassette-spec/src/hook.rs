//! The methods the runtime calls on a service or a resource: the six lifecycle hooks,
//! `serve` and `on_reload`, their names, and a set of them as named bits.
//!
//! The attribute recognises the methods of a block by these names (and suggests one for a
//! misspelt name), records which ones the block defines as a [`HookSet`], and the runtime
//! calls only those. One enum for both, so adding a hook is a change the compiler walks
//! you through: every `match` on it, in both crates, stops compiling until it is handled,
//! and its `ALL` is declared with it (see `listed`), so a name is found
//! without a second list to keep.

use std::fmt;

use crate::listed::listed;

listed! {
    /// A method the runtime calls, in the order of a run: the initialize hooks, `serve`, then
    /// the shutdown hooks; and `on_reload`, which runs only when the app is reloaded.
    ///
    /// ```
    /// use hassette_spec::Hook;
    ///
    /// assert_eq!(Hook::from_name("on_initialize"), Some(Hook::OnInitialize));
    /// assert_eq!(Hook::Serve.name(), "serve");
    /// assert!(Hook::AfterInitialize.initializes());
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Hook {
        /// `before_initialize`: first in a start.
        BeforeInitialize,
        /// `on_initialize`: the usual place to open connections.
        OnInitialize,
        /// `after_initialize`: after `serve` was created.
        AfterInitialize,
        /// `serve`: the service's work (a resource has none).
        Serve,
        /// `before_shutdown`: first in a stop, while `serve` still runs.
        BeforeShutdown,
        /// `on_shutdown`: once `serve` has finished.
        OnShutdown,
        /// `after_shutdown`: last in a stop.
        AfterShutdown,
        /// `on_reload`: while the service runs, when the app is reloaded (SIGHUP).
        OnReload,
    }
    /// Every method, in the order of a run.
    const ALL;
}

impl Hook {
    /// The method's name, as written in the `impl` block.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Hook::BeforeInitialize => "before_initialize",
            Hook::OnInitialize => "on_initialize",
            Hook::AfterInitialize => "after_initialize",
            Hook::Serve => "serve",
            Hook::BeforeShutdown => "before_shutdown",
            Hook::OnShutdown => "on_shutdown",
            Hook::AfterShutdown => "after_shutdown",
            Hook::OnReload => "on_reload",
        }
    }

    /// The method of this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.name() == name)
    }

    /// Whether it is one of the hooks: the six of the lifecycle and `on_reload` (every
    /// method but `serve`).
    #[must_use]
    pub const fn is_lifecycle(self) -> bool {
        match self {
            Hook::Serve => false,
            Hook::BeforeInitialize
            | Hook::OnInitialize
            | Hook::AfterInitialize
            | Hook::BeforeShutdown
            | Hook::OnShutdown
            | Hook::AfterShutdown
            | Hook::OnReload => true,
        }
    }

    /// Whether it runs in a start, before the service is Running (and so within its
    /// `startup_timeout`).
    #[must_use]
    pub const fn initializes(self) -> bool {
        match self {
            Hook::BeforeInitialize | Hook::OnInitialize | Hook::AfterInitialize => true,
            Hook::Serve
            | Hook::BeforeShutdown
            | Hook::OnShutdown
            | Hook::AfterShutdown
            | Hook::OnReload => false,
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A set of [`Hook`]s: which methods a type defines, as the attribute writes it into
/// `Hooks::__HOOKS`.
///
/// ```
/// use hassette_spec::{Hook, HookSet};
///
/// const DEFINED: HookSet = HookSet::of(&[Hook::OnInitialize, Hook::Serve]);
/// assert!(DEFINED.contains(Hook::Serve));
/// assert!(!DEFINED.contains(Hook::OnShutdown));
/// assert!(DEFINED.intersects(HookSet::INITIALIZE));
/// assert_eq!(format!("{DEFINED:?}"), "{OnInitialize, Serve}");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HookSet(u8);

impl HookSet {
    /// No method.
    pub const EMPTY: HookSet = HookSet(0);
    /// Every method.
    pub const ALL: HookSet = HookSet::of(&Hook::ALL);
    /// The hooks of a start: [`Hook::initializes`].
    pub const INITIALIZE: HookSet = HookSet::initializing();

    /// The set of `hooks`.
    #[must_use]
    pub const fn of(hooks: &[Hook]) -> HookSet {
        let mut set = HookSet::EMPTY;
        let mut i = 0;
        while i < hooks.len() {
            set = set.with(hooks[i]);
            i += 1;
        }
        set
    }

    /// This set and `hook`.
    #[must_use]
    pub const fn with(self, hook: Hook) -> HookSet {
        HookSet(self.0 | hook.bit())
    }

    /// Whether `hook` is in the set.
    #[must_use]
    pub const fn contains(self, hook: Hook) -> bool {
        self.0 & hook.bit() != 0
    }

    /// Whether the two sets have a method in common.
    #[must_use]
    pub const fn intersects(self, other: HookSet) -> bool {
        self.0 & other.0 != 0
    }

    /// The methods of the set, in the order of a run.
    pub fn iter(self) -> impl Iterator<Item = Hook> {
        Hook::ALL
            .into_iter()
            .filter(move |&hook| self.contains(hook))
    }

    const fn initializing() -> HookSet {
        let mut set = HookSet::EMPTY;
        let mut i = 0;
        while i < Hook::ALL.len() {
            if Hook::ALL[i].initializes() {
                set = set.with(Hook::ALL[i]);
            }
            i += 1;
        }
        set
    }
}

impl fmt::Debug for HookSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits_are_one_per_method() {
        for (i, hook) in Hook::ALL.into_iter().enumerate() {
            assert_eq!(Hook::from_name(hook.name()), Some(hook));
            assert_eq!(hook as usize, i);
            let alone = HookSet::of(&[hook]);
            assert_eq!(alone.iter().collect::<Vec<_>>(), [hook]);
            for other in Hook::ALL {
                assert_eq!(alone.contains(other), other == hook);
            }
        }
        assert_eq!(Hook::from_name("initialize"), None);
        assert_eq!(HookSet::ALL.iter().count(), Hook::ALL.len());
        assert_eq!(HookSet::EMPTY.iter().count(), 0);
        assert_eq!(
            HookSet::INITIALIZE.iter().collect::<Vec<_>>(),
            [
                Hook::BeforeInitialize,
                Hook::OnInitialize,
                Hook::AfterInitialize
            ]
        );
        assert_eq!(Hook::ALL.iter().filter(|h| h.is_lifecycle()).count(), 7);
        assert_eq!(Hook::from_name("on_reload"), Some(Hook::OnReload));
        assert!(!Hook::OnReload.initializes());
    }
}
