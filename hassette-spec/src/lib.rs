//! What a `#[service(...)]` declaration means, written once for the two crates that read
//! one: hassette's attribute (`hassette-macros`, at compile time) and its runtime
//! (`hassette-runtime`, at run time, for hand-written specs, overrides and settings files).
//!
//! As `serde_derive_internals` serves `serde_derive`, this crate holds plain data and
//! functions and no dependency:
//!
//! - [`parse_duration`] and [`format_duration`]: the duration grammar (`"250ms"`,
//!   `"1m30s"`), with a typed [`DurationError`];
//! - [`defaults`]: the value of every key left out;
//! - [`Key`]: the keys, their names in the attribute, a settings file and Rust code, and
//!   where each may be written;
//! - [`rules`]: the rules the values obey, one function each, returning a [`Violation`]
//!   that each crate tells in its own [`Form`] (the attribute on the user's token, the
//!   runtime in a `ConfigError` naming the service and the key);
//! - [`Hook`] and [`HookSet`]: the methods the runtime calls, by name and as named bits;
//! - [`did_you_mean`] and [`one_of`]: when a misspelt name gets a suggestion, and how a
//!   list of names is told.
//!
//! Users do not depend on it: `hassette-runtime` re-exports what they need
//! (`hassette_runtime::parse_duration`). It is versioned with the runtime, and its API
//! changes with it.
//!
//! ```
//! use std::time::Duration;
//! use hassette_spec::{Form, defaults, parse_duration, rules};
//!
//! let base = parse_duration("90s").unwrap();
//! let violation = rules::backoff_bounds(
//!     rules::Bound::written(base),
//!     rules::Bound::or_default(None, defaults::BACKOFF_MAX),
//! )
//! .unwrap_err();
//! assert_eq!(violation.message(Form::Attribute), "backoff base `1m30s` is more than the default max `1m`");
//! ```

mod duration;
mod hook;
mod key;
mod listed;
mod suggest;

pub mod defaults;
pub mod rules;

pub use duration::{DurationError, FormattedDuration, format_duration, parse_duration};
pub use hook::{Hook, HookSet};
pub use key::{Key, Restart, Target};
pub use rules::{Form, Violation};
pub use suggest::{did_you_mean, one_of};
