//! Requests: `#[derive(Request)]` checked and expanded, and a plugin's `#[responds]` methods
//! (their signatures checked, their thunks and registrations generated).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Plugin, RequestType};
use crate::attr::{self, Errors};
use crate::check::check_call_keys;
use crate::expand::{context_ident, retry_tokens, type_label};

/// A checked `#[responds]` method: `&self`, the request by value, optionally
/// `ctx: &HandlerContext<'_>` after it.
pub(crate) struct ResponderSig<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) asyncness: Option<proc_macro2::Span>,
    pub(crate) request: &'a syn::Type,
    pub(crate) context: bool,
    pub(crate) output_span: proc_macro2::Span,
}

/// Checks every `#[responds]` method of the plugin; `None` for one that has a problem.
pub(crate) fn check_responders<'a>(
    plugin: &'a Plugin,
    errors: &mut Errors,
) -> Vec<Option<ResponderSig<'a>>> {
    plugin
        .responders
        .iter()
        .map(|method| {
            let sig = &method.item(&plugin.imp).sig;
            responder_sig(sig, &method.args, errors)
        })
        .collect()
}

fn responder_sig<'a>(
    sig: &'a syn::Signature,
    args: &attr::Args,
    errors: &mut Errors,
) -> Option<ResponderSig<'a>> {
    const SHAPE: &str = "a `#[responds]` method takes `&self`, the request by value and, \
                         optionally, `ctx: &HandlerContext<'_>`: `#[responds] async fn \
                         price(&self, r: GetPrice) -> Result<Price, E>`";
    let before = errors.count();
    if !sig.generics.params.is_empty() {
        errors.spanned(&sig.generics, "a `#[responds]` method cannot be generic");
    }
    check_call_keys(args, sig, errors);
    if let Some(key) = args.breaker.as_ref().and_then(|b| b.dead_letter_key()) {
        errors.spanned(
            key,
            "a request its open circuit rejects comes back to its caller as \
             `RequestError::CircuitOpen`, never a dead letter: `dead_letter` is for handlers",
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(syn::FnArg::Receiver(r))
            if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
        Some(syn::FnArg::Receiver(r)) => errors.spanned(
            r,
            "a `#[responds]` method takes `&self`: the system owns the plugin and lends it",
        ),
        Some(other) => errors.spanned(other, SHAPE),
        None => errors.spanned(&sig.ident, SHAPE),
    }
    let request = match inputs.next() {
        Some(syn::FnArg::Typed(pat)) if !matches!(&*pat.ty, syn::Type::Reference(_)) => {
            Some(&*pat.ty)
        }
        Some(other) => {
            errors.spanned(other, format!("{SHAPE}; the request is taken by value"));
            None
        }
        None => {
            errors.spanned(&sig.ident, SHAPE);
            None
        }
    };
    let context = match inputs.next() {
        Some(syn::FnArg::Typed(pat)) if matches!(&*pat.ty, syn::Type::Reference(_)) => true,
        Some(other) => {
            errors.spanned(other, SHAPE);
            false
        }
        None => false,
    };
    for extra in inputs {
        errors.spanned(extra, SHAPE);
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        errors.spanned(
            &sig.ident,
            "a `#[responds]` method returns its response: `-> Result<Response, E>`",
        );
    }
    let request = request?;
    (errors.count() == before).then(|| ResponderSig {
        ident: &sig.ident,
        asyncness: sig.asyncness.map(|a| a.span),
        request,
        context,
        output_span: match &sig.output {
            syn::ReturnType::Default => sig.ident.span(),
            syn::ReturnType::Type(_, ty) => ty.span(),
        },
    })
}

/// `#[derive(Request)]`: a `response`, a concrete owned type; the name, if given, not empty.
pub(crate) fn check_request(request: &crate::ast::RequestType, errors: &mut Errors) {
    let input = &request.input;
    if request.response.is_none() {
        errors.spanned(
            &input.ident,
            format!(
                "a request type names its response: `#[request(response = Price)]` on `{}`",
                input.ident
            ),
        );
    }
    if !input.generics.params.is_empty() {
        errors.spanned(
            &input.generics,
            "request types cannot be generic (each has one static responder table): derive on \
             a concrete type",
        );
    }
    if let Some(name) = &request.name
        && name.value().trim().is_empty()
    {
        errors.spanned(name, "a request name must not be empty");
    }
}

