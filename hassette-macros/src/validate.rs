//! The rules a declaration must follow, one function per rule. Every rule pushes its
//! errors into the shared [`Ctxt`] and returns, so all mistakes are reported together.

use hassette_spec::rules::{self, Bound};
use hassette_spec::{Key, Target, Violation, defaults};
use proc_macro2::Span;
use quote::ToTokens;
use syn::{FnArg, ItemImpl, ReceiverKind, ReturnType, Type};

use crate::args::{Args, Kind};
use crate::diag::{Ctxt, did_you_mean};
use crate::model::{Block, Hook, Method, RESERVED, Role};

/// Every rule about the attribute and the block.
pub(crate) fn all(args: &Args, block: &Block<'_>, cx: &mut Ctxt) {
    plain_impl(block.item, cx);
    restart_is_given(args, cx);
    keys_apply(args, cx);
    backoff_bounds(args, cx);
    budget_bounds(args, cx);
    error_lists_are_disjoint(args, cx);
    no_self_dependency(args, block.item, cx);
    serve_matches_kind(args.kind, block, cx);
    for method in block.driven() {
        signature(method, cx);
    }
    no_reserved_methods(block, cx);
    no_misspelt_hooks(args.kind, block, cx);
}

/// The attribute is on an inherent impl, not a trait impl. Returns whether it is.
pub(crate) fn inherent_impl(kind: Kind, item: &ItemImpl, cx: &mut Ctxt) -> bool {
    let Some((path, _)) = &item.trait_ else {
        return true;
    };
    let self_ty = item.self_ty.to_token_stream().to_string();
    cx.error_spanned(
        path,
        format_args!(
            "`{}` goes on an inherent `impl` block, not on a trait impl",
            kind.attr()
        ),
        Some(format!(
            "write `impl {self_ty} {{ ... }}` with `serve` and the hooks as ordinary methods; \
             the attribute implements the traits for you"
        )),
    );
    false
}

/// No `unsafe impl` and no unstable impl modifiers.
fn plain_impl(item: &ItemImpl, cx: &mut Ctxt) {
    if let Some(unsafety) = &item.unsafety {
        cx.error(
            unsafety.span,
            "a service's `impl` block cannot be `unsafe`",
            Some("remove `unsafe`".to_owned()),
        );
    }
    if let Err(error) = item.modifiers.require_empty() {
        cx.syn_error(error);
    }
}

/// `#[service]` names its restart policy: there is no default.
fn restart_is_given(args: &Args, cx: &mut Ctxt) {
    if args.kind != Kind::Service || args.seen.iter().any(|k| k == Key::Restart.name()) {
        return;
    }
    cx.error(
        args.span,
        "missing `restart`: every service must choose its restart policy\n\
         note: there is no default, because a silently inherited restart policy hides \
         wrong behaviour until it shows in production",
        Some(
            "add one of\n      \
             restart = \"permanent\"   restarted after a failure or a clean return\n      \
             restart = \"transient\"   restarted after a failure only\n      \
             restart = \"temporary\"   never restarted"
                .to_owned(),
        ),
    );
}

/// Every key written means something for the restart type: no restart tuning on a
/// temporary service, no cooldown on a permanent one (the shared rule, on the key).
fn keys_apply(args: &Args, cx: &mut Ctxt) {
    let Some(&restart) = args.restart.value() else {
        return;
    };
    for &key in Key::SERVICE {
        if let Some(span) = args.key_span(key)
            && let Err(violation) = rules::applies(key, Target::Service(restart))
        {
            cx.violation(span, &violation);
        }
    }
}

/// The backoff's rules, counting the defaults: the multiplier, and the max at least the
/// base (told on the one written).
fn backoff_bounds(args: &Args, cx: &mut Ctxt) {
    let Some(backoff) = args.backoff.value() else {
        return;
    };
    if let Some(m) = backoff.multiplier.get() {
        report(cx, m.span, rules::multiplier(m.value));
    }
    let (base, max) = (backoff.base.get(), backoff.max.get());
    let bounds = rules::backoff_bounds(
        Bound::or_default(base.map(|b| b.value), defaults::BACKOFF_BASE),
        Bound::or_default(max.map(|m| m.value), defaults::BACKOFF_MAX),
    );
    let span = |violation: &Violation| match violation.key() {
        Key::BackoffBase => base.map(|b| b.span),
        _ => max.map(|m| m.span),
    };
    if let Err(violation) = bounds
        && let Some(span) = span(&violation)
    {
        cx.violation(span, &violation);
    }
}

