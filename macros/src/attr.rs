//! Attribute arguments shared by the macros: `priority`, `timeout`, the retry keys,
//! `circuit_breaker` (parsed in `breaker.rs`), `name`, `version`, `crate`, `size`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};

pub(crate) const PRIORITY: &str = "priority";
pub(crate) const NAME: &str = "name";
pub(crate) const VERSION: &str = "version";
pub(crate) const CRATE: &str = "crate";
pub(crate) const SIZE: &str = "size";
pub(crate) const TIMEOUT: &str = "timeout";
pub(crate) const RETRIES: &str = "retries";
pub(crate) const BACKOFF: &str = "backoff";
pub(crate) const BASE: &str = "base";
pub(crate) const MAX_DELAY: &str = "max_delay";
pub(crate) const MAX_ELAPSED: &str = "max_elapsed";
pub(crate) const CIRCUIT_BREAKER: &str = "circuit_breaker";
pub(crate) const DETACHED: &str = "detached";
pub(crate) const CONCURRENCY: &str = "concurrency";
pub(crate) const DEPENDS_ON: &str = "depends_on";
pub(crate) const PERSIST: &str = "persist";
pub(crate) const REPLAY: &str = "replay";
/// What `#[handler]` and `#[on]` take about their calls.
pub(crate) const CALL_KEYS: [&str; 11] = [
    PRIORITY,
    REPLAY,
    TIMEOUT,
    RETRIES,
    BACKOFF,
    BASE,
    MAX_DELAY,
    MAX_ELAPSED,
    CIRCUIT_BREAKER,
    DETACHED,
    CONCURRENCY,
];

/// Parsed `key = value` arguments. Each field is `Some` only if its key was given.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) priority: Option<i32>,
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) version: Option<syn::LitStr>,
    pub(crate) krate: Option<syn::Path>,
    /// `#[event(size = method)]`: the method giving the event's size in bytes.
    pub(crate) size: Option<syn::Ident>,
    /// `#[on(timeout = "250ms")]`: an async handler's timeout.
    pub(crate) timeout: Option<DurationArg>,
    /// `#[on(retries = 3, ...)]`: how many times a failed async call is tried again.
    pub(crate) retries: Option<(syn::LitInt, u32)>,
    /// `backoff = "exponential"` (true) or `"constant"` (false).
    pub(crate) backoff: Option<(syn::LitStr, bool)>,
    /// `base`, `max_delay`, `max_elapsed` of a retry policy.
    pub(crate) base: Option<DurationArg>,
    pub(crate) max_delay: Option<DurationArg>,
    pub(crate) max_elapsed: Option<DurationArg>,
    /// `circuit_breaker(...)`: when the handler's circuit opens.
    pub(crate) breaker: Option<crate::breaker::BreakerArg>,
    /// `detached`: the key, for errors on it.
    pub(crate) detached: Option<syn::Path>,
    /// `concurrency = N`: a detached handler's workers.
    pub(crate) concurrency: Option<(syn::LitInt, u32)>,
    /// `#[event(persist)]`: the key, for errors on it.
    pub(crate) persist: Option<syn::Path>,
    /// `replay = false`: the handler is skipped when a stored event is replayed.
    pub(crate) replay: Option<bool>,
    /// `#[plugin(depends_on = ["storage >= 1.0", "cache?"])]`: each entry checked.
    pub(crate) depends_on: Option<Vec<syn::LitStr>>,
}

/// A duration argument (`timeout = "250ms"`): the literal (for errors on it) and its value.
pub(crate) struct DurationArg {
    pub(crate) lit: syn::LitStr,
    pub(crate) nanos: u64,
}

impl Args {
    /// The first retry key given (`backoff`, `base`, ...), for an error when `retries` is not.
    pub(crate) fn retry_key(&self) -> Option<&syn::LitStr> {
        let durations = [&self.base, &self.max_delay, &self.max_elapsed];
        let backoff = self.backoff.as_ref().map(|(lit, _)| lit);
        backoff.or_else(|| durations.into_iter().flatten().map(|d| &d.lit).next())
    }
}

