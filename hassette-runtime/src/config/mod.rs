//! Configuration at run time: a service's timeouts, backoff and budget from values known
//! only when the program runs (a file, the environment), checked by the attribute's rules.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use hassette_spec::{Key, Target, Violation, rules};

use crate::{RestartSpec, SpecViolation};

#[cfg(feature = "serde")]
mod file;

/// Values that replace a service's declared ones (its `#[service(...)]` keys) for one
/// registration: [`Builder::configure`](crate::Builder::configure) for a service known at
/// `build()`, [`Hassette::add_named_with`](crate::Hassette::add_named_with) and
/// [`ServiceContext::add_child_named_with`](crate::ServiceContext::add_child_named_with)
/// for one added at run time.
///
/// They are checked by the attribute's rules ([`RestartSpec::check`], the same rules
/// with the same messages for every spec), at `build()` or `add()`: a multiplier below
/// 1.0, a jitter outside 0.0..=1.0, a base above the max (counting the values not
/// overridden), an intensity, a budget period or a child limit of 0, and a key that means
/// nothing for the service (a backoff for a temporary service, a cooldown for a permanent
/// one, a restart key for a resource) are a [`ConfigError`] that names the service and
/// the key. With [`Builder::configure`](crate::Builder::configure) twice for one name,
/// the later replaces the earlier entirely.
///
/// # From a file
///
/// With feature `serde`, `Overrides` is `Deserialize`: a table with the keys of
/// `#[service(...)]` that tune a declaration (`startup_timeout`, `shutdown_timeout`,
/// `stable_after`, `cooldown`, `max_cooldown_cycles`, `max_children`, `critical`, `watchdog`, and the lists as
/// tables, `backoff = { base, multiplier, max, jitter }` and
/// `budget = { intensity, period }`), durations in the attribute's grammar (`"250ms"`,
/// `"1m30s"`, see [`parse_duration`](crate::parse_duration)). An unknown key is refused
/// with "did you mean", a value that breaks a rule as it is read, the error naming the
/// file's key (`backoff.multiplier`); what needs the declared spec too (a base above the
/// declared max, a key that means nothing for the service) at `build()` or `add()`. The
/// README's recipe "Settings from a file" reads one table per service from TOML.
///
/// ```
/// use std::time::Duration;
/// use hassette_runtime::{Overrides, RestartSpec, RestartType};
/// let from_env = Duration::from_millis(250);
/// let overrides = Overrides::new().backoff_base(from_env).budget_intensity(10);
/// let spec = overrides.apply("worker", &RestartSpec::new(RestartType::Permanent)).unwrap();
/// assert_eq!(spec.backoff_base, from_env);
/// let error = Overrides::new().backoff_multiplier(0.5).apply("worker", &spec).unwrap_err();
/// assert_eq!(error.key, "backoff_multiplier");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Overrides {
    startup_timeout: Option<Duration>,
    shutdown_timeout: Option<Duration>,
    stable_after: Option<Duration>,
    backoff_base: Option<Duration>,
    backoff_multiplier: Option<f64>,
    backoff_max: Option<Duration>,
    backoff_jitter: Option<f64>,
    budget_intensity: Option<u32>,
    budget_period: Option<Duration>,
    cooldown: Option<Duration>,
    max_cooldown_cycles: Option<u32>,
    max_children: Option<u32>,
    critical: Option<bool>,
    watchdog: Option<Duration>,
}

/// A spec that breaks the attribute's rules, named by its service: a value of
/// [`Overrides`], or of a type's own `RESTART_SPEC` (see [`RestartSpec::check`]).
///
/// ```
/// # use hassette_runtime::{Overrides, RestartSpec, RestartType};
/// let error = Overrides::new()
///     .budget_intensity(0)
///     .apply("poller", &RestartSpec::new(RestartType::Transient))
///     .unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "service `poller`: `budget_intensity` must be at least 1: a budget of 0 restarts never \
///      restarts; allow 1 or more restarts, or use `restart = \"temporary\"` for a service \
///      that is never restarted"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service `{service}`: `{key}` {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The service.
    pub service: Arc<str>,
    /// The key, as [`Overrides`]' method that sets it.
    pub key: &'static str,
    /// What is wrong, and what to write instead.
    pub reason: String,
}

impl ConfigError {
    /// `violation` of the spec of `service`.
    pub(crate) fn new(service: Arc<str>, violation: SpecViolation) -> Self {
        ConfigError {
            service,
            key: violation.key,
            reason: violation.reason,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $key:ident: $ty:ty,)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $key(mut self, value: $ty) -> Self {
                self.$key = Some(value);
                self
            }
        )*
    };
}

