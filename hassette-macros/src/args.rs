//! The attribute's keys, parsed into typed options.
//!
//! The keys are `hassette_spec::Key`, the table the runtime reads too. Each has a set-once
//! [`Slot`] here and a parser of its own ([`parser`], one small function per key): a
//! second `restart = ...` is a "duplicate key" error, an unknown key gets a "did you
//! mean". A mistake in one key is recorded in the [`Ctxt`] and parsing carries on with the
//! next key, so one build shows every mistake; only a syntax error (a missing comma) stops
//! it. The rules on a single value (a jitter from 0.0 to 1.0, at least one child) are the
//! shared ones of `hassette_spec::rules`, applied where the value's tokens are at hand.

use std::time::Duration;

use hassette_spec::{Form, Key, Restart, Target, rules};
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

    fn keys(self) -> &'static [Key] {
        match self {
            Kind::Service => Key::SERVICE,
            Kind::Resource => Key::RESOURCE,
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
    key: Key,
    set: Option<Set<T>>,
}

impl<T> Slot<T> {
    fn new(key: Key) -> Self {
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

    /// The key it holds.
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    pub(crate) fn get(&self) -> Option<&Set<T>> {
        self.set.as_ref()
    }

    pub(crate) fn value(&self) -> Option<&T> {
        self.set.as_ref().map(|s| &s.value)
    }
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
    pub(crate) restart: Slot<Restart>,
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
    /// Longer than zero (checked as it is parsed).
    pub(crate) watchdog: Slot<Duration>,
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
            restart: Slot::new(Key::Restart),
            backoff: Slot::new(Key::Backoff),
            budget: Slot::new(Key::Budget),
            startup_timeout: Slot::new(Key::StartupTimeout),
            shutdown_timeout: Slot::new(Key::ShutdownTimeout),
            stable_after: Slot::new(Key::StableAfter),
            cooldown: Slot::new(Key::Cooldown),
            max_cooldown_cycles: Slot::new(Key::MaxCooldownCycles),
            max_children: Slot::new(Key::MaxChildren),
            critical: Slot::new(Key::Critical),
            watchdog: Slot::new(Key::Watchdog),
            fatal: Slot::new(Key::Fatal),
            non_retryable: Slot::new(Key::NonRetryable),
            depends_on: Slot::new(Key::DependsOn),
            ready: Slot::new(Key::Ready),
            name: Slot::new(Key::Name),
            krate: Slot::new(Key::Crate),
            seen: Vec::new(),
        }
    }

    /// Where the key was written, when it was.
    pub(crate) fn key_span(&self, key: Key) -> Option<Span> {
        fn at<T>(slot: &Slot<T>) -> Option<Span> {
            slot.get().map(|set| set.key_span)
        }
        let backoff = self.backoff.value();
        let budget = self.budget.value();
        match key {
            Key::Restart => at(&self.restart),
            Key::Backoff => at(&self.backoff),
            Key::BackoffBase => backoff.and_then(|b| at(&b.base)),
            Key::BackoffMultiplier => backoff.and_then(|b| at(&b.multiplier)),
            Key::BackoffMax => backoff.and_then(|b| at(&b.max)),
            Key::BackoffJitter => backoff.and_then(|b| at(&b.jitter)),
            Key::Budget => at(&self.budget),
            Key::BudgetIntensity => budget.and_then(|b| at(&b.intensity)),
            Key::BudgetPeriod => budget.and_then(|b| at(&b.period)),
            Key::StartupTimeout => at(&self.startup_timeout),
            Key::ShutdownTimeout => at(&self.shutdown_timeout),
            Key::StableAfter => at(&self.stable_after),
            Key::Cooldown => at(&self.cooldown),
            Key::MaxCooldownCycles => at(&self.max_cooldown_cycles),
            Key::Fatal => at(&self.fatal),
            Key::NonRetryable => at(&self.non_retryable),
            Key::DependsOn => at(&self.depends_on),
            Key::Ready => at(&self.ready),
            Key::MaxChildren => at(&self.max_children),
            Key::Critical => at(&self.critical),
            Key::Watchdog => at(&self.watchdog),
            Key::Name => at(&self.name),
            Key::Crate => at(&self.krate),
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
                    one_of(&Key::names(self.kind.keys()), false)
                )),
            );
            return skip_value(meta);
        };
        let (name, key_span) = (ident.to_string(), ident.span());
        self.seen.push(name.clone());
        let Some(key) = Key::find(&name, Key::SERVICE) else {
            self.unknown_key(cx, &name, key_span);
            return skip_value(meta);
        };
        if self.kind == Kind::Resource
            && let Err(violation) = rules::applies(key, Target::Resource)
        {
            cx.violation(key_span, &violation);
            return skip_value(meta);
        }
        parser(key)(self, meta, cx, key_span)
    }

    /// A key the attribute does not have: the closest one, or where it goes.
    fn unknown_key(&mut self, cx: &mut Ctxt, name: &str, key_span: Span) {
        let keys = Key::names(self.kind.keys());
        // Written at the top level, though it belongs to a list (systemd and other
        // supervisors have `jitter` at the top level).
        let nested = [Key::Backoff, Key::Budget]
            .into_iter()
            .flat_map(Key::entries)
            .find(|key| key.name() == name);
        let help = match (did_you_mean(name, &keys), nested) {
            (Some(close), _) => {
                // A misspelt `restart` is not also a missing one.
                self.seen.push(close.to_owned());
                format!("did you mean `{close}`?")
            }
            (None, Some(key)) if self.kind == Kind::Service => {
                let list = key.top();
                format!(
                    "`{name}` goes inside `{list}(...)`: write `{list}({name} = {})`",
                    key.example()
                )
            }
            (None, _) => format!(
                "the keys of `{}` are {}",
                self.kind.attr(),
                one_of(&keys, false)
            ),
        };
        cx.error(
            key_span,
            format_args!("unknown key `{name}` in `{}`", self.kind.attr()),
            Some(help),
        );
    }
}

