//! The attribute's driver, and code generation from a validated model.
//!
//! Generation runs only when validation found nothing; otherwise the user's block is
//! emitted unchanged with the errors and a [`fallback`] impl, so the compiler reports the
//! declaration's mistakes and nothing that follows from them.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, ReturnType};

use hassette_spec::{Key, Restart};

use crate::args::{self, Args, Kind, Ready, Slot};
use crate::diag::Ctxt;
use crate::fallback;
use crate::model::{Block, Method};
use crate::validate;

/// `#[service(...)]` or `#[resource(...)]` on `input`.
pub(crate) fn attribute(kind: Kind, args: TokenStream, input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let args = args::parse(kind, args, &mut cx);
    let item = match syn::parse2::<Item>(input.clone()) {
        Ok(Item::Impl(item)) => item,
        Ok(other) => {
            not_an_impl(kind, &other, &mut cx);
            let errors = cx.into_compile_errors();
            return quote!(#input #errors);
        }
        Err(error) => {
            cx.syn_error(error);
            let errors = cx.into_compile_errors();
            return quote!(#input #errors);
        }
    };
    if !validate::inherent_impl(kind, &item, &mut cx) {
        let errors = cx.into_compile_errors();
        return quote!(#input #errors);
    }
    let block = Block::from_item(&item);
    validate::all(&args, &block, &mut cx);
    let krate = args
        .krate
        .value()
        .map_or_else(|| quote!(::hassette_runtime), ToTokens::to_token_stream);
    if cx.has_errors() {
        let fallback = fallback::impls(kind, &item, &krate);
        let errors = cx.into_compile_errors();
        return quote!(#input #fallback #errors);
    }
    let generated = generate(&args, &block, &krate);
    quote!(#input #generated)
}

/// The attribute on a struct, a function, or anything else that is not an impl block.
fn not_an_impl(kind: Kind, item: &Item, cx: &mut Ctxt) {
    let attr = kind.attr();
    let (span, what, name) = match item {
        Item::Struct(s) => (s.ident.span(), "a struct", Some(&s.ident)),
        Item::Enum(e) => (e.ident.span(), "an enum", Some(&e.ident)),
        Item::Union(u) => (u.ident.span(), "a union", Some(&u.ident)),
        Item::Fn(f) => (f.sig.ident.span(), "a function", None),
        Item::Trait(t) => (t.ident.span(), "a trait", None),
        Item::Mod(m) => (m.ident.span(), "a module", None),
        other => (other.span(), "this item", None),
    };
    let help = match name {
        Some(name) => format!(
            "move `{attr}` to the block with `serve` and the hooks: `impl {name} {{ ... }}`"
        ),
        None => format!(
            "put `serve` and the hooks in `impl YourType {{ ... }}` and `{attr}` on that block"
        ),
    };
    cx.error(
        span,
        format_args!("`{attr}` goes on an `impl` block, not on {what}"),
        Some(help),
    );
}

/// The `Hooks` impl and the `Service` or `Resource` impl of a valid block.
fn generate(args: &Args, block: &Block<'_>, krate: &TokenStream) -> TokenStream {
    let item = block.item;
    let self_ty = &item.self_ty;
    let generics = thread_safe_generics(&item.generics);
    let (impl_generics, _, where_clause) = generics.split_for_impl();

    let depends_on = args.depends_on.value().map(|deps| {
        let deps = deps
            .iter()
            .map(|ty| quote_spanned!(ty.span()=> #krate::Dependency::on::<#ty>()));
        quote! {
            const DEPENDS_ON: &'static [#krate::Dependency] = &[#(#deps),*];
        }
    });
    let display_name = args.name.value().map(|name| {
        quote! {
            fn display_name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(#name)
            }
        }
    });
    let hooks = block.hooks().map(|(_, method)| adapter(method, krate));
    // Which hooks the block defines, so the runtime never builds the future of a no-op
    // default: `HookSet::of(&[Hook::OnInitialize, Hook::Serve])`, by the variants' names
    // (a fieldless enum's `Debug`).
    let defined = block.defined().iter().map(|hook| {
        let variant = syn::Ident::new(&format!("{hook:?}"), Span::call_site());
        quote!(#krate::__private::Hook::#variant)
    });

    let kind_impl = match args.kind {
        Kind::Service => {
            let spec = restart_spec(args, krate);
            let serve = block.serve().map(|method| adapter(method, krate));
            let is_fatal = error_check(quote!(is_fatal), args.fatal.value(), krate);
            let is_non_retryable =
                error_check(quote!(is_non_retryable), args.non_retryable.value(), krate);
            quote! {
                #[automatically_derived]
                impl #impl_generics #krate::Service for #self_ty #where_clause {
                    // Every key set leaves nothing for the `..` default to fill.
                    #[allow(clippy::needless_update)]
                    const RESTART_SPEC: #krate::RestartSpec = #spec;
                    #serve
                    #is_fatal
                    #is_non_retryable
                }
            }
        }
        Kind::Resource => {
            let spec = resource_spec(args, krate);
            quote! {
                #[automatically_derived]
                impl #impl_generics #krate::Resource for #self_ty #where_clause {
                    #spec
                }
            }
        }
    };

    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Hooks for #self_ty #where_clause {
            #depends_on
            #display_name
            #[doc(hidden)]
            const __HOOKS: #krate::__private::HookSet =
                #krate::__private::HookSet::of(&[#(#defined),*]);
            #(#hooks)*
        }
        #kind_impl
    }
}

/// The impl's generics, plus `Self: Send + Sync + 'static` when it has type parameters:
/// a generic service is then a service for the type arguments that allow it, and a
/// wrong one is reported where it is registered, once, instead of at every generated
/// item of the definition.
pub(crate) fn thread_safe_generics(generics: &syn::Generics) -> syn::Generics {
    let mut generics = generics.clone();
    if generics
        .params
        .iter()
        .any(|param| matches!(param, syn::GenericParam::Type(_)))
    {
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(
                Self: ::core::marker::Send + ::core::marker::Sync + 'static
            ));
    }
    generics
}

/// The trait method that calls the user's `serve` or hook and adapts its form: with or
/// without `ctx`, returning `()` or `Result<(), E>`. No boxing: the trait returns
/// `impl Future`, and the inherent method wins in `Self::name` resolution.
///
/// Hygiene: each generated local (`self`, the context, the output) is one ident, made
/// once with one span and interpolated wherever it is declared or used. The user's
/// tokens may come out of a `macro_rules!` with another hygiene context than the
/// attribute itself, and a name declared in one context is not found from another
/// (E0424, E0425), so a local must never be written out twice, once by `quote!` and once
/// by `quote_spanned!` with a user's span. The span chosen is the user's token the local
/// stands next to (the method's name, the return type): errors about the call still land
/// there, and the body holds generated code only, so nothing of the user's can see it.
fn adapter(method: &Method<'_>, krate: &TokenStream) -> TokenStream {
    let sig = &method.func.sig;
    let ident = &sig.ident;
    let cfgs = method
        .func
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"));
    let this = syn::token::SelfValue(ident.span());
    let ctx = syn::Ident::new("__hassette_ctx", ident.span());
    let call = if method.takes_ctx() {
        quote_spanned!(ident.span()=> Self::#ident(#this, #ctx).await)
    } else {
        quote_spanned!(ident.span()=> Self::#ident(#this).await)
    };
    let output_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => ident.span(),
    };
    let out = syn::Ident::new("__hassette_out", output_span);
    // The conversion is spanned on the return type, so an unsupported one is reported there.
    let convert = quote_spanned! {output_span=>
        #krate::__private::HookOutput::into_hook_result(#out)
    };
    // Spanned on the method's name, so "future is not `Send`" points at the user's fn.
    let body = quote_spanned! {ident.span()=>
        async move {
            let #out = #call;
            #convert
        }
    };
    let output = quote_spanned! {ident.span()=>
        impl ::core::future::Future<
            Output = ::core::result::Result<(), #krate::BoxError>,
        > + ::core::marker::Send
    };
    quote! {
        #(#cfgs)*
        #[inline]
        fn #ident(&#this, #ctx: &#krate::ServiceContext) -> #output {
            #body
        }
    }
}

/// `is_fatal` or `is_non_retryable` over the listed error types (the default when none).
///
/// Each check is spanned on its type, so a type that is not an error is reported there;
/// the argument they share is one ident of `mixed_site` hygiene, declared and used by
/// interpolation (see [`adapter`]), as the listed types may carry different contexts.
fn error_check(
    name: TokenStream,
    types: Option<&Vec<syn::Type>>,
    krate: &TokenStream,
) -> Option<TokenStream> {
    let types = types?;
    let error = syn::Ident::new("__hassette_error", Span::mixed_site());
    let checks = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> #krate::__private::chain_has::<#ty>(#error)));
    Some(quote! {
        fn #name(#error: &(dyn ::core::error::Error + 'static)) -> bool {
            #(#checks)||*
        }
    })
}

/// `RestartSpec { field: value, ..RestartSpec::new(RestartType::X) }` with the fields
/// the user set, each named as its key's field (`Key::field`).
fn restart_spec(args: &Args, krate: &TokenStream) -> TokenStream {
    let restart = match args.restart.value() {
        Some(Restart::Transient) => quote!(Transient),
        Some(Restart::Temporary) => quote!(Temporary),
        // Validation guarantees `restart` is set.
        Some(Restart::Permanent) | None => quote!(Permanent),
    };
    let mut fields = Vec::new();
    if let Some(backoff) = args.backoff.value() {
        fields.extend(durations(&[&backoff.base, &backoff.max], krate));
        for slot in [&backoff.multiplier, &backoff.jitter] {
            if let Some(&x) = slot.value() {
                fields.push(field(slot.key(), Literal::f64_suffixed(x)));
            }
        }
    }
    if let Some(budget) = args.budget.value() {
        fields.extend(durations(&[&budget.period], krate));
        fields.extend(counts(&[&budget.intensity]));
    }
    let timings = [
        &args.startup_timeout,
        &args.shutdown_timeout,
        &args.cooldown,
        &args.stable_after,
    ];
    fields.extend(durations(&timings, krate));
    fields.extend(counts(&[&args.max_cooldown_cycles]));
    if let Some(&n) = args.max_children.value() {
        let n = Literal::u32_suffixed(n);
        fields.push(field(
            Key::MaxChildren,
            quote!(#krate::__private::core::num::NonZeroU32::new(#n)),
        ));
    }
    if let Some(&limit) = args.watchdog.value() {
        let limit = duration(limit, krate);
        fields.push(field(
            Key::Watchdog,
            quote!(#krate::__private::core::option::Option::Some(#limit)),
        ));
    }
    if let Some(critical) = args.critical.value() {
        fields.push(field(
            Key::Critical,
            quote!(#krate::__private::core::option::Option::Some(#critical)),
        ));
    }
    if let Some(ready) = args.ready.value() {
        let mode = match ready {
            Ready::Auto => quote!(Auto),
            Ready::Manual => quote!(Manual),
        };
        fields.push(field(Key::Ready, quote!(#krate::ReadyMode::#mode)));
    }
    quote! {
        #krate::RestartSpec {
            #(#fields,)*
            ..#krate::RestartSpec::new(#krate::RestartType::#restart)
        }
    }
}

/// `field: Duration::new(..)` for each duration key set.
fn durations(slots: &[&Slot<std::time::Duration>], krate: &TokenStream) -> Vec<TokenStream> {
    let set = slots
        .iter()
        .filter_map(|slot| Some((slot.key(), *slot.value()?)));
    set.map(|(key, d)| field(key, duration(d, krate))).collect()
}

/// `field: 3u32` for each whole number key set.
fn counts(slots: &[&Slot<u32>]) -> Vec<TokenStream> {
    let set = slots
        .iter()
        .filter_map(|slot| Some((slot.key(), *slot.value()?)));
    set.map(|(key, n)| field(key, Literal::u32_suffixed(n)))
        .collect()
}

/// `const RESOURCE_SPEC` when a timeout was set; the trait default otherwise.
fn resource_spec(args: &Args, krate: &TokenStream) -> Option<TokenStream> {
    let fields = durations(&[&args.startup_timeout, &args.shutdown_timeout], krate);
    if fields.is_empty() {
        return None;
    }
    Some(quote! {
        #[allow(clippy::needless_update)]
        const RESOURCE_SPEC: #krate::ResourceSpec = #krate::ResourceSpec {
            #(#fields,)*
            ..#krate::ResourceSpec::DEFAULT
        };
    })
}

fn field(key: Key, value: impl ToTokens) -> TokenStream {
    let name = syn::Ident::new(key.field(), Span::call_site());
    quote!(#name: #value)
}

fn duration(d: std::time::Duration, krate: &TokenStream) -> TokenStream {
    let secs = Literal::u64_suffixed(d.as_secs());
    let nanos = Literal::u32_suffixed(d.subsec_nanos());
    quote!(#krate::__private::Duration::new(#secs, #nanos))
}