/// At least one restart per period, and a period longer than zero.
fn budget_bounds(args: &Args, cx: &mut Ctxt) {
    let Some(budget) = args.budget.value() else {
        return;
    };
    if let Some(intensity) = budget.intensity.get() {
        report(cx, intensity.span, rules::intensity(intensity.value));
    }
    if let Some(period) = budget.period.get() {
        report(cx, period.span, rules::period(period.value));
    }
}

/// A rule's verdict on the value at `span`.
fn report(cx: &mut Ctxt, span: Span, verdict: Result<(), Violation>) {
    if let Err(violation) = verdict {
        cx.violation(span, &violation);
    }
}

/// A type is fatal or non-retryable, not both; and no type is listed twice.
fn error_lists_are_disjoint(args: &Args, cx: &mut Ctxt) {
    let fatal = args.fatal.value().map_or(&[][..], Vec::as_slice);
    let non_retryable = args.non_retryable.value().map_or(&[][..], Vec::as_slice);
    let depends_on = args.depends_on.value().map_or(&[][..], Vec::as_slice);
    for (key, list) in [
        (Key::Fatal, fatal),
        (Key::NonRetryable, non_retryable),
        (Key::DependsOn, depends_on),
    ] {
        for (i, ty) in list.iter().enumerate() {
            let text = type_text(ty);
            if list[..i].iter().any(|earlier| type_text(earlier) == text) {
                cx.error_spanned(
                    ty,
                    format_args!("`{text}` is listed twice in `{key}`"),
                    Some("remove this one".to_owned()),
                );
            }
        }
    }
    for ty in non_retryable {
        let text = type_text(ty);
        if fatal.iter().any(|f| type_text(f) == text) {
            cx.error_spanned(
                ty,
                format_args!("`{text}` is both `fatal` and `non_retryable`"),
                Some(
                    "keep it in one list: `fatal` crashes the service, `non_retryable` exhausts \
                     its restart policy"
                        .to_owned(),
                ),
            );
        }
    }
}

/// `depends_on(Self)`, or the block's own type: a service cannot wait for itself.
fn no_self_dependency(args: &Args, item: &ItemImpl, cx: &mut Ctxt) {
    let Some(deps) = args.depends_on.value() else {
        return;
    };
    let own = type_text(&item.self_ty);
    for ty in deps {
        let text = type_text(ty);
        if text == "Self" || text == own {
            cx.error_spanned(
                ty,
                format_args!("`{}` cannot depend on itself", own),
                Some(
                    "remove it; `depends_on` lists the other services and resources that must be \
                     ready before this one starts"
                        .to_owned(),
                ),
            );
        }
    }
}

/// `#[service]` has a `serve`; `#[resource]` has none.
fn serve_matches_kind(kind: Kind, block: &Block<'_>, cx: &mut Ctxt) {
    let serve = block.serve();
    match (kind, serve) {
        (Kind::Service, None) => {
            let misspelt = block.methods.iter().any(|m| {
                m.role == Role::Helper && misspelling_of(kind, &m.name()) == Some(Hook::Serve)
            });
            if misspelt {
                // `no_misspelt_hooks` reports it, with the fix.
                return;
            }
            let self_ty = type_text(&block.item.self_ty);
            cx.error_spanned(
                &block.item.self_ty,
                format_args!("the `#[service]` block of `{self_ty}` has no `serve` method"),
                Some(
                    "add `async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError>` \
                     with the service's work; a type with hooks but no task is a `#[resource]`"
                        .to_owned(),
                ),
            );
        }
        (Kind::Resource, Some(serve)) => {
            cx.error(
                serve.func.sig.ident.span(),
                "a `#[resource]` cannot have `serve`: a resource is running once its hooks have finished",
                Some(
                    "use `#[service(restart = \"...\")]` for a type that runs a task, or move \
                     this work into `on_initialize`"
                        .to_owned(),
                ),
            );
        }
        _ => {}
    }
}

