//! Enums listed once: [`listed!`] declares an enum and its `ALL` array from one list of
//! variants, so a variant added to the enum is in `ALL` (and so found by name) without a
//! second edit that the compiler could not point at.

/// Declares `pub enum $name { ... }` and `impl $name { pub const ALL: [$name; N] }`,
/// every variant in declaration order.
macro_rules! listed {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident, )+
        }
        $(#[$all_meta:meta])*
        const ALL;
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            $(#[$all_meta])*
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];
        }
    };
}

pub(crate) use listed;