/// Collects several errors and reports them together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    /// How many errors so far (to tell whether a part added any).
    pub(crate) fn count(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |all| all.clone().into_iter().count())
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// `item` as written, then `err`: the attribute is rejected but the item stays, so that every
/// use of the item does not fail too.
pub(crate) fn rejected(item: impl ToTokens, err: syn::Error) -> TokenStream {
    let err = err.into_compile_error();
    quote!(#item #err)
}

/// Parses `key = value, ...` with the keys in `allowed`; `what` names the attribute in messages.
pub(crate) fn parse_args(
    tokens: TokenStream,
    allowed: &[&str],
    what: &str,
    errors: &mut Errors,
) -> Args {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| parse_one(&meta, &mut args, allowed, what, errors));
    if let Err(err) = syn::parse::Parser::parse2(parser, tokens) {
        errors.push(err);
    }
    args
}

/// Parses one `key = value` of an attribute (also used for `#[event(...)]` on derives).
pub(crate) fn parse_one(
    meta: &syn::meta::ParseNestedMeta<'_>,
    args: &mut Args,
    allowed: &[&str],
    what: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = &meta.path;
    let Some(key_name) = key
        .get_ident()
        .map(|i| i.to_string())
        .filter(|k| allowed.contains(&k.as_str()))
    else {
        let expected = allowed
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        errors.spanned(
            key,
            format!(
                "unknown {what} argument `{}`; expected one of: {expected}",
                key.to_token_stream()
            ),
        );
        skip_value(meta)?;
        return Ok(());
    };
    let duplicate = match key_name.as_str() {
        PRIORITY => {
            let value = parse_priority(meta, errors)?;
            replace(&mut args.priority, value)
        }
        NAME => {
            let value = parse_lit_str(meta, NAME, errors)?;
            replace(&mut args.name, value)
        }
        VERSION => {
            let value = parse_lit_str(meta, VERSION, errors)?.filter(|lit| {
                let checked = staticbus_names::plugin::version(&lit.value());
                checked.map_err(|e| errors.spanned(lit, e)).is_ok()
            });
            replace(&mut args.version, value)
        }
        DEPENDS_ON => {
            let value = parse_depends_on(meta, errors)?;
            replace(&mut args.depends_on, value)
        }
        CRATE => {
            let value: syn::Path = meta.value()?.call(syn::Path::parse_mod_style)?;
            replace(&mut args.krate, Some(value))
        }
        SIZE => {
            let value = parse_method_name(meta, errors)?;
            replace(&mut args.size, value)
        }
        TIMEOUT => {
            let value = parse_duration(meta, TIMEOUT, errors)?;
            replace(&mut args.timeout, value)
        }
        RETRIES => {
            let value = parse_retries(meta, errors)?;
            replace(&mut args.retries, value)
        }
        BACKOFF => {
            let value = parse_lit_str(meta, BACKOFF, errors)?.and_then(|lit| backoff(lit, errors));
            replace(&mut args.backoff, value)
        }
        BASE => {
            let value = parse_duration(meta, BASE, errors)?;
            replace(&mut args.base, value)
        }
        MAX_DELAY => {
            let value = parse_duration(meta, MAX_DELAY, errors)?;
            replace(&mut args.max_delay, value)
        }
        MAX_ELAPSED => {
            let value = parse_duration(meta, MAX_ELAPSED, errors)?;
            replace(&mut args.max_elapsed, value)
        }
        CIRCUIT_BREAKER => {
            let value = crate::breaker::parse(meta, errors)?;
            replace(&mut args.breaker, value)
        }
        DETACHED => {
            if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                errors.spanned(
                    key,
                    "`detached` takes no value: write `detached`, and `concurrency = N` for \
                     more than one worker",
                );
                skip_value(meta)?;
            }
            replace(&mut args.detached, Some(key.clone()))
        }
        PERSIST => {
            if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                errors.spanned(
                    key,
                    "`persist` takes no value: write `#[event(persist)]` (what a system \
                     persists is chosen by giving its builder a store)",
                );
                skip_value(meta)?;
            }
            replace(&mut args.persist, Some(key.clone()))
        }
        REPLAY => {
            let expr: syn::Expr = meta.value()?.parse()?;
            let value = match &expr {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Bool(lit),
                    ..
                }) => Some(lit.value),
                _ => {
                    errors.spanned(
                        &expr,
                        "`replay` is `true` (the default: replayed events are handled too) or \
                         `false` (a handler with side effects skips replayed events)",
                    );
                    None
                }
            };
            replace(&mut args.replay, value)
        }
        CONCURRENCY => {
            let what = "concurrency is how many calls of the detached handler may run at once, \
                        at least 1: `concurrency = 4`";
            let mut value = parse_count(meta, what, errors)?;
            if let Some((lit, n)) = &value
                && *n > staticbus_names::MAX_CONCURRENCY
            {
                errors.spanned(
                    lit,
                    format!(
                        "concurrency {n} is more than the {} calls of a detached handler that \
                         may run at once (each call in flight holds its event and state)",
                        staticbus_names::MAX_CONCURRENCY
                    ),
                );
                value = None;
            }
            replace(&mut args.concurrency, value)
        }
        _ => unreachable!("key checked against `allowed`"),
    };
    if duplicate {
        errors.spanned(key, format!("duplicate {what} argument `{key_name}`"));
    }
    Ok(())
}

