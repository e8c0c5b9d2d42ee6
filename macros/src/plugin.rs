//! `#[plugin]` on inherent impls, and `#[on]` on their methods.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::attr::{self, Errors};
use crate::handler::{self, Registration};

const ON: &str = "on";

pub(crate) fn expand(args: TokenStream, item: syn::Item) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let args = attr::parse_args(
        args,
        &[attr::NAME, attr::VERSION, attr::CRATE],
        "#[plugin]",
        &mut errors,
    );
    let mut imp = match item {
        syn::Item::Impl(imp) => imp,
        other => {
            errors.spanned(
                item_head(&other),
                "`#[plugin]` goes on an inherent impl block: `#[plugin] impl MyPlugin { #[on] fn handle(&self, e: &Event) {} }`",
            );
            let err = errors.finish().expect_err("an error was pushed");
            return Ok(attr::rejected(other, err));
        }
    };
    check_impl(&imp, &mut errors);
    if let Some(name) = &args.name
        && name.value().trim().is_empty()
    {
        errors.spanned(name, "plugin name must not be empty");
    }

    let self_ty = (*imp.self_ty).clone();
    let krate = attr::runtime_path(args.krate.as_ref());
    let type_name = type_label(&self_ty);
    let plugin_name = args
        .name
        .as_ref()
        .map_or_else(|| type_name.clone(), syn::LitStr::value);
    let plugin_name_lit = syn::LitStr::new(&plugin_name, self_ty.span());
    let version = args.version.as_ref().map_or_else(
        || quote!(::core::env!("CARGO_PKG_VERSION")),
        ToTokens::to_token_stream,
    );

    let mut registrations = Vec::new();
    for item in &mut imp.items {
        let syn::ImplItem::Fn(method) = item else {
            continue;
        };
        let mut on_args = None;
        let mut kept = Vec::with_capacity(method.attrs.len());
        for a in method.attrs.drain(..) {
            if !(a.path().is_ident(ON) || is_qualified_on(a.path(), &krate)) {
                kept.push(a);
            } else if on_args.is_some() {
                errors.spanned(&a, "duplicate `#[on]` on one method");
            } else {
                on_args = Some(on_attr_args(&a, &mut errors));
            }
        }
        method.attrs = kept;
        let Some(on_args) = on_args else { continue };
        let Some(signature) = handler::check_signature(&method.sig, Some(&self_ty), &mut errors)
        else {
            continue;
        };
        let ident = &method.sig.ident;
        let method_path =
            quote_spanned!(ident.span()=> host.__plugin_at::<#self_ty>(&__STATICBUS_KEY).#ident);
        let call = handler::call_args(method_path, signature.context);
        registrations.push(
            Registration {
                krate: &krate,
                suffix: ident,
                event: signature.event,
                asyncness: method.sig.asyncness.map(|a| a.span),
                output_span: match &method.sig.output {
                    syn::ReturnType::Default => ident.span(),
                    syn::ReturnType::Type(_, ty) => ty.span(),
                },
                call,
                context: signature.context,
                plugin: quote!(::core::option::Option::Some(#plugin_name_lit)),
                function: format!("{type_name}::{ident}"),
                priority: on_args.priority.unwrap_or(0),
                line_span: ident.span(),
            }
            .expand(),
        );
    }
    if let Err(err) = errors.finish() {
        // A rejected trait impl (most often `impl Plugin for X`) would only add errors of its own.
        if imp.trait_.is_some() {
            return Err(err);
        }
        return Ok(attr::rejected(&imp, err));
    }

    let p = quote!(#krate::__private);
    let ty_span = self_ty.span();
    let decl = quote_spanned!(ty_span=> #p::PluginDecl::new::<#self_ty>);
    let line = quote_spanned!(ty_span=> ::core::line!());
    Ok(quote! {
        #imp
        const _: () = {
            // Named directly by the handler thunks below. `__key` is never inlined into
            // another crate, so the key is not exported and the thunks read it with one
            // PC-relative load (an exported static is reached through the GOT: two loads).
            static __STATICBUS_KEY: #p::PluginKey<#self_ty> = #p::PluginKey::new();

            impl #p::PluginKeyed for #self_ty {
                #[inline(never)]
                fn __key() -> &'static #p::PluginKey<Self> {
                    &__STATICBUS_KEY
                }
            }

            impl #krate::Plugin for #self_ty {
                const NAME: &'static str = #plugin_name_lit;
                const VERSION: &'static str = #version;
            }

            #[#p::linkme::distributed_slice(#p::PLUGINS)]
            #[linkme(crate = #p::linkme)]
            #[allow(unsafe_code)]
            static __STATICBUS_PLUGIN: #p::PluginDecl = #decl(::core::file!(), #line);

            #(#registrations)*
        };
    })
}

fn on_attr_args(a: &syn::Attribute, errors: &mut Errors) -> attr::Args {
    match &a.meta {
        syn::Meta::Path(_) => attr::Args::default(),
        syn::Meta::List(list) => {
            attr::parse_args(list.tokens.clone(), &[attr::PRIORITY], "#[on]", errors)
        }
        syn::Meta::NameValue(nv) => {
            errors.spanned(nv, "write `#[on]` or `#[on(priority = N)]`");
            attr::Args::default()
        }
    }
}

/// `#[staticbus::on]` (or `#[<runtime path>::on]`): the same marker as a bare `#[on]`.
fn is_qualified_on(path: &syn::Path, krate: &TokenStream) -> bool {
    let n = path.segments.len();
    if n < 2 || path.segments[n - 1].ident != ON {
        return false;
    }
    let prefix = path
        .segments
        .iter()
        .take(n - 1)
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    let krate = krate.to_string().replace(' ', "");
    prefix == "staticbus" || prefix == krate.trim_start_matches("::")
}

fn check_impl(imp: &syn::ItemImpl, errors: &mut Errors) {
    if let Some((path, _)) = &imp.trait_ {
        let msg = if path.segments.last().is_some_and(|s| s.ident == "Plugin") {
            "`#[plugin]` implements `Plugin` itself: write the inherent impl `impl MyPlugin { ... }` \
             and put the handler methods there"
        } else {
            "`#[plugin]` goes on an inherent impl (`impl MyPlugin { ... }`), not on a trait impl"
        };
        errors.spanned(path, msg);
    }
    if let Some(param) = imp.generics.params.first() {
        errors.spanned(
            param,
            "plugins cannot be generic: `build()` creates one instance of each plugin type, so the \
             type must be concrete",
        );
    }
    if !matches!(&*imp.self_ty, syn::Type::Path(p) if p.qself.is_none()) {
        errors.spanned(
            &imp.self_ty,
            "`#[plugin]` needs a named type: `impl MyPlugin { ... }`",
        );
    }
}

/// The type's last path segment, e.g. `Audit` for `crate::audit::Audit`.
fn type_label(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| ty.to_token_stream().to_string(), |s| s.ident.to_string()),
        other => other.to_token_stream().to_string(),
    }
}

