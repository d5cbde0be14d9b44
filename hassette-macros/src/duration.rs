//! Durations as the attribute spells them: `"250ms"`, `"2s"`, `"5m"`, `"1h"`, and
//! combinations from the largest unit to the smallest like `"1m30s"`.

use std::time::Duration;

/// The accepted duration forms, for help lines.
pub(crate) const DURATION_FORMS: &str = "a whole number and a unit (`ms`, `s`, `m` or `h`), like `\"250ms\"`, `\"2s\"`, `\"5m\"`, `\"1h\"` or `\"1m30s\"`";

/// A duration the way the attribute spells it: `1m30s`, `250ms`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let mut out = String::new();
    let secs = d.as_secs();
    let (h, m, s, ms) = (secs / 3600, secs / 60 % 60, secs % 60, d.subsec_millis());
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (u64::from(ms), "ms")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Parses `"250ms"`, `"2s"`, `"5m"`, `"1h"` and combinations from the largest unit to
/// the smallest, like `"1h30m"` or `"1m30s"`. `"0s"` is zero.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: &[(&str, u128)] = &[
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }
    let mut rest = text;
    let mut nanos: u128 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        if unit.is_empty() {
            return Err(match after.chars().next() {
                None => format!("`{number}` has no unit"),
                Some(c) if c.is_whitespace() => "it contains a space".to_owned(),
                Some('.' | ',') => "it has a fraction; use a smaller unit instead".to_owned(),
                Some(c) => format!("unexpected `{c}` after `{number}`"),
            });
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit `{unit}`"));
        };
        if last_unit.is_some_and(|last| last >= index) {
            return Err("units must go from the largest to the smallest, each once".to_owned());
        }
        last_unit = Some(index);
        let value: u128 = number
            .parse()
            .map_err(|_| format!("`{number}` is too large"))?;
        nanos = value
            .checked_mul(UNITS[index].1)
            .and_then(|n| nanos.checked_add(n))
            .ok_or_else(|| "it is too long".to_owned())?;
        rest = after;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| "it is too long".to_owned())?;
    // Below one billion, so it fits.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parse_duration("").is_err());
        assert!(parse_duration("2").is_err_and(|e| e.contains("no unit")));
        assert!(parse_duration("2 s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("2sec").is_err_and(|e| e.contains("unknown unit")));
        assert!(parse_duration("30s1m").is_err());
        assert!(parse_duration("1s1s").is_err());
        assert!(parse_duration("99999999999999999999999999h").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn formats_like_it_parses() {
        for text in ["0s", "250ms", "1m30s", "1h", "2h3m4s5ms"] {
            assert_eq!(
                parse_duration(text).map(format_duration).as_deref(),
                Ok(text)
            );
        }
    }
}
