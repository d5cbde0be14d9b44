//! The error context shared by parsing and validation, message helpers, and the
//! edit-distance suggestions behind "did you mean".

use std::fmt::Display;

use hassette_spec::{Form, Violation};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

pub(crate) use hassette_spec::one_of;

/// Collects every error of one attribute so the user sees all of them in one build.
///
/// Parsing and validation push into it and carry on; [`Ctxt::finish`] combines what was
/// collected into one `syn::Error`.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt::default()
    }

    /// An error at `span`; `help` (when given) becomes a second line `help: ...`.
    pub(crate) fn error(&mut self, span: Span, message: impl Display, help: Option<String>) {
        self.errors
            .push(syn::Error::new(span, with_help(message, help)));
    }

    /// An error covering all of `tokens`.
    pub(crate) fn error_spanned(
        &mut self,
        tokens: impl ToTokens,
        message: impl Display,
        help: Option<String>,
    ) {
        self.errors
            .push(syn::Error::new_spanned(tokens, with_help(message, help)));
    }

    /// A broken rule of `hassette_spec::rules`, at `span`: the message and the help in
    /// the attribute's words.
    pub(crate) fn violation(&mut self, span: Span, violation: &Violation) {
        let help = violation.help(Form::Attribute);
        self.error(span, violation.message(Form::Attribute), Some(help));
    }

    /// [`violation`](Self::violation), covering all of `tokens`.
    pub(crate) fn violation_spanned(&mut self, tokens: impl ToTokens, violation: &Violation) {
        let help = violation.help(Form::Attribute);
        self.error_spanned(tokens, violation.message(Form::Attribute), Some(help));
    }

    /// An error produced by syn itself (a syntax error in the attribute).
    pub(crate) fn syn_error(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Every collected error, combined; `Ok` when there was none.
    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                for error in errors {
                    first.combine(error);
                }
                Err(first)
            }
        }
    }

    /// The collected errors as `compile_error!` invocations (empty when there is none).
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        match self.finish() {
            Ok(()) => TokenStream::new(),
            Err(error) => error.into_compile_error(),
        }
    }

    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }
}

/// `message`, then `help: ...` on its own line, as rustc prints a help.
pub(crate) fn with_help(message: impl Display, help: Option<String>) -> String {
    match help {
        Some(help) => format!("{message}\nhelp: {help}"),
        None => message.to_string(),
    }
}

/// The candidate closest to `input`, when it is close enough to be a likely typo (the
/// rule of `hassette_spec::did_you_mean`, which the runtime's settings files follow too).
pub(crate) fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    hassette_spec::did_you_mean(input, candidates, distance)
}

/// The optimal-string-alignment distance (`strsim`): insertions, deletions,
/// substitutions, and swaps of two adjacent characters each count as one edit.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_swaps_as_one_edit() {
        assert_eq!(distance("before_shutdwon", "before_shutdown"), 1);
        assert_eq!(distance("on_initialise", "on_initialize"), 1);
        assert_eq!(distance("server", "serve"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }

    #[test]
    fn suggests_only_close_candidates() {
        let keys = ["restart", "backoff", "budget", "startup_timeout"];
        assert_eq!(did_you_mean("restat", &keys), Some("restart"));
        assert_eq!(
            did_you_mean("startup_timout", &keys),
            Some("startup_timeout")
        );
        assert_eq!(did_you_mean("colour", &keys), None);
    }

    #[test]
    fn lists_candidates_like_rustc() {
        assert_eq!(one_of(&["a", "b", "c"], false), "`a`, `b` or `c`");
        assert_eq!(one_of(&["a"], true), "`\"a\"`");
    }
}
