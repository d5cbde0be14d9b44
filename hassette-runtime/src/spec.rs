//! The declared restart policy and timeouts of a service.

use std::any::TypeId;
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use hassette_spec::rules::{self, Bound, Restarts};
use hassette_spec::{Form, Restart, Violation, defaults};

/// When the supervisor restarts a service, as in Erlang/OTP.
///
/// | type | restarted after a failure | restarted after a clean return of `serve` | on exhaustion |
/// |---|---|---|---|
/// | `Permanent` | yes | yes | `Crashed`, the app shuts down |
/// | `Transient` | yes | no | `ExhaustedCooling`, then a fresh budget after `cooldown` |
/// | `Temporary` | no | no | `ExhaustedDead` at once |
///
/// ```
/// use hassette_runtime::RestartType;
/// assert_eq!("transient".parse::<RestartType>(), Ok(RestartType::Transient));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RestartType {
    /// Always restarted; exhausting its budget crashes the application.
    Permanent,
    /// Restarted after failures only; exhausting its budget starts a cooldown.
    Transient,
    /// Never restarted.
    Temporary,
}

impl RestartType {
    /// The attribute spelling: `"permanent"`, `"transient"` or `"temporary"`.
    ///
    /// ```
    /// # use hassette_runtime::RestartType;
    /// assert_eq!(RestartType::Permanent.as_str(), "permanent");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.rule().name()
    }

    /// The restart type the shared rules speak of.
    pub(crate) const fn rule(self) -> Restart {
        match self {
            RestartType::Permanent => Restart::Permanent,
            RestartType::Transient => Restart::Transient,
            RestartType::Temporary => Restart::Temporary,
        }
    }
}

impl fmt::Display for RestartType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for RestartType {
    type Err = UnknownRestartType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Restart::from_name(s) {
            Some(Restart::Permanent) => Ok(RestartType::Permanent),
            Some(Restart::Transient) => Ok(RestartType::Transient),
            Some(Restart::Temporary) => Ok(RestartType::Temporary),
            None => Err(UnknownRestartType),
        }
    }
}

/// The error of parsing a [`RestartType`] from anything but its three spellings.
///
/// ```
/// # use hassette_runtime::RestartType;
/// assert!("forever".parse::<RestartType>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected `permanent`, `transient` or `temporary`")]
#[non_exhaustive]
pub struct UnknownRestartType;

/// When a service counts as ready for its dependants.
///
/// ```
/// use hassette_runtime::{ReadyMode, RestartSpec, RestartType};
/// assert_eq!(RestartSpec::new(RestartType::Permanent).ready, ReadyMode::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ReadyMode {
    /// Ready as soon as `serve` begins.
    #[default]
    Auto,
    /// Ready when the service calls [`ServiceContext::mark_ready`](crate::ServiceContext::mark_ready).
    Manual,
}

