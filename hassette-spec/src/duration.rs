//! Durations as the attribute and a settings file spell them: `"250ms"`, `"2s"`, `"5m"`,
//! `"1h"`, and combinations from the largest unit to the smallest like `"1m30s"`. One
//! parser and one formatter, so what a message prints is what a user may write.

use std::fmt;
use std::time::Duration;

/// The units, from the largest, with their length in nanoseconds.
const UNITS: [(&str, u128); 4] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

/// Parses a duration: a whole number and a unit (`ms`, `s`, `m` or `h`), or several from
/// the largest unit to the smallest, each once, like `"1h30m"` or `"1m30s"`. `"0s"` is zero.
///
/// # Errors
///
/// A [`DurationError`] saying what is wrong with `text`; [`DurationError::FORMS`] lists
/// what is accepted.
///
/// ```
/// use std::time::Duration;
/// use hassette_spec::parse_duration;
///
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// let error = parse_duration("1.5s").unwrap_err();
/// assert_eq!(error.problem().to_string(), "it has a fraction; use a smaller unit instead");
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |problem| DurationError {
        input: text.to_owned(),
        problem,
    };
    if text.is_empty() {
        return Err(fail(Problem::Empty));
    }
    let mut rest = text;
    let mut nanos: u128 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let (index, value, after) = term(rest).map_err(fail)?;
        if last_unit.is_some_and(|last| last >= index) {
            return Err(fail(Problem::OutOfOrder));
        }
        last_unit = Some(index);
        nanos = value
            .checked_mul(UNITS[index].1)
            .and_then(|n| nanos.checked_add(n))
            .ok_or(fail(Problem::TooLong))?;
        rest = after;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| fail(Problem::TooLong))?;
    // Below one billion, so it fits.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

/// One number and its unit at the start of `text`: the unit's index in [`UNITS`], the
/// number, and what follows.
fn term(text: &str) -> Result<(usize, u128, &str), Problem> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(Problem::ExpectedNumber(text.to_owned()));
    }
    let (number, after) = text.split_at(digits);
    let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
    let (unit, after) = after.split_at(letters);
    if unit.is_empty() {
        return Err(match after.chars().next() {
            None => Problem::NoUnit(number.to_owned()),
            Some(c) if c.is_whitespace() => Problem::Space,
            Some('.' | ',') => Problem::Fraction,
            Some(c) => Problem::Unexpected(c, number.to_owned()),
        });
    }
    let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
        return Err(Problem::UnknownUnit(unit.to_owned()));
    };
    let value = number
        .parse()
        .map_err(|_| Problem::TooLarge(number.to_owned()))?;
    Ok((index, value, after))
}

/// A text that is not a duration: see [`parse_duration`].
///
/// It prints as `invalid duration "…": <problem>; write <FORMS>`; the attribute and the
/// settings file print [`problem`](Self::problem) with the key it was written for instead.
///
/// ```
/// use hassette_spec::parse_duration;
///
/// let error = parse_duration("5 seconds").unwrap_err();
/// assert_eq!(error.input(), "5 seconds");
/// assert_eq!(error.problem().to_string(), "it contains a space");
/// assert!(error.to_string().starts_with("invalid duration \"5 seconds\": it contains a space; write a whole number"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    problem: Problem,
}

/// What is wrong with a duration's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Empty,
    /// Where a number was expected.
    ExpectedNumber(String),
    /// The number without a unit.
    NoUnit(String),
    Space,
    Fraction,
    /// The character, after the number.
    Unexpected(char, String),
    UnknownUnit(String),
    OutOfOrder,
    /// The number.
    TooLarge(String),
    TooLong,
}

impl DurationError {
    /// The accepted forms, for a help line: "a whole number and a unit (`ms`, `s`, `m` or
    /// `h`), like `"250ms"`, …".
    pub const FORMS: &'static str = "a whole number and a unit (`ms`, `s`, `m` or `h`), like `\"250ms\"`, `\"2s\"`, `\"5m\"`, `\"1h\"` or `\"1m30s\"`";

