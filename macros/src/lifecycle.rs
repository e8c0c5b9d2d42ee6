//! The lifecycle methods of a `#[plugin]` (`#[init]`, `#[start]`, `#[shutdown]`,
//! `#[config_changed]`): their signatures checked, and the plugin's `Lifecycle` generated.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{HookKind, Plugin};
use crate::attr::Errors;

/// What one argument of a lifecycle method is.
#[derive(Clone, Copy)]
pub(crate) enum HookArg<'a> {
    /// A reference: the `&PluginContext`.
    Context,
    /// A value: the plugin's configuration, of this type (`#[init]` and `#[config_changed]`).
    Config(&'a syn::Type),
}

/// A checked lifecycle method: whether it is `async`, and its arguments in order.
pub(crate) struct HookSig<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) asyncness: bool,
    pub(crate) args: Vec<HookArg<'a>>,
    pub(crate) output_span: proc_macro2::Span,
}

impl HookSig<'_> {
    /// The configuration type its arguments name, if any.
    pub(crate) fn config(&self) -> Option<&syn::Type> {
        self.args.iter().find_map(|a| match a {
            HookArg::Config(ty) => Some(*ty),
            HookArg::Context => None,
        })
    }
}

/// Checks the plugin's `#[init]`, `#[start]`, `#[shutdown]` and `#[config_changed]` methods
/// (by [`HookKind`](crate::ast::HookKind) order); `None` for one that is absent or has a
/// problem.
pub(crate) fn hooks<'a>(
    plugin: &'a Plugin,
    errors: &mut Errors,
) -> [Option<HookSig<'a>>; HookKind::COUNT] {
    let mut checked: [Option<HookSig<'a>>; HookKind::COUNT] = [const { None }; HookKind::COUNT];
    for kind in HookKind::ALL {
        let Some(hook) = &plugin.hooks[kind as usize] else {
            continue;
        };
        let method = hook.item(&plugin.imp);
        checked[kind as usize] = hook_sig(kind, &method.sig, errors);
    }
    check_config_changed(plugin, &mut checked, errors);
    checked
}

/// `#[config_changed]` receives what `#[init]` reads: a plugin whose `#[init]` takes no
/// configuration (or that has none) has no section that could change.
fn check_config_changed(
    plugin: &Plugin,
    checked: &mut [Option<HookSig<'_>>; HookKind::COUNT],
    errors: &mut Errors,
) {
    let changed = HookKind::ConfigChanged as usize;
    let Some(ty) = checked[changed].as_ref().and_then(HookSig::config) else {
        return;
    };
    let init = HookKind::Init as usize;
    let problem = match (&plugin.hooks[init], &checked[init]) {
        (None, _) => {
            "this plugin has no `#[init]`, so it reads no configuration: \
                      `#[config_changed]` receives the config value `#[init]` takes"
        }
        // The `#[init]` has errors of its own.
        (Some(_), None) => return,
        (Some(_), Some(sig)) if sig.config().is_none() => {
            "this plugin's `#[init]` takes no configuration: `#[config_changed]` receives \
             the config value `#[init]` takes (add it there first)"
        }
        (Some(_), Some(_)) => return,
    };
    errors.spanned(ty, problem);
    checked[changed] = None;
}

fn hook_sig<'a>(
    kind: HookKind,
    sig: &'a syn::Signature,
    errors: &mut Errors,
) -> Option<HookSig<'a>> {
    let before = errors.count();
    let name = kind.name();
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            format!("an `#[{name}]` method cannot be generic"),
        );
    }
    let mut args = Vec::new();
    let mut config_seen = false;
    let mut context_seen = false;
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(r) => match kind {
                HookKind::Init => errors.spanned(
                    r,
                    "`#[init]` makes the plugin, so it takes no `self`: \
                     `#[init] async fn init(ctx: &PluginContext, config: MyConfig) -> Result<Self, E>`",
                ),
                _ if !matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) => errors.spanned(
                    r,
                    format!("`#[{name}]` takes `&self`: the system owns the plugin and lends it"),
                ),
                _ => {}
            },
            syn::FnArg::Typed(pat) => match &*pat.ty {
                syn::Type::Reference(_) if !context_seen => {
                    context_seen = true;
                    args.push(HookArg::Context);
                }
                syn::Type::Reference(r) => errors.spanned(
                    r,
                    format!("`#[{name}]` takes one `&PluginContext` at most"),
                ),
                ty if kind == HookKind::Init && !config_seen => {
                    config_seen = true;
                    args.push(HookArg::Config(ty));
                }
                ty if kind == HookKind::ConfigChanged && !config_seen => {
                    config_seen = true;
                    args.push(HookArg::Config(ty));
                }
                ty if kind == HookKind::Init => errors.spanned(
                    ty,
                    "`#[init]` takes at most a `&PluginContext` and one configuration value \
                     (any `serde::Deserialize` type)",
                ),
                ty if kind == HookKind::ConfigChanged => errors.spanned(
                    ty,
                    "`#[config_changed]` takes `&self`, optionally `ctx: &PluginContext`, and \
                     one configuration value (the type `#[init]` takes)",
                ),
                ty => errors.spanned(
                    ty,
                    format!(
                        "`#[{name}]` takes `&self` and, optionally, `ctx: &PluginContext`; the \
                         configuration goes to `#[init]`"
                    ),
                ),
            },
        }
    }
    if kind != HookKind::Init && sig.receiver().is_none() {
        errors.spanned(
            &sig.ident,
            format!("`#[{name}]` is a method: it takes `&self` first"),
        );
    }
    if kind == HookKind::ConfigChanged && !config_seen {
        errors.spanned(
            &sig.ident,
            "`#[config_changed]` receives the new configuration: \
             `#[config_changed] async fn reconfigure(&self, config: MyConfig)`, `MyConfig` the \
             type `#[init]` takes",
        );
    }
    if kind == HookKind::Init && matches!(sig.output, syn::ReturnType::Default) {
        errors.spanned(
            &sig.ident,
            "`#[init]` returns the plugin: `-> Result<Self, E>`",
        );
    }
    (errors.count() == before).then(|| HookSig {
        ident: &sig.ident,
        asyncness: sig.asyncness.is_some(),
        args,
        output_span: match &sig.output {
            syn::ReturnType::Default => sig.ident.span(),
            syn::ReturnType::Type(_, ty) => ty.span(),
        },
    })
}