/// Everything `#[service(...)]` declares about supervision, as a `const`.
///
/// The macro generates it as `Service::RESTART_SPEC`; [`RestartSpec::new`] gives the
/// defaults of the attribute table, which a hand-written impl can adjust field by field.
///
/// ```
/// use std::time::Duration;
/// use hassette_runtime::{RestartSpec, RestartType};
///
/// const SPEC: RestartSpec = RestartSpec {
///     backoff_base: Duration::from_millis(100),
///     ..RestartSpec::new(RestartType::Transient)
/// };
/// assert_eq!(SPEC.backoff_max, Duration::from_secs(60));
/// assert_eq!(SPEC.budget_intensity, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartSpec {
    /// When the service is restarted.
    pub restart_type: RestartType,
    /// The delay before the first restart (default 2s).
    pub backoff_base: Duration,
    /// The factor between consecutive delays (default 2.0, at least 1.0).
    pub backoff_multiplier: f64,
    /// The largest delay (default 60s).
    pub backoff_max: Duration,
    /// The fraction of each delay left to chance, from 0.0 to 1.0 (default 0.0, no
    /// jitter): with jitter `j`, the delay `d` before a restart is drawn uniformly from
    /// `[d·(1−j), d]` (see [`jittered`](Self::jittered)). It never lengthens a delay, so
    /// never beyond `backoff_max`, and it spreads the restarts of services that failed
    /// together. Values outside 0.0..=1.0 (only a hand-built spec can have them) count as
    /// the nearest bound, NaN as 0.0.
    pub backoff_jitter: f64,
    /// How many restarts the sliding window allows (default 5).
    pub budget_intensity: u32,
    /// The length of the sliding window (default 5 minutes).
    pub budget_period: Duration,
    /// How long each dependency may take to be ready, and then how long the initialize
    /// hooks plus reaching Running and ready may take (default 30s). With
    /// [`ReadyMode::Auto`] a service is ready the moment `serve` begins.
    pub startup_timeout: Duration,
    /// How long `serve` and each shutdown hook may take after cancellation (default 5s).
    pub shutdown_timeout: Duration,
    /// How long a transient service cools down after exhausting its budget (default 5m).
    pub cooldown: Duration,
    /// How many cooldowns before `ExhaustedDead`; 0 means never (default 0).
    pub max_cooldown_cycles: u32,
    /// When the service becomes ready (default [`ReadyMode::Auto`]).
    pub ready: ReadyMode,
    /// Running and ready this long resets the backoff attempt count (default 60s).
    pub stable_after: Duration,
    /// How many children (`ServiceContext::add_child`) it may have at once (default:
    /// no limit). A limit of zero cannot be written: the type has no zero.
    pub max_children: Option<NonZeroU32>,
    /// Whether its state holds back the app's readiness (`/readyz`, systemd's
    /// `READY=1`) and its failure the app: `Some` when declared (`critical = ...`, or
    /// [`Overrides::critical`](crate::Overrides::critical)); `None` (the default) means
    /// critical for a service registered with the builder or added with
    /// `Hassette::add*`, and not critical for a child (`ServiceContext::add_child*`).
    ///
    /// A service that is not critical shows everywhere all the same, but its failure
    /// never spreads: exhausting its budget ends it `ExhaustedDead` (a temporary one
    /// added at run time is removed), never crashing the app or failing its parent, and
    /// the app says it is degraded while it is down.
    ///
    /// ```
    /// use hassette_runtime::{RestartSpec, RestartType};
    /// assert_eq!(RestartSpec::new(RestartType::Permanent).critical, None);
    /// const WORKER: RestartSpec = RestartSpec {
    ///     critical: Some(false),
    ///     ..RestartSpec::new(RestartType::Permanent)
    /// };
    /// assert_eq!(WORKER.critical, Some(false));
    /// ```
    pub critical: Option<bool>,
    /// The longest a Running service may go without calling
    /// [`ServiceContext::heartbeat`](crate::ServiceContext::heartbeat) (the `watchdog`
    /// key; default `None`, no watchdog). When it runs out the run fails with
    /// [`NoHeartbeat`](crate::NoHeartbeat) and the restart policy applies. Longer than
    /// zero (see [`check`](Self::check)).
    pub watchdog: Option<Duration>,
}

impl RestartSpec {
    /// The attribute's defaults (the README's key table) for the given restart type.
    ///
    /// ```
    /// # use hassette_runtime::{RestartSpec, RestartType};
    /// # use std::time::Duration;
    /// let spec = RestartSpec::new(RestartType::Permanent);
    /// assert_eq!(spec.backoff_base, Duration::from_secs(2));
    /// assert_eq!(spec.shutdown_timeout, Duration::from_secs(5));
    /// ```
    #[must_use]
    pub const fn new(restart_type: RestartType) -> Self {
        RestartSpec {
            restart_type,
            backoff_base: defaults::BACKOFF_BASE,
            backoff_multiplier: defaults::BACKOFF_MULTIPLIER,
            backoff_max: defaults::BACKOFF_MAX,
            backoff_jitter: defaults::BACKOFF_JITTER,
            budget_intensity: defaults::BUDGET_INTENSITY,
            budget_period: defaults::BUDGET_PERIOD,
            startup_timeout: defaults::STARTUP_TIMEOUT,
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
            cooldown: defaults::COOLDOWN,
            max_cooldown_cycles: defaults::MAX_COOLDOWN_CYCLES,
            ready: ReadyMode::Auto,
            stable_after: defaults::STABLE_AFTER,
            max_children: None,
            critical: None,
            watchdog: None,
        }
    }