/// `depends_on = ["name", "name >= 1.0", "name?"]`: the entries that are valid (each
/// invalid one is an error on its literal).
fn parse_depends_on(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<syn::LitStr>>> {
    const SHAPE: &str = "`depends_on` is a list of plugin names with optional semver \
                         requirements: `depends_on = [\"storage >= 1.0\", \"cache?\"]`";
    let syn::Expr::Array(array) = meta.value()?.parse()? else {
        errors.push(meta.error(SHAPE));
        return Ok(None);
    };
    let mut entries = Vec::with_capacity(array.elems.len());
    for elem in &array.elems {
        match elem {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => match staticbus_names::plugin::dependency(&lit.value()) {
                Ok(_) => entries.push(lit.clone()),
                Err(e) => errors.spanned(lit, format!("invalid dependency: {e}")),
            },
            other => errors.spanned(other, SHAPE),
        }
    }
    Ok(Some(entries))
}

/// Sets `slot`; true if it was already set.
pub(crate) fn replace<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let was_set = slot.is_some();
    if value.is_some() {
        *slot = value;
    }
    was_set
}

/// Skips the value of an unknown key, `key = expr` or `key(...)`, so the keys after it are
/// still checked.
pub(crate) fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _: proc_macro2::TokenTree = meta.input.parse()?;
    }
    Ok(())
}

/// `size = method`: the name of a `fn(&self) -> usize` of the event type.
fn parse_method_name(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<syn::Ident>> {
    match meta.value()?.parse()? {
        syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            Ok(p.path.get_ident().cloned())
        }
        other => {
            errors.spanned(
                other,
                "`size` names a method of the event: `size = heap_size`, with \
                 `fn heap_size(&self) -> usize`",
            );
            Ok(None)
        }
    }
}

/// `key = "<duration>"`.
pub(crate) fn parse_duration(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<Option<DurationArg>> {
    Ok(parse_lit_str(meta, key, errors)?.and_then(|lit| duration(lit, key, errors)))
}

/// `retries = N`, a `u32`.
fn parse_retries(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<(syn::LitInt, u32)>> {
    let what = "retries is a whole number of further attempts, e.g. `retries = 3`";
    parse_u32(meta, 0, what, errors)
}

/// `key = N`, a whole number from 1 to `u32::MAX`; `what` says what it counts, for the
/// error (`concurrency`, and the circuit breaker's counts).
pub(crate) fn parse_count(
    meta: &syn::meta::ParseNestedMeta<'_>,
    what: &str,
    errors: &mut Errors,
) -> syn::Result<Option<(syn::LitInt, u32)>> {
    parse_u32(meta, 1, what, errors)
}

/// `key = N`, an integer literal from `min` to `u32::MAX`; anything else is the error
/// `what`, on the value.
fn parse_u32(
    meta: &syn::meta::ParseNestedMeta<'_>,
    min: u32,
    what: &str,
    errors: &mut Errors,
) -> syn::Result<Option<(syn::LitInt, u32)>> {
    let expr: syn::Expr = meta.value()?.parse()?;
    if let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(lit),
        ..
    }) = &expr
        && let Ok(n) = lit.base10_parse::<u32>()
        && n >= min
    {
        return Ok(Some((lit.clone(), n)));
    }
    errors.spanned(&expr, what);
    Ok(None)
}

