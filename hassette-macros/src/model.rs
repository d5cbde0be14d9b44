//! The `impl` block as a typed model: its self type and generics, `serve`, the hooks,
//! the methods the runtime drives itself, and the helpers that are left alone. The
//! methods are recognised by the hook table of `hassette_spec`, the one the runtime calls
//! them by.

use syn::{ImplItem, ImplItemFn, ItemImpl};

pub(crate) use hassette_spec::Hook;
use hassette_spec::HookSet;

/// Method names the runtime drives itself; defining them is a mistake.
pub(crate) const RESERVED: &[&str] = &["initialize", "shutdown", "restart"];

/// What a method of the block is to the macro.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// `serve` or one of the six hooks.
    Hook(Hook),
    /// `initialize`, `shutdown` or `restart`.
    Reserved,
    /// Anything else: left alone (unless its name is a likely typo of a hook).
    Helper,
}

/// One method of the block and its role.
pub(crate) struct Method<'a> {
    pub(crate) func: &'a ImplItemFn,
    pub(crate) role: Role,
}

impl Method<'_> {
    pub(crate) fn name(&self) -> String {
        self.func.sig.ident.to_string()
    }

    /// Whether it takes `ctx: &ServiceContext` after `&self`.
    pub(crate) fn takes_ctx(&self) -> bool {
        self.func.sig.inputs.len() >= 2
    }
}

/// An inherent `impl` block carrying the attribute.
pub(crate) struct Block<'a> {
    pub(crate) item: &'a ItemImpl,
    pub(crate) methods: Vec<Method<'a>>,
}

impl<'a> Block<'a> {
    /// The model of an inherent impl block (the caller has checked it is not a trait impl).
    pub(crate) fn from_item(item: &'a ItemImpl) -> Self {
        let methods = item
            .items
            .iter()
            .filter_map(|impl_item| match impl_item {
                ImplItem::Fn(func) => Some(func),
                _ => None,
            })
            .map(|func| {
                let name = func.sig.ident.to_string();
                let role = if let Some(hook) = Hook::from_name(&name) {
                    Role::Hook(hook)
                } else if RESERVED.contains(&name.as_str()) {
                    Role::Reserved
                } else {
                    Role::Helper
                };
                Method { func, role }
            })
            .collect();
        Block { item, methods }
    }

    pub(crate) fn serve(&self) -> Option<&Method<'a>> {
        self.methods
            .iter()
            .find(|m| m.role == Role::Hook(Hook::Serve))
    }

    /// The lifecycle hooks defined in the block, each once (rustc reports a method
    /// defined twice).
    pub(crate) fn hooks(&self) -> impl Iterator<Item = (Hook, &Method<'a>)> {
        let lifecycle = Hook::ALL.into_iter().filter(|hook| hook.is_lifecycle());
        lifecycle.filter_map(move |hook| {
            self.methods
                .iter()
                .find(|m| m.role == Role::Hook(hook))
                .map(|m| (hook, m))
        })
    }

    /// `serve` and the hooks: the methods whose signature the macro adapts.
    pub(crate) fn driven(&self) -> impl Iterator<Item = &Method<'a>> {
        self.methods
            .iter()
            .filter(|m| matches!(m.role, Role::Hook(_)))
    }

    /// Which of `serve` and the hooks the block defines. A hook under `#[cfg]` counts as
    /// defined: calling a default is only slower.
    pub(crate) fn defined(&self) -> HookSet {
        self.driven()
            .fold(HookSet::EMPTY, |set, method| match method.role {
                Role::Hook(hook) => set.with(hook),
                Role::Reserved | Role::Helper => set,
            })
    }
}
