//! Compile-time checks of `#[service]` and `#[resource]`: a trybuild suite, run by
//! `tests/ui.rs` over `pass/*.rs` (must build and run) and `fail/*.rs` (must fail with
//! the errors recorded in the `.stderr` files).
