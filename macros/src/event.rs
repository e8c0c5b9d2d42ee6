//! `#[derive(StaticEvent)]`: parse -> check -> expand.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use crate::attr::{self, Args, Errors};

const EVENT_ATTR: &str = "event";

pub(crate) fn expand(input: syn::DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let args = parse_event_attrs(&input.attrs, &mut errors);
    check_shape(&input, &mut errors);
    let name = match &args.name {
        Some(lit) => {
            if !valid_name(&lit.value()) {
                errors.spanned(
                    lit,
                    format!(
                        "invalid event name {:?}: use dot-separated segments of ASCII letters, \
                         digits, `_` or `-`, at most 255 bytes, e.g. \"order.placed\" (no empty \
                         segments, spaces or wildcards)",
                        lit.value()
                    ),
                );
            }
            lit.value()
        }
        None => {
            let name = dotted(&input.ident.to_string());
            if !valid_name(&name) {
                errors.spanned(
                    &input.ident,
                    format!(
                        "the default event name {name:?} (from the type name) is not a valid \
                         event name; name it with ASCII letters and digits: \
                         #[event(name = \"...\")]"
                    ),
                );
            }
            name
        }
    };
    errors.finish()?;

    let krate = attr::runtime_path(args.krate.as_ref());
    let ident = &input.ident;
    let size = args.size.as_ref().map(|method| {
        quote_spanned! {method.span()=>
            #[inline]
            fn __size(&self) -> usize {
                #ident::#method(self)
            }
        }
    });
    let line = quote_spanned!(ident.span()=> ::core::line!());
    Ok(quote! {
        const _: () = {
            static __STATICBUS_TABLE: #krate::__private::Table<#ident> =
                #krate::__private::Table::new();

            impl #krate::StaticEvent for #ident {
                const NAME: &'static str = #name;

                #[inline(always)]
                fn __table() -> &'static #krate::__private::Table<Self> {
                    &__STATICBUS_TABLE
                }
                #size

                fn __json() -> ::core::option::Option<#krate::JsonFn> {
                    #[allow(unused_imports)]
                    use #krate::__private::{JsonProbeFallback as _, JsonProbeSerialize as _};
                    (&&#krate::__private::JsonProbe::<#ident>::new()).json_fn()
                }
            }

            #[#krate::__private::linkme::distributed_slice(#krate::__private::EVENTS)]
            #[linkme(crate = #krate::__private::linkme)]
            #[allow(unsafe_code)]
            static __STATICBUS_EVENT: #krate::__private::EventDecl =
                #krate::__private::EventDecl::new::<#ident>(
                    &__STATICBUS_TABLE,
                    ::core::file!(),
                    #line,
                );
        };
    })
}

fn parse_event_attrs(attrs: &[syn::Attribute], errors: &mut Errors) -> Args {
    let mut args = Args::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(EVENT_ATTR)) {
        let result = attr.parse_nested_meta(|meta| {
            attr::parse_one(
                &meta,
                &mut args,
                &[attr::NAME, attr::SIZE, attr::CRATE],
                "#[event]",
                errors,
            )
        });
        if let Err(err) = result {
            errors.push(err);
        }
    }
    args
}

/// Generic and borrowed events cannot have a handler table: statics are never generic.
fn check_shape(input: &syn::DeriveInput, errors: &mut Errors) {
    if let syn::Data::Union(u) = &input.data {
        errors.spanned(
            u.union_token,
            "`StaticEvent` cannot be derived for a union; use a struct or an enum",
        );
    }
    for param in &input.generics.params {
        match param {
            syn::GenericParam::Lifetime(lt) => errors.spanned(
                lt,
                "static events must own their data (they are `'static`); replace borrowed fields \
                 with owned ones (`String`, `Arc<str>`, `Vec<T>`)",
            ),
            syn::GenericParam::Type(_) | syn::GenericParam::Const(_) => errors.spanned(
                param,
                "generic events are not supported: each event type gets its own handler table, a \
                 static, and statics cannot be generic; derive `StaticEvent` on a concrete type \
                 (e.g. `struct OrderEvent(Envelope<Order>);`) or publish it on the dynamic bus",
            ),
        }
    }
}

/// Event names are dotted identifiers: `order.placed`, `billing.v2.invoice_sent`.
/// The same rule as the runtime's `Topic` (static events travel the dynamic bus under it),
/// including its 255-byte limit.
fn valid_name(name: &str) -> bool {
    name.len() <= 255
        && name.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// `OrderPlaced` -> `order.placed`, `HTTPRequestSent` -> `http.request.sent`, `V2Ping` -> `v2.ping`.
pub(crate) fn dotted(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            if !out.is_empty() && !out.ends_with('.') {
                out.push('.');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary =
                prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower);
            if boundary && !out.ends_with('.') {
                out.push('.');
            }
        }
        out.extend(c.to_lowercase());
    }
    out.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::dotted;

    #[test]
    fn dotted_names() {
        assert_eq!(dotted("OrderPlaced"), "order.placed");
        assert_eq!(dotted("Ping"), "ping");
        assert_eq!(dotted("HTTPRequestSent"), "http.request.sent");
        assert_eq!(dotted("V2Ping"), "v2.ping");
        assert_eq!(dotted("order_placed"), "order.placed");
        assert_eq!(dotted("Shutdown_"), "shutdown");
        assert_eq!(dotted("r#Type"), "type");
    }
}