/// `#[derive(Request)]`: the type's responder table, its `Request` impl, its slice element.
pub(crate) fn expand_request(request: &RequestType) -> TokenStream {
    let krate = attr::runtime_path(request.krate.as_ref());
    let p = quote!(#krate::__private);
    let ident = &request.input.ident;
    let type_name = syn::ext::IdentExt::unraw(ident).to_string();
    let name = request
        .name
        .as_ref()
        .map_or_else(|| type_name.clone(), syn::LitStr::value);
    let response = &request.response;
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let element = crate::expand::slice_element(
        &p,
        "REQUESTS",
        quote! {
            static __STATICBUS_REQUEST: #p::RequestDecl = #p::RequestDecl::new::<#ident>(
                ::core::concat!(::core::module_path!(), "::", #type_name),
                ::core::file!(),
                #line,
            );
        },
    );
    quote! {
        const _: () = {
            static __STATICBUS_RESPONDERS: #p::ResponderTable<#ident> = #p::ResponderTable::new();

            impl #krate::Request for #ident {
                type Response = #response;
                const NAME: &'static str = #name;

                #[inline(always)]
                fn __table() -> &'static #p::ResponderTable<Self> {
                    &__STATICBUS_RESPONDERS
                }
            }

            #element
        };
    }
}

