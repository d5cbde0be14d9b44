//! The values after a key: strings, durations, numbers, lists of types. Each helper
//! records what is wrong with a value in the [`Ctxt`] and returns `None`, so parsing goes
//! on with the next key; only a syntax error is returned as `Err`.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitStr, Token, Type, UnOp};

use crate::diag::{Ctxt, did_you_mean, one_of};
use hassette_spec::{DurationError, parse_duration};

/// Whether a parenthesized list follows the key; otherwise an error showing `form`.
pub(crate) fn list_follows(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    key_span: Span,
    key: &str,
    form: &str,
) -> syn::Result<bool> {
    if meta.input.peek(syn::token::Paren) {
        return Ok(true);
    }
    cx.error(
        key_span,
        format_args!("`{key}` takes a list of settings, not a single value"),
        Some(format!(
            "write `{form}`, leaving out what keeps its default"
        )),
    );
    skip_value(meta)?;
    Ok(false)
}

/// The `= value` after a key, or `None` (and an error showing `form`) when there is none.
pub(crate) fn expr_value(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    key_span: Span,
    key: &str,
    form: &str,
) -> syn::Result<Option<Expr>> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        return meta.input.parse::<Expr>().map(|expr| Some(ungroup(expr)));
    }
    let message = if meta.input.peek(syn::token::Paren) {
        format!("`{key}` takes a single value, not a list")
    } else {
        format!("`{key}` needs a value")
    };
    cx.error(key_span, message, Some(format!("write `{form}`")));
    skip_value(meta)?;
    Ok(None)
}

/// `expr` without the invisible delimiters around it: a `$value:literal` or `$value:expr`
/// of a `macro_rules!` reaches the attribute as such a group, and is a plain value all the
/// same.
fn ungroup(mut expr: Expr) -> Expr {
    while let Expr::Group(group) = expr {
        expr = *group.expr;
    }
    expr
}

/// `ty` without the invisible delimiters of a `$ty:ty` from a `macro_rules!`, so the
/// checks on it (`depends_on(Self)`, a type listed twice) see the type itself.
fn ungroup_type(mut ty: Type) -> Type {
    while let Type::Group(group) = ty {
        ty = *group.elem;
    }
    ty
}

/// A string literal after `=`; an unquoted value gets a help that quotes it.
pub(crate) fn string_value(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    key: &str,
    form: &str,
) -> syn::Result<Option<LitStr>> {
    let key_span = meta.path.span();
    let Some(expr) = expr_value(meta, cx, key_span, key, form)? else {
        return Ok(None);
    };
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = &expr
    {
        return Ok(Some(lit.clone()));
    }
    let written = quote::ToTokens::to_token_stream(&expr).to_string();
    let help = if matches!(expr, Expr::Path(_)) {
        format!("put it in quotes: `{key} = \"{written}\"`")
    } else {
        format!("write `{form}`")
    };
    cx.error_spanned(
        &expr,
        format_args!("`{key}` takes a string literal"),
        Some(help),
    );
    Ok(None)
}

/// A value that is not one of `values`, with a "did you mean" when one is close.
pub(crate) fn unknown_value(cx: &mut Ctxt, lit: &LitStr, key: &str, value: &str, values: &[&str]) {
    let help = match did_you_mean(&value.to_lowercase(), values) {
        Some(close) => format!("did you mean `\"{close}\"`?"),
        None if values.contains(&value.to_lowercase().as_str()) => {
            format!("write it in lowercase: `\"{}\"`", value.to_lowercase())
        }
        None => format!("write {}", one_of(values, true)),
    };
    cx.error(
        lit.span(),
        format_args!(
            "unknown `{key}` value `\"{value}\"`; expected {}",
            one_of(values, true)
        ),
        Some(help),
    );
}

