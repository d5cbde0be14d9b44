//! The attribute's keys, parsed into typed options.
//!
//! Each key is a named constant and a set-once [`Slot`]: a second `restart = ...` is a
//! "duplicate key" error, an unknown key gets a "did you mean". A mistake in one key is
//! recorded in the [`Ctxt`] and parsing carries on with the next key, so one build shows
//! every mistake; only a syntax error (a missing comma) stops it.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::Type;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;

use crate::diag::{Ctxt, did_you_mean, one_of};
use crate::value::{
    duration, expr_value, float, list_follows, skip_value, string_value, type_list, unknown_value,
    whole_number,
};

pub(crate) const RESTART: &str = "restart";
pub(crate) const BACKOFF: &str = "backoff";
pub(crate) const BUDGET: &str = "budget";
pub(crate) const STARTUP_TIMEOUT: &str = "startup_timeout";
pub(crate) const SHUTDOWN_TIMEOUT: &str = "shutdown_timeout";
pub(crate) const STABLE_AFTER: &str = "stable_after";
pub(crate) const COOLDOWN: &str = "cooldown";
pub(crate) const MAX_COOLDOWN_CYCLES: &str = "max_cooldown_cycles";
pub(crate) const MAX_CHILDREN: &str = "max_children";
pub(crate) const CRITICAL: &str = "critical";
pub(crate) const FATAL: &str = "fatal";
pub(crate) const NON_RETRYABLE: &str = "non_retryable";
pub(crate) const DEPENDS_ON: &str = "depends_on";
pub(crate) const READY: &str = "ready";
pub(crate) const NAME: &str = "name";
pub(crate) const CRATE: &str = "crate";

pub(crate) const BASE: &str = "base";
pub(crate) const MULTIPLIER: &str = "multiplier";
pub(crate) const MAX: &str = "max";
pub(crate) const JITTER: &str = "jitter";
pub(crate) const INTENSITY: &str = "intensity";
pub(crate) const PERIOD: &str = "period";

/// Every key of `backoff(...)`, in the order of the documentation.
pub(crate) const BACKOFF_KEYS: &[&str] = &[BASE, MULTIPLIER, MAX, JITTER];

/// Every key of `#[service]`, in the order of the documentation.
pub(crate) const SERVICE_KEYS: &[&str] = &[
    RESTART,
    BACKOFF,
    BUDGET,
    STARTUP_TIMEOUT,
    SHUTDOWN_TIMEOUT,
    STABLE_AFTER,
    COOLDOWN,
    MAX_COOLDOWN_CYCLES,
    FATAL,
    NON_RETRYABLE,
    DEPENDS_ON,
    READY,
    MAX_CHILDREN,
    CRITICAL,
    NAME,
    CRATE,
];

/// Every key of `#[resource]`.
pub(crate) const RESOURCE_KEYS: &[&str] =
    &[STARTUP_TIMEOUT, SHUTDOWN_TIMEOUT, DEPENDS_ON, NAME, CRATE];

/// The keys about supervision, which `#[resource]` rejects.
pub(crate) const SUPERVISION_KEYS: &[&str] = &[
    RESTART,
    BACKOFF,
    BUDGET,
    COOLDOWN,
    MAX_COOLDOWN_CYCLES,
    FATAL,
    NON_RETRYABLE,
    STABLE_AFTER,
    READY,
    MAX_CHILDREN,
    CRITICAL,
];

const RESTART_VALUES: &[&str] = &["permanent", "transient", "temporary"];
const READY_VALUES: &[&str] = &["auto", "manual"];

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Service,
    Resource,
}

impl Kind {
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Service => "#[service]",
            Kind::Resource => "#[resource]",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Service => SERVICE_KEYS,
            Kind::Resource => RESOURCE_KEYS,
        }
    }
}

/// A value the user wrote, with the spans of its key and of the value itself.
#[derive(Debug)]
pub(crate) struct Set<T> {
    pub(crate) value: T,
    pub(crate) key_span: Span,
    pub(crate) span: Span,
}

/// A key that may be given at most once.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    key: &'static str,
    set: Option<Set<T>>,
}