/// `backoff = "exponential"` (true) or `"constant"` (false).
fn backoff(lit: syn::LitStr, errors: &mut Errors) -> Option<(syn::LitStr, bool)> {
    let exponential = match lit.value().as_str() {
        "exponential" => true,
        "constant" => false,
        other => {
            let message =
                format!("unknown backoff {other:?}: write \"exponential\" or \"constant\"");
            errors.spanned(&lit, message);
            return None;
        }
    };
    Some((lit, exponential))
}

/// A duration string (`"250ms"`, `"5s"`, `"1m 30s"`), checked here: a bad one is an error
/// on its literal.
fn duration(lit: syn::LitStr, key: &str, errors: &mut Errors) -> Option<DurationArg> {
    let text = lit.value();
    let duration = match humantime::parse_duration(&text) {
        Ok(duration) => duration,
        Err(err) => {
            errors.spanned(
                &lit,
                format!(
                    "invalid {key} {text:?}: {err}; write a duration such as \"250ms\", \"5s\" \
                     or \"1m 30s\""
                ),
            );
            return None;
        }
    };
    match u64::try_from(duration.as_nanos()) {
        Ok(nanos) => Some(DurationArg { lit, nanos }),
        Err(_) => {
            errors.spanned(
                &lit,
                format!("{key} {text:?} is too long: at most about 584 years"),
            );
            None
        }
    }
}

fn parse_lit_str(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<Option<syn::LitStr>> {
    match meta.value()?.parse()? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Ok(Some(lit)),
        other => {
            errors.spanned(
                other,
                format!("`{key}` takes a string literal: `{key} = \"...\"`"),
            );
            Ok(None)
        }
    }
}

fn parse_priority(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<i32>> {
    let expr: syn::Expr = meta.value()?.parse()?;
    let (negative, lit) = match &expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) => (false, lit),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr: inner,
            ..
        }) => match &**inner {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(lit),
                ..
            }) => (true, lit),
            _ => return priority_error(&expr, errors),
        },
        _ => return priority_error(&expr, errors),
    };
    let digits = if negative {
        format!("-{}", lit.base10_digits())
    } else {
        lit.base10_digits().to_owned()
    };
    match digits.parse::<i32>() {
        Ok(value) if lit.suffix().is_empty() || lit.suffix() == "i32" => Ok(Some(value)),
        Ok(_) => {
            errors.spanned(lit, "priority is an `i32`: drop the suffix");
            Ok(None)
        }
        Err(_) => {
            errors.spanned(
                &expr,
                format!(
                    "priority must fit in an `i32` ({} to {})",
                    i32::MIN,
                    i32::MAX
                ),
            );
            Ok(None)
        }
    }
}

fn priority_error(expr: &syn::Expr, errors: &mut Errors) -> syn::Result<Option<i32>> {
    errors.spanned(
        expr,
        "priority must be an integer literal, e.g. `priority = 10` or `priority = -1`",
    );
    Ok(None)
}

/// The path generated code uses for the runtime crate: an explicit `crate = path`, else the
/// name `staticbus` has in the calling crate's Cargo.toml (renamed dependencies work), else
/// `::staticbus`. A path (it prints as tokens too), so that attributes naming it, as
/// `#[staticbus::on]` does, are compared with it segment by segment.
pub(crate) fn runtime_path(explicit: Option<&syn::Path>) -> syn::Path {
    if let Some(path) = explicit {
        return path.clone();
    }
    let name = match proc_macro_crate::crate_name("staticbus") {
        Ok(proc_macro_crate::FoundCrate::Name(name)) => name,
        Ok(proc_macro_crate::FoundCrate::Itself) | Err(_) => "staticbus".to_owned(),
    };
    let ident = syn::Ident::new(&name, Span::call_site());
    syn::parse_quote!(::#ident)
}