/// `(Type, Type, ...)` after a key: a non-empty list of types.
pub(crate) fn type_list(
    meta: &ParseNestedMeta<'_>,
    cx: &mut Ctxt,
    key_span: Span,
    key: &str,
    form: &str,
) -> syn::Result<Option<Vec<Type>>> {
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            key_span,
            format_args!("`{key}` takes a list of types"),
            Some(format!("write `{form}`")),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let types = content.call(Punctuated::<Type, Token![,]>::parse_terminated)?;
    if types.is_empty() {
        cx.error(
            key_span,
            format_args!("`{key}()` lists no types"),
            Some(format!(
                "list at least one type, like `{form}`, or remove `{key}`"
            )),
        );
        return Ok(None);
    }
    Ok(Some(types.into_iter().map(ungroup_type).collect()))
}

/// Consumes whatever value follows an unusable key, so parsing goes on with the next key.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    let input: ParseStream<'_> = meta.input;
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// A duration literal such as `"1m30s"`; `what` names it in errors.
pub(crate) fn duration(cx: &mut Ctxt, expr: &Expr, what: &str) -> Option<Duration> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => match parse_duration(&lit.value()) {
            Ok(d) => Some(d),
            Err(error) => {
                cx.error(
                    lit.span(),
                    format_args!(
                        "invalid duration `\"{}\"` for {what}: {}",
                        lit.value(),
                        error.problem()
                    ),
                    Some(format!("write {}", DurationError::FORMS)),
                );
                None
            }
        },
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            let n = int.base10_digits();
            cx.error(
                int.span(),
                format_args!("{what} must be a string with a unit"),
                Some(format!(
                    "write `\"{n}s\"` for {n} seconds, or `\"{n}ms\"` for milliseconds"
                )),
            );
            None
        }
        _ => {
            cx.error_spanned(
                expr,
                format_args!("{what} must be a string literal"),
                Some(format!("write {}", DurationError::FORMS)),
            );
            None
        }
    }
}

/// A whole number from 0 to `u32::MAX`, written without quotes.
pub(crate) fn whole_number(cx: &mut Ctxt, expr: &Expr, what: &str, example: &str) -> Option<u32> {
    let help = Some(format!(
        "write a whole number without quotes, like `{example}`"
    ));
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() => match int.base10_parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                cx.error(
                    int.span(),
                    format_args!(
                        "{what} `{}` is too large; the most is {}",
                        int.base10_digits(),
                        u32::MAX
                    ),
                    None,
                );
                None
            }
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => {
            cx.error_spanned(expr, format_args!("{what} cannot be negative"), help);
            None
        }
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if lit.value().parse::<u32>().is_ok() => {
            cx.error(
                lit.span(),
                format_args!("{what} must be a number, not a string"),
                Some(format!("remove the quotes: `{}`", lit.value())),
            );
            None
        }
        _ => {
            cx.error_spanned(expr, format_args!("{what} must be a whole number"), help);
            None
        }
    }
}

/// A float like `2.0` or `2`, written without quotes (`multiplier`, `jitter`); `what`
/// names it in errors, `help` says what to write. The range is checked later, so a
/// negative value is kept.
pub(crate) fn float(cx: &mut Ctxt, expr: &Expr, what: &str, help: &str) -> Option<f64> {
    let (negative, inner) = match expr {
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => (true, &**expr),
        other => (false, other),
    };
    // `-$m` with a `$m:literal` of a `macro_rules!`: the literal is still grouped.
    let mut inner = inner;
    while let Expr::Group(group) = inner {
        inner = &group.expr;
    }
    let parsed = match inner {
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) if f.suffix().is_empty() || f.suffix() == "f64" => f.base10_parse::<f64>().ok(),
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) if i.suffix().is_empty() => i.base10_parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(value) if value.is_finite() => Some(if negative { -value } else { value }),
        _ => {
            match inner {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) if !negative && lit.value().trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                    cx.error(
                        lit.span(),
                        format_args!("{what} must be a number, not a string"),
                        Some(format!("remove the quotes: `{}`", lit.value().trim())),
                    );
                }
                _ => cx.error_spanned(
                    expr,
                    format_args!("{what} must be a number"),
                    Some(help.to_owned()),
                ),
            }
            None
        }
    }
}