impl<T> Slot<T> {
    fn new(key: &'static str) -> Self {
        Slot { key, set: None }
    }

    /// Records the value, or a "duplicate key" error when it was already given.
    fn set(&mut self, cx: &mut Ctxt, key_span: Span, span: Span, value: T) {
        if self.set.is_some() {
            cx.error(
                key_span,
                format_args!("`{}` is given twice", self.key),
                Some("remove this one; each key may appear once".to_owned()),
            );
        } else {
            self.set = Some(Set {
                value,
                key_span,
                span,
            });
        }
    }

    pub(crate) fn get(&self) -> Option<&Set<T>> {
        self.set.as_ref()
    }

    pub(crate) fn value(&self) -> Option<&T> {
        self.set.as_ref().map(|s| &s.value)
    }
}

/// `restart = "..."`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RestartType {
    Permanent,
    Transient,
    Temporary,
}

/// `ready = "..."`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ready {
    Auto,
    Manual,
}

/// `backoff(base = ..., multiplier = ..., max = ..., jitter = ...)`.
#[derive(Debug)]
pub(crate) struct Backoff {
    pub(crate) base: Slot<Duration>,
    pub(crate) multiplier: Slot<f64>,
    pub(crate) max: Slot<Duration>,
    /// From 0.0 to 1.0 (checked as it is parsed).
    pub(crate) jitter: Slot<f64>,
}

/// `budget(intensity = ..., period = ...)`.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) intensity: Slot<u32>,
    pub(crate) period: Slot<Duration>,
}

/// Everything the attribute says, each key at most once.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) kind: Kind,
    /// Where the attribute is, for errors about a missing key.
    pub(crate) span: Span,
    pub(crate) restart: Slot<RestartType>,
    pub(crate) backoff: Slot<Backoff>,
    pub(crate) budget: Slot<Budget>,
    pub(crate) startup_timeout: Slot<Duration>,
    pub(crate) shutdown_timeout: Slot<Duration>,
    pub(crate) stable_after: Slot<Duration>,
    pub(crate) cooldown: Slot<Duration>,
    pub(crate) max_cooldown_cycles: Slot<u32>,
    /// At least 1 (checked as it is parsed).
    pub(crate) max_children: Slot<u32>,
    pub(crate) critical: Slot<bool>,
    pub(crate) fatal: Slot<Vec<Type>>,
    pub(crate) non_retryable: Slot<Vec<Type>>,
    pub(crate) depends_on: Slot<Vec<Type>>,
    pub(crate) ready: Slot<Ready>,
    pub(crate) name: Slot<String>,
    pub(crate) krate: Slot<syn::Path>,
    /// Every key written, valid or not, so a bad `restart` is not also "missing".
    pub(crate) seen: Vec<String>,
}

/// Parses the attribute's arguments; every mistake goes into `cx`.
pub(crate) fn parse(kind: Kind, tokens: TokenStream, cx: &mut Ctxt) -> Args {
    let mut args = Args::new(kind);
    let parser = syn::meta::parser(|meta| args.key(&meta, cx));
    if let Err(error) = parser.parse2(tokens) {
        cx.syn_error(error);
    }
    args
}

impl Args {
    fn new(kind: Kind) -> Self {
        Args {
            kind,
            span: Span::call_site(),
            restart: Slot::new(RESTART),
            backoff: Slot::new(BACKOFF),
            budget: Slot::new(BUDGET),
            startup_timeout: Slot::new(STARTUP_TIMEOUT),
            shutdown_timeout: Slot::new(SHUTDOWN_TIMEOUT),
            stable_after: Slot::new(STABLE_AFTER),
            cooldown: Slot::new(COOLDOWN),
            max_cooldown_cycles: Slot::new(MAX_COOLDOWN_CYCLES),
            max_children: Slot::new(MAX_CHILDREN),
            critical: Slot::new(CRITICAL),
            fatal: Slot::new(FATAL),
            non_retryable: Slot::new(NON_RETRYABLE),
            depends_on: Slot::new(DEPENDS_ON),
            ready: Slot::new(READY),
            name: Slot::new(NAME),
            krate: Slot::new(CRATE),
            seen: Vec::new(),
        }
    }

