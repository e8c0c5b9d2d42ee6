//! `#[handler]` on free functions, and the registration code `#[plugin]` shares with it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::attr::{self, Errors};

/// Everything needed to register one handler, free function or plugin method.
pub(crate) struct Registration<'a> {
    pub(crate) krate: &'a TokenStream,
    /// Unique within the surrounding `const _` block.
    pub(crate) suffix: &'a syn::Ident,
    pub(crate) event: &'a syn::Type,
    pub(crate) asyncness: Option<Span>,
    pub(crate) output_span: Span,
    /// Calls the handler with `host: &Host`, `event: &E` and, when it takes one,
    /// `__staticbus_ctx: HandlerContext` in scope.
    pub(crate) call: TokenStream,
    /// The handler takes a `&HandlerContext` after its event.
    pub(crate) context: bool,
    pub(crate) plugin: TokenStream,
    /// `module_path!()`-relative path of the handler, e.g. `"Audit::placed"`.
    pub(crate) function: String,
    pub(crate) priority: i32,
    /// Span whose `line!()` is reported.
    pub(crate) line_span: Span,
}

pub(crate) fn expand(args: TokenStream, item: syn::ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let args = attr::parse_args(
        args,
        &[attr::PRIORITY, attr::CRATE],
        "#[handler]",
        &mut errors,
    );
    let signature = check_signature(&item.sig, None, &mut errors);
    if let Err(err) = errors.finish() {
        return Ok(attr::rejected(&item, err));
    }
    let Some(Signature { event, context }) = signature else {
        unreachable!("check_signature reports an error when it returns no event type")
    };

    let krate = attr::runtime_path(args.krate.as_ref());
    let ident = &item.sig.ident;
    let suffix = format_ident!("{}", ident);
    let registration = Registration {
        krate: &krate,
        suffix: &suffix,
        event,
        asyncness: item.sig.asyncness.map(|a| a.span),
        output_span: output_span(&item.sig),
        call: call_args(quote!(#ident), context),
        context,
        plugin: quote!(::core::option::Option::None),
        function: ident.to_string(),
        priority: args.priority.unwrap_or(0),
        line_span: ident.span(),
    }
    .expand();
    Ok(quote! {
        #item
        const _: () = { #registration };
    })
}

/// What a checked handler signature takes: its event type, and whether a context follows.
pub(crate) struct Signature<'a> {
    pub(crate) event: &'a syn::Type,
    pub(crate) context: bool,
}

/// `callee(event)` or `callee(event, &__staticbus_ctx)`.
pub(crate) fn call_args(callee: TokenStream, context: bool) -> TokenStream {
    if context {
        let ctx = context_ident();
        quote!(#callee(event, &#ctx))
    } else {
        quote!(#callee(event))
    }
}

fn context_ident() -> syn::Ident {
    syn::Ident::new("__staticbus_ctx", Span::mixed_site())
}

/// The handler context's type name, as written in signatures.
const CONTEXT: &str = "HandlerContext";

/// Checks a handler signature: one event by reference, optionally followed by a
/// `&HandlerContext`. `plugin` is `Some` for `#[on]` methods, which take `&self` first
/// (free functions must not). Reports every problem found.
pub(crate) fn check_signature<'a>(
    sig: &'a syn::Signature,
    plugin: Option<&syn::Type>,
    errors: &mut Errors,
) -> Option<Signature<'a>> {
    let what = if plugin.is_some() {
        "`#[on]` methods"
    } else {
        "handlers"
    };
    match sig.generics.params.first() {
        Some(syn::GenericParam::Lifetime(param)) => errors.spanned(
            param,
            format!(
                "{what} take `&Event` for any lifetime: remove `<{}>` and the lifetime on the event",
                param.lifetime
            ),
        ),
        Some(param) => errors.spanned(param, generic_message(what)),
        None => {}
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        errors.spanned(
            token,
            format!("{what} cannot be `unsafe fn`: the bus calls them from safe code"),
        );
    }
    let mut inputs = sig.inputs.iter();
    match (plugin, sig.receiver()) {
        (None, Some(receiver)) => {
            errors.spanned(
                receiver,
                "`#[handler]` is for free functions; put methods in a `#[plugin]` impl block and mark them `#[on]`",
            );
            inputs.next();
        }
        (Some(_), Some(receiver)) => {
            check_receiver(receiver, errors);
            inputs.next();
        }
        (Some(_), None) => errors.spanned(
            &sig.ident,
            "`#[on]` methods take `&self` first: `fn name(&self, e: &Event)`",
        ),
        (None, None) => {}
    }
    let rest: Vec<&syn::PatType> = inputs
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(arg) => Some(arg),
            syn::FnArg::Receiver(r) => {
                errors.spanned(r, "unexpected receiver");
                None
            }
        })
        .collect();
    let shape = if plugin.is_some() {
        "`fn name(&self, e: &Event)` or `fn name(&self, e: &Event, ctx: &HandlerContext<'_>)`"
    } else {
        "`fn name(e: &Event)` or `fn name(e: &Event, ctx: &HandlerContext<'_>)`"
    };
    let (event, context) = match rest.as_slice() {
        [] => {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!("{what} take one event argument, by reference: {shape}"),
            ));
            return None;
        }
        [event] => (*event, None),
        [event, context] => (*event, Some(*context)),
        [_, _, extra, ..] => {
            errors.spanned(
                extra,
                format!(
                    "{what} take one event argument and, optionally, a context after it: {shape}"
                ),
            );
            return None;
        }
    };
    if is_context(&event.ty) {
        let msg = match context {
            Some(_) => "the context goes after the event: `e: &Event, ctx: &HandlerContext<'_>`",
            None => "a handler takes its event first: `e: &Event, ctx: &HandlerContext<'_>`",
        };
        errors.spanned(&event.ty, msg);
        return None;
    }
    if let Some(context) = context {
        check_context(context, errors);
    }
    match attr::event_arg(event, &sig.generics) {
        Ok(syn::Type::ImplTrait(ty)) => {
            errors.spanned(ty, generic_message(what));
            None
        }
        Ok(ty) => Some(Signature {
            event: ty,
            context: context.is_some(),
        }),
        Err(err) => {
            errors.push(err);
            None
        }
    }
}

