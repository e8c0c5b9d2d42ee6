//! Plugins: types whose `&self` methods handle events, instantiated once per `EventSystem`.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A type annotated with `#[plugin]`. `EventSystem::builder().build()` creates one instance
/// of every linked plugin (with `Default`), and its `#[on]` methods receive events through it.
///
/// Implemented by `#[plugin]` only.
pub trait Plugin: PluginKeyed + Send + Sync + 'static {
    /// The plugin's name, unique across the program (checked by `build()`).
    const NAME: &'static str;
    /// The plugin's version string.
    const VERSION: &'static str;
}

/// Gives each plugin type the slot its instance occupies in every [`Context`].
///
/// # Safety
///
/// `__key` must return a `'static` key that no other type returns. `#[plugin]` generates a
/// fresh `static` for each type, which satisfies this; the dispatcher relies on it to treat
/// the instance in that slot as `Self` without a type check.
#[doc(hidden)]
#[allow(
    unsafe_code,
    reason = "the contract above is what makes `Context::plugin` sound"
)]
pub unsafe trait PluginKeyed: Sized {
    fn __key() -> &'static PluginKey;
}

/// The slot index of one plugin type, fixed when the registry is first read.
#[doc(hidden)]
pub struct PluginKey {
    /// `UNASSIGNED` until the registry assigns the slot; `Context::plugin`'s bounds check
    /// rejects that value like any other out-of-range index.
    index: AtomicUsize,
}

const UNASSIGNED: usize = usize::MAX;

impl PluginKey {
    /// An unassigned key, for a generated `static`.
    #[allow(clippy::new_without_default, reason = "only used in const statics")]
    pub const fn new() -> Self {
        PluginKey {
            index: AtomicUsize::new(UNASSIGNED),
        }
    }

    pub(crate) fn assign(&self, index: usize) -> bool {
        self.index
            .compare_exchange(UNASSIGNED, index, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    #[inline(always)]
    fn index(&self) -> usize {
        self.index.load(Ordering::Acquire)
    }
}

/// Turns the missing `Default` of a plugin into a message that says why it is needed.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "plugin `{Self}` cannot be instantiated",
    label = "`{Self}` does not implement `Default`",
    note = "`EventSystem::builder().build()` creates every linked plugin with `Default::default()`; derive or implement `Default` for `{Self}`"
)]
pub trait PluginDefault: Sized {
    fn construct() -> Self;
}

impl<P: Default> PluginDefault for P {
    fn construct() -> Self {
        P::default()
    }
}

type Instance = Box<dyn Any + Send + Sync>;

/// Name, version and origin of a linked plugin: one row of [`crate::Registry::plugins`].
#[derive(Debug)]
pub struct PluginInfo {
    name: &'static str,
    version: &'static str,
    type_name: fn() -> &'static str,
    file: &'static str,
    line: u32,
}

impl PluginInfo {
    /// The `#[plugin(name)]`.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The `#[plugin(version)]`.
    pub fn version(&self) -> &'static str {
        self.version
    }
    /// The Rust type of the plugin.
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }
    /// Source file of the `#[plugin]` impl.
    pub fn file(&self) -> &'static str {
        self.file
    }
    /// Source line of the `#[plugin]` impl.
    pub fn line(&self) -> u32 {
        self.line
    }
}

impl fmt::Display for PluginInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}, {}:{})",
            self.name,
            self.version,
            self.type_name(),
            self.file,
            self.line
        )
    }
}

/// One element of the global plugin slice. Built by `#[plugin]`.
#[doc(hidden)]
pub struct PluginDecl {
    pub(crate) info: PluginInfo,
    pub(crate) key: fn() -> &'static PluginKey,
    pub(crate) construct: fn() -> Instance,
}

fn construct<P: Plugin + PluginDefault>() -> Instance {
    Box::new(P::construct())
}

impl PluginDecl {
    /// Describes plugin `P`. Key and constructor come from the same `P`, so the instance in
    /// slot `P::__key()` is always a `P`.
    pub const fn new<P: Plugin + PluginDefault>(file: &'static str, line: u32) -> Self {
        PluginDecl {
            info: PluginInfo {
                name: P::NAME,
                version: P::VERSION,
                type_name: std::any::type_name::<P>,
                file,
                line,
            },
            key: P::__key,
            construct: construct::<P>,
        }
    }
}

/// The plugin instances of one `EventSystem`, handed to every handler thunk.
pub struct Context {
    plugins: Box<[Instance]>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("plugins", &self.plugins.len())
            .finish()
    }
}

impl Context {
    /// Instantiates every plugin, in registry slot order.
    pub(crate) fn new(decls: &[&'static PluginDecl]) -> Self {
        Context {
            plugins: decls.iter().map(|d| (d.construct)()).collect(),
        }
    }

    /// The instance of `P`, if `P` is linked.
    pub fn plugin<P: Plugin>(&self) -> Option<&P> {
        let slot = self.plugins.get(P::__key().index())?;
        debug_assert!(slot.is::<P>());
        let ptr: *const (dyn Any + Send + Sync) = &**slot;
        // SAFETY:
        // - slot `P::__key().index()` was filled by `PluginDecl::new::<P>().construct`: the
        //   registry assigns each decl's index to the key that same decl returns, and builds
        //   `plugins` in that index order (`Registry::plugin_decls`);
        // - `PluginKeyed`'s contract makes that key unique to `P`, and a type registered twice
        //   is rejected before any index is assigned twice (`PluginKey::assign` fails);
        // - so the `dyn Any` in the slot is a `P`, the cast only drops its vtable, and the
        //   reference lives as long as `&self`, which owns the box.
        #[allow(unsafe_code, reason = "checked-once slot cast on the dispatch path")]
        Some(unsafe { &*ptr.cast::<P>() })
    }

    /// The instance of `P` for a generated handler thunk.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __plugin<P: Plugin>(&self) -> &P {
        match self.plugin::<P>() {
            Some(p) => p,
            None => missing_plugin(std::any::type_name::<P>()),
        }
    }
}

#[cold]
#[inline(never)]
fn missing_plugin(name: &str) -> ! {
    panic!("plugin `{name}` has a handler but no slot: its #[plugin] registration was not linked")
}
