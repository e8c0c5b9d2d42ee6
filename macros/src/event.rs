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
            if let Err(problem) = staticbus_names::check(&lit.value()) {
                errors.spanned(
                    lit,
                    format!(
                        "invalid event name {:?}: {}; {}",
                        lit.value(),
                        describe(problem),
                        staticbus_names::RULE
                    ),
                );
            }
            lit.value()
        }
        None => {
            let name = staticbus_names::dotted(&input.ident.to_string());
            if let Err(problem) = staticbus_names::check(&name) {
                errors.spanned(
                    &input.ident,
                    format!(
                        "the default event name {name:?} (from the type name) is not a valid \
                         event name ({}); name it with ASCII letters and digits: \
                         #[event(name = \"...\")]",
                        describe(problem)
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

/// What is wrong with a name, for a message.
fn describe(problem: staticbus_names::NameError) -> String {
    use staticbus_names::NameError;
    match problem {
        NameError::Empty => "a name cannot be empty".to_owned(),
        NameError::TooLong { len } => format!(
            "it is {len} bytes long, names are at most {} bytes",
            staticbus_names::MAX_LEN
        ),
        NameError::EmptySegment { at } => format!("empty segment at byte {at}"),
        NameError::InvalidChar { ch, at } => {
            format!("character {ch:?} at byte {at} is not allowed")
        }
    }
}
