//! `circuit_breaker(...)` of `#[handler]` and `#[on]`: its keys, checked together, and the
//! `CircuitBreaker` expression they make.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::{self, DurationArg, Errors};

const FAILURES: &str = "failures";
const RATIO: &str = "ratio";
const WINDOW: &str = "window";
const MIN_CALLS: &str = "min_calls";
const RESET: &str = "reset";
const PROBES: &str = "probes";
const DEAD_LETTER: &str = "dead_letter";
const KEYS: [&str; 7] = [
    FAILURES,
    RATIO,
    WINDOW,
    MIN_CALLS,
    RESET,
    PROBES,
    DEAD_LETTER,
];

/// A parsed `circuit_breaker(...)`: each field `Some` only if its key was given.
#[derive(Default)]
pub(crate) struct BreakerArg {
    failures: Option<u32>,
    ratio: Option<f64>,
    window: Option<DurationArg>,
    min_calls: Option<(syn::LitInt, u32)>,
    reset: Option<DurationArg>,
    probes: Option<u32>,
    dead_letter: Option<bool>,
    /// `dead_letter` as written, for the error on a responder's breaker.
    dead_letter_key: Option<syn::Path>,
    /// The keys written, valid or not (a key with a bad value is reported on its value,
    /// not again as missing).
    given: Vec<&'static str>,
}

impl BreakerArg {
    /// The `dead_letter` key, if written.
    pub(crate) fn dead_letter_key(&self) -> Option<&syn::Path> {
        self.dead_letter_key.as_ref()
    }
}

/// Parses `circuit_breaker(key = value, ...)`, every error collected; `None` if it cannot
/// make a breaker.
pub(crate) fn parse(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<BreakerArg>> {
    if !meta.input.peek(syn::token::Paren) {
        errors.spanned(
            &meta.path,
            "`circuit_breaker` takes its rule in parentheses: `circuit_breaker(failures = 5)`, \
             `circuit_breaker(failures = 5, window = \"30s\", min_calls = 10)` or \
             `circuit_breaker(ratio = 0.5, window = \"30s\", min_calls = 10)`",
        );
        attr::skip_value(meta)?;
        return Ok(None);
    }
    let mut arg = BreakerArg::default();
    let before = errors.count();
    meta.parse_nested_meta(|inner| parse_key(&inner, &mut arg, errors))?;
    check(&meta.path, &arg, errors);
    Ok((errors.count() == before).then_some(arg))
}

fn parse_key(
    meta: &syn::meta::ParseNestedMeta<'_>,
    arg: &mut BreakerArg,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = meta.path.get_ident().map(ToString::to_string);
    let key = match KEYS.iter().find(|k| key.as_deref() == Some(**k)) {
        Some(&key) => key,
        _ => {
            let expected = KEYS.map(|k| format!("`{k}`")).join(", ");
            errors.spanned(
                &meta.path,
                format!("unknown circuit_breaker argument; expected one of: {expected}"),
            );
            attr::skip_value(meta)?;
            return Ok(());
        }
    };
    arg.given.push(key);
    let duplicate = match key {
        FAILURES => attr::replace(
            &mut arg.failures,
            count(meta, FAILURES, errors)?.map(|c| c.1),
        ),
        MIN_CALLS => attr::replace(&mut arg.min_calls, count(meta, MIN_CALLS, errors)?),
        PROBES => attr::replace(&mut arg.probes, count(meta, PROBES, errors)?.map(|c| c.1)),
        RATIO => attr::replace(&mut arg.ratio, ratio(meta, errors)?),
        WINDOW => attr::replace(&mut arg.window, attr::parse_duration(meta, WINDOW, errors)?),
        RESET => attr::replace(&mut arg.reset, attr::parse_duration(meta, RESET, errors)?),
        _ => {
            arg.dead_letter_key = Some(meta.path.clone());
            attr::replace(&mut arg.dead_letter, boolean(meta, errors)?)
        }
    };
    if duplicate {
        errors.spanned(
            &meta.path,
            format!("duplicate circuit_breaker argument `{key}`"),
        );
    }
    Ok(())
}

/// Which rule the keys make: `failures` alone (consecutive), or over a `window` with
/// `failures` or a `ratio` (and optionally `min_calls`).
fn check(path: &syn::Path, arg: &BreakerArg, errors: &mut Errors) {
    let given = |key| arg.given.contains(&key);
    if !given(FAILURES) && !given(RATIO) {
        errors.spanned(
            path,
            "a circuit breaker needs a rule: `failures = N` (consecutive failures, or failures \
             within a `window`) or `ratio = 0.5` with a `window`",
        );
    }
    if given(RATIO) && !given(WINDOW) {
        errors.spanned(
            path,
            "a `ratio` of failures is counted over a window: add `window = \"30s\"`",
        );
    }
    if let Some((lit, _)) = &arg.min_calls
        && !given(WINDOW)
    {
        errors.spanned(
            lit,
            "`min_calls` is the calls a window must hold: add `window = \"30s\"`",
        );
    }
}

/// `key = N`, a whole number of calls from 1 to `u32::MAX`.
fn count(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<Option<(syn::LitInt, u32)>> {
    let what = format!("`{key}` is a whole number of calls, at least 1: `{key} = 5`");
    attr::parse_count(meta, &what, errors)
}

/// `ratio = 0.5`, from 0 to 1.
fn ratio(meta: &syn::meta::ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Option<f64>> {
    let expr: syn::Expr = meta.value()?.parse()?;
    let value = match &expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(lit),
            ..
        }) => lit.base10_parse::<f64>().ok(),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) => lit.base10_parse::<u8>().ok().map(f64::from),
        _ => None,
    };
    match value {
        Some(ratio) if (0.0..=1.0).contains(&ratio) => Ok(Some(ratio)),
        _ => {
            errors.spanned(
                &expr,
                "`ratio` is the fraction of failed calls that opens the circuit, from 0 to 1: \
                 `ratio = 0.5`",
            );
            Ok(None)
        }
    }
}