/// `async fn name(&self)` or `async fn name(&self, ctx: &ServiceContext)`, returning
/// nothing, `()` or a `Result`.
fn signature(method: &Method<'_>, cx: &mut Ctxt) {
    let sig = &method.func.sig;
    let name = method.name();
    let serve = method.role == Role::Hook(Hook::Serve);
    let what = if serve {
        format!("`{name}`")
    } else {
        format!("hook `{name}`")
    };
    let form = if serve {
        format!("async fn {name}(&self, ctx: &ServiceContext) -> Result<(), BoxError>")
    } else {
        format!("async fn {name}(&self, ctx: &ServiceContext)")
    };
    qualifiers(sig, &what, &form, cx);
    receiver(sig, &what, &form, cx);
    parameters(sig, &what, &form, cx);
    if let ReturnType::Type(_, ty) = &sig.output
        && sig.asyncness.is_some()
        && !returns_unit_or_result(ty)
    {
        cx.error_spanned(
                ty,
                format_args!(
                    "{what} must return `()` or `Result<(), E>`, not `{}`",
                    type_text(ty)
                ),
                Some("return `Result<(), BoxError>` (or any error that converts into `BoxError`), or nothing".to_owned()),
            );
    }
}

/// `async`, and not `const`, `unsafe`, `extern` nor generic.
fn qualifiers(sig: &syn::Signature, what: &str, form: &str, cx: &mut Ctxt) {
    if let Some(constness) = &sig.constness {
        cx.error(
            constness.span,
            format_args!("{what} cannot be `const`"),
            Some(format!("write `{form}`")),
        );
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        cx.error(
            unsafety.span,
            format_args!("{what} cannot be `unsafe`: the runtime calls it from safe code"),
            Some("remove `unsafe` and use an `unsafe` block inside".to_owned()),
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned(
            abi,
            format_args!("{what} cannot have an `extern` ABI"),
            Some(format!("write `{form}`")),
        );
    }
    if sig.asyncness.is_none() {
        cx.error(
            sig.fn_token.span,
            format_args!("{what} must be `async`"),
            Some(format!("write `{form}`")),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned(
            &sig.generics,
            format_args!("{what} cannot be generic: the runtime calls it with fixed arguments"),
            Some("remove the generic parameters; put them on the `impl` block instead".to_owned()),
        );
    }
}

/// After `&self`, at most `ctx: &ServiceContext`.
fn parameters(sig: &syn::Signature, what: &str, form: &str, cx: &mut Ctxt) {
    if let Some(ctx) = sig.inputs.iter().nth(1) {
        let is_shared_ref = matches!(
            ctx,
            FnArg::Typed(pat) if matches!(&*pat.ty, Type::Reference(r) if r.mutability.is_none())
        );
        if !is_shared_ref {
            cx.error_spanned(
                ctx,
                format_args!("the second parameter of {what} must be `ctx: &ServiceContext`"),
                Some(format!("write `{form}`")),
            );
        }
    }
    for extra in sig.inputs.iter().skip(2) {
        cx.error_spanned(
            extra,
            format_args!(
                "{what} takes `&self` and at most one more parameter, `ctx: &ServiceContext`"
            ),
            Some("remove this parameter; keep what the method needs in `self`".to_owned()),
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned(
            variadic,
            format_args!("{what} cannot be variadic"),
            Some(format!("write `{form}`")),
        );
    }
}

/// The receiver must be `&self`.
fn receiver(sig: &syn::Signature, what: &str, form: &str, cx: &mut Ctxt) {
    let Some(first) = sig.inputs.first() else {
        cx.error_spanned(
            &sig.ident,
            format_args!("{what} must take `&self`"),
            Some(format!("write `{form}`")),
        );
        return;
    };
    let FnArg::Receiver(receiver) = first else {
        cx.error_spanned(
            first,
            format_args!("{what} must take `&self` first"),
            Some(format!("write `{form}`")),
        );
        return;
    };
    let problem = match &receiver.kind {
        ReceiverKind::Reference(_, _, None) => return,
        ReceiverKind::Reference(_, _, Some(_)) => (
            "`&mut self`",
            "take `&self` and keep mutable state behind a `Mutex` or an atomic: the runtime \
             shares the service between `serve` and the hooks",
        ),
        ReceiverKind::Value => (
            "`self` by value",
            "take `&self`: the runtime keeps the service and calls it again after a restart",
        ),
        _ => ("a typed `self`", "take `&self`"),
    };
    cx.error_spanned(
        receiver,
        format_args!("{what} takes {}, but it must take `&self`", problem.0),
        Some(problem.1.to_owned()),
    );
}

/// `()`, or a path type ending in `Result` (`Result<(), E>`, `io::Result<()>`, ...); the
/// compiler checks the rest through the `HookOutput` bound.
fn returns_unit_or_result(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(inner) => returns_unit_or_result(&inner.elem),
        Type::Group(inner) => returns_unit_or_result(&inner.elem),
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|seg| seg.ident.to_string().ends_with("Result")),
        _ => false,
    }
}

/// `initialize`, `shutdown` and `restart` are driven by the runtime.
fn no_reserved_methods(block: &Block<'_>, cx: &mut Ctxt) {
    for method in block.methods.iter().filter(|m| m.role == Role::Reserved) {
        let name = method.name();
        let help = match name.as_str() {
            "initialize" => {
                "put start-up work in `on_initialize` (or `before_initialize`, `after_initialize`)"
            }
            "shutdown" => {
                "put clean-up work in `on_shutdown` (or `before_shutdown`, `after_shutdown`)"
            }
            _ => {
                "the supervisor restarts the service by its `restart` policy, and \
                 `Hassette::restart::<T>()` restarts it by hand"
            }
        };
        cx.error(
            method.func.sig.ident.span(),
            format_args!("`{name}` is driven by the runtime and cannot be defined here"),
            Some(format!(
                "{help}; a helper with this name needs another name"
            )),
        );
    }
}

/// A helper named one typo away from a hook is almost surely that hook, misspelt.
fn no_misspelt_hooks(kind: Kind, block: &Block<'_>, cx: &mut Ctxt) {
    for method in block.methods.iter().filter(|m| m.role == Role::Helper) {
        let name = method.name();
        let Some(close) = misspelling_of(kind, &name) else {
            continue;
        };
        cx.error(
            method.func.sig.ident.span(),
            format_args!("`{name}` is not a method the runtime calls; did you mean `{close}`?"),
            Some(format!(
                "rename it to `{close}`; a helper that really has this name belongs in another \
                 `impl` block, without the attribute"
            )),
        );
    }
}

/// The hook (or `serve`, for a service) that `name` is one typo away from.
fn misspelling_of(kind: Kind, name: &str) -> Option<Hook> {
    let hooks = Hook::ALL
        .into_iter()
        .filter(|&hook| kind == Kind::Service || hook != Hook::Serve);
    let mut names: Vec<&'static str> = hooks.map(Hook::name).collect();
    names.extend(RESERVED);
    did_you_mean(&name.to_lowercase(), &names).and_then(Hook::from_name)
}

/// A type as the user wrote it, for messages and comparisons.
fn type_text(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" :: ", "::")
        .replace(" ,", ",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn check(kind: Kind, attr: TokenStream, item: TokenStream) -> Vec<String> {
        let mut cx = Ctxt::new();
        let args = args::parse(kind, attr, &mut cx);
        let item: ItemImpl = match syn::parse2(item) {
            Ok(item) => item,
            Err(e) => return vec![e.to_string()],
        };
        if inherent_impl(kind, &item, &mut cx) {
            let block = Block::from_item(&item);
            all(&args, &block, &mut cx);
        }
        cx.messages()
    }

    fn service(attr: TokenStream, body: TokenStream) -> Vec<String> {
        check(Kind::Service, attr, quote! { impl Ticker { #body } })
    }

    const SERVE_OK: fn() -> TokenStream = || {
        quote! { async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> { Ok(()) } }
    };

    #[test]
    fn a_plain_service_is_valid() {
        let serve = SERVE_OK();
        let errs = service(
            quote! { restart = "permanent" },
            quote! {
                #serve
                async fn on_initialize(&self) {}
                async fn on_shutdown(&self, ctx: &ServiceContext) -> std::io::Result<()> { Ok(()) }
                fn helper(&mut self, x: u32) -> u32 { x }
            },
        );
        assert_eq!(errs, Vec::<String>::new());
    }

    #[test]
    fn missing_restart_explains_why_and_lists_the_values() {
        let serve = SERVE_OK();
        let errs = service(quote! {}, serve);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("missing `restart`"));
        assert!(errs[0].contains("production"));
        for value in ["permanent", "transient", "temporary"] {
            assert!(errs[0].contains(value));
        }
    }

    #[test]
    fn missing_serve() {
        let errs = service(quote! { restart = "permanent" }, quote! {});
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("has no `serve` method"), "{errs:?}");
    }

    #[test]
    fn temporary_contradicts_restart_tuning() {
        let serve = SERVE_OK();
        let errs = service(
            quote! { restart = "temporary", backoff(base = "1s"), budget(intensity = 2), cooldown = "1m" },
            serve,
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().all(|e| e.contains("never restarted")));
        // `jitter` alone is restart tuning too.
        let errs = service(
            quote! { restart = "temporary", backoff(jitter = 0.2) },
            SERVE_OK(),
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("`backoff` contradicts"), "{errs:?}");
    }

    #[test]
    fn backoff_and_budget_bounds() {
        let serve = SERVE_OK();
        let errs = service(
            quote! { restart = "transient", backoff(base = "10s", max = "1s", multiplier = 0.5), budget(intensity = 0, period = "0s") },
            serve.clone(),
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
        let errs = service(
            quote! { restart = "transient", backoff(base = "2m") },
            serve.clone(),
        );
        assert!(errs[0].contains("default max `1m`"), "{errs:?}");
        let errs = service(
            quote! { restart = "transient", backoff(base = "0s", max = "0s", multiplier = 1) },
            serve,
        );
        assert_eq!(errs, Vec::<String>::new());
    }

    #[test]
    fn self_dependency() {
        let serve = SERVE_OK();
        let errs = service(
            quote! { restart = "permanent", depends_on(Db, Self, Ticker) },
            serve,
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn hook_signatures() {
        let serve = SERVE_OK();
        let errs = service(
            quote! { restart = "permanent" },
            quote! {
                #serve
                fn on_initialize(&self) {}
                async fn before_initialize(&mut self) {}
                async fn after_initialize(self) {}
                async fn before_shutdown() {}
                async fn on_shutdown(&self, ctx: &ServiceContext, extra: u32) {}
                async fn after_shutdown<T>(&self) -> u32 { 0 }
            },
        );
        // after_shutdown is both generic and returns u32: two errors.
        assert_eq!(errs.len(), 7, "{errs:#?}");
    }

    #[test]
    fn reserved_and_misspelt_methods() {
        let serve = SERVE_OK();
        let errs = service(
            quote! { restart = "permanent" },
            quote! {
                #serve
                async fn initialize(&self) {}
                async fn on_initialise(&self) {}
                async fn before_shutdwon(&self) {}
                fn unrelated(&self) {}
            },
        );
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs[1].contains("did you mean `on_initialize`?"),
            "{errs:?}"
        );
    }

    #[test]
    fn a_misspelt_serve_is_not_also_missing() {
        let errs = service(
            quote! { restart = "permanent" },
            quote! { async fn server(&self) {} },
        );
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("did you mean `serve`?"), "{errs:?}");
    }

    #[test]
    fn resource_rules() {
        let errs = check(
            Kind::Resource,
            quote! { startup_timeout = "1s" },
            quote! { impl Pool { async fn serve(&self) {} async fn on_initialize(&self) {} } },
        );
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("cannot have `serve`"));
    }

    #[test]
    fn trait_impls_are_rejected() {
        let errs = check(
            Kind::Service,
            quote! { restart = "permanent" },
            quote! { impl Service for Ticker {} },
        );
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("not on a trait impl"));
    }
}
