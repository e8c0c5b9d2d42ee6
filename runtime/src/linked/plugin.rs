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

/// Gives each plugin type the slot its instance occupies in every system.
///
/// # Safety
///
/// `__key` must return a `'static` key that no other type returns. `#[plugin]` generates a
/// fresh `static` for each type, which satisfies this; the dispatcher relies on it to treat
/// the instance in that slot as `Self` without a type check (`Host::plugin`).
#[doc(hidden)]
#[allow(
    unsafe_code,
    reason = "the contract above is what makes `Host::plugin` sound"
)]
pub unsafe trait PluginKeyed: Sized {
    fn __key() -> &'static PluginKey;
}

/// The slot index of one plugin type, fixed when the registry is first read.
#[doc(hidden)]
pub struct PluginKey {
    /// `UNASSIGNED` until the registry assigns the slot; `Host::plugin`'s bounds check
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
    pub(crate) fn index(&self) -> usize {
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
    pub(crate) construct: fn() -> Box<dyn Any + Send + Sync>,
}

fn construct<P: Plugin + PluginDefault>() -> Box<dyn Any + Send + Sync> {
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

impl fmt::Debug for PluginDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.fmt(f)
    }
}
