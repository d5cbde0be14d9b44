//! The rules a declaration's values obey, one function each, on plain values. A broken
//! rule is a [`Violation`]: the key it is about and what is wrong, told in the words of
//! the [`Form`] the value was written in. The attribute points the message at the user's
//! token; the runtime puts it in a `ConfigError` that names the service and the key.

use std::fmt::Display;
use std::time::Duration;

use crate::duration::format_duration;
use crate::key::{Key, Restart, Target};

/// Where a value was written, which decides how a message names its key and shows values.
///
/// ```
/// use hassette_spec::{Form, rules};
///
/// let violation = rules::multiplier(0.5).unwrap_err();
/// assert_eq!(
///     violation.message(Form::Attribute),
///     "backoff multiplier `0.5` is less than 1.0, so each delay would be shorter than the last"
/// );
/// assert_eq!(violation.help(Form::Attribute), "write `multiplier = 1.0` for a constant delay, or more to grow it");
/// assert_eq!(
///     violation.message(Form::File),
///     "`backoff.multiplier` is 0.5, less than 1.0, so each delay would be shorter than the last"
/// );
/// assert_eq!(violation.help(Form::Code), "write 1.0 for a constant delay, or more to grow it");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// The attribute: `#[service(backoff(multiplier = 0.5))]`; a nested key is named in
    /// words (`backoff multiplier`), a value in backticks.
    Attribute,
    /// A settings file: `backoff = { multiplier = 0.5 }`, the key named `backoff.multiplier`.
    File,
    /// Rust code: `Overrides::backoff_multiplier(0.5)` or a `RestartSpec` field, the key
    /// named `backoff_multiplier`.
    Code,
}

impl Form {
    /// The key, bare: `multiplier`, `backoff.multiplier`, `backoff_multiplier`.
    #[must_use]
    pub const fn name(self, key: Key) -> &'static str {
        match self {
            Form::Attribute => key.name(),
            Form::File => key.path(),
            Form::Code => key.field(),
        }
    }

    /// The key as the subject of a message: `backoff multiplier` or `` `max_children` ``
    /// in the attribute, in backticks elsewhere.
    #[must_use]
    pub fn subject(self, key: Key) -> String {
        match (self, key.list()) {
            (Form::Attribute, Some(list)) => format!("{} {}", list.name(), key.name()),
            _ => format!("`{}`", self.name(key)),
        }
    }

    /// `` `0.5` is `` in the attribute (after the subject), `is 0.5,` elsewhere.
    fn is(self, value: impl Display) -> String {
        match self {
            Form::Attribute => format!("`{value}` is"),
            Form::File | Form::Code => format!("is {value},"),
        }
    }

    /// A value mentioned in a message: in backticks in the attribute.
    fn value(self, value: impl Display) -> String {
        match self {
            Form::Attribute => format!("`{value}`"),
            Form::File | Form::Code => value.to_string(),
        }
    }

    /// What to write, for a help line: `` `period = "5m"` `` in the attribute and a file,
    /// the bare value (`5m`) in code.
    fn example(self, key: Key, value: &str) -> String {
        match self {
            Form::Attribute | Form::File => format!("`{} = {value}`", key.name()),
            Form::Code => value.trim_matches('"').to_owned(),
        }
    }
}

/// A value that breaks a rule: see the functions of [`rules`](crate::rules).
///
/// ```
/// use hassette_spec::{Form, Key, rules};
///
/// let violation = rules::budget(0, std::time::Duration::from_secs(60)).unwrap_err();
/// assert_eq!(violation.key(), Key::BudgetIntensity);
/// assert_eq!(
///     violation.message(Form::Code),
///     "`budget_intensity` must be at least 1: a budget of 0 restarts never restarts"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    key: Key,
    problem: Problem,
}

/// What is wrong, with the values the message shows.
#[derive(Debug, Clone, PartialEq)]
enum Problem {
    NoRestarts,
    EmptyPeriod,
    Multiplier(f64),
    Jitter(f64),
    MaxBelowBase { max: Duration, base: Bound },
    BaseAboveMax { base: Duration, max: Bound },
    NoChildren,
    NoWatchdog,
    NeverRestarted,
    NoCooldown,
    NotSupervised,
    ServiceOnly,
}