/// A plugin's `#[responds]` methods: for each, a thunk (the request's `ResponderFn`), the
/// function that installs it in the request type's table, and its `ResponderDecl`.
pub(crate) fn expand_responders(
    plugin: &Plugin,
    sigs: &[ResponderSig<'_>],
    name: &syn::LitStr,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let krate = &plugin.runtime;
    let p = quote!(#krate::__private);
    let self_ty = &*plugin.imp.self_ty;
    let type_name = type_label(self_ty);
    let span = Span::mixed_site();
    plugin
        .responders
        .iter()
        .zip(sigs)
        .map(|(method, sig)| {
            let ident = sig.ident;
            let request = sig.request;
            let thunk = format_ident!("__staticbus_responder_{}", ident, span = span);
            let install = format_ident!("__staticbus_install_{}", ident, span = span);
            let json = format_ident!("__staticbus_json_{}", ident, span = span);
            let cache = format_ident!("__staticbus_cache_{}", ident, span = span);
            let response = quote!(<#request as #krate::Request>::Response);
            let ctx = context_ident();
            let (make_ctx, args) = if sig.context {
                (
                    quote!(let #ctx = #krate::HandlerContext::__new(host, call, <#request as #krate::Request>::NAME);),
                    quote!(request, &#ctx),
                )
            } else {
                (quote!(let _ = call;), quote!(request))
            };
            let retries = method.args.retries.is_some();
            // Only a retrying responder counts its attempts.
            let ignore_attempts = if retries {
                quote!(let attempts = ::core::clone::Clone::clone(attempts);)
            } else {
                quote!(let _ = attempts;)
            };
            let breaker = crate::breaker::tokens(krate, method.args.breaker.as_ref());
            let wait = sig.asyncness.map(|_| quote!(.await));
            let into = quote_spanned!(sig.output_span=> #p::IntoResponse::<#response>::into_response);
            let output = syn::Ident::new("output", span.located_at(sig.output_span));
            let method_call = quote_spanned!(ident.span()=> __this.#ident);
            let answer = match &method.args.retries {
                None => quote! {
                    let #output = #method_call(#args)#wait;
                    #into(#output)
                },
                Some((lit, _)) => {
                    // Each attempt gets its own copy of the request: a request type that is
                    // not `Clone` is an error on `retries`.
                    let clone = quote_spanned!(lit.span()=> ::core::clone::Clone::clone(&request));
                    let retry = retry_tokens(krate, &method.args);
                    let ctx_ref = syn::Ident::new("__staticbus_ctx_ref", span);
                    let (bind_ctx, attempt_args) = if sig.context {
                        (quote!(let #ctx_ref = &#ctx;), quote!(request, #ctx_ref))
                    } else {
                        (quote!(), quote!(request))
                    };
                    quote! {
                        const __RETRY: ::core::option::Option<#krate::Retry> = #retry;
                        let ::core::option::Option::Some(retry) = &__RETRY else {
                            unreachable!("`retries` makes a policy")
                        };
                        #bind_ctx
                        #p::retry_responder(host, retry, attempts, || {
                            let request = #clone;
                            async move {
                                let #output = #method_call(#attempt_args)#wait;
                                #into(#output)
                            }
                        })
                        .await
                    }
                }
            };
            // Without retries or a context, no `async` block around the method: a sync one
            // answers in the thunk (no future at all), an async one's future is the
            // responder's, its output mapped (one state machine fewer).
            let start = match (&method.args.retries, sig.context, sig.asyncness) {
                (None, false, None) => quote! {
                    let _ = (call, slot, cx);
                    let #output = #method_call(#args);
                    #p::answered(::core::task::Poll::Ready(#into(#output)))
                },
                (None, false, Some(_)) => quote! {
                    let _ = call;
                    let answer = #p::Answer::new(#method_call(#args), |#output| #into(#output));
                    #p::start_responder(slot, answer, cx)
                },
                _ => quote! {
                    #p::start_responder(slot, async move {
                        #make_ctx
                        #answer
                    }, cx)
                },
            };
            let thunk_fn = quote! {
                fn #thunk<'a>(
                    host: &'a #p::Host,
                    call: &'a #p::Call<'a>,
                    request: #request,
                    attempts: &#p::Attempts,
                    slot: #p::ResponderSlot<'_, 'a, #response>,
                    cx: &mut ::core::task::Context<'_>,
                ) -> #p::Answered<#response> {
                    let ::core::option::Option::Some(__this) = host.__plugin_at::<#self_ty>(&__STATICBUS_KEY) else {
                        return #p::responder_inactive();
                    };
                    #ignore_attempts
                    #start
                }

                fn #install(info: &'static #krate::ResponderInfo) -> bool {
                    <#request as #krate::Request>::__table().install(info, #thunk)
                }

                fn #json() -> ::core::option::Option<#p::JsonCallFn> {
                    #[allow(unused_imports)]
                    use #p::{CallProbeFallback as _, CallProbeJson as _};
                    let probe = &&#p::CallProbe::<#request>(::core::marker::PhantomData);
                    probe.json_call()
                }

                fn #cache() -> ::core::option::Option<#p::Cacheable> {
                    #[allow(unused_imports)]
                    use #p::{CacheProbeFallback as _, CacheProbeCacheable as _};
                    let probe = &&#p::CacheProbe::<#request>(::core::marker::PhantomData);
                    probe.cacheable()
                }
            };
            let timeout = match method.args.timeout.as_ref().map(|t| t.nanos) {
                Some(nanos) => {
                    quote!(::core::option::Option::Some(::core::time::Duration::from_nanos(#nanos)))
                }
                None => quote!(::core::option::Option::None),
            };
            let function = format!("{type_name}::{ident}");
            let short = syn::ext::IdentExt::unraw(ident).to_string();
            let line = quote_spanned!(ident.span()=> ::core::line!());
            let decl = quote! {
                #p::ResponderDecl::new::<#request>(
                    #p::ResponderMeta {
                        plugin: #name,
                        name: #short,
                        method: ::core::concat!(::core::module_path!(), "::", #function),
                        file: ::core::file!(),
                        line: #line,
                        timeout: #timeout,
                        retries: #retries,
                        circuit_breaker: #breaker,
                    },
                    #install,
                    #json,
                    #cache,
                )
            };
            (thunk_fn, decl)
        })
        .unzip()
}
