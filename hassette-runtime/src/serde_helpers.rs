//! Feature `serde`: how the fields that have no serde form of their own serialize, in one
//! place, so every type says the same thing the same way.
//!
//! - A [`Duration`] is a number of seconds, an `f64` (`1.5`); the field's name ends in
//!   `_secs`.
//! - A [`SharedError`] is its `Display` text, as in the report's table and `/status`.
//! - A tokio [`Instant`] has no meaning outside the process, so it is serialized relative
//!   to the moment of serialization, on tokio's clock (exact under a paused clock): an
//!   event's `at` as its age (`age_secs`, seconds since it happened), a `retry_at` as the
//!   wait left (`retry_in_secs`, 0 once it is due).
//!
//! The health server's `/status` (feature `health`) is this form of the snapshot, so it
//! says the same things under the same names.

use std::fmt::Display;
use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::time::Instant;

use crate::SharedError;

/// A duration as seconds.
pub(crate) fn secs<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(d.as_secs_f64())
}

/// An optional duration as seconds, or none.
pub(crate) fn option_secs<S: Serializer>(
    d: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    d.map(|d| d.as_secs_f64()).serialize(serializer)
}

/// An error as its `Display` text.
pub(crate) fn error<S: Serializer>(e: &SharedError, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(e)
}

/// An optional error as its `Display` text, or none.
pub(crate) fn option_error<S: Serializer>(
    e: &Option<SharedError>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    e.as_ref().map(|e| Text(&**e)).serialize(serializer)
}

/// How long ago `at` was, in seconds.
pub(crate) fn age<S: Serializer>(at: &Instant, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(Instant::now().saturating_duration_since(*at).as_secs_f64())
}

/// How long until `at`, in seconds (0 once it has passed), or none.
pub(crate) fn option_until<S: Serializer>(
    at: &Option<Instant>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let now = Instant::now();
    at.map(|at| at.saturating_duration_since(now).as_secs_f64())
        .serialize(serializer)
}

/// Serializes a value as its `Display` text.
struct Text<'a>(&'a dyn Display);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}
