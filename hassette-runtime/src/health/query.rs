//! The query strings the health server reads: `/events?after=N` and `/report?name=NAME`
//! (the name percent-encoded, as a browser's `encodeURIComponent` or `URLSearchParams`
//! writes it; `+` is a space).

use std::borrow::Cow;

/// The value of `key` in `query`, decoded: the first one, or `None` when it is not there
/// or is not UTF-8 once decoded.
fn value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k).as_deref() == Some(key)).then(|| decode(v))?
    })
}

fn decode(text: &str) -> Option<String> {
    let spaced: Cow<'_, str> = if text.contains('+') {
        text.replace('+', " ").into()
    } else {
        text.into()
    };
    let decoded = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()?;
    Some(decoded.into_owned())
}

/// `/report`'s service name (`name=`), if the query has one.
pub(super) fn name(query: &str) -> Option<String> {
    value(query, "name").filter(|name| !name.is_empty())
}

/// `/events`'s `after=N`: the last entry the reader saw (`None`: it saw none).
///
/// # Errors
///
/// The answer's text when `after` is not a number.
pub(super) fn after(query: &str) -> Result<Option<u64>, String> {
    match value(query, "after") {
        None => Ok(None),
        Some(after) if after.is_empty() => Ok(None),
        Some(after) => after.parse().map(Some).map_err(|_| {
            format!("bad request: `after` is the `seq` of the last event seen, a number; got {after:?}\n")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::{after, name};

    #[test]
    fn a_name_is_decoded() {
        assert_eq!(name("name=hub%2Flamp-1").as_deref(), Some("hub/lamp-1"));
        assert_eq!(name("x=1&name=a+b%2Bc").as_deref(), Some("a b+c"));
        assert_eq!(
            name("name=%3Cscript%3Ealert(1)%3C%2Fscript%3E").as_deref(),
            Some("<script>alert(1)</script>")
        );
        assert_eq!(name("name=%C3%A9t%C3%A9").as_deref(), Some("été"));
        assert_eq!(name(""), None);
        assert_eq!(name("name="), None);
        assert_eq!(name("name=%FF"), None, "not UTF-8");
        assert_eq!(name("names=x"), None);
    }

    #[test]
    fn after_is_a_number_or_absent() {
        assert_eq!(after(""), Ok(None));
        assert_eq!(after("after="), Ok(None));
        assert_eq!(after("after=41"), Ok(Some(41)));
        let error = after("after=-1").unwrap_err();
        assert!(error.starts_with("bad request: `after`"), "{error}");
        assert!(after(&format!("after={}", "9".repeat(100))).is_err());
    }
}
