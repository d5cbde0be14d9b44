//! Integration tests of hassette-runtime through its public API; see `tests/`.
