//! Plugins: types whose `&self` methods handle events, instantiated once per `EventSystem`.

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::handler::HandlerDecl;

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
/// A safe trait: the key is typed, so a type can only return a key of its own, and the
/// registry only assigns a slot to a key that a `PluginDecl` of that same type returns.
#[doc(hidden)]
pub trait PluginKeyed: Sized {
    fn __key() -> &'static PluginKey<Self>;
}

/// Where plugin type `P`'s instance sits in every system (its offset in the system's plugin
/// arena), fixed when the registry is first read. `#[plugin]` gives each type a `static` one.
#[doc(hidden)]
pub struct PluginKey<P> {
    slot: SlotIndex,
    _plugin: PhantomData<fn() -> P>,
}

/// The untyped part of a [`PluginKey`], which the registry assigns.
pub(crate) struct SlotIndex {
    /// `UNASSIGNED` until the registry assigns the offset (`Host::plugin` checks).
    offset: AtomicUsize,
}

const UNASSIGNED: usize = usize::MAX;

impl<P> PluginKey<P> {
    /// An unassigned key, for a generated `static`.
    #[allow(clippy::new_without_default, reason = "only used in const statics")]
    pub const fn new() -> Self {
        PluginKey {
            slot: SlotIndex {
                offset: AtomicUsize::new(UNASSIGNED),
            },
            _plugin: PhantomData,
        }
    }

    /// The offset of `P`'s instance in every host, if the registry placed `P`.
    #[inline(always)]
    pub(crate) fn offset(&self) -> Option<usize> {
        let offset = self.slot.offset.load(Ordering::Acquire);
        (offset != UNASSIGNED).then_some(offset)
    }
}

impl SlotIndex {
    /// Gives the key its offset; false if it already has one.
    pub(crate) fn assign(&self, offset: usize) -> bool {
        offset != UNASSIGNED
            && self
                .offset
                .compare_exchange(UNASSIGNED, offset, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

fn slot_of<P: PluginKeyed + 'static>() -> &'static SlotIndex {
    &P::__key().slot
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
    /// Its `#[on]` methods' registrations (the free `#[handler]`s are slice elements of their
    /// own).
    pub(crate) handlers: &'static [HandlerDecl],
    pub(crate) key: fn() -> &'static SlotIndex,
    /// `P`'s size and alignment.
    pub(crate) layout: Layout,
    /// Writes a new `P` at the pointer, which must be valid for writes and aligned for `P`.
    pub(crate) construct_at: unsafe fn(*mut u8),
    /// Drops the `P` at the pointer, which must hold one that is not used again.
    pub(crate) drop_at: unsafe fn(*mut u8),
}

/// # Safety
/// `at` is valid for writes of a `P` and aligned for it.
#[allow(unsafe_code, reason = "constructs a plugin in its system's arena")]
unsafe fn construct_at<P: Plugin + PluginDefault>(at: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { at.cast::<P>().write(P::construct()) }
}

/// # Safety
/// `at` holds a `P` that nothing uses again.
#[allow(unsafe_code, reason = "drops a plugin in its system's arena")]
unsafe fn drop_at<P>(at: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { at.cast::<P>().drop_in_place() }
}

impl PluginDecl {
    /// Describes plugin `P`. Key, layout and constructor come from the same `P`, so the
    /// instance at the offset of a `PluginKey<P>` is always a `P`.
    pub const fn new<P: Plugin + PluginDefault>(
        handlers: &'static [HandlerDecl],
        file: &'static str,
        line: u32,
    ) -> Self {
        PluginDecl {
            handlers,
            info: PluginInfo {
                name: P::NAME,
                version: P::VERSION,
                type_name: std::any::type_name::<P>,
                file,
                line,
            },
            key: slot_of::<P>,
            layout: Layout::new::<P>(),
            construct_at: construct_at::<P>,
            drop_at: drop_at::<P>,
        }
    }
}

impl fmt::Debug for PluginDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.fmt(f)
    }
}