    /// One top-level key and its value.
    fn key(&mut self, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident() else {
            cx.error_spanned(
                &meta.path,
                "expected a key, not a path",
                Some(format!(
                    "the keys of `{}` are {}",
                    self.kind.attr(),
                    one_of(self.kind.keys(), false)
                )),
            );
            return skip_value(meta);
        };
        let key = ident.to_string();
        let key_span = ident.span();
        self.seen.push(key.clone());

        let service_only = match key.as_str() {
            CRITICAL => Some((
                "a resource always holds back readiness, since its dependants wait for it",
                "remove it, or make the type a `#[service(...)]` with a `serve` method",
            )),
            MAX_CHILDREN => Some((
                "children are added by a running service",
                "remove it, or make the type a `#[service(...)]` with a `serve` method",
            )),
            _ => None,
        };
        if self.kind == Kind::Resource
            && let Some((why, help)) = service_only
        {
            cx.error(
                key_span,
                format_args!("`{key}` is for services; {why}"),
                Some(help.to_owned()),
            );
            return skip_value(meta);
        }
        if self.kind == Kind::Resource && SUPERVISION_KEYS.contains(&key.as_str()) {
            cx.error(
                key_span,
                format_args!("`{key}` is a supervision key, and resources are not supervised"),
                Some(
                    "remove it; a type that runs a task and needs a restart policy is a \
                     `#[service(...)]` with a `serve` method"
                        .to_owned(),
                ),
            );
            return skip_value(meta);
        }

        match key.as_str() {
            RESTART => {
                if let Some(lit) = string_value(meta, cx, RESTART, "restart = \"permanent\"")? {
                    let value = match lit.value().as_str() {
                        "permanent" => Some(RestartType::Permanent),
                        "transient" => Some(RestartType::Transient),
                        "temporary" => Some(RestartType::Temporary),
                        other => {
                            unknown_value(cx, &lit, RESTART, other, RESTART_VALUES);
                            None
                        }
                    };
                    if let Some(value) = value {
                        self.restart.set(cx, key_span, lit.span(), value);
                    }
                }
            }
            READY => {
                if let Some(lit) = string_value(meta, cx, READY, "ready = \"manual\"")? {
                    let value = match lit.value().as_str() {
                        "auto" => Some(Ready::Auto),
                        "manual" => Some(Ready::Manual),
                        other => {
                            unknown_value(cx, &lit, READY, other, READY_VALUES);
                            None
                        }
                    };
                    if let Some(value) = value {
                        self.ready.set(cx, key_span, lit.span(), value);
                    }
                }
            }
            NAME => {
                if let Some(lit) = string_value(meta, cx, NAME, "name = \"ticker\"")? {
                    if lit.value().trim().is_empty() {
                        cx.error(
                            lit.span(),
                            "`name` is empty",
                            Some(
                                "write the name used in logs and events, like `name = \"ticker\"`, \
                                 or remove `name` to use the type's name"
                                    .to_owned(),
                            ),
                        );
                    } else {
                        self.name.set(cx, key_span, lit.span(), lit.value());
                    }
                }
            }
            CRATE => {
                if let Some(lit) =
                    string_value(meta, cx, CRATE, "crate = \"::my_crate::hassette\"")?
                {
                    match lit.parse::<syn::Path>() {
                        Ok(path) => self.krate.set(cx, key_span, lit.span(), path),
                        Err(_) => cx.error(
                            lit.span(),
                            format_args!("`crate` must be a path, not `{:?}`", lit.value()),
                            Some(
                                "write the path the runtime is re-exported at, like \
                                 `crate = \"::my_crate::hassette\"`"
                                    .to_owned(),
                            ),
                        ),
                    }
                }
            }
            STARTUP_TIMEOUT => self.duration_key(meta, cx, STARTUP_TIMEOUT, key_span, "30s")?,
            SHUTDOWN_TIMEOUT => self.duration_key(meta, cx, SHUTDOWN_TIMEOUT, key_span, "5s")?,
            STABLE_AFTER => self.duration_key(meta, cx, STABLE_AFTER, key_span, "60s")?,
            COOLDOWN => self.duration_key(meta, cx, COOLDOWN, key_span, "5m")?,
            MAX_COOLDOWN_CYCLES => {
                if let Some(expr) = expr_value(
                    meta,
                    cx,
                    key_span,
                    MAX_COOLDOWN_CYCLES,
                    "max_cooldown_cycles = 3",
                )? && let Some(n) = whole_number(cx, &expr, "`max_cooldown_cycles`", "3")
                {
                    self.max_cooldown_cycles.set(cx, key_span, expr.span(), n);
                }
            }
            MAX_CHILDREN => {
                if let Some(expr) =
                    expr_value(meta, cx, key_span, MAX_CHILDREN, "max_children = 100")?
                    && let Some(n) = whole_number(cx, &expr, "`max_children`", "100")
                {
                    if n == 0 {
                        cx.error(
                            expr.span(),
                            "`max_children = 0` would refuse every child",
                            Some(
                                "write at least 1, or leave `max_children` out for no limit"
                                    .to_owned(),
                            ),
                        );
                    } else {
                        self.max_children.set(cx, key_span, expr.span(), n);
                    }
                }
            }
            CRITICAL => {
                if let Some(expr) = expr_value(meta, cx, key_span, CRITICAL, "critical = false")? {
                    match &expr {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Bool(b),
                            ..
                        }) => self.critical.set(cx, key_span, expr.span(), b.value),
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) if matches!(s.value().as_str(), "true" | "false") => cx.error(
                            s.span(),
                            "`critical` must be `true` or `false`, not a string",
                            Some(format!("remove the quotes: `critical = {}`", s.value())),
                        ),
                        _ => cx.error_spanned(
                            &expr,
                            "`critical` must be `true` or `false`",
                            Some(
                                "write `critical = false` for a service whose state does not hold \
                                 back the app's readiness"
                                    .to_owned(),
                            ),
                        ),
                    }
                }
            }
            BACKOFF => {
                if let Some(backoff) = parse_backoff(meta, cx, key_span)? {
                    self.backoff.set(cx, key_span, key_span, backoff);
                }
            }
            BUDGET => {
                if let Some(budget) = parse_budget(meta, cx, key_span)? {
                    self.budget.set(cx, key_span, key_span, budget);
                }
            }
            FATAL => {
                if let Some(types) = type_list(meta, cx, key_span, FATAL, "fatal(MyConfigError)")? {
                    self.fatal.set(cx, key_span, key_span, types);
                }
            }
            NON_RETRYABLE => {
                if let Some(types) = type_list(
                    meta,
                    cx,
                    key_span,
                    NON_RETRYABLE,
                    "non_retryable(AuthError)",
                )? {
                    self.non_retryable.set(cx, key_span, key_span, types);
                }
            }
            DEPENDS_ON => {
                if let Some(types) =
                    type_list(meta, cx, key_span, DEPENDS_ON, "depends_on(Database)")?
                {
                    self.depends_on.set(cx, key_span, key_span, types);
                }
            }
            _ => {
                let help = match did_you_mean(&key, self.kind.keys()) {
                    Some(close) => {
                        // A misspelt `restart` is not also a missing one.
                        self.seen.push(close.to_owned());
                        format!("did you mean `{close}`?")
                    }
                    // systemd and other supervisors have it at the top level.
                    None if self.kind == Kind::Service && key == JITTER => {
                        "`jitter` goes inside `backoff(...)`: write `backoff(jitter = 0.2)`"
                            .to_owned()
                    }
                    None => format!(
                        "the keys of `{}` are {}",
                        self.kind.attr(),
                        one_of(self.kind.keys(), false)
                    ),
                };
                cx.error(
                    key_span,
                    format_args!("unknown key `{key}` in `{}`", self.kind.attr()),
                    Some(help),
                );
                return skip_value(meta);
            }
        }
        Ok(())
    }

    fn duration_key(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        cx: &mut Ctxt,
        key: &'static str,
        key_span: Span,
        example: &str,
    ) -> syn::Result<()> {
        let form = format!("{key} = \"{example}\"");
        if let Some(expr) = expr_value(meta, cx, key_span, key, &form)?
            && let Some(duration) = duration(cx, &expr, &format!("`{key}`"))
        {
            let slot = match key {
                STARTUP_TIMEOUT => &mut self.startup_timeout,
                SHUTDOWN_TIMEOUT => &mut self.shutdown_timeout,
                STABLE_AFTER => &mut self.stable_after,
                _ => &mut self.cooldown,
            };
            slot.set(cx, key_span, expr.span(), duration);
        }
        Ok(())
    }
}

