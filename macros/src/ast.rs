//! The model: what each macro was given, parsed into its parts before anything is checked or
//! generated (as `serde_derive` does). Parsing reports malformed attribute arguments; whether
//! the parts make sense is for [`check`](crate::check).

use proc_macro2::TokenStream;

use crate::attr::{self, Args, Errors};

/// The attribute of `#[derive(StaticEvent)]`'s arguments.
const EVENT_ATTR: &str = "event";

/// The marker of handler methods in a `#[plugin]` impl.
const ON: &str = "on";

/// The marker of responder methods in a `#[plugin]` impl.
const RESPONDS: &str = "responds";

/// What `#[responds(...)]` takes.
const RESPONDS_KEYS: [&str; 7] = [
    attr::TIMEOUT,
    attr::RETRIES,
    attr::BACKOFF,
    attr::BASE,
    attr::MAX_DELAY,
    attr::MAX_ELAPSED,
    attr::CIRCUIT_BREAKER,
];

/// `#[derive(Request)]` on a type.
pub(crate) struct RequestType {
    pub(crate) input: syn::DeriveInput,
    /// `#[request(response = Type)]`.
    pub(crate) response: Option<syn::Type>,
    /// `#[request(name = "..")]`.
    pub(crate) name: Option<syn::LitStr>,
    /// `#[request(crate = path)]`.
    pub(crate) krate: Option<syn::Path>,
}

impl RequestType {
    pub(crate) fn parse(input: syn::DeriveInput, errors: &mut Errors) -> RequestType {
        let (mut response, mut name, mut krate) = (None, None, None);
        for a in input.attrs.iter().filter(|a| a.path().is_ident("request")) {
            let result = a.parse_nested_meta(|meta| {
                let key = meta.path.get_ident().map(ToString::to_string);
                let duplicate = match key.as_deref() {
                    Some("response") => attr::replace(&mut response, Some(meta.value()?.parse()?)),
                    Some("name") => attr::replace(&mut name, Some(meta.value()?.parse()?)),
                    Some("crate") => attr::replace(
                        &mut krate,
                        Some(meta.value()?.call(syn::Path::parse_mod_style)?),
                    ),
                    _ => {
                        errors.spanned(
                            &meta.path,
                            "unknown #[request] argument; expected one of: `response`, `name`, \
                             `crate`",
                        );
                        attr::skip_value(&meta)?;
                        false
                    }
                };
                if duplicate {
                    errors.spanned(&meta.path, "duplicate #[request] argument");
                }
                Ok(())
            });
            if let Err(err) = result {
                errors.push(err);
            }
        }
        RequestType {
            input,
            response,
            name,
            krate,
        }
    }
}

/// The lifecycle markers of a `#[plugin]` impl's methods.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    /// `#[init]`: makes the plugin from its context and configuration.
    Init,
    /// `#[start]`: runs once every plugin was made.
    Start,
    /// `#[shutdown]`: runs when the system shuts down.
    Shutdown,
    /// `#[config_changed]`: told of a new configuration section by a reload.
    ConfigChanged,
}

impl HookKind {
    /// How many kinds there are (the length of the arrays indexed by kind).
    pub(crate) const COUNT: usize = 4;
    pub(crate) const ALL: [HookKind; HookKind::COUNT] = [
        HookKind::Init,
        HookKind::Start,
        HookKind::Shutdown,
        HookKind::ConfigChanged,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            HookKind::Init => "init",
            HookKind::Start => "start",
            HookKind::Shutdown => "shutdown",
            HookKind::ConfigChanged => "config_changed",
        }
    }
}

/// A method marked `#[init]`, `#[start]`, `#[shutdown]` or `#[config_changed]`.
pub(crate) struct Hook {
    /// Its position among the impl's items.
    index: usize,
}

impl Hook {
    /// The method itself.
    pub(crate) fn item<'a>(&self, imp: &'a syn::ItemImpl) -> &'a syn::ImplItemFn {
        match &imp.items[self.index] {
            syn::ImplItem::Fn(method) => method,
            _ => unreachable!("a Hook indexes a method of its impl"),
        }
    }
}

/// `#[derive(StaticEvent)]` on a type.
pub(crate) struct Event {
    pub(crate) input: syn::DeriveInput,
    /// `#[event(name = "..", size = method, crate = path, persist)]`.
    pub(crate) args: Args,
}

