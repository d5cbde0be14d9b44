//! The value of each key the attribute leaves out (the README's key table): the
//! runtime's `RestartSpec::new` and `ResourceSpec::DEFAULT` are built from them, and the
//! attribute checks `backoff(base)` against the default max, and `backoff(max)` against
//! the default base, with them.
//!
//! ```
//! use std::time::Duration;
//! use hassette_spec::defaults;
//!
//! assert_eq!(defaults::BACKOFF_BASE, Duration::from_secs(2));
//! assert!(defaults::BACKOFF_MAX >= defaults::BACKOFF_BASE);
//! ```

use std::time::Duration;

/// `backoff(base)`: the delay before the first restart.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// `backoff(multiplier)`: the factor between consecutive delays.
pub const BACKOFF_MULTIPLIER: f64 = 2.0;
/// `backoff(max)`: the longest delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// `backoff(jitter)`: no jitter, each delay exactly as computed.
pub const BACKOFF_JITTER: f64 = 0.0;
/// `budget(intensity)`: restarts allowed within the period.
pub const BUDGET_INTENSITY: u32 = 5;
/// `budget(period)`: the sliding window the restarts are counted in.
pub const BUDGET_PERIOD: Duration = Duration::from_secs(5 * 60);
/// `startup_timeout`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// `shutdown_timeout`.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// `cooldown`: how long a transient service cools down once its budget is spent.
pub const COOLDOWN: Duration = Duration::from_secs(5 * 60);
/// `max_cooldown_cycles`: 0, cool down and retry forever.
pub const MAX_COOLDOWN_CYCLES: u32 = 0;
/// `stable_after`: running and ready this long resets the backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);
/// `critical`: a service registered with the builder or added at the top level holds back
/// the app's readiness (a child does only when it says so).
pub const CRITICAL: bool = true;
