//! Feature `serde`: [`Overrides`] from a settings file, with the attribute's keys and
//! duration grammar, checked by its rules as each value is read.
//!
//! The keys are those of `#[service(...)]` that tune a declaration ([`Key::SETTINGS`]):
//! `startup_timeout`, `shutdown_timeout`, `stable_after`, `cooldown`,
//! `max_cooldown_cycles`, `max_children`, `critical`, and the lists `backoff` and `budget` as
//! tables, so `backoff(base = "1s", max = "30s")` in the attribute is
//! `backoff = { base = "1s", max = "30s" }` in TOML. An error names the key as the file
//! writes it (`backoff.multiplier`); what needs the declared spec too (a base above the
//! max kept, a key that means nothing for the service) is checked when the overrides are
//! applied, at `build()` or `add()`.

use std::fmt;
use std::time::Duration;

use hassette_spec::rules::{self, Bound};
use hassette_spec::{DurationError, Form, Key, Violation, did_you_mean, one_of, parse_duration};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::Overrides;

/// A service's settings as a table with the attribute's keys: `startup_timeout`,
/// `shutdown_timeout`, `stable_after`, `cooldown`, `max_cooldown_cycles`, `max_children`,
/// `critical`, and `backoff` and `budget` as tables (see [`Overrides`]'s "From a file").
///
/// ```
/// use std::time::Duration;
/// use hassette_runtime::Overrides;
/// # use serde::de::IntoDeserializer;
/// # type E = serde::de::value::Error;
/// # fn from_pairs(pairs: Vec<(&'static str, &'static str)>) -> Result<Overrides, E> {
/// #     serde::Deserialize::deserialize(serde::de::value::MapDeserializer::<_, E>::new(pairs.into_iter()))
/// # }
/// let overrides = from_pairs(vec![("shutdown_timeout", "1m30s")]).unwrap();
/// assert_eq!(overrides, Overrides::new().shutdown_timeout(Duration::from_secs(90)));
/// let error = from_pairs(vec![("shutdown_timout", "1s")]).unwrap_err();
/// assert!(error.to_string().ends_with("did you mean `shutdown_timeout`?"));
/// ```
impl<'de> serde::Deserialize<'de> for Overrides {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut overrides = Overrides::new();
        deserializer.deserialize_map(Table {
            list: None,
            into: &mut overrides,
        })?;
        Ok(overrides)
    }
}

/// The top-level table of a service's settings (`list` none), or the table of `backoff`
/// or `budget`, read into `into`.
struct Table<'a> {
    list: Option<Key>,
    into: &'a mut Overrides,
}

impl<'de> DeserializeSeed<'de> for Table<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Table<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.list {
            Some(list) => write!(
                f,
                "a table of {}",
                one_of(&Key::names(list.entries()), false)
            ),
            None => f.write_str("a table of a service's settings"),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let keys = self.list.map_or(Key::SETTINGS, Key::entries);
        while let Some(name) = map.next_key::<String>()? {
            let Some(key) = Key::find(&name, keys) else {
                return Err(de::Error::custom(unknown_key(&name, self.list)));
            };
            self.into.read(key, &mut map)?;
        }
        match self.list {
            Some(Key::Backoff) => self.into.check_bounds().map_err(broken),
            _ => Ok(()),
        }
    }
}