    /// The delay before restart number `attempt` (1-based):
    /// `min(base * multiplier^(attempt-1), max)`.
    ///
    /// It saturates at `backoff_max`: no overflow, NaN or panic for any attempt.
    ///
    /// ```
    /// # use hassette_runtime::{RestartSpec, RestartType};
    /// # use std::time::Duration;
    /// let spec = RestartSpec {
    ///     backoff_base: Duration::from_secs(1),
    ///     backoff_max: Duration::from_secs(10),
    ///     ..RestartSpec::new(RestartType::Permanent)
    /// };
    /// assert_eq!(spec.backoff_delay(1), Duration::from_secs(1));
    /// assert_eq!(spec.backoff_delay(4), Duration::from_secs(8));
    /// assert_eq!(spec.backoff_delay(5), Duration::from_secs(10));
    /// assert_eq!(spec.backoff_delay(u32::MAX), Duration::from_secs(10));
    /// // a zero base stays zero, however many attempts
    /// let now = RestartSpec { backoff_base: Duration::ZERO, ..spec };
    /// assert_eq!(now.backoff_delay(5_000), Duration::ZERO);
    /// ```
    #[must_use]
    pub fn backoff_delay(&self, attempt: u32) -> Duration {
        // Zero times an overflowed (infinite) factor would be NaN, not zero.
        if self.backoff_base.is_zero() {
            return Duration::ZERO;
        }
        let exponent = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let factor = self.backoff_multiplier.max(1.0).powi(exponent);
        let seconds = self.backoff_base.as_secs_f64() * factor;
        if seconds.is_finite() && seconds < self.backoff_max.as_secs_f64() {
            Duration::from_secs_f64(seconds)
        } else {
            self.backoff_max
        }
    }

    /// `delay` with the jitter applied: `delay · (1 − j · sample)`, where `j` is
    /// [`backoff_jitter`](Self::backoff_jitter) and `sample` is drawn uniformly from
    /// `[0, 1]`, so the result is uniform in `[delay·(1−j), delay]`.
    ///
    /// The supervisor calls it once per restart, on
    /// [`backoff_delay`](Self::backoff_delay)`(attempt)` and one draw; the delay it gives
    /// is the one waited and the one shown as `retry_at`. It is pure, so it is tested
    /// without randomness: a sample of 0 (or a jitter of 0) keeps `delay`, a sample of 1
    /// shortens it the most. The result is never longer than `delay`, whatever the
    /// inputs: a `sample` or jitter outside `[0, 1]` counts as the nearest bound, NaN as 0,
    /// and no input panics, `Duration::MAX` included.
    ///
    /// ```
    /// # use hassette_runtime::{RestartSpec, RestartType};
    /// # use std::time::Duration;
    /// let spec = RestartSpec {
    ///     backoff_jitter: 0.2,
    ///     ..RestartSpec::new(RestartType::Permanent)
    /// };
    /// let d = Duration::from_secs(10);
    /// assert_eq!(spec.jittered(d, 0.0), d); // no shortening
    /// assert_eq!(spec.jittered(d, 0.5), Duration::from_secs(9));
    /// assert_eq!(spec.jittered(d, 1.0), Duration::from_secs(8)); // d·(1−0.2)
    /// // no jitter (the default): the delay as it is
    /// let plain = RestartSpec::new(RestartType::Permanent);
    /// assert_eq!(plain.jittered(d, 1.0), d);
    /// ```
    #[must_use]
    pub fn jittered(&self, delay: Duration, sample: f64) -> Duration {
        let unit = |x: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
        let cut = unit(self.backoff_jitter) * unit(sample);
        if cut == 0.0 || delay.is_zero() {
            return delay;
        }
        // `delay · (1 − cut)` in f64 seconds; rounding (near `Duration::MAX`, say) must not
        // lengthen it, nor panic.
        Duration::try_from_secs_f64(delay.as_secs_f64() * (1.0 - cut))
            .map_or(delay, |shorter| shorter.min(delay))
    }