    /// The text that was parsed.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it, like "it contains a space" or "unknown unit `sec`".
    #[must_use]
    pub fn problem(&self) -> impl fmt::Display + '_ {
        &self.problem
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("it is empty"),
            Problem::ExpectedNumber(at) => write!(f, "expected a number at `{at}`"),
            Problem::NoUnit(number) => write!(f, "`{number}` has no unit"),
            Problem::Space => f.write_str("it contains a space"),
            Problem::Fraction => f.write_str("it has a fraction; use a smaller unit instead"),
            Problem::Unexpected(c, number) => write!(f, "unexpected `{c}` after `{number}`"),
            Problem::UnknownUnit(unit) => write!(f, "unknown unit `{unit}`"),
            Problem::OutOfOrder => {
                f.write_str("units must go from the largest to the smallest, each once")
            }
            Problem::TooLarge(number) => write!(f, "`{number}` is too large"),
            Problem::TooLong => f.write_str("it is too long"),
        }
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: {}; write {}",
            self.input,
            self.problem,
            Self::FORMS
        )
    }
}

impl std::error::Error for DurationError {}

/// A duration spelt as [`parse_duration`] reads it (`1m30s`, `250ms`, `0s`), for messages;
/// one with a part finer than a millisecond as `Debug` prints it (`1.5µs`).
///
/// ```
/// use std::time::Duration;
/// use hassette_spec::{format_duration, parse_duration};
///
/// assert_eq!(format_duration(Duration::from_secs(90)).to_string(), "1m30s");
/// assert_eq!(format_duration(Duration::ZERO).to_string(), "0s");
/// for text in ["250ms", "1h2m3s4ms"] {
///     assert_eq!(format_duration(parse_duration(text).unwrap()).to_string(), text);
/// }
/// ```
#[must_use]
pub fn format_duration(duration: Duration) -> FormattedDuration {
    FormattedDuration(duration)
}

/// A duration that prints as the attribute spells it: see [`format_duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormattedDuration(Duration);

impl fmt::Display for FormattedDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if !d.subsec_nanos().is_multiple_of(1_000_000) {
            return write!(f, "{d:?}");
        }
        if d.is_zero() {
            return f.write_str("0s");
        }
        let secs = d.as_secs();
        let parts = [
            (secs / 3600, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (u64::from(d.subsec_millis()), "ms"),
        ];
        for (n, unit) in parts {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        parse_duration(text)
            .map_or_else(|e| e.problem().to_string(), |d| format!("parsed as {d:?}"))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1h2m3s4ms"),
            Ok(Duration::new(3723, 4_000_000))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn each_mistake_says_what_is_wrong() {
        assert_eq!(problem(""), "it is empty");
        assert_eq!(problem("2"), "`2` has no unit");
        assert_eq!(problem("2 s"), "it contains a space");
        assert_eq!(
            problem("1.5s"),
            "it has a fraction; use a smaller unit instead"
        );
        assert_eq!(problem("2sec"), "unknown unit `sec`");
        assert_eq!(problem("2-s"), "unexpected `-` after `2`");
        assert_eq!(problem("-1s"), "expected a number at `-1s`");
        assert_eq!(
            problem("30s1m"),
            "units must go from the largest to the smallest, each once"
        );
        assert_eq!(
            problem("1s1s"),
            "units must go from the largest to the smallest, each once"
        );
        assert_eq!(
            problem("999999999999999999999999999999999999999999h"),
            "`999999999999999999999999999999999999999999` is too large"
        );
        assert_eq!(problem("99999999999999999999999999h"), "it is too long");
        assert_eq!(problem("18446744073709551616s"), "it is too long");
    }

    #[test]
    fn formats_like_it_parses() {
        for text in ["0s", "250ms", "1m30s", "1h", "2h3m4s5ms"] {
            let parsed = parse_duration(text).map(|d| format_duration(d).to_string());
            assert_eq!(parsed.as_deref(), Ok(text));
        }
        let spelt = |d| format_duration(d).to_string();
        assert_eq!(spelt(Duration::from_secs(300)), "5m");
        assert_eq!(spelt(Duration::from_nanos(1_500)), "1.5µs");
        assert!(!spelt(Duration::MAX).is_empty());
    }
}
