//! Expansion: the code each macro generates from its checked [`ast`](crate::ast). Per event
//! and per handler it is data (statics the linker gathers) and thin thunks; everything else
//! lives in the runtime, compiled once.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Event, Handler, HookKind, Plugin};
use crate::attr;
use crate::check::Signature;
use crate::lifecycle::{HookSig, lifecycle};
use crate::requests::{ResponderSig, expand_responders};

/// `#[derive(StaticEvent)]`: the type's table, its `StaticEvent` impl, its slice element.
pub(crate) fn event(event: &Event, name: &str) -> TokenStream {
    let krate = attr::runtime_path(event.args.krate.as_ref());
    let ident = &event.input.ident;
    let size = event.args.size.as_ref().map(|method| {
        quote_spanned! {method.span()=>
            #[inline]
            fn __size(&self) -> usize {
                #ident::#method(self)
            }
        }
    });
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let type_name = syn::ext::IdentExt::unraw(ident).to_string();
    // `persist`: the constant `emit` reads, the marker `publish_durable` takes, and the
    // check (on the key's span) that the type is stored and read back as JSON.
    let p = quote!(#krate::__private);
    let persist = event.args.persist.as_ref().map(|key| {
        let replay = slice_element(
            &p,
            "REPLAYERS",
            quote! {
                static __STATICBUS_REPLAY: #p::ReplayDecl = #p::ReplayDecl {
                    name: <#ident as #krate::StaticEvent>::NAME,
                    replay: #p::replay_static::<#ident>,
                };
            },
        );
        let check = quote_spanned! {key.span()=>
            const _: fn() = || {
                fn __staticbus_persisted<T: #krate::__private::PersistCheck>() {}
                __staticbus_persisted::<#ident>();
            };
        };
        quote! {
            #check
            impl #krate::PersistentEvent for #ident {}

            #replay
        }
    });
    let persist_const = event.args.persist.as_ref().map(|_| {
        quote!(
            const __PERSIST: bool = true;
        )
    });
    // What is the same for every event type but the type is written by the runtime's
    // `__static_event_items!` and `__static_event_decl!`, so that a few tokens cross the
    // proc-macro bridge per event rather than the whole expansion (measured: the
    // compile-time benchmark). The impl's header stays here: an error in it (a type that is
    // not `Send`) is then on the type's name.
    let type_path = quote!(::core::concat!(::core::module_path!(), "::", #type_name));
    quote! {
        const _: () = {
            #persist

            // Not listed among "other types that implement `StaticEvent`" when a type is
            // not one: that list would be every event of the program.
            #[diagnostic::do_not_recommend]
            impl #krate::StaticEvent for #ident {
                const NAME: &'static str = #name;
                #persist_const
                #size
                #krate::__static_event_items!(#ident, #type_path);
            }

            #krate::__static_event_decl!(#ident, #line);
        };
    }
}

/// `item`, a `static` of one of the runtime's link-time slices (`slice`, in `p` =
/// `staticbus::__private`), as an element of that slice: written through the `macro_rules!`
/// that `#[linkme::distributed_slice]` declares with the slice, which puts the linker-section
/// attributes of every target on it. This is what `#[distributed_slice(SLICE)]` on an element
/// expands to, less that attribute's own expansion and the function it adds to check the
/// element's type against the slice's: the macros write the slice's element type
/// themselves, so there is nothing to check, and both cost build time per element
/// (`benches/compile_time/`). The runtime pins linkme's version: this protocol is linkme's,
/// between its attribute and the macro it declares.
pub(crate) fn slice_element(p: &TokenStream, slice: &str, item: TokenStream) -> TokenStream {
    let slice = format_ident!("{}", slice);
    quote! {
        #p::#slice! {
            #![linkme_macro = #p::#slice]
            #[allow(unsafe_code)]
            #item
        }
    }
}