impl Violation {
    fn new(key: Key, problem: Problem) -> Self {
        Violation { key, problem }
    }

    /// The key whose value breaks the rule.
    #[must_use]
    pub fn key(&self) -> Key {
        self.key
    }

    /// The whole message: the key, then [`problem`](Self::problem).
    #[must_use]
    pub fn message(&self, form: Form) -> String {
        format!("{} {}", form.subject(self.key), self.problem(form))
    }

    /// What is wrong, after the key: "must be longer than zero".
    #[must_use]
    pub fn problem(&self, form: Form) -> String {
        match &self.problem {
            Problem::NoRestarts => "must be at least 1: a budget of 0 restarts never restarts".into(),
            Problem::EmptyPeriod => "must be longer than zero".into(),
            Problem::Multiplier(m) => format!("{} {}", form.is(format_args!("{m:?}")), multiplier_problem(*m)),
            Problem::Jitter(j) => format!("{} {}", form.is(format_args!("{j:?}")), jitter_problem(*j)),
            Problem::MaxBelowBase { max, base } => format!(
                "{} less than {}{} {}",
                form.is(format_duration(*max)),
                base.default_in(form),
                form.name(Key::BackoffBase),
                form.value(format_duration(base.value))
            ),
            Problem::BaseAboveMax { base, max } => format!(
                "{} more than {}{} {}",
                form.is(format_duration(*base)),
                max.default_in(form),
                form.name(Key::BackoffMax),
                form.value(format_duration(max.value))
            ),
            Problem::NoChildren => "must be at least 1: a limit of 0 would refuse every child".into(),
            Problem::NoWatchdog => "must be longer than zero: a watchdog of 0 fails every run".into(),
            Problem::NeverRestarted => "contradicts `restart = \"temporary\"`: a temporary service is never restarted".into(),
            Problem::NoCooldown => "has no effect on a permanent service: when its budget is exhausted it crashes the application".into(),
            Problem::NotSupervised => match form {
                Form::Attribute => "is a supervision key, and resources are not supervised",
                Form::File | Form::Code => "is a restart key, and resources are never restarted",
            }
            .into(),
            Problem::ServiceOnly => match self.key {
                Key::Critical => "is for services; a resource always holds back readiness, since its dependants wait for it",
                _ => "is for services; children are added by a running service",
            }
            .into(),
        }
    }

    /// What to write instead.
    #[must_use]
    pub fn help(&self, form: Form) -> String {
        let name = form.name(self.key);
        match &self.problem {
            Problem::NoRestarts => "allow 1 or more restarts, or use `restart = \"temporary\"` for a service that is never restarted".into(),
            Problem::EmptyPeriod => format!(
                "write the window the restarts are counted in, like {}",
                form.example(Key::BudgetPeriod, Key::BudgetPeriod.example())
            ),
            Problem::Multiplier(_) => format!(
                "write {} for a constant delay, or more to grow it",
                form.example(Key::BackoffMultiplier, "1.0")
            ),
            Problem::Jitter(_) => format!(
                "write a fraction from 0.0 to 1.0, like {}: each delay is then drawn from 80% to 100% of its backoff",
                form.example(Key::BackoffJitter, Key::BackoffJitter.example())
            ),
            Problem::MaxBelowBase { .. } => format!(
                "make `{name}` at least as long as `{}`: it caps the growing delay",
                form.name(Key::BackoffBase)
            ),
            Problem::BaseAboveMax { base, .. } => raise_the_max(form, *base),
            Problem::NoChildren => format!("write at least 1, or leave `{name}` out for no limit"),
            Problem::NoWatchdog => format!(
                "write the longest a run may go without `ctx.heartbeat()`, like {}, or leave `{name}` out for none",
                form.example(Key::Watchdog, Key::Watchdog.example())
            ),
            Problem::NeverRestarted => leave_out(form, || {
                format!("remove `{name}`, or use `restart = \"transient\"` to restart after failures")
            }),
            Problem::NoCooldown => leave_out(form, || {
                format!("remove `{name}`, or use `restart = \"transient\"` to cool down and retry")
            }),
            Problem::NotSupervised => leave_out(form, || {
                "remove it; a type that runs a task and needs a restart policy is a \
                 `#[service(...)]` with a `serve` method"
                    .into()
            }),
            Problem::ServiceOnly => leave_out(form, || {
                "remove it, or make the type a `#[service(...)]` with a `serve` method".into()
            }),
        }
    }
}