impl Overrides {
    /// The value of `key`, read from `map` into its field and checked by its rule.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::StartupTimeout => set(key, &mut self.startup_timeout, duration(key, map)?),
            Key::ShutdownTimeout => set(key, &mut self.shutdown_timeout, duration(key, map)?),
            Key::StableAfter => set(key, &mut self.stable_after, duration(key, map)?),
            Key::Cooldown => set(key, &mut self.cooldown, duration(key, map)?),
            Key::BackoffBase => set(key, &mut self.backoff_base, duration(key, map)?),
            Key::BackoffMax => set(key, &mut self.backoff_max, duration(key, map)?),
            Key::BudgetPeriod => {
                let period = duration(key, map)?;
                rules::period(period).map_err(broken)?;
                set(key, &mut self.budget_period, period)
            }
            Key::BackoffMultiplier => {
                let multiplier = map.next_value::<f64>()?;
                rules::multiplier(multiplier).map_err(broken)?;
                set(key, &mut self.backoff_multiplier, multiplier)
            }
            Key::BackoffJitter => {
                let jitter = map.next_value::<f64>()?;
                rules::jitter(jitter).map_err(broken)?;
                set(key, &mut self.backoff_jitter, jitter + 0.0)
            }
            Key::BudgetIntensity => {
                let intensity = map.next_value::<u32>()?;
                rules::intensity(intensity).map_err(broken)?;
                set(key, &mut self.budget_intensity, intensity)
            }
            Key::MaxCooldownCycles => set(key, &mut self.max_cooldown_cycles, map.next_value()?),
            Key::MaxChildren => {
                let limit = map.next_value::<u32>()?;
                rules::max_children(limit).map_err(broken)?;
                set(key, &mut self.max_children, limit)
            }
            Key::Critical => set(key, &mut self.critical, map.next_value::<bool>()?),
            Key::Watchdog => {
                let limit = duration(key, map)?;
                rules::watchdog(limit).map_err(broken)?;
                set(key, &mut self.watchdog, limit)
            }
            Key::Backoff | Key::Budget => map.next_value_seed(Table {
                list: Some(key),
                into: self,
            }),
            // Not settings: `Key::SETTINGS` does not hold them, so they are never read.
            Key::Restart
            | Key::Fatal
            | Key::NonRetryable
            | Key::DependsOn
            | Key::Ready
            | Key::Name
            | Key::Crate => Err(de::Error::custom(unknown_key(key.name(), None))),
        }
    }

    /// `backoff.max` at least `backoff.base`, when the file gives both.
    fn check_bounds(&self) -> Result<(), Violation> {
        match (self.backoff_base, self.backoff_max) {
            (Some(base), Some(max)) => {
                rules::backoff_bounds(Bound::written(base), Bound::written(max))
            }
            _ => Ok(()),
        }
    }
}

/// Records a value, once.
fn set<T, E: de::Error>(key: Key, slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format_args!("`{}` is given twice", key.path())));
    }
    *slot = Some(value);
    Ok(())
}

/// A rule broken, told with the file's name of the key.
fn broken<E: de::Error>(violation: Violation) -> E {
    E::custom(format_args!(
        "{}; {}",
        violation.message(Form::File),
        violation.help(Form::File)
    ))
}

/// A duration of `key`, in the attribute's grammar.
fn duration<'de, A: MapAccess<'de>>(key: Key, map: &mut A) -> Result<Duration, A::Error> {
    map.next_value_seed(DurationOf(key))
}

struct DurationOf(Key);

impl<'de> DeserializeSeed<'de> for DurationOf {
    type Value = Duration;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Duration, D::Error> {
        // `any`, not `str`: a number gets its own help (a settings file is self-describing).
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for DurationOf {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` as a duration, {}",
            self.0.path(),
            DurationError::FORMS
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse_duration(text).map_err(|error| {
            E::custom(format_args!(
                "invalid duration `{text:?}` for `{}`: {}; write {}",
                self.0.path(),
                error.problem(),
                DurationError::FORMS
            ))
        })
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
        Err(E::custom(format_args!(
            "`{}` must be a string with a unit; write `\"{n}s\"` for {n} seconds, or \
             `\"{n}ms\"` for milliseconds",
            self.0.path()
        )))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
        }
    }
}

/// The error of a key that is not a setting of `list` (the top level when `None`): with
/// "did you mean", or what to write instead.
fn unknown_key(name: &str, list: Option<Key>) -> String {
    let keys = list.map_or(Key::SETTINGS, Key::entries);
    let names = Key::names(keys);
    let place = match list {
        Some(list) => format!("in `{list}`"),
        None => "in a service's settings".to_owned(),
    };
    if let Some(close) = did_you_mean(name, &names, strsim::osa_distance) {
        return format!("unknown key `{name}` {place}; did you mean `{close}`?");
    }
    // `backoff_base`, as Rust code names it: the file writes it as the attribute does.
    let nested = [Key::Backoff, Key::Budget]
        .into_iter()
        .flat_map(Key::entries)
        .find(|key| key.field() == name || key.path() == name);
    if let (None, Some(key)) = (list, nested) {
        let list = key.top();
        return format!(
            "unknown key `{name}` {place}; write it in the table of `{list}`: \
             `{list} = {{ {} = {} }}`",
            key.name(),
            key.example()
        );
    }
    if list.is_none() && Key::find(name, Key::SERVICE).is_some() {
        return format!(
            "`{name}` is not a setting: it is declared with the type, in `#[service(...)]`; \
             a settings file sets {}",
            one_of(&names, false)
        );
    }
    format!(
        "unknown key `{name}` {place}; the keys are {}",
        one_of(&names, false)
    )
}
