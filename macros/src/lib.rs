//! Implementation detail of [`staticbus`](https://docs.rs/staticbus): depend on `staticbus`,
//! which re-exports these macros, rather than on this crate.
//!
//! Set `STATICBUS_MACROS_DEBUG=1` while building to print every expansion to stderr.

mod attr;
mod event;
mod handler;
mod plugin;

use proc_macro::TokenStream;

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
    debug_print(
        "derive(StaticEvent)",
        event::expand(input).unwrap_or_else(syn::Error::into_compile_error),
    )
}

/// Registers a free function as a handler of the event type it takes by reference.
///
/// ```ignore
/// #[handler(priority = 5)] // optional; higher runs first, default 0
/// fn log_order(e: &OrderPlaced) { /* ... */ }
/// ```
///
/// The function may be `async` (its future must be `Send`) and may return `()` or
/// `Result<(), E>` with `E: std::error::Error + Send + Sync + 'static`.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    debug_print(
        "#[handler]",
        handler::expand(args.into(), item).unwrap_or_else(syn::Error::into_compile_error),
    )
}

/// Makes an inherent impl block a plugin; its `#[on]` methods become handlers.
///
/// ```ignore
/// #[derive(Default)]
/// pub struct Audit { /* ... */ }
///
/// #[plugin(name = "audit", version = "1.0.0")] // both optional
/// impl Audit {
///     #[on(priority = 10)]
///     fn placed(&self, e: &OrderPlaced) { /* ... */ }
/// }
/// ```
///
/// The type must implement `Default` (`build()` instantiates it) and be `Send + Sync`; handler
/// methods take `&self` and one `&Event`. `name` defaults to the type name, `version` to the
/// crate's version.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::Item);
    debug_print(
        "#[plugin]",
        plugin::expand(args.into(), item).unwrap_or_else(syn::Error::into_compile_error),
    )
}

/// Marks a method of a `#[plugin]` impl as a handler; see [`macro@plugin`].
///
/// On its own (outside a `#[plugin]` impl) it is an error: use `#[handler]` for free functions.
/// `#[on]`, `#[staticbus::on]` and the renamed crate's `#[bus::on]` all work.
#[proc_macro_attribute]
pub fn on(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    plugin::on_outside_plugin(item.into()).into()
}

fn debug_print(what: &str, tokens: proc_macro2::TokenStream) -> TokenStream {
    if std::env::var_os("STATICBUS_MACROS_DEBUG").is_some() {
        eprintln!("staticbus {what} expansion:\n{tokens}\n");
    }
    tokens.into()
}