/// In the attribute, `in_attribute`; elsewhere (where the restart type or the kind of
/// the type is not written next to the key), "leave it out".
fn leave_out(form: Form, in_attribute: impl FnOnce() -> String) -> String {
    match form {
        Form::Attribute => in_attribute(),
        Form::File | Form::Code => "leave it out".into(),
    }
}

/// The help for a base written above the max it was not written with.
fn raise_the_max(form: Form, base: Duration) -> String {
    let (base, max) = (
        format_duration(base),
        format_duration(base.saturating_mul(10)),
    );
    match form {
        Form::Attribute => format!(
            "add a `max` at least as long, like `backoff(base = \"{base}\", max = \"{max}\")`"
        ),
        Form::File => format!(
            "add a `max` at least as long, like `backoff = {{ base = \"{base}\", max = \"{max}\" }}`"
        ),
        Form::Code => {
            "lower it, or raise `backoff_max` at least as high: the max caps the growing delay"
                .into()
        }
    }
}

fn multiplier_problem(m: f64) -> &'static str {
    if m.is_nan() {
        "not a number"
    } else if m.is_infinite() {
        "not a finite number"
    } else {
        "less than 1.0, so each delay would be shorter than the last"
    }
}

fn jitter_problem(j: f64) -> &'static str {
    if j.is_nan() {
        "not a number"
    } else if j > 1.0 {
        "more than 1.0, so a delay would be cut by more than its length"
    } else {
        "negative, so a delay would be longer than its backoff"
    }
}

/// One end of the backoff, and whether it was written next to the other (the attribute
/// says "the default max" of one that was not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The duration.
    pub value: Duration,
    /// Whether it was written, not kept from a default.
    pub written: bool,
}

impl Bound {
    /// A bound written by the user.
    #[must_use]
    pub const fn written(value: Duration) -> Self {
        Bound {
            value,
            written: true,
        }
    }

    /// `value` when written, else `default`.
    #[must_use]
    pub const fn or_default(value: Option<Duration>, default: Duration) -> Self {
        match value {
            Some(value) => Bound::written(value),
            None => Bound {
                value: default,
                written: false,
            },
        }
    }

    fn default_in(self, form: Form) -> &'static str {
        match (self.written, form) {
            (false, Form::Attribute) => "the default ",
            _ => "",
        }
    }
}

/// `budget(intensity)`: at least one restart.
///
/// # Errors
///
/// An intensity of 0, on [`Key::BudgetIntensity`].
pub fn intensity(intensity: u32) -> Result<(), Violation> {
    match intensity {
        0 => Err(Violation::new(Key::BudgetIntensity, Problem::NoRestarts)),
        _ => Ok(()),
    }
}

/// `budget(period)`: a window longer than zero.
///
/// # Errors
///
/// A zero period, on [`Key::BudgetPeriod`].
pub fn period(period: Duration) -> Result<(), Violation> {
    if period.is_zero() {
        return Err(Violation::new(Key::BudgetPeriod, Problem::EmptyPeriod));
    }
    Ok(())
}

/// A budget, a service's or a group's: [`intensity`], then [`period`].
///
/// # Errors
///
/// The first of the two that breaks its rule.
pub fn budget(intensity: u32, period: Duration) -> Result<(), Violation> {
    self::intensity(intensity)?;
    self::period(period)
}

/// `backoff(multiplier)`: each delay at least the last, a finite 1.0 or more.
///
/// # Errors
///
/// A multiplier below 1.0, infinite or NaN, on [`Key::BackoffMultiplier`].
pub fn multiplier(multiplier: f64) -> Result<(), Violation> {
    if multiplier.is_finite() && multiplier >= 1.0 {
        return Ok(());
    }
    Err(Violation::new(
        Key::BackoffMultiplier,
        Problem::Multiplier(multiplier),
    ))
}