/// How a key's value is parsed into its slot: the arguments are the key's meta, the
/// context, and the key's span.
type Parse = fn(&mut Args, &ParseNestedMeta<'_>, &mut Ctxt, Span) -> syn::Result<()>;

/// The parser of each top-level key.
fn parser(key: Key) -> Parse {
    match key {
        Key::Restart => restart,
        Key::Ready => ready,
        Key::Name => name,
        Key::Crate => krate,
        Key::StartupTimeout => |a, meta, cx, at| duration_key(meta, cx, at, &mut a.startup_timeout),
        Key::ShutdownTimeout => {
            |a, meta, cx, at| duration_key(meta, cx, at, &mut a.shutdown_timeout)
        }
        Key::StableAfter => |a, meta, cx, at| duration_key(meta, cx, at, &mut a.stable_after),
        Key::Cooldown => |a, meta, cx, at| duration_key(meta, cx, at, &mut a.cooldown),
        Key::MaxCooldownCycles => {
            |a, meta, cx, at| count_key(meta, cx, at, &mut a.max_cooldown_cycles)
        }
        Key::MaxChildren => max_children,
        Key::Critical => critical,
        Key::Watchdog => watchdog,
        Key::Backoff => backoff,
        Key::Budget => budget,
        Key::Fatal => |a, meta, cx, at| types(meta, cx, at, &mut a.fatal),
        Key::NonRetryable => |a, meta, cx, at| types(meta, cx, at, &mut a.non_retryable),
        Key::DependsOn => |a, meta, cx, at| types(meta, cx, at, &mut a.depends_on),
        // Keys of a list: `Key::find` among the top-level keys never gives one, and
        // `backoff` and `budget` parse theirs.
        Key::BackoffBase
        | Key::BackoffMultiplier
        | Key::BackoffMax
        | Key::BackoffJitter
        | Key::BudgetIntensity
        | Key::BudgetPeriod => |_, meta, _, _| skip_value(meta),
    }
}

/// `key = example`, or `key(example)` for a list: what to write, for help lines.
fn form(key: Key) -> String {
    match key {
        Key::Backoff | Key::Budget | Key::Fatal | Key::NonRetryable | Key::DependsOn => {
            format!("{key}({})", key.example())
        }
        _ => format!("{key} = {}", key.example()),
    }
}

/// The key in a message about its value: `` `cooldown` ``, ``backoff `base` ``.
fn label(key: Key) -> String {
    match key.list() {
        Some(list) => format!("{list} `{key}`"),
        None => format!("`{key}`"),
    }
}

/// `restart = "permanent" | "transient" | "temporary"`.
fn restart(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    let Some(lit) = string_value(meta, cx, Key::Restart.name(), &form(Key::Restart))? else {
        return Ok(());
    };
    match Restart::from_name(&lit.value()) {
        Some(restart) => a.restart.set(cx, at, lit.span(), restart),
        None => {
            let names: Vec<&str> = Restart::ALL.iter().map(|r| r.name()).collect();
            unknown_value(cx, &lit, Key::Restart.name(), &lit.value(), &names);
        }
    }
    Ok(())
}

/// `ready = "auto" | "manual"`.
fn ready(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    let Some(lit) = string_value(meta, cx, Key::Ready.name(), &form(Key::Ready))? else {
        return Ok(());
    };
    let value = match lit.value().as_str() {
        "auto" => Ready::Auto,
        "manual" => Ready::Manual,
        other => {
            unknown_value(cx, &lit, Key::Ready.name(), other, READY_VALUES);
            return Ok(());
        }
    };
    a.ready.set(cx, at, lit.span(), value);
    Ok(())
}

/// `name = "..."`, not empty.
fn name(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    let Some(lit) = string_value(meta, cx, Key::Name.name(), &form(Key::Name))? else {
        return Ok(());
    };
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
        a.name.set(cx, at, lit.span(), lit.value());
    }
    Ok(())
}

