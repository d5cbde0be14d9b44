//! The keys of a declaration, once: their names in the attribute, in a settings file and
//! in Rust code, which lists hold them, and where each may be written.

use std::fmt;

use crate::listed::listed;

/// A key of `#[service(...)]` or `#[resource(...)]`, or of a list in it
/// (`backoff(base)`, `budget(period)`).
///
/// ```
/// use hassette_spec::Key;
///
/// let key = Key::BackoffMultiplier;
/// assert_eq!(key.name(), "multiplier");
/// assert_eq!(key.list(), Some(Key::Backoff));
/// assert_eq!(key.field(), "backoff_multiplier"); // `RestartSpec`'s field, `Overrides`' method
/// assert_eq!(key.path(), "backoff.multiplier"); // in a settings file
/// assert_eq!(Key::find("multiplier", Key::Backoff.entries()), Some(key));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// `restart = "permanent" | "transient" | "temporary"`.
    Restart,
    /// `backoff(base, multiplier, max, jitter)`.
    Backoff,
    /// `backoff(base = "2s")`.
    BackoffBase,
    /// `backoff(multiplier = 2.0)`.
    BackoffMultiplier,
    /// `backoff(max = "60s")`.
    BackoffMax,
    /// `backoff(jitter = 0.2)`.
    BackoffJitter,
    /// `budget(intensity, period)`.
    Budget,
    /// `budget(intensity = 5)`.
    BudgetIntensity,
    /// `budget(period = "5m")`.
    BudgetPeriod,
    /// `startup_timeout = "30s"`.
    StartupTimeout,
    /// `shutdown_timeout = "5s"`.
    ShutdownTimeout,
    /// `stable_after = "60s"`.
    StableAfter,
    /// `cooldown = "5m"`.
    Cooldown,
    /// `max_cooldown_cycles = 3`.
    MaxCooldownCycles,
    /// `fatal(ErrorType, ...)`.
    Fatal,
    /// `non_retryable(ErrorType, ...)`.
    NonRetryable,
    /// `depends_on(Type, ...)`.
    DependsOn,
    /// `ready = "auto" | "manual"`.
    Ready,
    /// `max_children = 100`.
    MaxChildren,
    /// `critical = false`.
    Critical,
    /// `watchdog = "10s"`.
    Watchdog,
    /// `name = "ticker"`.
    Name,
    /// `crate = "::my_crate::hassette"`.
    Crate,
}