    /// Checks the spec by the attribute's rules, the ones `#[service(...)]` applies at
    /// compile time: `budget_intensity` at least 1, `budget_period` longer than zero,
    /// `backoff_multiplier` a finite number of at least 1.0, `backoff_jitter` from 0.0 to
    /// 1.0, and `backoff_max` at least `backoff_base`. The error names the field and the
    /// rule, in the attribute's words.
    ///
    /// The runtime checks every spec with it (a type's `RESTART_SPEC`, hand-written or
    /// generated, and one with [`Overrides`](crate::Overrides) applied) at
    /// [`Builder::build`](crate::Builder::build) and at every `add`, so a hand-written
    /// spec breaking a rule is refused there ([`ConfigError`](crate::ConfigError)) instead
    /// of running with a meaning nobody chose (a zero period would allow any number of
    /// restarts). A group's budget follows the same rules.
    ///
    /// A temporary service is never restarted: its backoff, budget and cooldown are
    /// never read, so they are not checked (the attribute refuses writing them at all,
    /// where they can only be a mistake).
    ///
    /// # Errors
    ///
    /// The first rule the spec breaks, as a [`SpecViolation`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use hassette_runtime::{RestartSpec, RestartType};
    ///
    /// const SPEC: RestartSpec = RestartSpec {
    ///     budget_period: Duration::ZERO,
    ///     ..RestartSpec::new(RestartType::Permanent)
    /// };
    /// let error = SPEC.check().unwrap_err();
    /// assert_eq!(error.key, "budget_period");
    /// assert_eq!(
    ///     error.to_string(),
    ///     "`budget_period` must be longer than zero; write the window the restarts are counted in, like 5m"
    /// );
    /// assert!(RestartSpec::new(RestartType::Permanent).check().is_ok());
    /// // never restarted: nothing to check
    /// let temporary = RestartSpec { restart_type: RestartType::Temporary, ..SPEC };
    /// assert!(temporary.check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), SpecViolation> {
        self.check_with(false, false)
    }

    /// [`check`](Self::check), telling a backoff bound that breaks the rule as written
    /// (`base_written`, `max_written`) or kept: a base set alone above the max kept is
    /// told as a base too long, as the attribute tells `backoff(base = ...)` above the
    /// default max.
    pub(crate) fn check_with(
        &self,
        base_written: bool,
        max_written: bool,
    ) -> Result<(), SpecViolation> {
        if let Some(limit) = self.watchdog {
            rules::watchdog(limit).map_err(SpecViolation::from_rule)?;
        }
        match self.restart_type {
            RestartType::Temporary => Ok(()),
            RestartType::Permanent | RestartType::Transient => {
                // Neither written: a spec's own bounds, told on the max.
                let bound = |value, written| Bound {
                    value,
                    written: written || !(base_written || max_written),
                };
                rules::restarts(&Restarts {
                    intensity: self.budget_intensity,
                    period: self.budget_period,
                    multiplier: self.backoff_multiplier,
                    jitter: self.backoff_jitter,
                    base: bound(self.backoff_base, base_written),
                    max: bound(self.backoff_max, max_written),
                })
                .map_err(SpecViolation::from_rule)
            }
        }
    }

    /// The timeouts and readiness of a resource, which shares the lifecycle of a
    /// service but is never restarted.
    pub(crate) const fn for_resource(spec: ResourceSpec) -> Self {
        RestartSpec {
            startup_timeout: spec.startup_timeout,
            shutdown_timeout: spec.shutdown_timeout,
            ..RestartSpec::new(RestartType::Temporary)
        }
    }
}