/// The tokens an error on a non-impl item should point at: its keyword and name.
fn item_head(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Struct(s) => {
            let (t, i) = (&s.struct_token, &s.ident);
            quote!(#t #i)
        }
        syn::Item::Enum(e) => {
            let (t, i) = (&e.enum_token, &e.ident);
            quote!(#t #i)
        }
        syn::Item::Fn(f) => {
            let (t, i) = (&f.sig.fn_token, &f.sig.ident);
            quote!(#t #i)
        }
        syn::Item::Trait(t) => {
            let (k, i) = (&t.trait_token, &t.ident);
            quote!(#k #i)
        }
        other => other.to_token_stream(),
    }
}

/// `#[on]` reached on its own: it only means something inside a `#[plugin]` impl.
pub(crate) fn on_outside_plugin(item: TokenStream) -> TokenStream {
    const MSG: &str = "`#[on]` marks handler methods inside a `#[plugin]` impl block";
    let err = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(f) if f.sig.receiver().is_some() => syn::Error::new_spanned(
            &f.sig.ident,
            format!(
                "{MSG}: put `#[plugin]` on the `impl` block of `{}`",
                f.sig.ident
            ),
        ),
        Ok(f) => syn::Error::new_spanned(
            &f.sig.ident,
            format!("{MSG}; for a free function use `#[handler]`"),
        ),
        Err(_) => syn::Error::new_spanned(&item, MSG),
    };
    attr::rejected(item, err)
}