/// `#[handler]`: the function as written, and its registration.
pub(crate) fn handler(handler: &Handler, signature: &Signature<'_>) -> TokenStream {
    let item = &handler.item;
    let krate = attr::runtime_path(handler.args.krate.as_ref());
    let ident = &item.sig.ident;
    let suffix = format_ident!("{}", ident);
    let registration = Registration {
        krate: &krate,
        suffix: &suffix,
        event: signature.event,
        asyncness: item.sig.asyncness.map(|a| a.span),
        output_span: output_span(&item.sig),
        call: call_args(quote!(#ident), signature.context),
        context: signature.context,
        plugin: quote!(::core::option::Option::None),
        function: ident.to_string(),
        priority: handler.args.priority.unwrap_or(0),
        timeout: handler.args.timeout.as_ref().map(|t| t.nanos),
        retry: retry_tokens(&krate, &handler.args),
        breaker: crate::breaker::tokens(&krate, handler.args.breaker.as_ref()),
        detached: detached_tokens(&handler.args),
        skip_replays: handler.args.replay == Some(false),
        line_span: ident.span(),
        instance: None,
    }
    .expand();
    let (p, thunk, decl) = (
        quote!(#krate::__private),
        &registration.thunk,
        &registration.decl,
    );
    let element = slice_element(
        &p,
        "HANDLERS",
        quote!(static __STATICBUS_HANDLER: #p::HandlerDecl = #decl;),
    );
    quote! {
        #item
        const _: () = {
            #thunk
            #element
        };
    }
}

/// `#[plugin]`: the impl block (without its `#[on]` markers), the `Plugin` impl, the key, the
/// slice element carrying one registration per `#[on]` method.
pub(crate) fn plugin(
    plugin: &Plugin,
    signatures: &[Signature<'_>],
    hooks: &[Option<HookSig<'_>>; HookKind::COUNT],
    responder_sigs: &[ResponderSig<'_>],
) -> TokenStream {
    let imp = &plugin.imp;
    let self_ty = &*imp.self_ty;
    let krate = &plugin.runtime;
    let type_name = type_label(self_ty);
    let plugin_name = plugin
        .args
        .name
        .as_ref()
        .map_or_else(|| type_name.clone(), syn::LitStr::value);
    let plugin_name_lit = syn::LitStr::new(&plugin_name, self_ty.span());
    let version = plugin.args.version.as_ref().map_or_else(
        || quote!(::core::env!("CARGO_PKG_VERSION")),
        ToTokens::to_token_stream,
    );
    let registrations = plugin
        .methods
        .iter()
        .zip(signatures)
        .map(|(method, signature)| {
            let sig = &method.item(imp).sig;
            let ident = &sig.ident;
            let method_path = quote_spanned!(ident.span()=> __this.#ident);
            Registration {
                krate,
                suffix: ident,
                event: signature.event,
                asyncness: sig.asyncness.map(|a| a.span),
                output_span: output_span(sig),
                call: call_args(method_path, signature.context),
                context: signature.context,
                plugin: quote!(::core::option::Option::Some(#plugin_name_lit)),
                function: format!("{type_name}::{ident}"),
                priority: method.args.priority.unwrap_or(0),
                timeout: method.args.timeout.as_ref().map(|t| t.nanos),
                retry: retry_tokens(krate, &method.args),
                breaker: crate::breaker::tokens(krate, method.args.breaker.as_ref()),
                detached: detached_tokens(&method.args),
                skip_replays: method.args.replay == Some(false),
                line_span: ident.span(),
                instance: Some(quote!(host.__plugin_at::<#self_ty>(&__STATICBUS_KEY))),
            }
            .expand()
        });
    let (thunks, decls): (Vec<_>, Vec<_>) = registrations.map(|r| (r.thunk, r.decl)).unzip();
    let count = decls.len();
    let p = quote!(#krate::__private);
    let ty_span = self_ty.span();
    let decl = quote_spanned!(ty_span=> #p::PluginDecl::new::<#self_ty>);
    let line = quote_spanned!(ty_span=> ::core::line!());
    let lifecycle = lifecycle(plugin, hooks, &plugin_name_lit);
    let default = if hooks[HookKind::Init as usize].is_some() {
        quote!(::core::option::Option::None)
    } else {
        let construct = quote_spanned!(ty_span=> <#self_ty as #p::PluginDefault>::construct());
        quote!(::core::option::Option::Some(#construct))
    };
    let depends_on = plugin.args.depends_on.iter().flatten();
    let (responder_fns, responder_decls) =
        expand_responders(plugin, responder_sigs, &plugin_name_lit);
    let responder_count = responder_decls.len();
    let element = slice_element(
        &p,
        "PLUGINS",
        quote! {
            static __STATICBUS_PLUGIN: #p::PluginDecl = #decl(
                &__STATICBUS_HANDLERS,
                &__STATICBUS_RESPONDERS,
                &[#(#depends_on),*],
                #lifecycle,
                ::core::file!(),
                #line,
            );
        },
    );
    quote! {
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

                fn __default() -> ::core::option::Option<Self> {
                    #default
                }
            }

            // Its handlers travel with the plugin: one slice element for the whole impl.
            static __STATICBUS_HANDLERS: [#p::HandlerDecl; #count] = [#(#decls),*];
            static __STATICBUS_RESPONDERS: [#p::ResponderDecl; #responder_count] =
                [#(#responder_decls),*];

            #element

            #(#thunks)*
            #(#responder_fns)*
        };
    }
}

/// Everything needed to register one handler, free function or plugin method.
pub(crate) struct Registration<'a> {
    pub(crate) krate: &'a syn::Path,
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
    /// `timeout = ".."` in nanoseconds.
    pub(crate) timeout: Option<u64>,
    /// The `Retry` of `retries = N, ...`, as an expression (`None` without).
    pub(crate) retry: TokenStream,
    /// The `CircuitBreaker` of `circuit_breaker(...)`, as an expression (`None` without).
    pub(crate) breaker: TokenStream,
    /// `Some(workers)` for `detached` / `concurrency = N`, as an expression.
    pub(crate) detached: TokenStream,
    /// `replay = false`: the thunk returns the skipped mark on a replayed event.
    pub(crate) skip_replays: bool,
    /// Span whose `line!()` is reported.
    pub(crate) line_span: Span,
    /// For a plugin method: the expression giving `Option<&Plugin>` (`None` while the
    /// plugin is not running: the thunk then returns at once, skipped).
    pub(crate) instance: Option<TokenStream>,
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

pub(crate) fn context_ident() -> syn::Ident {
    syn::Ident::new("__staticbus_ctx", Span::mixed_site())
}

fn output_span(sig: &syn::Signature) -> Span {
    match &sig.output {
        syn::ReturnType::Default => sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    }
}

/// One registration, expanded: its thunk (an item) and its `HandlerDecl` (a constant
/// expression, for a `static` of its own or an element of a plugin's array).
pub(crate) struct Expanded {
    thunk: TokenStream,
    decl: TokenStream,
}

impl Registration<'_> {
    pub(crate) fn expand(self) -> Expanded {
        let Registration {
            krate,
            suffix,
            event,
            call,
            plugin,
            function,
            priority,
            timeout,
            retry,
            breaker,
            detached,
            skip_replays,
            ..
        } = &self;
        let p = quote!(#krate::__private);
        let span = Span::mixed_site();
        let thunk = format_ident!("__staticbus_thunk_{}", suffix, span = span);
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
        let instance = |skipped: TokenStream| {
            self.instance.as_ref().map(|instance| {
                quote! {
                    let ::core::option::Option::Some(__this) = #instance else {
                        return #p::#skipped();
                    };
                }
            })
        };
        let (sync_instance, async_instance) =
            (instance(quote!(inactive)), instance(quote!(inactive_async)));
        let skip = |skipped: TokenStream| {
            skip_replays.then(|| {
                quote! {
                    if call.__replay() {
                        return #p::#skipped();
                    }
                }
            })
        };
        let (sync_skip, async_skip) = (skip(quote!(inactive)), skip(quote!(inactive_async)));
        let (thunk_fn, variant) = match self.asyncness {
            None => (
                quote! {
                    fn #thunk(
                        host: &#p::Host,
                        call: &#p::Call<'_>,
                        event: &#event,
                    ) -> #p::HandlerResult {
                        let _ = host;
                        #sync_instance
                        #sync_skip
                        // Optimised builds: the thunk catches its own panics, so that
                        // `emit`'s inlined fast path calls it bare (`HandlerFn::SyncCaught`).
                        #[cfg(not(debug_assertions))]
                        let result = #p::thunk_caught(|| {
                            #make_ctx
                            let #output = #call;
                            #into_result(#output)
                        });
                        // Debug builds: the caller catches (no closure: each is a function).
                        #[cfg(debug_assertions)]
                        let result = {
                            #make_ctx
                            let #output = #call;
                            #into_result(#output)
                        };
                        result
                    }
                },
                quote! {
                    if ::core::cfg!(debug_assertions) {
                        #p::HandlerFn::Sync(#thunk)
                    } else {
                        #p::HandlerFn::SyncCaught(#thunk)
                    }
                },
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
                            #async_instance
                            #async_skip
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
                    quote!(#p::HandlerFn::Async(#thunk)),
                )
            }
        };
        let line = quote_spanned!(self.line_span=> ::core::line!());
        let timeout = match timeout {
            Some(nanos) => {
                quote!(::core::option::Option::Some(::core::time::Duration::from_nanos(#nanos)))
            }
            None => quote!(::core::option::Option::None),
        };
        let decl = quote! {
            #p::HandlerDecl::new::<#event>(
                #variant,
                #p::HandlerMeta {
                    plugin: #plugin,
                    function: ::core::concat!(::core::module_path!(), "::", #function),
                    priority: #priority,
                    timeout: #timeout,
                    retry: #retry,
                    breaker: #breaker,
                    detached: #detached,
                    file: ::core::file!(),
                    line: #line,
                },
            )
        };
        Expanded {
            thunk: thunk_fn,
            decl,
        }
    }
}

/// `Some(Retry::...)` for `retries = N` and its policy keys (default: exponential from
/// 100 ms, no maximum), `None` without.
pub(crate) fn retry_tokens(krate: &syn::Path, args: &attr::Args) -> TokenStream {
    let Some((_, retries)) = &args.retries else {
        return quote!(::core::option::Option::None);
    };
    let duration = |nanos: u64| quote!(::core::time::Duration::from_nanos(#nanos));
    let base = duration(args.base.as_ref().map_or(100_000_000, |d| d.nanos));
    let kind = match args.backoff {
        Some((_, false)) => quote!(constant),
        _ => quote!(exponential),
    };
    let max_delay = args.max_delay.as_ref().map(|d| {
        let d = duration(d.nanos);
        quote!(.max_delay(#d))
    });
    let max_elapsed = args.max_elapsed.as_ref().map(|d| {
        let d = duration(d.nanos);
        quote!(.max_elapsed(#d))
    });
    quote! {
        ::core::option::Option::Some(#krate::Retry::#kind(#retries, #base) #max_delay #max_elapsed)
    }
}

/// `Some(N)` for `detached` (1 worker) or `concurrency = N`, `None` without either.
fn detached_tokens(args: &attr::Args) -> TokenStream {
    match (&args.detached, &args.concurrency) {
        (_, Some((_, n))) => quote!(::core::option::Option::Some(#n)),
        (Some(_), None) => quote!(::core::option::Option::Some(1u32)),
        (None, None) => quote!(::core::option::Option::None),
    }
}

/// The type's last path segment, e.g. `Audit` for `crate::audit::Audit`.
pub(crate) fn type_label(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| ty.to_token_stream().to_string(), |s| s.ident.to_string()),
        other => other.to_token_stream().to_string(),
    }
}