/// A value of a [`RestartSpec`] (or of a group's budget) that breaks one of the
/// attribute's rules: see [`RestartSpec::check`].
///
/// ```
/// use hassette_runtime::{RestartSpec, RestartType};
/// let spec = RestartSpec { backoff_multiplier: 0.5, ..RestartSpec::new(RestartType::Transient) };
/// let error = spec.check().unwrap_err();
/// assert_eq!(error.key, "backoff_multiplier");
/// assert!(error.reason.starts_with("is 0.5, less than 1.0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {reason}")]
#[non_exhaustive]
pub struct SpecViolation {
    /// The field, as named in [`RestartSpec`] and by [`Overrides`](crate::Overrides)'
    /// method that sets it.
    pub key: &'static str,
    /// The rule it breaks, and what to write instead.
    pub reason: String,
}

impl SpecViolation {
    /// A broken rule told in Rust code's words: the key as [`RestartSpec`]'s field, the
    /// reason with what to write instead.
    pub(crate) fn from_rule(violation: Violation) -> Self {
        SpecViolation {
            key: violation.key().field(),
            reason: format!(
                "{}; {}",
                violation.problem(Form::Code),
                violation.help(Form::Code)
            ),
        }
    }
}

/// Parses a duration as the attribute and a settings file spell it: a whole number and a
/// unit (`ms`, `s`, `m` or `h`), or several from the largest unit to the smallest, each
/// once. `"0s"` is zero.
///
/// It is the parser of `#[service(startup_timeout = "...")]` and of
/// [`Overrides`](crate::Overrides) read from a file (feature `serde`), for the
/// durations of your own settings: a value `"1m30s"` means the same everywhere.
///
/// # Errors
///
/// A [`DurationError`](crate::DurationError) that says what is wrong and prints the
/// accepted forms.
///
/// ```
/// use std::time::Duration;
/// use hassette_runtime::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1h2m3s4ms"), Ok(Duration::new(3723, 4_000_000)));
/// let error = parse_duration("90 seconds").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "invalid duration \"90 seconds\": it contains a space; write a whole number and a unit \
///      (`ms`, `s`, `m` or `h`), like `\"250ms\"`, `\"2s\"`, `\"5m\"`, `\"1h\"` or `\"1m30s\"`"
/// );
/// assert!(parse_duration("1.5s").is_err()); // a fraction: write "1s500ms"
/// assert!(parse_duration("30s1m").is_err()); // from the largest unit to the smallest
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, hassette_spec::DurationError> {
    hassette_spec::parse_duration(text)
}

/// The timeouts `#[resource(...)]` declares; resources are not supervised.
///
/// ```
/// use hassette_runtime::ResourceSpec;
/// use std::time::Duration;
/// assert_eq!(ResourceSpec::DEFAULT.startup_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceSpec {
    /// How long the initialize hooks may take (default 30s).
    pub startup_timeout: Duration,
    /// How long each shutdown hook may take (default 5s).
    pub shutdown_timeout: Duration,
}

impl ResourceSpec {
    /// The defaults: 30s to start, 5s per shutdown hook.
    pub const DEFAULT: ResourceSpec = ResourceSpec {
        startup_timeout: defaults::STARTUP_TIMEOUT,
        shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
    };
}