/// `backoff(jitter)`: a fraction of the delay, from 0.0 to 1.0.
///
/// # Errors
///
/// A jitter outside 0.0..=1.0 or NaN, on [`Key::BackoffJitter`].
pub fn jitter(jitter: f64) -> Result<(), Violation> {
    if (0.0..=1.0).contains(&jitter) {
        return Ok(());
    }
    Err(Violation::new(Key::BackoffJitter, Problem::Jitter(jitter)))
}

/// `backoff(base, max)`: the max caps the growing delay, so it is at least the base.
///
/// # Errors
///
/// A max below the base: on [`Key::BackoffMax`], or on [`Key::BackoffBase`] when the base
/// alone was written (the base is then what to change).
pub fn backoff_bounds(base: Bound, max: Bound) -> Result<(), Violation> {
    if max.value >= base.value {
        return Ok(());
    }
    Err(match (base.written, max.written) {
        (true, false) => Violation::new(
            Key::BackoffBase,
            Problem::BaseAboveMax {
                base: base.value,
                max,
            },
        ),
        _ => Violation::new(
            Key::BackoffMax,
            Problem::MaxBelowBase {
                max: max.value,
                base,
            },
        ),
    })
}

/// `max_children`: a limit of at least one child.
///
/// # Errors
///
/// A limit of 0, on [`Key::MaxChildren`].
pub fn max_children(limit: u32) -> Result<(), Violation> {
    match limit {
        0 => Err(Violation::new(Key::MaxChildren, Problem::NoChildren)),
        _ => Ok(()),
    }
}

/// `watchdog`: the longest a run may go without a heartbeat, longer than zero.
///
/// ```
/// use std::time::Duration;
/// use hassette_spec::{Form, Key, rules};
///
/// assert!(rules::watchdog(Duration::from_secs(10)).is_ok());
/// let zero = rules::watchdog(Duration::ZERO).unwrap_err();
/// assert_eq!(zero.key(), Key::Watchdog);
/// assert_eq!(zero.message(Form::Attribute), "`watchdog` must be longer than zero: a watchdog of 0 fails every run");
/// ```
///
/// # Errors
///
/// A zero duration, on [`Key::Watchdog`].
pub fn watchdog(limit: Duration) -> Result<(), Violation> {
    match limit.is_zero() {
        true => Err(Violation::new(Key::Watchdog, Problem::NoWatchdog)),
        false => Ok(()),
    }
}

/// Whether `key` means something for `target`: no supervision key on a resource, no
/// restart tuning on a temporary service, no cooldown on a permanent one.
///
/// # Errors
///
/// The contradiction, on `key`.
pub fn applies(key: Key, target: Target) -> Result<(), Violation> {
    let problem = match target {
        Target::Resource => match key.top() {
            Key::MaxChildren | Key::Critical => Some(Problem::ServiceOnly),
            top if Key::RESOURCE.contains(&top) => None,
            _ => Some(Problem::NotSupervised),
        },
        Target::Service(Restart::Temporary) => {
            key.tunes_restarts().then_some(Problem::NeverRestarted)
        }
        Target::Service(Restart::Permanent) => key.tunes_cooldown().then_some(Problem::NoCooldown),
        Target::Service(Restart::Transient) => None,
    };
    match problem {
        Some(problem) => Err(Violation::new(key, problem)),
        None => Ok(()),
    }
}

/// The values of a spec that restarts (a permanent or transient service's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Restarts {
    /// `budget(intensity)`.
    pub intensity: u32,
    /// `budget(period)`.
    pub period: Duration,
    /// `backoff(multiplier)`.
    pub multiplier: f64,
    /// `backoff(jitter)`.
    pub jitter: f64,
    /// `backoff(base)`.
    pub base: Bound,
    /// `backoff(max)`.
    pub max: Bound,
}