/// `crate = "::path::to::hassette_runtime"`.
fn krate(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    let Some(lit) = string_value(meta, cx, Key::Crate.name(), &form(Key::Crate))? else {
        return Ok(());
    };
    match lit.parse::<syn::Path>() {
        Ok(path) => a.krate.set(cx, at, lit.span(), path),
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
    Ok(())
}

/// A duration key, into `slot`.
fn duration_key(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    at: Span,
    slot: &mut Slot<Duration>,
) -> syn::Result<()> {
    let key = slot.key;
    let list = key.list().unwrap_or(key);
    if let Some(expr) = expr_value(meta, cx, at, list.name(), &form(key))?
        && let Some(duration) = duration(cx, &expr, &label(key))
    {
        slot.set(cx, at, expr.span(), duration);
    }
    Ok(())
}

/// The whole number of `key`, and where it is.
fn count(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    at: Span,
    key: Key,
) -> syn::Result<Option<(u32, Span)>> {
    let list = key.list().unwrap_or(key);
    let Some(expr) = expr_value(meta, cx, at, list.name(), &form(key))? else {
        return Ok(None);
    };
    Ok(whole_number(cx, &expr, &label(key), key.example()).map(|n| (n, expr.span())))
}

/// A whole number key, into `slot`.
fn count_key(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    at: Span,
    slot: &mut Slot<u32>,
) -> syn::Result<()> {
    if let Some((n, span)) = count(meta, cx, at, slot.key)? {
        slot.set(cx, at, span, n);
    }
    Ok(())
}

/// `max_children = 100`, at least 1.
fn max_children(
    a: &mut Args,
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    at: Span,
) -> syn::Result<()> {
    if let Some((limit, span)) = count(meta, cx, at, Key::MaxChildren)? {
        match rules::max_children(limit) {
            Ok(()) => a.max_children.set(cx, at, span, limit),
            Err(violation) => cx.violation(span, &violation),
        }
    }
    Ok(())
}

/// `watchdog = "10s"`, longer than zero.
fn watchdog(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    let key = Key::Watchdog;
    if let Some(expr) = expr_value(meta, cx, at, key.name(), &form(key))?
        && let Some(limit) = duration(cx, &expr, &label(key))
    {
        match rules::watchdog(limit) {
            Ok(()) => a.watchdog.set(cx, at, expr.span(), limit),
            Err(violation) => cx.violation(expr.span(), &violation),
        }
    }
    Ok(())
}

/// `critical = true | false`.
fn critical(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    let Some(expr) = expr_value(meta, cx, at, Key::Critical.name(), &form(Key::Critical))? else {
        return Ok(());
    };
    match &expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(b),
            ..
        }) => a.critical.set(cx, at, expr.span(), b.value),
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
                "write `critical = false` for a service whose state does not hold back the \
                 app's readiness"
                    .to_owned(),
            ),
        ),
    }
    Ok(())
}

/// `fatal(...)`, `non_retryable(...)` or `depends_on(...)`, into `slot`.
fn types(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    at: Span,
    slot: &mut Slot<Vec<Type>>,
) -> syn::Result<()> {
    let key = slot.key;
    if let Some(types) = type_list(meta, cx, at, key.name(), &form(key))? {
        slot.set(cx, at, at, types);
    }
    Ok(())
}

/// `backoff(base = "...", multiplier = ..., max = "...", jitter = ...)`.
fn backoff(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    if !list_follows(meta, cx, at, Key::Backoff.name(), &form(Key::Backoff))? {
        return Ok(());
    }
    let mut backoff = Backoff {
        base: Slot::new(Key::BackoffBase),
        multiplier: Slot::new(Key::BackoffMultiplier),
        max: Slot::new(Key::BackoffMax),
        jitter: Slot::new(Key::BackoffJitter),
    };
    meta.parse_nested_meta(|inner| {
        let Some((key, span)) = inner_key(&inner, cx, Key::Backoff)? else {
            return Ok(());
        };
        match key {
            Key::BackoffBase => duration_key(&inner, cx, span, &mut backoff.base),
            Key::BackoffMax => duration_key(&inner, cx, span, &mut backoff.max),
            Key::BackoffMultiplier => multiplier(&inner, cx, span, &mut backoff.multiplier),
            _ => jitter(&inner, cx, span, &mut backoff.jitter),
        }
    })?;
    a.backoff.set(cx, at, at, backoff);
    Ok(())
}