impl Key {
    /// The keys of `#[service(...)]`, in the order of the documentation.
    pub const SERVICE: &'static [Key] = &[
        Key::Restart,
        Key::Backoff,
        Key::Budget,
        Key::StartupTimeout,
        Key::ShutdownTimeout,
        Key::StableAfter,
        Key::Cooldown,
        Key::MaxCooldownCycles,
        Key::Fatal,
        Key::NonRetryable,
        Key::DependsOn,
        Key::Ready,
        Key::MaxChildren,
        Key::Critical,
        Key::Watchdog,
        Key::Name,
        Key::Crate,
    ];

    /// The keys of `#[resource(...)]`.
    pub const RESOURCE: &'static [Key] = &[
        Key::StartupTimeout,
        Key::ShutdownTimeout,
        Key::DependsOn,
        Key::Name,
        Key::Crate,
    ];

    /// The keys of a service's settings given at run time (the runtime's `Overrides`, a
    /// settings file): the values that tune a declaration without changing what it is.
    pub const SETTINGS: &'static [Key] = &[
        Key::StartupTimeout,
        Key::ShutdownTimeout,
        Key::StableAfter,
        Key::Backoff,
        Key::Budget,
        Key::Cooldown,
        Key::MaxCooldownCycles,
        Key::MaxChildren,
        Key::Critical,
        Key::Watchdog,
    ];

    /// The key as written inside its list, or at the top level: `"multiplier"`,
    /// `"startup_timeout"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Key::Restart => "restart",
            Key::Backoff => "backoff",
            Key::BackoffBase => "base",
            Key::BackoffMultiplier => "multiplier",
            Key::BackoffMax => "max",
            Key::BackoffJitter => "jitter",
            Key::Budget => "budget",
            Key::BudgetIntensity => "intensity",
            Key::BudgetPeriod => "period",
            Key::StartupTimeout => "startup_timeout",
            Key::ShutdownTimeout => "shutdown_timeout",
            Key::StableAfter => "stable_after",
            Key::Cooldown => "cooldown",
            Key::MaxCooldownCycles => "max_cooldown_cycles",
            Key::Fatal => "fatal",
            Key::NonRetryable => "non_retryable",
            Key::DependsOn => "depends_on",
            Key::Ready => "ready",
            Key::MaxChildren => "max_children",
            Key::Critical => "critical",
            Key::Watchdog => "watchdog",
            Key::Name => "name",
            Key::Crate => "crate",
        }
    }

    /// The list it is written in, `None` for a top-level key.
    #[must_use]
    pub const fn list(self) -> Option<Key> {
        match self {
            Key::BackoffBase | Key::BackoffMultiplier | Key::BackoffMax | Key::BackoffJitter => {
                Some(Key::Backoff)
            }
            Key::BudgetIntensity | Key::BudgetPeriod => Some(Key::Budget),
            _ => None,
        }
    }

    /// The keys of a list, in the order of the documentation (none for another key).
    #[must_use]
    pub const fn entries(self) -> &'static [Key] {
        match self {
            Key::Backoff => &[
                Key::BackoffBase,
                Key::BackoffMultiplier,
                Key::BackoffMax,
                Key::BackoffJitter,
            ],
            Key::Budget => &[Key::BudgetIntensity, Key::BudgetPeriod],
            _ => &[],
        }
    }

    /// The name in Rust code: the runtime's `RestartSpec` field and `Overrides` method,
    /// like `"backoff_base"` (a top-level key keeps its name).
    #[must_use]
    pub const fn field(self) -> &'static str {
        match self {
            Key::BackoffBase => "backoff_base",
            Key::BackoffMultiplier => "backoff_multiplier",
            Key::BackoffMax => "backoff_max",
            Key::BackoffJitter => "backoff_jitter",
            Key::BudgetIntensity => "budget_intensity",
            Key::BudgetPeriod => "budget_period",
            other => other.name(),
        }
    }

    /// The name in a settings file, with its table: `"backoff.base"`.
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Key::BackoffBase => "backoff.base",
            Key::BackoffMultiplier => "backoff.multiplier",
            Key::BackoffMax => "backoff.max",
            Key::BackoffJitter => "backoff.jitter",
            Key::BudgetIntensity => "budget.intensity",
            Key::BudgetPeriod => "budget.period",
            other => other.name(),
        }
    }

    /// A value to show in a help line, as the attribute and a settings file write it:
    /// `"\"30s\""`, `"2.0"`; for a list, what goes between its parentheses
    /// (`"MyConfigError"`, `"intensity = 5, period = \"5m\""`).
    #[must_use]
    pub const fn example(self) -> &'static str {
        match self {
            Key::Restart => "\"permanent\"",
            Key::Backoff => "base = \"2s\", multiplier = 2.0, max = \"60s\"",
            Key::BackoffBase => "\"2s\"",
            Key::BackoffMultiplier => "2.0",
            Key::BackoffMax => "\"60s\"",
            Key::BackoffJitter => "0.2",
            Key::Budget => "intensity = 5, period = \"5m\"",
            Key::BudgetIntensity => "5",
            Key::BudgetPeriod => "\"5m\"",
            Key::StartupTimeout => "\"30s\"",
            Key::ShutdownTimeout => "\"5s\"",
            Key::StableAfter => "\"60s\"",
            Key::Cooldown => "\"5m\"",
            Key::MaxCooldownCycles => "3",
            Key::Fatal => "MyConfigError",
            Key::NonRetryable => "AuthError",
            Key::DependsOn => "Database",
            Key::Ready => "\"manual\"",
            Key::MaxChildren => "100",
            Key::Critical => "false",
            Key::Watchdog => "\"10s\"",
            Key::Name => "\"ticker\"",
            Key::Crate => "\"::my_crate::hassette\"",
        }
    }

    /// The key named `name` among `keys`.
    #[must_use]
    pub fn find(name: &str, keys: &[Key]) -> Option<Key> {
        keys.iter().copied().find(|key| key.name() == name)
    }

    /// The names of `keys`, for "did you mean" and "expected one of" lists.
    #[must_use]
    pub fn names(keys: &[Key]) -> Vec<&'static str> {
        keys.iter().map(|key| key.name()).collect()
    }

    /// Whether it tunes restarts, which a temporary service never has: the backoff, the
    /// budget, the cooldown and `stable_after` (and the keys of their lists).
    #[must_use]
    pub const fn tunes_restarts(self) -> bool {
        match self.top() {
            Key::Backoff | Key::Budget | Key::StableAfter => true,
            other => other.tunes_cooldown(),
        }
    }

    /// Whether it tunes the cooldown after exhaustion, which only a transient service has.
    #[must_use]
    pub const fn tunes_cooldown(self) -> bool {
        matches!(self, Key::Cooldown | Key::MaxCooldownCycles)
    }

    /// Its list, or itself for a top-level key.
    #[must_use]
    pub const fn top(self) -> Key {
        match self.list() {
            Some(list) => list,
            None => self,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

listed! {
    /// A restart type, as `restart = "..."` spells it.
    ///
    /// ```
    /// use hassette_spec::Restart;
    /// assert_eq!(Restart::from_name("transient"), Some(Restart::Transient));
    /// assert_eq!(Restart::Temporary.name(), "temporary");
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Restart {
        /// Restarted after a failure or a clean return.
        Permanent,
        /// Restarted after a failure only.
        Transient,
        /// Never restarted.
        Temporary,
    }
    /// Every restart type, in the order of the documentation.
    const ALL;
}

impl Restart {
    /// `"permanent"`, `"transient"` or `"temporary"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Restart::Permanent => "permanent",
            Restart::Transient => "transient",
            Restart::Temporary => "temporary",
        }
    }

    /// The restart type spelt `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Restart> {
        Restart::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What a key is written for: a service of a restart type, or a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A service that is restarted as its type says.
    Service(Restart),
    /// A resource, which is never restarted nor supervised.
    Resource,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_written_once_in_its_place() {
        let mut all: Vec<Key> = Key::SERVICE.to_vec();
        for list in [Key::Backoff, Key::Budget] {
            for &entry in list.entries() {
                assert_eq!(entry.list(), Some(list));
                assert_eq!(entry.top(), list);
                assert_eq!(entry.field(), format!("{}_{}", list.name(), entry.name()));
                assert_eq!(entry.path(), format!("{}.{}", list.name(), entry.name()));
                all.push(entry);
            }
        }
        for (i, key) in all.iter().enumerate() {
            assert!(!all[..i].contains(key), "{key:?} twice");
        }
        assert_eq!(all.len(), 23);
        for key in Key::RESOURCE.iter().chain(Key::SETTINGS) {
            assert!(Key::SERVICE.contains(key), "{key:?}");
        }
        assert_eq!(Key::find("budget", Key::SETTINGS), Some(Key::Budget));
        assert_eq!(Key::find("restart", Key::SETTINGS), None);
    }

    #[test]
    fn restart_tuning() {
        assert!(Key::BackoffJitter.tunes_restarts());
        assert!(Key::Cooldown.tunes_restarts());
        assert!(!Key::StartupTimeout.tunes_restarts());
        assert!(!Key::MaxChildren.tunes_restarts());
        assert!(!Key::Watchdog.tunes_restarts());
        assert!(!Key::StableAfter.tunes_cooldown());
    }
}
