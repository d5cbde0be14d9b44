//! "Did you mean": the one rule of when a misspelt name gets a suggestion, and how a list
//! of names is told.

/// The candidate closest to `input`, when it is close enough to be a likely typo: at a
/// `distance` of at most a third of the candidate's length, and at least one.
///
/// `distance` is an edit distance; the attribute and the runtime pass `strsim`'s
/// optimal-string-alignment distance (a swap of two neighbours counts as one edit), so
/// this crate needs no dependency.
///
/// ```
/// use hassette_spec::did_you_mean;
///
/// // a stand-in distance for the example: the number of differing bytes
/// fn hamming(a: &str, b: &str) -> usize {
///     a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len())
/// }
/// assert_eq!(did_you_mean("colour", &["restart", "budget"], hamming), None);
/// assert_eq!(did_you_mean("budgit", &["restart", "budget"], hamming), Some("budget"));
/// ```
#[must_use]
pub fn did_you_mean<'a>(
    input: &str,
    candidates: &[&'a str],
    distance: impl Fn(&str, &str) -> usize,
) -> Option<&'a str> {
    candidates
        .iter()
        .filter(|c| **c != input)
        .map(|c| (distance(input, c), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `` `a`, `b` or `c` ``: the candidates in backticks (and in quotes when `quoted`), for
/// "expected one of" lists.
///
/// ```
/// use hassette_spec::one_of;
///
/// assert_eq!(one_of(&["a", "b", "c"], false), "`a`, `b` or `c`");
/// assert_eq!(one_of(&["auto"], true), "`\"auto\"`");
/// ```
#[must_use]
pub fn one_of(candidates: &[&str], quoted: bool) -> String {
    let items: Vec<String> = candidates
        .iter()
        .map(|c| {
            if quoted {
                format!("`\"{c}\"`")
            } else {
                format!("`{c}`")
            }
        })
        .collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