/// `backoff(multiplier = 2.0)`; its rule is checked with the default base and max.
fn multiplier(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    at: Span,
    slot: &mut Slot<f64>,
) -> syn::Result<()> {
    if let Some(expr) = expr_value(
        meta,
        cx,
        at,
        Key::Backoff.name(),
        &form(Key::BackoffMultiplier),
    )? && let Some(m) = float(
        cx,
        &expr,
        &Form::Attribute.subject(Key::BackoffMultiplier),
        "write a number of 1.0 or more without quotes, like `multiplier = 2.0`",
    ) {
        slot.set(cx, at, expr.span(), m);
    }
    Ok(())
}

/// `backoff(jitter = 0.2)`, a fraction from 0.0 to 1.0: checked here rather than in
/// `validate`, so that the error covers the whole value, a `-` included.
fn jitter(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    at: Span,
    slot: &mut Slot<f64>,
) -> syn::Result<()> {
    let Some(expr) = expr_value(meta, cx, at, Key::Backoff.name(), &form(Key::BackoffJitter))?
    else {
        return Ok(());
    };
    let Some(j) = float(
        cx,
        &expr,
        &Form::Attribute.subject(Key::BackoffJitter),
        "write a fraction from 0.0 to 1.0 without quotes, like `jitter = 0.2`",
    ) else {
        return Ok(());
    };
    match rules::jitter(j) {
        Err(violation) => cx.violation_spanned(&expr, &violation),
        // `+ 0.0`: a `-0.0` is plain 0.0.
        Ok(()) => slot.set(cx, at, expr.span(), j + 0.0),
    }
    Ok(())
}

/// `budget(intensity = ..., period = "...")`.
fn budget(a: &mut Args, meta: &ParseNestedMeta<'_>, cx: &mut Ctxt, at: Span) -> syn::Result<()> {
    if !list_follows(meta, cx, at, Key::Budget.name(), &form(Key::Budget))? {
        return Ok(());
    }
    let mut budget = Budget {
        intensity: Slot::new(Key::BudgetIntensity),
        period: Slot::new(Key::BudgetPeriod),
    };
    meta.parse_nested_meta(|inner| {
        let Some((key, span)) = inner_key(&inner, cx, Key::Budget)? else {
            return Ok(());
        };
        match key {
            Key::BudgetIntensity => count_key(&inner, cx, span, &mut budget.intensity),
            _ => duration_key(&inner, cx, span, &mut budget.period),
        }
    })?;
    a.budget.set(cx, at, at, budget);
    Ok(())
}

/// The key of a nested list like `backoff(...)`, or `None` (and an error) when unknown.
fn inner_key(
    inner: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    list: Key,
) -> syn::Result<Option<(Key, Span)>> {
    let names = Key::names(list.entries());
    let Some(ident) = inner.path.get_ident() else {
        cx.error_spanned(
            &inner.path,
            format_args!("expected a key of `{list}(...)`"),
            Some(format!("`{list}` takes {}", one_of(&names, false))),
        );
        skip_value(inner)?;
        return Ok(None);
    };
    let name = ident.to_string();
    if let Some(key) = Key::find(&name, list.entries()) {
        return Ok(Some((key, ident.span())));
    }
    let help = match did_you_mean(&name, &names) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("`{list}` takes {}", one_of(&names, false)),
    };
    cx.error(
        ident.span(),
        format_args!("unknown key `{name}` in `{list}(...)`"),
        Some(help),
    );
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
        assert_eq!(args.restart.value(), Some(&Restart::Transient));
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
    fn a_list_key_at_the_top_level_says_where_it_goes() {
        let errs = errors(Kind::Service, quote! { intensity = 5, base = "1s" });
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0]
                .contains("`intensity` goes inside `budget(...)`: write `budget(intensity = 5)`"),
            "{errs:?}"
        );
        assert!(
            errs[1].contains("`base` goes inside `backoff(...)`: write `backoff(base = \"2s\")`"),
            "{errs:?}"
        );
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
        assert_eq!(args.restart.value(), Some(&Restart::Transient));
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