/// Whether `ty` names the handler context, by reference or not: its path ends in
/// `HandlerContext` (`HandlerContext<'_>`, `staticbus::HandlerContext`, ...).
fn is_context(ty: &syn::Type) -> bool {
    let ty = match ty {
        syn::Type::Reference(r) => &*r.elem,
        other => other,
    };
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == CONTEXT))
}

/// The argument after the event must be `&HandlerContext<'_>`.
fn check_context(arg: &syn::PatType, errors: &mut Errors) {
    match &*arg.ty {
        syn::Type::Reference(r) if r.mutability.is_none() && is_context(&r.elem) => {}
        syn::Type::Reference(r) if is_context(&r.elem) => errors.spanned(
            r,
            "take the context by shared reference: `ctx: &HandlerContext<'_>`: handlers read it and \
             publish through it, they do not change it",
        ),
        ty if is_context(ty) => errors.spanned(
            ty,
            "take the context by reference: `ctx: &HandlerContext<'_>` (it is valid for the call)",
        ),
        ty => errors.spanned(
            ty,
            "the argument after the event is the handler's context, `ctx: &HandlerContext<'_>`; \
             a handler takes exactly one event",
        ),
    }
}

fn generic_message(what: &str) -> String {
    format!(
        "{what} cannot be generic: each one is registered for one concrete event type; take \
         `&MyEvent`, or write one handler per event type"
    )
}

fn check_receiver(receiver: &syn::Receiver, errors: &mut Errors) {
    match &receiver.kind {
        syn::ReceiverKind::Reference(_, _, None) => {}
        syn::ReceiverKind::Reference(_, _, Some(mutability)) => errors.spanned(
            mutability,
            "`#[on]` methods take `&self`, not `&mut self`: one plugin instance serves every \
             thread; keep mutable state in atomics or a `Mutex`",
        ),
        _ => errors.spanned(
            receiver,
            "`#[on]` methods take `&self`: the system owns the plugin and lends it to each handler",
        ),
    }
}

fn output_span(sig: &syn::Signature) -> Span {
    match &sig.output {
        syn::ReturnType::Default => sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    }
}

impl Registration<'_> {
    pub(crate) fn expand(self) -> TokenStream {
        let Registration {
            krate,
            suffix,
            event,
            call,
            plugin,
            function,
            priority,
            ..
        } = &self;
        let p = quote!(#krate::__private);
        let span = Span::mixed_site();
        let thunk = format_ident!("__staticbus_thunk_{}", suffix, span = span);
        let decl = format_ident!("__STATICBUS_HANDLER_{}", suffix, span = span);
        // Trait errors point at the argument of the failing call: binding the handler's output
        // (and, for async handlers, its future) to a local located at the user's token makes
        // a bad return type or a non-`Send` future an error there, not at the attribute.
        let into_result =
            quote_spanned!(self.output_span=> #p::IntoHandlerResult::into_handler_result);
        let output = syn::Ident::new("output", span.located_at(self.output_span));

        let event_name = quote!(<#event as #krate::StaticEvent>::NAME);
        let ctx = context_ident();
        let make_ctx = if self.context {
            quote!(let #ctx = #krate::HandlerContext::__new(host, call, #event_name);)
        } else {
            quote!(let _ = call;)
        };
        let (thunk_fn, variant) = match self.asyncness {
            None => (
                quote! {
                    fn #thunk(
                        host: &#p::Host,
                        call: &#p::Call<'_>,
                        event: &#event,
                    ) -> #p::HandlerResult {
                        let _ = host;
                        #make_ctx
                        let #output = #call;
                        #into_result(#output)
                    }
                },
                quote!(Sync),
            ),
            Some(async_span) => {
                let boxed = quote_spanned!(async_span=> ::std::boxed::Box::pin);
                let future = syn::Ident::new("future", span.located_at(async_span));
                let check = quote_spanned!(async_span=> #p::assert_send_future(&#future));
                (
                    quote! {
                        fn #thunk<'a>(
                            host: &'a #p::Host,
                            call: &'a #p::Call<'a>,
                            event: &'a #event,
                        ) -> #p::BoxFuture<'a, #p::HandlerResult> {
                            let _ = host;
                            if false {
                                #make_ctx
                                let #future = #call;
                                #check;
                            }
                            #boxed(async move {
                                #make_ctx
                                let #output = #call.await;
                                #into_result(#output)
                            })
                        }
                    },
                    quote!(Async),
                )
            }
        };
        let line = quote_spanned!(self.line_span=> ::core::line!());
        quote! {
            #thunk_fn
            #[#p::linkme::distributed_slice(#p::HANDLERS)]
            #[linkme(crate = #p::linkme)]
            #[allow(unsafe_code, non_upper_case_globals)]
            static #decl: #p::HandlerDecl = #p::HandlerDecl::new::<#event>(
                #p::HandlerFn::#variant(#thunk),
                #p::HandlerMeta {
                    plugin: #plugin,
                    function: ::core::concat!(::core::module_path!(), "::", #function),
                    priority: #priority,
                    file: ::core::file!(),
                    line: #line,
                },
            );
        }
    }
}