/// `dead_letter = true`.
fn boolean(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<bool>> {
    let expr: syn::Expr = meta.value()?.parse()?;
    if let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Bool(lit),
        ..
    }) = &expr
    {
        return Ok(Some(lit.value));
    }
    errors.spanned(
        &expr,
        "`dead_letter` is `true` (rejected calls become dead letters) or `false`",
    );
    Ok(None)
}

/// `Some(CircuitBreaker::...)` for a parsed breaker, `None` without one.
pub(crate) fn tokens(krate: &syn::Path, arg: Option<&BreakerArg>) -> TokenStream {
    let Some(arg) = arg else {
        return quote!(::core::option::Option::None);
    };
    let duration = |nanos: u64| quote!(::core::time::Duration::from_nanos(#nanos));
    let min_calls = arg.min_calls.as_ref().map_or(1, |(_, n)| *n);
    let rule = match (&arg.window, arg.ratio, arg.failures) {
        (Some(window), Some(ratio), _) => {
            let window = duration(window.nanos);
            quote!(ratio(#ratio, #window, #min_calls))
        }
        (Some(window), None, failures) => {
            let failures = failures.unwrap_or(1);
            let window = duration(window.nanos);
            quote!(within(#failures, #window, #min_calls))
        }
        (None, _, failures) => {
            let failures = failures.unwrap_or(1);
            quote!(consecutive(#failures))
        }
    };
    let reset = arg.reset.as_ref().map(|d| {
        let d = duration(d.nanos);
        quote!(.reset(#d))
    });
    let probes = arg.probes.map(|n| quote!(.probes(#n)));
    let dead_letter = arg.dead_letter.map(|on| quote!(.dead_letter_rejected(#on)));
    quote! {
        ::core::option::Option::Some(#krate::CircuitBreaker::#rule #reset #probes #dead_letter)
    }
}