impl Default for ResourceSpec {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A `depends_on(Type)` entry: the type a service waits for before it starts.
///
/// ```
/// use hassette_runtime::Dependency;
/// struct Database;
/// const DEPS: &[Dependency] = &[Dependency::on::<Database>()];
/// assert!(DEPS[0].type_name().ends_with("Database"));
/// ```
#[derive(Clone, Copy)]
pub struct Dependency {
    type_id: fn() -> TypeId,
    type_name: fn() -> &'static str,
}

impl Dependency {
    /// The dependency on the one instance of `T` registered with `Builder::service` or
    /// `Builder::resource`.
    #[must_use]
    pub const fn on<T: 'static>() -> Self {
        Dependency {
            type_id: TypeId::of::<T>,
            type_name: std::any::type_name::<T>,
        }
    }

    /// The `TypeId` of the type depended on.
    #[must_use]
    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
    }

    /// The full type name, for error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }
}

impl fmt::Debug for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dependency")
            .field(&self.type_name())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_never_overflows_nor_turns_nan() {
        let spec = RestartSpec::new(RestartType::Permanent);
        for attempt in [1, 2, 30, 1024, 1025, 100_000, u32::MAX] {
            assert!(spec.backoff_delay(attempt) <= spec.backoff_max);
        }
        assert_eq!(spec.backoff_delay(1025), spec.backoff_max);
        let zero = RestartSpec {
            backoff_base: Duration::ZERO,
            ..spec
        };
        for attempt in [1, 1024, 1025, u32::MAX] {
            assert_eq!(
                zero.backoff_delay(attempt),
                Duration::ZERO,
                "attempt {attempt}"
            );
        }
        let huge = RestartSpec {
            backoff_multiplier: f64::MAX,
            ..spec
        };
        assert_eq!(huge.backoff_delay(3), spec.backoff_max);
    }

    fn broken(change: impl FnOnce(&mut RestartSpec)) -> Option<&'static str> {
        let mut spec = RestartSpec::new(RestartType::Transient);
        change(&mut spec);
        spec.check().err().map(|e| e.key)
    }

    #[test]
    fn the_rules_name_the_field_they_refuse() {
        assert_eq!(broken(|_| {}), None);
        assert_eq!(broken(|s| s.budget_intensity = 0), Some("budget_intensity"));
        assert_eq!(
            broken(|s| s.budget_period = Duration::ZERO),
            Some("budget_period")
        );
        for m in [0.5, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                broken(|s| s.backoff_multiplier = m),
                Some("backoff_multiplier")
            );
        }
        assert_eq!(broken(|s| s.backoff_multiplier = 1.0), None);
        for j in [1.5, -0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(broken(|s| s.backoff_jitter = j), Some("backoff_jitter"));
        }
        assert_eq!(broken(|s| s.backoff_jitter = 1.0), None);
        assert_eq!(
            broken(|s| s.backoff_max = Duration::from_secs(1)),
            Some("backoff_max")
        );
        assert_eq!(broken(|s| s.backoff_max = Duration::MAX), None);
        // zero backoff is fine: restart at once, within the budget
        assert_eq!(
            broken(|s| {
                s.backoff_base = Duration::ZERO;
                s.backoff_max = Duration::ZERO;
            }),
            None
        );
        // a temporary service is never restarted: nothing to check
        let odd = RestartSpec {
            budget_intensity: 0,
            budget_period: Duration::ZERO,
            backoff_multiplier: f64::NAN,
            ..RestartSpec::new(RestartType::Temporary)
        };
        assert_eq!(odd.check(), Ok(()));
    }

    #[test]
    fn the_messages_spell_durations_as_the_attribute() {
        let spec = RestartSpec {
            backoff_base: Duration::from_secs(90),
            backoff_max: Duration::from_millis(250),
            ..RestartSpec::new(RestartType::Permanent)
        };
        assert_eq!(
            spec.check().unwrap_err().to_string(),
            "`backoff_max` is 250ms, less than backoff_base 1m30s; make `backoff_max` at least \
             as long as `backoff_base`: it caps the growing delay"
        );
        // A base written alone above the max kept: the base is what to change.
        assert_eq!(
            spec.check_with(true, false).unwrap_err().to_string(),
            "`backoff_base` is 1m30s, more than backoff_max 250ms; lower it, or raise \
             `backoff_max` at least as high: the max caps the growing delay"
        );
        assert_eq!(spec.check_with(false, true).unwrap_err().key, "backoff_max");
    }

    fn with_jitter(jitter: f64) -> RestartSpec {
        RestartSpec {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            backoff_jitter: jitter,
            ..RestartSpec::new(RestartType::Permanent)
        }
    }

    #[test]
    fn jitter_edges() {
        let d = Duration::from_secs(4);
        // Samples 0 and 1 are the ends of [d·(1−j), d].
        for j in [0.0, 0.25, 0.5, 1.0] {
            let spec = with_jitter(j);
            assert_eq!(spec.jittered(d, 0.0), d, "j {j}");
            assert_eq!(spec.jittered(d, 1.0), d.mul_f64(1.0 - j), "j {j}");
        }
        // j = 0: every sample keeps the delay; j = 1: the whole delay is left to chance.
        for sample in [0.0, 0.3, 0.999, 1.0] {
            assert_eq!(with_jitter(0.0).jittered(d, sample), d);
            assert_eq!(
                with_jitter(1.0).jittered(d, sample),
                d.mul_f64(1.0 - sample)
            );
        }
        assert_eq!(with_jitter(1.0).jittered(d, 1.0), Duration::ZERO);
        // d = 0 stays 0; d = max is never lengthened.
        assert_eq!(
            with_jitter(0.5).jittered(Duration::ZERO, 0.7),
            Duration::ZERO
        );
        let spec = with_jitter(0.5);
        let at_max = spec.backoff_delay(u32::MAX);
        assert_eq!(at_max, spec.backoff_max);
        assert_eq!(spec.jittered(at_max, 0.0), spec.backoff_max);
        assert_eq!(spec.jittered(at_max, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_within_the_delay_for_any_input() {
        let odd = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.5,
            -0.0,
            1e-300,
            0.5,
            1.0 - f64::EPSILON,
            1.5,
        ];
        let delays = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(1500),
            Duration::MAX,
        ];
        for j in odd {
            for sample in odd {
                for d in delays {
                    let out = with_jitter(j).jittered(d, sample);
                    assert!(out <= d, "j {j}, sample {sample}, d {d:?}: {out:?}");
                    if d < Duration::MAX && (0.0..=1.0).contains(&j) {
                        // Not below d·(1−j), give or take the rounding of one nanosecond.
                        let floor = d.mul_f64(1.0 - j).saturating_sub(Duration::from_nanos(1));
                        assert!(out >= floor, "j {j}, sample {sample}, d {d:?}: {out:?}");
                    }
                }
            }
        }
        // NaN and negative values count as 0, values above 1 as 1.
        let d = Duration::from_secs(2);
        assert_eq!(with_jitter(f64::NAN).jittered(d, 1.0), d);
        assert_eq!(with_jitter(-1.0).jittered(d, 1.0), d);
        assert_eq!(with_jitter(0.5).jittered(d, f64::NAN), d);
        assert_eq!(with_jitter(3.0).jittered(d, 1.0), Duration::ZERO);
        assert_eq!(with_jitter(0.5).jittered(d, 7.0), Duration::from_secs(1));
        // Near `Duration::MAX` rounding must not panic nor lengthen it.
        assert!(with_jitter(1e-12).jittered(Duration::MAX, 1.0) <= Duration::MAX);
    }
}

/// What a group restarts when one of its members fails, as in Erlang/OTP.
///
/// ```
/// use hassette_runtime::Strategy;
/// assert_ne!(Strategy::OneForAll, Strategy::RestForOne);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the failed member (its own restart policy applies).
    OneForOne,
    /// Every member: stopped in reverse registration order, started in order.
    OneForAll,
    /// The failed member and every member registered after it.
    RestForOne,
}