/// `backoff(base = "...", multiplier = ..., max = "...", jitter = ...)`.
fn parse_backoff(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    key_span: Span,
) -> syn::Result<Option<Backoff>> {
    const FORM: &str = "backoff(base = \"2s\", multiplier = 2.0, max = \"60s\")";
    if !list_follows(meta, cx, key_span, BACKOFF, FORM)? {
        return Ok(None);
    }
    let mut backoff = Backoff {
        base: Slot::new(BASE),
        multiplier: Slot::new(MULTIPLIER),
        max: Slot::new(MAX),
        jitter: Slot::new(JITTER),
    };
    meta.parse_nested_meta(|inner| {
        let Some((key, span)) = inner_key(&inner, cx, BACKOFF, BACKOFF_KEYS)? else {
            return Ok(());
        };
        match key.as_str() {
            BASE | MAX => {
                let form = format!("{key} = \"2s\"");
                if let Some(expr) = expr_value(&inner, cx, span, BACKOFF, &form)? {
                    let what = if key == BASE {
                        "backoff `base`"
                    } else {
                        "backoff `max`"
                    };
                    if let Some(d) = duration(cx, &expr, what) {
                        let slot = if key == BASE {
                            &mut backoff.base
                        } else {
                            &mut backoff.max
                        };
                        slot.set(cx, span, expr.span(), d);
                    }
                }
            }
            JITTER => {
                if let Some(expr) = expr_value(&inner, cx, span, BACKOFF, "jitter = 0.2")?
                    && let Some(j) = float(
                        cx,
                        &expr,
                        "backoff jitter",
                        "write a fraction from 0.0 to 1.0 without quotes, like `jitter = 0.2`",
                    )
                {
                    // Checked here rather than in `validate`, so that the error covers
                    // the whole value, a `-` included.
                    let problem = if j > 1.0 {
                        Some("is more than 1.0, so a delay would be cut by more than its length")
                    } else if j < 0.0 {
                        Some("is negative, so a delay would be longer than its backoff")
                    } else {
                        None
                    };
                    match problem {
                        Some(problem) => cx.error_spanned(
                            &expr,
                            format_args!("backoff jitter `{j:?}` {problem}"),
                            Some(JITTER_HELP.to_owned()),
                        ),
                        // `+ 0.0`: a `-0.0` is plain 0.0.
                        None => backoff.jitter.set(cx, span, expr.span(), j + 0.0),
                    }
                }
            }
            _ => {
                if let Some(expr) = expr_value(&inner, cx, span, BACKOFF, "multiplier = 2.0")?
                    && let Some(m) = float(
                        cx,
                        &expr,
                        "backoff multiplier",
                        "write a number of 1.0 or more without quotes, like `multiplier = 2.0`",
                    )
                {
                    backoff.multiplier.set(cx, span, expr.span(), m);
                }
            }
        }
        Ok(())
    })?;
    Ok(Some(backoff))
}

