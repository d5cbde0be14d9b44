//! What users see from `#[service]` and `#[resource]`: `pass/*.rs` build and run,
//! `fail/*.rs` fail to build with exactly the errors in the `.stderr` next to them.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p hassette-ui-tests`,
//! then review every changed `.stderr` like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