impl Event {
    pub(crate) fn parse(input: syn::DeriveInput, errors: &mut Errors) -> Event {
        let mut args = Args::default();
        for a in input.attrs.iter().filter(|a| a.path().is_ident(EVENT_ATTR)) {
            let result = a.parse_nested_meta(|meta| {
                attr::parse_one(
                    &meta,
                    &mut args,
                    &[attr::NAME, attr::SIZE, attr::CRATE, attr::PERSIST],
                    "#[event]",
                    errors,
                )
            });
            if let Err(err) = result {
                errors.push(err);
            }
        }
        Event { input, args }
    }
}

/// A function with its body kept as written: the macros read signatures only, and parsing a
/// body into syntax (in a proc-macro crate every debug profile builds unoptimised) is most of
/// what a long one costs them. The body's tokens come back unchanged, as one group.
pub(crate) fn fn_keeping_body(input: syn::parse::ParseStream<'_>) -> syn::Result<syn::ItemFn> {
    let (attrs, vis, sig, block) = signature_and_body(input)?;
    Ok(syn::ItemFn {
        attrs,
        vis,
        modifiers: syn::FnModifiers::default(),
        sig,
        block: Box::new(block),
    })
}

/// An item, and when it is an impl block, its methods' bodies kept as written (see
/// [`fn_keeping_body`]): what `#[plugin]` is given. The block's header is parsed by syn (with
/// an empty body), its items one by one: a method's signature, then its body verbatim; any
/// other item as syn parses it.
pub(crate) fn item_keeping_bodies(input: syn::parse::ParseStream<'_>) -> syn::Result<syn::Item> {
    let ahead = input.fork();
    ahead.call(syn::Attribute::parse_outer)?;
    let _: Option<syn::Token![unsafe]> = ahead.parse()?;
    if !ahead.peek(syn::Token![impl]) {
        return input.parse();
    }
    // An impl block ends with its body: the header is every token tree before the last.
    let mut trees: Vec<proc_macro2::TokenTree> =
        input.parse::<TokenStream>()?.into_iter().collect();
    let body = match trees.pop() {
        Some(proc_macro2::TokenTree::Group(body))
            if body.delimiter() == proc_macro2::Delimiter::Brace =>
        {
            body
        }
        // Not a well-formed impl block: syn's error says why.
        other => {
            trees.extend(other);
            return syn::parse2(trees.into_iter().collect());
        }
    };
    let mut header: TokenStream = trees.into_iter().collect();
    let mut empty = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, TokenStream::new());
    empty.set_span(body.span());
    header.extend([proc_macro2::TokenTree::Group(empty)]);
    let mut imp: syn::ItemImpl = syn::parse2(header)?;
    imp.brace_token = syn::token::Brace(body.delim_span());
    imp.items = syn::parse::Parser::parse2(impl_items_keeping_bodies, body.stream())?;
    Ok(syn::Item::Impl(imp))
}

/// The items of an impl block's body, each method's body kept as written.
fn impl_items_keeping_bodies(
    input: syn::parse::ParseStream<'_>,
) -> syn::Result<Vec<syn::ImplItem>> {
    let mut items = Vec::new();
    while !input.is_empty() {
        let ahead = input.fork();
        match signature_and_body(&ahead) {
            Ok((attrs, vis, sig, block)) => {
                syn::parse::discouraged::Speculative::advance_to(input, &ahead);
                items.push(syn::ImplItem::Fn(syn::ImplItemFn {
                    attrs,
                    vis,
                    modifiers: syn::FnModifiers::default(),
                    sig,
                    block,
                }));
            }
            // `default fn`, a constant, a type, a macro, or a mistake: as syn parses it.
            Err(_) => items.push(input.parse()?),
        }
    }
    Ok(items)
}

/// What a function with a body is made of, the body as one verbatim statement, its tokens
/// not parsed: outer attributes, visibility, signature, body.
fn signature_and_body(
    input: syn::parse::ParseStream<'_>,
) -> syn::Result<(
    Vec<syn::Attribute>,
    syn::Visibility,
    syn::Signature,
    syn::Block,
)> {
    let attrs = input.call(syn::Attribute::parse_outer)?;
    let vis: syn::Visibility = input.parse()?;
    let sig: syn::Signature = input.parse()?;
    let content;
    let brace_token = syn::braced!(content in input);
    let body: TokenStream = content.parse()?;
    let block = syn::Block {
        brace_token,
        stmts: vec![syn::Stmt::Expr(syn::Expr::Verbatim(body), None)],
    };
    Ok((attrs, vis, sig, block))
}