/// What to write for a `jitter` out of its range.
const JITTER_HELP: &str = "write a fraction from 0.0 to 1.0, like `jitter = 0.2`: each delay is \
                           then drawn from 80% to 100% of its backoff";

/// `budget(intensity = ..., period = "...")`.
fn parse_budget(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    key_span: Span,
) -> syn::Result<Option<Budget>> {
    const FORM: &str = "budget(intensity = 5, period = \"5m\")";
    if !list_follows(meta, cx, key_span, BUDGET, FORM)? {
        return Ok(None);
    }
    let mut budget = Budget {
        intensity: Slot::new(INTENSITY),
        period: Slot::new(PERIOD),
    };
    meta.parse_nested_meta(|inner| {
        let Some((key, span)) = inner_key(&inner, cx, BUDGET, &[INTENSITY, PERIOD])? else {
            return Ok(());
        };
        if key == INTENSITY {
            if let Some(expr) = expr_value(&inner, cx, span, BUDGET, "intensity = 5")?
                && let Some(n) = whole_number(cx, &expr, "budget `intensity`", "5")
            {
                budget.intensity.set(cx, span, expr.span(), n);
            }
        } else if let Some(expr) = expr_value(&inner, cx, span, BUDGET, "period = \"5m\"")?
            && let Some(d) = duration(cx, &expr, "budget `period`")
        {
            budget.period.set(cx, span, expr.span(), d);
        }
        Ok(())
    })?;
    Ok(Some(budget))
}

