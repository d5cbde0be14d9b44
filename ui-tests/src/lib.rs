//! Compile-time checks of `#[service]` and `#[resource]`; see `tests/ui.rs`.