impl Overrides {
    /// No override: the declared values.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// `startup_timeout`.
        startup_timeout: Duration,
        /// `shutdown_timeout`.
        shutdown_timeout: Duration,
        /// `stable_after` (not for a temporary service).
        stable_after: Duration,
        /// `backoff(base)` (not for a temporary service).
        backoff_base: Duration,
        /// `backoff(multiplier)`, at least 1.0 (not for a temporary service).
        backoff_multiplier: f64,
        /// `backoff(max)` (not for a temporary service).
        backoff_max: Duration,
        /// `backoff(jitter)`, a fraction from 0.0 (no jitter) to 1.0: each delay `d` is
        /// drawn uniformly from `[d·(1−jitter), d]` (not for a temporary service).
        backoff_jitter: f64,
        /// `budget(intensity)`, at least 1 (not for a temporary service).
        budget_intensity: u32,
        /// `budget(period)` (not for a temporary service).
        budget_period: Duration,
        /// `cooldown` (transient only).
        cooldown: Duration,
        /// `max_cooldown_cycles` (transient only).
        max_cooldown_cycles: u32,
        /// `max_children`, at least 1.
        max_children: u32,
        /// `critical`: whether this service holds back the app's readiness and its
        /// failure the app (not for a resource). A child counts for readiness only when
        /// its type declares `critical = true` or this says so; a unit that is not
        /// critical is ended `ExhaustedDead` when its budget runs out, instead of
        /// crashing the app or failing its parent.
        ///
        /// ```
        /// # use hassette_runtime::{Overrides, RestartSpec, RestartType};
        /// let spec = RestartSpec::new(RestartType::Permanent);
        /// let spec = Overrides::new().critical(true).apply("lamp", &spec).unwrap();
        /// assert_eq!(spec.critical, Some(true));
        /// ```
        critical: bool,
        /// `watchdog`: the longest a Running run may go without
        /// [`ServiceContext::heartbeat`](crate::ServiceContext::heartbeat), longer than
        /// zero (not for a resource).
        watchdog: Duration,
    }

    /// `spec` with these values in place, checked by the attribute's rules; `service`
    /// names the service in the error. A resource's `spec` (whose restart keys mean
    /// nothing) takes only the timeouts.
    ///
    /// # Errors
    ///
    /// The first value that breaks a rule, as a [`ConfigError`].
    pub fn apply(
        &self,
        service: impl Into<Arc<str>>,
        spec: &RestartSpec,
    ) -> Result<RestartSpec, ConfigError> {
        self.apply_to(service.into(), spec, true)
    }

    /// [`apply`](Self::apply), for a service (`serves`) or a resource: every key set
    /// must mean something for it, then the spec with the values in place must keep the
    /// rules.
    pub(crate) fn apply_to(
        &self,
        service: Arc<str>,
        spec: &RestartSpec,
        serves: bool,
    ) -> Result<RestartSpec, ConfigError> {
        let target = if serves {
            Target::Service(spec.restart_type.rule())
        } else {
            Target::Resource
        };
        let fail = |violation: SpecViolation| ConfigError::new(service.clone(), violation);
        let broken = |violation| fail(SpecViolation::from_rule(violation));
        for key in self.keys_set() {
            rules::applies(key, target).map_err(broken)?;
        }
        let out = self.write_into(*spec).map_err(broken)?;
        // The spec's own rules, on the values overridden and those kept alike; a base set
        // alone above the max kept is told as a base too long, as the attribute tells it.
        out.check_with(self.backoff_base.is_some(), self.backoff_max.is_some())
            .map_err(fail)?;
        Ok(out)
    }

    /// The keys set, in the order of the fields.
    fn keys_set(&self) -> impl Iterator<Item = Key> {
        let set = [
            (Key::StartupTimeout, self.startup_timeout.is_some()),
            (Key::ShutdownTimeout, self.shutdown_timeout.is_some()),
            (Key::StableAfter, self.stable_after.is_some()),
            (Key::BackoffBase, self.backoff_base.is_some()),
            (Key::BackoffMultiplier, self.backoff_multiplier.is_some()),
            (Key::BackoffMax, self.backoff_max.is_some()),
            (Key::BackoffJitter, self.backoff_jitter.is_some()),
            (Key::BudgetIntensity, self.budget_intensity.is_some()),
            (Key::BudgetPeriod, self.budget_period.is_some()),
            (Key::Cooldown, self.cooldown.is_some()),
            (Key::MaxCooldownCycles, self.max_cooldown_cycles.is_some()),
            (Key::MaxChildren, self.max_children.is_some()),
            (Key::Critical, self.critical.is_some()),
            (Key::Watchdog, self.watchdog.is_some()),
        ];
        set.into_iter().filter_map(|(key, set)| set.then_some(key))
    }

    /// `spec` with the values set in place; a child limit of 0, which the spec's type
    /// cannot hold, is refused here.
    fn write_into(&self, mut spec: RestartSpec) -> Result<RestartSpec, Violation> {
        let durations = [
            (&mut spec.startup_timeout, self.startup_timeout),
            (&mut spec.shutdown_timeout, self.shutdown_timeout),
            (&mut spec.stable_after, self.stable_after),
            (&mut spec.backoff_base, self.backoff_base),
            (&mut spec.backoff_max, self.backoff_max),
            (&mut spec.budget_period, self.budget_period),
            (&mut spec.cooldown, self.cooldown),
        ];
        for (slot, value) in durations {
            if let Some(value) = value {
                *slot = value;
            }
        }
        let numbers = [
            (&mut spec.backoff_multiplier, self.backoff_multiplier),
            (&mut spec.backoff_jitter, self.backoff_jitter),
        ];
        for (slot, value) in numbers {
            if let Some(value) = value {
                *slot = value;
            }
        }
        let counts = [
            (&mut spec.budget_intensity, self.budget_intensity),
            (&mut spec.max_cooldown_cycles, self.max_cooldown_cycles),
        ];
        for (slot, value) in counts {
            if let Some(value) = value {
                *slot = value;
            }
        }
        if let Some(critical) = self.critical {
            spec.critical = Some(critical);
        }
        if let Some(limit) = self.max_children {
            rules::max_children(limit)?;
            spec.max_children = NonZeroU32::new(limit);
        }
        if let Some(limit) = self.watchdog {
            rules::watchdog(limit)?;
            spec.watchdog = Some(limit);
        }
        Ok(spec)
    }
}