/// Every rule of a spec that restarts, in order: [`budget`], [`multiplier`], [`jitter`],
/// [`backoff_bounds`]. (A temporary service's restart values are never read: nothing to
/// check.)
///
/// # Errors
///
/// The first rule broken.
pub fn restarts(spec: &Restarts) -> Result<(), Violation> {
    budget(spec.intensity, spec.period)?;
    multiplier(spec.multiplier)?;
    jitter(spec.jitter)?;
    backoff_bounds(spec.base, spec.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// `(message, help)` of a broken rule in `form`.
    fn told(verdict: Result<(), Violation>, form: Form) -> (String, String) {
        let violation = verdict.expect_err("the rule is broken");
        (violation.message(form), violation.help(form))
    }

    #[test]
    fn each_rule_refuses_its_values_only() {
        assert!(budget(1, Duration::from_nanos(1)).is_ok());
        assert_eq!(
            budget(0, Duration::ZERO).unwrap_err().key(),
            Key::BudgetIntensity
        );
        assert_eq!(
            budget(1, Duration::ZERO).unwrap_err().key(),
            Key::BudgetPeriod
        );
        for ok in [1.0, 1.5, f64::MAX] {
            assert!(multiplier(ok).is_ok(), "{ok}");
        }
        for bad in [0.999, 0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(multiplier(bad).is_err(), "{bad}");
        }
        for ok in [0.0, -0.0, 0.5, 1.0] {
            assert!(jitter(ok).is_ok(), "{ok}");
        }
        for bad in [1.000_001, -0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(jitter(bad).is_err(), "{bad}");
        }
        assert!(max_children(1).is_ok());
        assert_eq!(max_children(0).unwrap_err().key(), Key::MaxChildren);
        let (zero, max) = (
            Bound::written(Duration::ZERO),
            Bound::written(Duration::MAX),
        );
        assert!(backoff_bounds(zero, zero).is_ok());
        assert!(backoff_bounds(max, max).is_ok());
        // Told on the max, unless the base alone was written.
        let kept = Bound::or_default(None, secs(1));
        assert_eq!(
            backoff_bounds(max, zero).unwrap_err().key(),
            Key::BackoffMax
        );
        assert_eq!(
            backoff_bounds(kept, zero).unwrap_err().key(),
            Key::BackoffMax
        );
        let high = Bound::written(secs(2));
        assert_eq!(
            backoff_bounds(high, kept).unwrap_err().key(),
            Key::BackoffBase
        );
    }

    #[test]
    fn which_keys_apply_to_what() {
        let temporary = Target::Service(Restart::Temporary);
        let permanent = Target::Service(Restart::Permanent);
        let transient = Target::Service(Restart::Transient);
        for key in [
            Key::Backoff,
            Key::BackoffJitter,
            Key::Budget,
            Key::StableAfter,
            Key::Cooldown,
        ] {
            assert!(applies(key, temporary).is_err(), "{key:?}");
        }
        for key in [Key::Cooldown, Key::MaxCooldownCycles] {
            assert!(applies(key, permanent).is_err(), "{key:?}");
            assert!(applies(key, transient).is_ok(), "{key:?}");
        }
        for &key in Key::SERVICE {
            assert_eq!(
                applies(key, Target::Resource).is_ok(),
                Key::RESOURCE.contains(&key),
                "{key:?}"
            );
            assert!(applies(key, transient).is_ok(), "{key:?}");
        }
        assert!(applies(Key::BackoffBase, Target::Resource).is_err());
    }

    /// The attribute's words are those of the ui suite (`ui-tests/fail/*.stderr`).
    #[test]
    fn in_the_attribute() {
        let at = Form::Attribute;
        assert_eq!(
            told(multiplier(0.5), at),
            (
                "backoff multiplier `0.5` is less than 1.0, so each delay would be shorter than the last".into(),
                "write `multiplier = 1.0` for a constant delay, or more to grow it".into()
            )
        );
        assert_eq!(
            told(jitter(-0.2), at).0,
            "backoff jitter `-0.2` is negative, so a delay would be longer than its backoff"
        );
        assert_eq!(
            told(jitter(2.0), at),
            (
                "backoff jitter `2.0` is more than 1.0, so a delay would be cut by more than its length".into(),
                "write a fraction from 0.0 to 1.0, like `jitter = 0.2`: each delay is then drawn from 80% to 100% of its backoff".into()
            )
        );
        assert_eq!(
            told(
                backoff_bounds(Bound::written(secs(10)), Bound::written(secs(1))),
                at
            ),
            (
                "backoff max `1s` is less than base `10s`".into(),
                "make `max` at least as long as `base`: it caps the growing delay".into()
            )
        );
        let default_base = Bound::or_default(None, secs(2));
        assert_eq!(
            told(
                backoff_bounds(default_base, Bound::written(Duration::from_millis(1999))),
                at
            )
            .0,
            "backoff max `1s999ms` is less than the default base `2s`"
        );
        let default_max = Bound::or_default(None, secs(60));
        assert_eq!(
            told(backoff_bounds(Bound::written(secs(300)), default_max), at),
            (
                "backoff base `5m` is more than the default max `1m`".into(),
                "add a `max` at least as long, like `backoff(base = \"5m\", max = \"50m\")`".into()
            )
        );
        assert_eq!(
            told(intensity(0), at),
            (
                "budget intensity must be at least 1: a budget of 0 restarts never restarts".into(),
                "allow 1 or more restarts, or use `restart = \"temporary\"` for a service that is never restarted".into()
            )
        );
        assert_eq!(
            told(period(Duration::ZERO), at),
            (
                "budget period must be longer than zero".into(),
                "write the window the restarts are counted in, like `period = \"5m\"`".into()
            )
        );
        assert_eq!(
            told(applies(Key::Backoff, Target::Service(Restart::Temporary)), at),
            (
                "`backoff` contradicts `restart = \"temporary\"`: a temporary service is never restarted".into(),
                "remove `backoff`, or use `restart = \"transient\"` to restart after failures".into()
            )
        );
        assert_eq!(
            told(
                applies(Key::Cooldown, Target::Service(Restart::Permanent)),
                at
            )
            .0,
            "`cooldown` has no effect on a permanent service: when its budget is exhausted it crashes the application"
        );
        assert_eq!(
            told(applies(Key::Restart, Target::Resource), at).0,
            "`restart` is a supervision key, and resources are not supervised"
        );
        assert_eq!(
            told(applies(Key::Critical, Target::Resource), at),
            (
                "`critical` is for services; a resource always holds back readiness, since its dependants wait for it".into(),
                "remove it, or make the type a `#[service(...)]` with a `serve` method".into()
            )
        );
    }

    /// Rust code names the field, shows a value bare, and says to leave out what means
    /// nothing.
    #[test]
    fn in_code_and_in_a_file() {
        let code = |verdict| {
            let (message, help) = told(verdict, Form::Code);
            format!("{message}; {help}")
        };
        assert_eq!(
            code(period(Duration::ZERO)),
            "`budget_period` must be longer than zero; write the window the restarts are counted in, like 5m"
        );
        assert_eq!(
            code(multiplier(f64::NAN)),
            "`backoff_multiplier` is NaN, not a number; write 1.0 for a constant delay, or more to grow it"
        );
        assert_eq!(
            code(backoff_bounds(
                Bound::written(secs(90)),
                Bound::written(Duration::from_millis(250))
            )),
            "`backoff_max` is 250ms, less than backoff_base 1m30s; make `backoff_max` at least as long as `backoff_base`: it caps the growing delay"
        );
        assert_eq!(
            code(max_children(0)),
            "`max_children` must be at least 1: a limit of 0 would refuse every child; write at least 1, or leave `max_children` out for no limit"
        );
        assert_eq!(
            code(applies(
                Key::BackoffJitter,
                Target::Service(Restart::Temporary)
            )),
            "`backoff_jitter` contradicts `restart = \"temporary\"`: a temporary service is never restarted; leave it out"
        );
        assert_eq!(
            code(applies(Key::BackoffBase, Target::Resource)),
            "`backoff_base` is a restart key, and resources are never restarted; leave it out"
        );
        let file = told(multiplier(0.5), Form::File);
        assert_eq!(
            file,
            (
                "`backoff.multiplier` is 0.5, less than 1.0, so each delay would be shorter than the last".into(),
                "write `multiplier = 1.0` for a constant delay, or more to grow it".into()
            )
        );
        let default_max = Bound::or_default(None, secs(60));
        assert_eq!(
            told(
                backoff_bounds(Bound::written(secs(300)), default_max),
                Form::File
            ),
            (
                "`backoff.base` is 5m, more than backoff.max 1m".into(),
                "add a `max` at least as long, like `backoff = { base = \"5m\", max = \"50m\" }`"
                    .into()
            )
        );
    }
}
