//! Checks: everything wrong with what a macro was given, every problem reported (collected
//! in one [`Errors`]), each on the offending token. One signature checker serves `#[handler]`
//! and `#[on]`; the event-name rule is `staticbus-names`', shared with the runtime.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use crate::ast::{Event, Plugin};
use crate::attr::{self, Errors};

/// The handler context's type name, as written in signatures.
const CONTEXT: &str = "HandlerContext";

/// Checks an event: its shape and its name (given or derived from the type's). Returns the
/// name.
pub(crate) fn event(event: &Event, errors: &mut Errors) -> String {
    check_shape(&event.input, errors);
    match &event.args.name {
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
            let ident = &event.input.ident;
            let name = staticbus_names::dotted(&ident.to_string());
            if let Err(problem) = staticbus_names::check(&name) {
                errors.spanned(
                    ident,
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
    }
}

/// Checks a plugin impl block and the signature of each of its `#[on]` methods; returns the
/// methods' checked signatures, `None` for each that has a problem.
pub(crate) fn plugin<'a>(plugin: &'a Plugin, errors: &mut Errors) -> Vec<Option<Signature<'a>>> {
    check_impl(&plugin.imp, errors);
    if let Some(name) = &plugin.args.name
        && name.value().trim().is_empty()
    {
        errors.spanned(name, "plugin name must not be empty");
    }
    plugin
        .methods
        .iter()
        .map(|method| {
            let sig = &method.item(&plugin.imp).sig;
            check_call_keys(&method.args, sig, errors);
            check_signature(sig, true, errors)
        })
        .collect()
}

/// A `timeout`, `detached` or `concurrency` only on an `async` handler (a sync call runs
/// inside the publish that makes it, and cannot be cancelled once it runs), and the retry
/// policy's keys only with `retries`.
pub(crate) fn check_call_keys(args: &attr::Args, sig: &syn::Signature, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        let detached = args.detached.as_ref().map(ToTokens::to_token_stream);
        let concurrency = args
            .concurrency
            .as_ref()
            .map(|(lit, _)| lit.to_token_stream());
        if let Some(tokens) = detached.or(concurrency) {
            errors.spanned(
                tokens,
                format!(
                    "`{}` is a sync handler, and a sync call runs inside the publish that makes \
                     it, so it cannot be detached: make it an `async fn`",
                    sig.ident
                ),
            );
        }
    }
    if args.retries.is_none()
        && let Some(lit) = args.retry_key()
    {
        errors.spanned(
            lit,
            "this shapes the retries, but none are asked for: add `retries = N`",
        );
    }
    if let Some(timeout) = &args.timeout
        && sig.asyncness.is_none()
    {
        errors.spanned(
            &timeout.lit,
            format!(
                "`{}` is a sync handler, and a sync call cannot be cancelled once it runs, so it \
                 takes no `timeout`: make it an `async fn` (its future is dropped when the \
                 timeout runs out)",
                sig.ident
            ),
        );
    }
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

/// What a checked handler signature takes: its event type, and whether a context follows.
pub(crate) struct Signature<'a> {
    pub(crate) event: &'a syn::Type,
    pub(crate) context: bool,
}

/// Checks a handler signature: one event by reference, optionally followed by a
/// `&HandlerContext`. `plugin` is `Some` for `#[on]` methods, which take `&self` first
/// (free functions must not). Reports every problem found.
pub(crate) fn check_signature<'a>(
    sig: &'a syn::Signature,
    plugin: bool,
    errors: &mut Errors,
) -> Option<Signature<'a>> {
    let what = if plugin {
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
        (false, Some(receiver)) => {
            errors.spanned(
                receiver,
                "`#[handler]` is for free functions; put methods in a `#[plugin]` impl block and mark them `#[on]`",
            );
            inputs.next();
        }
        (true, Some(receiver)) => {
            check_receiver(receiver, errors);
            inputs.next();
        }
        (true, None) => errors.spanned(
            &sig.ident,
            "`#[on]` methods take `&self` first: `fn name(&self, e: &Event)`",
        ),
        (false, None) => {}
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
    let shape = if plugin {
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
    match event_arg(event, &sig.generics) {
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

/// The argument type of a handler, `E` in `&E`, or an error on the offending token.
/// A lifetime declared in `generics` is not reported again: the generics check points there.
pub(crate) fn event_arg<'a>(
    arg: &'a syn::PatType,
    generics: &syn::Generics,
) -> syn::Result<&'a syn::Type> {
    match &*arg.ty {
        syn::Type::Reference(r) if r.mutability.is_none() => {
            if let Some(lt) = &r.lifetime
                && !generics.lifetimes().any(|param| param.lifetime == *lt)
            {
                return Err(syn::Error::new_spanned(
                    lt,
                    "drop the lifetime: handlers take `&Event` for any lifetime",
                ));
            }
            Ok(&r.elem)
        }
        syn::Type::Reference(r) => Err(syn::Error::new_spanned(
            r,
            "handlers take the event by shared reference (`&Event`): every handler sees the same event",
        )),
        other => Err(syn::Error::new_spanned(
            other,
            "handlers take the event by reference: write `&Event` (the event is shared by every handler)",
        )),
    }
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

/// `#[plugin]` on something other than an impl block: the error, on its keyword and name.
pub(crate) fn not_an_impl(item: &syn::Item, errors: &mut Errors) {
    errors.spanned(
        item_head(item),
        "`#[plugin]` goes on an inherent impl block: `#[plugin] impl MyPlugin { #[on] fn handle(&self, e: &Event) {} }`",
    );
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

/// A marker (`#[init]`, `#[start]`, `#[shutdown]`, `#[config_changed]`, `#[responds]`)
/// reached on its own: they only mean something inside a `#[plugin]` impl.
pub(crate) fn hook_outside_plugin(marker: &str, item: TokenStream) -> TokenStream {
    let msg = format!("`#[{marker}]` marks a method inside a `#[plugin]` impl block");
    let err = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(f) => syn::Error::new_spanned(&f.sig.ident, msg),
        Err(_) => syn::Error::new_spanned(&item, msg),
    };
    attr::rejected(item, err)
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
