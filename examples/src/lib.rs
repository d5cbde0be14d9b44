//! Runnable examples: `cargo run --example demo`.
