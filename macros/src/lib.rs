//! Implementation detail of [`staticbus`](https://docs.rs/staticbus): depend on `staticbus`,
//! which re-exports these macros, rather than on this crate.
//!
//! Set `STATICBUS_MACROS_DEBUG=1` while building to print every expansion to stderr.
//!
//! Each macro runs in three steps, as `serde_derive`'s do: parse what it was given into the
//! model (`ast`), check it, collecting every problem on its token (`check`), then generate
//! code from the checked model (`expand`).

mod ast;
mod attr;
mod breaker;
mod check;
mod expand;
mod lifecycle;
mod requests;

use proc_macro::TokenStream;

use attr::Errors;

/// Makes a type a static event: gives it a dotted name and its own handler table.
///
/// ```ignore
/// #[derive(StaticEvent)]
/// #[event(name = "order.placed")] // optional; default: `OrderPlaced` -> "order.placed"
/// pub struct OrderPlaced { pub id: u64 }
/// ```
///
/// Named, tuple and unit structs and enums are supported. Generic types and types with
/// lifetimes are not (their handler tables would have to be generic statics): derive on a
/// concrete, owned type, or use the dynamic bus. `#[event(crate = path)]` names the runtime
/// crate when it is neither `staticbus` nor a renamed dependency of it.
#[proc_macro_derive(StaticEvent, attributes(event))]
pub fn derive_static_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let mut errors = Errors::default();
    let event = ast::Event::parse(input, &mut errors);
    let name = check::event(&event, &mut errors);
    let tokens = match errors.finish() {
        Ok(()) => expand::event(&event, &name),
        Err(err) => err.into_compile_error(),
    };
    debug_print("derive(StaticEvent)", tokens)
}

/// Registers a free function as a handler of the event type it takes by reference.
///
/// ```ignore
/// #[handler(priority = 5)] // optional; higher runs first, default 0
/// fn log_order(e: &OrderPlaced) { /* ... */ }
/// ```
///
/// The function may be `async` (its future must be `Send`) and may return `()` or
/// `Result<(), E>` with `E: std::error::Error + Send + Sync + 'static`. An `async` one may
/// take `timeout = "250ms"` (any duration `humantime` reads: `"5s"`, `"1m 30s"`): a call
/// that runs longer is cancelled and fails with a `HandlerTimeout`, over the system's
/// `handler_timeout`. A sync call cannot be cancelled: a timeout on one is an error. Any
/// handler may be retried when it fails (a sync one by `publish`, never by `emit`, which
/// never waits): `retries = 3` and optionally
/// `backoff = "exponential"` (default) or `"constant"`, `base = "50ms"` (default 100 ms),
/// `max_delay = "5s"`, `max_elapsed = "30s"` (see `staticbus::Retry`). Any handler may sit
/// behind a circuit breaker: `circuit_breaker(failures = 5)` (consecutive failures),
/// `circuit_breaker(failures = 5, window = "30s", min_calls = 10)` or
/// `circuit_breaker(ratio = 0.5, window = "30s", min_calls = 10)`, each with optional
/// `reset = "30s"`, `probes = 1`, `dead_letter = true` (see `staticbus::CircuitBreaker`).
/// `replay = false` skips the handler when a stored event is replayed (a side effect that
/// must not happen twice: an email, a payment); the default `true` handles replays too.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item with ast::fn_keeping_body);
    let mut errors = Errors::default();
    let handler = ast::Handler::parse(args.into(), item, &mut errors);
    check::check_call_keys(&handler.args, &handler.item.sig, &mut errors);
    let signature = check::check_signature(&handler.item.sig, false, &mut errors);
    let tokens = match (errors.finish(), signature) {
        (Ok(()), Some(signature)) => expand::handler(&handler, &signature),
        (Err(err), _) => attr::rejected(&handler.item, err),
        (Ok(()), None) => unreachable!("check_signature reports an error when it returns none"),
    };
    debug_print("#[handler]", tokens)
}