/// The key of a nested list like `backoff(...)`, or `None` (and an error) when unknown.
fn inner_key(
    inner: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    list: &str,
    keys: &[&str],
) -> syn::Result<Option<(String, Span)>> {
    let found = inner
        .path
        .get_ident()
        .map(|ident| (ident.to_string(), ident.span()));
    if let Some((key, span)) = &found {
        if keys.contains(&key.as_str()) {
            return Ok(found);
        }
        let help = match did_you_mean(key, keys) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("`{list}` takes {}", one_of(keys, false)),
        };
        cx.error(
            *span,
            format_args!("unknown key `{key}` in `{list}(...)`"),
            Some(help),
        );
    } else {
        cx.error_spanned(
            &inner.path,
            format_args!("expected a key of `{list}(...)`"),
            Some(format!("`{list}` takes {}", one_of(keys, false))),
        );
    }
    skip_value(inner)?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(kind: Kind, tokens: TokenStream) -> Args {
        let mut cx = Ctxt::new();
        let args = parse(kind, tokens, &mut cx);
        assert_eq!(cx.messages(), Vec::<String>::new());
        args
    }

    fn errors(kind: Kind, tokens: TokenStream) -> Vec<String> {
        let mut cx = Ctxt::new();
        let _ = parse(kind, tokens, &mut cx);
        cx.messages()
    }

    #[test]
    fn every_service_key() {
        let args = parse_ok(
            Kind::Service,
            quote! {
                restart = "transient",
                backoff(base = "100ms", multiplier = 1.5, max = "10s", jitter = 0.25),
                budget(intensity = 3, period = "1m"),
                startup_timeout = "10s",
                shutdown_timeout = "1s",
                stable_after = "30s",
                cooldown = "1m30s",
                max_cooldown_cycles = 2,
                fatal(std::io::Error, MyError<u8>),
                non_retryable(AuthError),
                depends_on(Db),
                ready = "manual",
                name = "ticker",
                crate = "::my::hassette",
            },
        );
        assert_eq!(args.restart.value(), Some(&RestartType::Transient));
        let backoff = args.backoff.value().map(|b| {
            (
                b.base.value().copied(),
                b.multiplier.value().copied(),
                b.max.value().copied(),
                b.jitter.value().copied(),
            )
        });
        assert_eq!(
            backoff,
            Some((
                Some(Duration::from_millis(100)),
                Some(1.5),
                Some(Duration::from_secs(10)),
                Some(0.25)
            ))
        );
        assert_eq!(
            args.budget
                .value()
                .and_then(|b| b.intensity.value().copied()),
            Some(3)
        );
        assert_eq!(args.cooldown.value(), Some(&Duration::from_secs(90)));
        assert_eq!(args.max_cooldown_cycles.value(), Some(&2));
        assert_eq!(args.fatal.value().map(Vec::len), Some(2));
        assert_eq!(args.ready.value(), Some(&Ready::Manual));
        assert_eq!(args.name.value().map(String::as_str), Some("ticker"));
        assert!(args.krate.get().is_some());
    }

    #[test]
    fn empty_arguments_are_fine_for_the_parser() {
        let args = parse_ok(Kind::Resource, quote! {});
        assert!(args.restart.get().is_none());
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let errs = errors(Kind::Service, quote! { restat = "permanent" });
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("unknown key `restat`"), "{errs:?}");
        assert!(errs[0].contains("did you mean `restart`?"), "{errs:?}");
    }

    #[test]
    fn unknown_restart_value_suggests_the_closest() {
        let errs = errors(Kind::Service, quote! { restart = "permanant" });
        assert!(
            errs[0].contains("did you mean `\"permanent\"`?"),
            "{errs:?}"
        );
        let errs = errors(Kind::Service, quote! { restart = permanent });
        assert!(errs[0].contains("put it in quotes"), "{errs:?}");
    }

    #[test]
    fn duplicate_key() {
        let errs = errors(
            Kind::Service,
            quote! { restart = "permanent", restart = "transient" },
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("`restart` is given twice"), "{errs:?}");
    }

    #[test]
    fn every_mistake_is_reported_not_only_the_first() {
        let errs = errors(
            Kind::Service,
            quote! { restart = "sometimes", cooldown = "5 minutes", colour = "red", budget(intensity = "3") },
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
    }

    #[test]
    fn bad_numbers() {
        let errs = errors(Kind::Service, quote! { max_cooldown_cycles = -1 });
        assert!(errs[0].contains("cannot be negative"), "{errs:?}");
        let errs = errors(Kind::Service, quote! { backoff(multiplier = "2.0") });
        assert!(errs[0].contains("must be a number"), "{errs:?}");
        let errs = errors(Kind::Service, quote! { startup_timeout = 30 });
        assert!(errs[0].contains("`\"30s\"`"), "{errs:?}");
    }

    fn jitter_of(tokens: TokenStream) -> Option<f64> {
        let args = parse_ok(Kind::Service, tokens);
        args.backoff.value().and_then(|b| b.jitter.value().copied())
    }

    #[test]
    fn jitter_is_a_fraction_from_zero_to_one() {
        assert_eq!(jitter_of(quote! { backoff(jitter = 0.2) }), Some(0.2));
        assert_eq!(jitter_of(quote! { backoff(jitter = 0) }), Some(0.0));
        assert_eq!(jitter_of(quote! { backoff(jitter = 1) }), Some(1.0));
        assert_eq!(jitter_of(quote! { backoff(jitter = 1.0f64) }), Some(1.0));
        // `-0.0` is 0.0, not a negative zero in the generated spec.
        let zero = jitter_of(quote! { backoff(jitter = -0.0) });
        assert!(zero.is_some_and(|j| j == 0.0 && j.is_sign_positive()));
        assert_eq!(jitter_of(quote! { backoff(base = "1s") }), None);

        let cases = [
            (
                quote! { backoff(jitter = 1.5) },
                "backoff jitter `1.5` is more than 1.0",
            ),
            (quote! { backoff(jitter = 1.000001) }, "is more than 1.0"),
            (
                quote! { backoff(jitter = -0.2) },
                "backoff jitter `-0.2` is negative",
            ),
            (
                quote! { backoff(jitter = "0.2") },
                "backoff jitter must be a number, not a string",
            ),
            (
                quote! { backoff(jitter = 1e999) },
                "backoff jitter must be a number",
            ),
            (
                quote! { backoff(jitter = 0.2f32) },
                "backoff jitter must be a number",
            ),
            (
                quote! { backoff(jitter = true) },
                "backoff jitter must be a number",
            ),
            (
                quote! { backoff(jitter = 0.1, jitter = 0.2) },
                "`jitter` is given twice",
            ),
            (quote! { backoff(jitter) }, "`backoff` needs a value"),
        ];
        for (tokens, expected) in cases {
            let errs = errors(Kind::Service, tokens.clone());
            assert_eq!(errs.len(), 1, "{tokens}: {errs:?}");
            assert!(errs[0].contains(expected), "{tokens}: {errs:?}");
            assert!(errs[0].contains("\nhelp: "), "{tokens}: {errs:?}");
        }
    }

    #[test]
    fn misspelt_and_misplaced_jitter() {
        let errs = errors(Kind::Service, quote! { backoff(jiter = 0.2) });
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("unknown key `jiter` in `backoff(...)`"),
            "{errs:?}"
        );
        assert!(errs[0].contains("did you mean `jitter`?"), "{errs:?}");
        let errs = errors(
            Kind::Service,
            quote! { backoff(jittr = 0.2, maximum = "1s") },
        );
        assert!(errs[0].contains("did you mean `jitter`?"), "{errs:?}");
        assert!(
            errs[1].contains("`base`, `multiplier`, `max` or `jitter`"),
            "{errs:?}"
        );
        let errs = errors(Kind::Service, quote! { jitter = 0.2 });
        assert!(
            errs[0].contains("unknown key `jitter` in `#[service]`"),
            "{errs:?}"
        );
        assert!(
            errs[0].contains("write `backoff(jitter = 0.2)`"),
            "{errs:?}"
        );
        // A resource has no backoff to put it in.
        let errs = errors(Kind::Resource, quote! { jitter = 0.2 });
        assert!(!errs[0].contains("backoff"), "{errs:?}");
        let errs = errors(Kind::Resource, quote! { backoff(jitter = 0.2) });
        assert!(errs[0].contains("resources are not supervised"), "{errs:?}");
    }

    #[test]
    fn resources_reject_supervision_keys() {
        let errs = errors(
            Kind::Resource,
            quote! { restart = "permanent", backoff(base = "1s"), startup_timeout = "1s" },
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter()
                .all(|e| e.contains("resources are not supervised"))
        );
    }

    #[test]
    fn list_keys_need_a_list() {
        let errs = errors(
            Kind::Service,
            quote! { backoff = "2s", fatal = MyError, depends_on() },
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    /// What a `$value:literal`, `$value:expr` or `$ty:ty` of a `macro_rules!` becomes: the
    /// tokens inside invisible delimiters.
    fn grouped(tokens: TokenStream) -> proc_macro2::Group {
        proc_macro2::Group::new(proc_macro2::Delimiter::None, tokens)
    }

    #[test]
    fn values_from_a_macro_rules_are_seen_through_their_invisible_group() {
        let (restart, base, multiplier, intensity, cycles, name, ready) = (
            grouped(quote!("transient")),
            grouped(quote!("100ms")),
            grouped(quote!(1.5)),
            grouped(quote!(3)),
            grouped(quote!(2)),
            grouped(quote!("ticker")),
            grouped(quote!("manual")),
        );
        let (negative, fatal, dep) = (
            grouped(quote!(2.0)),
            grouped(quote!(std::io::Error)),
            grouped(quote!(Self)),
        );
        let args = parse_ok(
            Kind::Service,
            quote! {
                restart = #restart,
                backoff(base = #base, multiplier = #multiplier),
                budget(intensity = #intensity),
                max_cooldown_cycles = #cycles,
                fatal(#fatal),
                depends_on(#dep),
                ready = #ready,
                name = #name,
            },
        );
        assert_eq!(args.restart.value(), Some(&RestartType::Transient));
        assert_eq!(
            args.backoff.value().and_then(|b| b.base.value().copied()),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            args.backoff
                .value()
                .and_then(|b| b.multiplier.value().copied()),
            Some(1.5)
        );
        assert_eq!(
            args.budget
                .value()
                .and_then(|b| b.intensity.value().copied()),
            Some(3)
        );
        assert_eq!(args.max_cooldown_cycles.value(), Some(&2));
        assert_eq!(args.ready.value(), Some(&Ready::Manual));
        assert_eq!(args.name.value().map(String::as_str), Some("ticker"));
        // The types lose the group too, so `depends_on(Self)` is still recognised.
        let dep = args.depends_on.value().and_then(|deps| deps.first());
        assert!(matches!(dep, Some(Type::Path(_))), "{dep:?}");
        // `-$m`: the minus is the user's, the number still grouped.
        let args = parse_ok(Kind::Service, quote! { backoff(multiplier = -#negative) });
        assert_eq!(
            args.backoff
                .value()
                .and_then(|b| b.multiplier.value().copied()),
            Some(-2.0)
        );
    }
}