/// The plugin's `Lifecycle`: its configuration reader, its `#[init]`, `#[start]`,
/// `#[shutdown]` and `#[config_changed]` as type-erased functions.
pub(crate) fn lifecycle(
    plugin: &Plugin,
    hooks: &[Option<HookSig<'_>>; HookKind::COUNT],
    name: &syn::LitStr,
) -> TokenStream {
    let krate = &plugin.runtime;
    let p = quote!(#krate::__private);
    let self_ty = &*plugin.imp.self_ty;
    let none = quote!(::core::option::Option::None);
    let init = &hooks[HookKind::Init as usize];
    let config_ty = init
        .as_ref()
        .and_then(HookSig::config)
        .map_or_else(|| quote!(#p::NoConfig), ToTokens::to_token_stream);
    let takes_config = init.as_ref().and_then(HookSig::config).is_some();
    // A plugin that takes no configuration uses the runtime's reader, compiled once there:
    // no deserializer is instantiated in the plugin's crate for it.
    let config = if takes_config {
        quote! {{
            fn __staticbus_config(
                section: &#p::ConfigSection,
            ) -> ::core::result::Result<
                ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
                ::std::vec::Vec<#krate::ConfigError>,
            > {
                #p::parse_config::<#config_ty>(section)
            }
            __staticbus_config
        }}
    } else {
        quote!(#p::parse_no_config)
    };
    let init_fn = init.as_ref().map_or_else(
        || none.clone(),
        |sig| {
            let ident = sig.ident;
            let args = sig.args.iter().map(|a| match a {
                HookArg::Context => quote!(&__ctx),
                HookArg::Config(_) => quote!(__config),
            });
            let wait = sig.asyncness.then(|| quote!(.await));
            let into = quote_spanned!(sig.output_span=> #p::IntoInitResult::<#self_ty>::into_init);
            // Bound to a local located at the return type, so that a wrong one is an error
            // there.
            let made = syn::Ident::new("made", Span::mixed_site().located_at(sig.output_span));
            quote! {{
                fn __staticbus_init(
                    host: #p::Host,
                    config: ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
                ) -> #p::BoxFuture<
                    'static,
                    ::core::result::Result<
                        ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
                        #krate::BoxError,
                    >,
                > {
                    ::std::boxed::Box::pin(async move {
                        #[allow(unused_variables)]
                        let __config: #config_ty = #p::take_config::<#config_ty>(config);
                        #[allow(unused_variables)]
                        let __ctx = #krate::PluginContext::__new(&host, #name);
                        let #made = <#self_ty>::#ident(#(#args),*)#wait;
                        #into(#made).map(|plugin| {
                            ::std::boxed::Box::new(plugin)
                                as ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>
                        })
                    })
                }
                ::core::option::Option::Some(__staticbus_init as #p::InitFn)
            }}
        },
    );
    // The call of a `&self` lifecycle method on the plugin's instance, boxed: skipped when the
    // plugin has no instance; its arguments are the context and (for `#[config_changed]`) the
    // value, a parameter of another type than `#[init]`'s being a type error on its type.
    let boxed_call = |sig: &HookSig<'_>| {
        let ident = sig.ident;
        let args = sig.args.iter().map(|a| match a {
            HookArg::Context => quote!(&__ctx),
            HookArg::Config(ty) => quote_spanned!(ty.span()=> __config),
        });
        let wait = sig.asyncness.then(|| quote!(.await));
        let into = quote_spanned!(sig.output_span=> #p::IntoHandlerResult::into_handler_result);
        quote! {
            ::std::boxed::Box::pin(async move {
                let ::core::option::Option::Some(this) = host.plugin::<#self_ty>() else {
                    return ::core::result::Result::Ok(());
                };
                #[allow(unused_variables)]
                let __ctx = #krate::PluginContext::__new(host, #name);
                let output = this.#ident(#(#args),*)#wait;
                #into(output)
            })
        }
    };
    let hook = |kind: HookKind| {
        hooks[kind as usize].as_ref().map_or_else(
            || none.clone(),
            |sig| {
                let call = boxed_call(sig);
                quote! {{
                    fn __staticbus_hook<'a>(
                        host: &'a #p::Host,
                    ) -> #p::BoxFuture<'a, #p::HandlerResult> {
                        #call
                    }
                    ::core::option::Option::Some(__staticbus_hook as #p::HookFn)
                }}
            },
        )
    };
    let (start, shutdown) = (hook(HookKind::Start), hook(HookKind::Shutdown));
    let config_changed = hooks[HookKind::ConfigChanged as usize]
        .as_ref()
        .map_or(none, |sig| {
            let call = boxed_call(sig);
            quote! {{
                fn __staticbus_config_changed<'a>(
                    host: &'a #p::Host,
                    config: ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
                ) -> #p::BoxFuture<'a, #p::HandlerResult> {
                    let __config: #config_ty = #p::take_config::<#config_ty>(config);
                    #call
                }
                ::core::option::Option::Some(
                    __staticbus_config_changed as #p::ConfigChangedFn
                )
            }}
        });
    quote! {
        #p::Lifecycle {
            init: #init_fn,
            config: #config,
            start: #start,
            shutdown: #shutdown,
            config_changed: #config_changed,
        }
    }
}