/// `#[handler]` on a free function.
pub(crate) struct Handler {
    pub(crate) item: syn::ItemFn,
    /// `#[handler(priority = N, timeout = "..", crate = path)]`.
    pub(crate) args: Args,
}

impl Handler {
    pub(crate) fn parse(args: TokenStream, item: syn::ItemFn, errors: &mut Errors) -> Handler {
        let allowed = [&attr::CALL_KEYS[..], &[attr::CRATE]].concat();
        let args = attr::parse_args(args, &allowed, "#[handler]", errors);
        Handler { item, args }
    }
}

/// `#[plugin]` on an inherent impl block, its `#[on]` markers taken off the methods.
pub(crate) struct Plugin {
    pub(crate) imp: syn::ItemImpl,
    /// `#[plugin(name = "..", version = "..", crate = path)]`.
    pub(crate) args: Args,
    /// The methods marked `#[on]`, in order.
    pub(crate) methods: Vec<OnMethod>,
    /// The lifecycle methods, by [`HookKind`] (init, start, shutdown, config_changed).
    pub(crate) hooks: [Option<Hook>; HookKind::COUNT],
    /// The methods marked `#[responds]`, in order.
    pub(crate) responders: Vec<OnMethod>,
    /// The runtime crate's path, as generated code names it (found once: `#[on]` markers
    /// are matched against it too).
    pub(crate) runtime: syn::Path,
}

/// One `#[on]` method of a plugin.
pub(crate) struct OnMethod {
    /// Its position among the impl's items.
    index: usize,
    /// `#[on(priority = N, timeout = "..")]`.
    pub(crate) args: Args,
}

impl OnMethod {
    /// The method itself.
    pub(crate) fn item<'a>(&self, imp: &'a syn::ItemImpl) -> &'a syn::ImplItemFn {
        match &imp.items[self.index] {
            syn::ImplItem::Fn(method) => method,
            _ => unreachable!("an OnMethod indexes a method of its impl"),
        }
    }
}

impl Plugin {
    /// The plugin, or the item back when it is not an impl block.
    pub(crate) fn parse(
        args: TokenStream,
        item: syn::Item,
        errors: &mut Errors,
    ) -> Result<Plugin, Box<syn::Item>> {
        let args = attr::parse_args(
            args,
            &[attr::NAME, attr::VERSION, attr::DEPENDS_ON, attr::CRATE],
            "#[plugin]",
            errors,
        );
        let syn::Item::Impl(mut imp) = item else {
            return Err(Box::new(item));
        };
        let runtime = attr::runtime_path(args.krate.as_ref());
        let mut methods = Vec::new();
        let mut hooks: [Option<Hook>; HookKind::COUNT] = [const { None }; HookKind::COUNT];
        let mut responders = Vec::new();
        for (index, item) in imp.items.iter_mut().enumerate() {
            let syn::ImplItem::Fn(method) = item else {
                continue;
            };
            let mut on_args = None;
            let mut marked: Option<HookKind> = None;
            let mut responds: Option<Args> = None;
            let mut kept = Vec::with_capacity(method.attrs.len());
            for a in method.attrs.drain(..) {
                if is_marker(a.path(), RESPONDS, &runtime) {
                    if on_args.is_some() || marked.is_some() || responds.is_some() {
                        errors.spanned(
                            &a,
                            "a method is one of a handler (`#[on]`), a responder \
                             (`#[responds]`), `#[init]`, `#[start]` or `#[shutdown]`, not several",
                        );
                    } else {
                        responds = Some(match &a.meta {
                            syn::Meta::Path(_) => Args::default(),
                            syn::Meta::List(list) => attr::parse_args(
                                list.tokens.clone(),
                                &RESPONDS_KEYS,
                                "#[responds]",
                                errors,
                            ),
                            syn::Meta::NameValue(nv) => {
                                errors.spanned(
                                    nv,
                                    "write `#[responds]` or `#[responds(timeout = \"1s\")]`",
                                );
                                Args::default()
                            }
                        });
                    }
                    continue;
                }
                if let Some(kind) = hook_kind(a.path(), &runtime) {
                    if !matches!(a.meta, syn::Meta::Path(_)) {
                        errors.spanned(&a, format!("`#[{}]` takes no arguments", kind.name()));
                    }
                    if on_args.is_some() || marked.is_some() || responds.is_some() {
                        errors.spanned(
                            &a,
                            "a method is one of a handler (`#[on]`), a responder \
                             (`#[responds]`), `#[init]`, `#[start]` or `#[shutdown]`, not several",
                        );
                    } else if hooks[kind as usize].is_some() {
                        errors.spanned(
                            a.path(),
                            format!(
                                "a plugin has at most one `#[{0}]` method; this is a second one",
                                kind.name()
                            ),
                        );
                    } else {
                        marked = Some(kind);
                        hooks[kind as usize] = Some(Hook { index });
                    }
                } else if !is_on(a.path(), &runtime) {
                    kept.push(a);
                } else if on_args.is_some() {
                    errors.spanned(&a, "duplicate `#[on]` on one method");
                } else if marked.is_some() || responds.is_some() {
                    errors.spanned(
                        &a,
                        "a method is one of a handler (`#[on]`), a responder \
                         (`#[responds]`), `#[init]`, `#[start]` or `#[shutdown]`, not several",
                    );
                } else {
                    on_args = Some(on_attr_args(&a, errors));
                }
            }
            method.attrs = kept;
            if let Some(args) = on_args {
                methods.push(OnMethod { index, args });
            }
            if let Some(args) = responds {
                responders.push(OnMethod { index, args });
            }
        }
        Ok(Plugin {
            imp,
            args,
            methods,
            hooks,
            responders,
            runtime,
        })
    }
}