/// Makes an inherent impl block a plugin; its `#[on]` methods become handlers.
///
/// ```ignore
/// #[derive(Default)]
/// pub struct Audit { /* ... */ }
///
/// #[plugin(name = "audit", version = "1.0.0", depends_on = ["storage >= 1.0", "cache?"])]
/// impl Audit {
///     #[on(priority = 10)]
///     fn placed(&self, e: &OrderPlaced) { /* ... */ }
/// }
/// ```
///
/// `name` defaults to the type name, `version` (semver, checked) to the crate's version;
/// `depends_on` lists plugin names, each with `?` if optional and a semver requirement
/// (checked): the system makes the plugins in dependency order. The type must be
/// `Send + Sync`. Handler methods take `&self` and one `&Event`; `#[on]` takes
/// `priority = N`, `retries = N, ...`, `circuit_breaker(...)` and, on an `async` method,
/// `timeout = "250ms"`, as `#[handler]` does.
///
/// Lifecycle methods, each optional and at most one of each: `#[init]` makes the plugin
/// (`async` or not; it may take `ctx: &PluginContext` and one config value of any
/// `serde::Deserialize` type, read from the `[plugins.<name>]` table of the system's
/// configuration; it returns `Result<Self, E>`); without one, the type must implement
/// `Default`. `#[start]` runs once every plugin was made, `#[shutdown]` when the system shuts
/// down; both take `&self` and optionally `ctx: &PluginContext`, and return `()` or
/// `Result<(), E>`. A plugin with `#[init]` or `#[start]` is made by
/// `EventSystem::builder().start().await`. `#[config_changed]` is told of a new configuration
/// section when the system reloads its configuration file: it takes `&self`, optionally
/// `ctx: &PluginContext`, and the new value (of the type `#[init]` takes), and returns `()` or
/// `Result<(), E>`.
///
/// Responders: `#[responds] async fn price(&self, r: GetPrice) -> Result<Price, E>` (optionally
/// `ctx: &HandlerContext<'_>` after the request; sync or async; `#[responds(timeout = "1s")]`
/// on an async one; `retries = N` with the retry keys of `#[on]`, for a `Clone` request;
/// `circuit_breaker(..)` with the rules of `#[on]`, except `dead_letter`) answers
/// `system.request(GetPrice { .. })`. A request type has exactly one responder in
/// the binary (`build()` checks).
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item with ast::item_keeping_bodies);
    let mut errors = Errors::default();
    let tokens = match ast::Plugin::parse(args.into(), item, &mut errors) {
        Ok(plugin) => {
            let signatures = check::plugin(&plugin, &mut errors);
            let hooks = lifecycle::hooks(&plugin, &mut errors);
            let responders = requests::check_responders(&plugin, &mut errors);
            let responders = responders.into_iter().collect::<Option<Vec<_>>>();
            match (
                errors.finish(),
                signatures.into_iter().collect::<Option<Vec<_>>>(),
            ) {
                (Ok(()), Some(signatures)) => match responders {
                    Some(responders) => expand::plugin(&plugin, &signatures, &hooks, &responders),
                    None => unreachable!("check::responders reports an error when it returns none"),
                },
                // A rejected trait impl (most often `impl Plugin for X`) would only add
                // errors of its own.
                (Err(err), _) if plugin.imp.trait_.is_some() => err.into_compile_error(),
                (Err(err), _) => attr::rejected(&plugin.imp, err),
                (Ok(()), None) => {
                    unreachable!("check_signature reports an error when it returns none")
                }
            }
        }
        Err(other) => {
            check::not_an_impl(&other, &mut errors);
            match errors.finish() {
                Err(err) => attr::rejected(*other, err),
                Ok(()) => unreachable!("an error was pushed"),
            }
        }
    };
    debug_print("#[plugin]", tokens)
}

/// Makes a type a request between plugins, answered by exactly one `#[responds]` method.
///
/// ```ignore
/// #[derive(Request)]
/// #[request(response = Price)] // required; also `name = ".."` (default: the type's name)
/// pub struct GetPrice { pub sku: String }
/// ```
#[proc_macro_derive(Request, attributes(request))]
pub fn derive_request(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let mut errors = Errors::default();
    let request = ast::RequestType::parse(input, &mut errors);
    requests::check_request(&request, &mut errors);
    let tokens = match errors.finish() {
        Ok(()) => requests::expand_request(&request),
        Err(err) => err.into_compile_error(),
    };
    debug_print("derive(Request)", tokens)
}

/// Marks a plugin's responder to a request type; see [`macro@plugin`]. An error outside a
/// `#[plugin]` impl.
#[proc_macro_attribute]
pub fn responds(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    check::hook_outside_plugin("responds", item.into()).into()
}

/// Marks a plugin's constructor; see [`macro@plugin`]. An error outside a `#[plugin]` impl.
#[proc_macro_attribute]
pub fn init(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    check::hook_outside_plugin("init", item.into()).into()
}

/// Marks the method a plugin runs once every plugin was made; see [`macro@plugin`]. An error
/// outside a `#[plugin]` impl.
#[proc_macro_attribute]
pub fn start(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    check::hook_outside_plugin("start", item.into()).into()
}

/// Marks the method a plugin runs when its system shuts down; see [`macro@plugin`]. An error
/// outside a `#[plugin]` impl.
#[proc_macro_attribute]
pub fn shutdown(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    check::hook_outside_plugin("shutdown", item.into()).into()
}

/// Marks the method a plugin is told of a new configuration section with, when its system
/// reloads its configuration; see [`macro@plugin`]. An error outside a `#[plugin]` impl.
#[proc_macro_attribute]
pub fn config_changed(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    check::hook_outside_plugin("config_changed", item.into()).into()
}

/// Marks a method of a `#[plugin]` impl as a handler; see [`macro@plugin`].
///
/// On its own (outside a `#[plugin]` impl) it is an error: use `#[handler]` for free functions.
/// `#[on]`, `#[staticbus::on]` and the renamed crate's `#[bus::on]` all work.
#[proc_macro_attribute]
pub fn on(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    check::on_outside_plugin(item.into()).into()
}

fn debug_print(what: &str, tokens: proc_macro2::TokenStream) -> TokenStream {
    if std::env::var_os("STATICBUS_MACROS_DEBUG").is_some() {
        eprintln!("staticbus {what} expansion:\n{tokens}\n");
    }
    tokens.into()
}