fn on_attr_args(a: &syn::Attribute, errors: &mut Errors) -> Args {
    match &a.meta {
        syn::Meta::Path(_) => Args::default(),
        syn::Meta::List(list) => {
            attr::parse_args(list.tokens.clone(), &attr::CALL_KEYS, "#[on]", errors)
        }
        syn::Meta::NameValue(nv) => {
            errors.spanned(nv, "write `#[on]` or `#[on(priority = N)]`");
            Args::default()
        }
    }
}

/// `#[on]`, `#[staticbus::on]`, or `#[<runtime path>::on]` (a renamed dependency, or the
/// `crate = path` given): compared segment by segment, arguments and leading `::` aside.
fn is_on(path: &syn::Path, runtime: &syn::Path) -> bool {
    is_marker(path, ON, runtime)
}

/// Which lifecycle marker `path` is, recognised as `#[on]` is.
fn hook_kind(path: &syn::Path, runtime: &syn::Path) -> Option<HookKind> {
    HookKind::ALL
        .into_iter()
        .find(|kind| is_marker(path, kind.name(), runtime))
}

/// `#[<marker>]`, `#[staticbus::<marker>]` or `#[<runtime path>::<marker>]`.
fn is_marker(path: &syn::Path, marker: &str, runtime: &syn::Path) -> bool {
    let Some(last) = path.segments.last() else {
        return false;
    };
    if last.ident != marker || !last.arguments.is_none() {
        return false;
    }
    let names = |p: &syn::Path| {
        p.segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect::<Vec<_>>()
    };
    let mut prefix = names(path);
    prefix.pop();
    prefix.is_empty() || prefix == ["staticbus"] || prefix == names(runtime)
}

#[cfg(test)]
mod tests {
    use super::is_on;

    fn path(s: &str) -> syn::Path {
        syn::parse_str(s).expect("a path")
    }

    #[test]
    fn on_is_recognised_by_its_segments() {
        let runtime = path("::bus");
        for yes in [
            "on",
            "staticbus::on",
            "::staticbus::on",
            "bus::on",
            "::bus::on",
        ] {
            assert!(is_on(&path(yes), &runtime), "{yes}");
        }
        for no in [
            "other::on",
            "staticbus::on::x",
            "onx",
            "staticbus::once",
            "a::staticbus::on",
        ] {
            assert!(!is_on(&path(no), &runtime), "{no}");
        }
    }
}
