//! Plugins: types whose `&self` methods handle events, instantiated once per `EventSystem`.

use std::alloc::Layout;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::config::{ConfigError, ConfigSection};
use super::handler::{BoxError, BoxFuture, HandlerDecl, HandlerResult};
use super::host::Host;

/// A type annotated with `#[plugin]`. Every system holds one instance of each enabled linked
/// plugin, made with `Default` or by the plugin's `#[init]`, and its `#[on]` methods receive
/// events through it.
///
/// Implemented by `#[plugin]` only.
pub trait Plugin: PluginKeyed + Send + Sync + 'static {
    /// The plugin's name, unique across the program (checked by `build()`).
    const NAME: &'static str;
    /// The plugin's version string.
    const VERSION: &'static str;

    /// A new instance made with `Default`, or `None` for a plugin made by its `#[init]`.
    #[doc(hidden)]
    fn __default() -> Option<Self>;
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
    /// `UNASSIGNED` until the registry assigns the offset.
    offset: AtomicUsize,
}

/// The offset of a key the registry did not place: every arena's first byte is a state byte
/// no plugin owns, always zero (not made, not live), and `UNASSIGNED` is the offset whose
/// state byte it is. So an unplaced plugin reads as "not running", with no check of its own.
pub(crate) const UNASSIGNED: usize = 1;

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

    /// The offset of `P`'s instance in every host ([`UNASSIGNED`] if the registry did not
    /// place `P`).
    #[inline(always)]
    pub(crate) fn offset(&self) -> usize {
        self.slot.offset.load(Ordering::Acquire)
    }
}

impl SlotIndex {
    /// Gives the key its offset; false if it already has one.
    pub(crate) fn assign(&self, offset: usize) -> bool {
        offset > UNASSIGNED
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
    note = "a plugin without an `#[init]` method is created with `Default::default()`; derive or implement `Default` for `{Self}`, or give it `#[init] async fn init(ctx: &PluginContext, config: MyConfig) -> Result<Self, E>`"
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
    depends_on: &'static [&'static str],
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
    /// Its `#[plugin(depends_on = [..])]` entries as written (`"storage >= 1.0"`, `"cache?"`).
    pub fn depends_on(&self) -> &'static [&'static str] {
        self.depends_on
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

/// Reads and checks a plugin's `[plugins.<name>]` section (what its `#[init]` takes), before
/// any plugin is made.
pub(crate) type ConfigFn = fn(&ConfigSection) -> Result<Box<dyn Any + Send>, Vec<ConfigError>>;

/// Runs a plugin's `#[init]` with its host and the configuration its reader returned: the new
/// instance, boxed.
pub type InitFn =
    fn(Host, Box<dyn Any + Send>) -> BoxFuture<'static, Result<Box<dyn Any + Send>, BoxError>>;

/// Runs a plugin's `#[start]` or `#[shutdown]` method on its instance in the host.
pub type HookFn = for<'a> fn(&'a Host) -> BoxFuture<'a, HandlerResult>;

/// Runs a plugin's `#[config_changed]` method on its instance in the host, with the new
/// configuration its reader returned.
pub type ConfigChangedFn =
    for<'a> fn(&'a Host, Box<dyn Any + Send>) -> BoxFuture<'a, HandlerResult>;

/// How a plugin is made and run: what `#[plugin]` generates besides the handlers.
#[doc(hidden)]
pub struct Lifecycle {
    /// Its `#[init]`, if it has one.
    pub init: Option<InitFn>,
    /// Its configuration's reader.
    pub config: ConfigFn,
    /// Its `#[start]`, if any.
    pub start: Option<HookFn>,
    /// Its `#[shutdown]`, if any.
    pub shutdown: Option<HookFn>,
    /// Its `#[config_changed]`, if any: told of a new section by a configuration reload.
    pub config_changed: Option<ConfigChangedFn>,
}

/// One element of the global plugin slice. Built by `#[plugin]`.
#[doc(hidden)]
pub struct PluginDecl {
    pub(crate) info: PluginInfo,
    /// Its `#[on]` methods' registrations (the free `#[handler]`s are slice elements of their
    /// own).
    pub(crate) handlers: &'static [HandlerDecl],
    /// Its `#[responds]` methods.
    pub(crate) responders: &'static [super::request::ResponderDecl],
    pub(crate) key: fn() -> &'static SlotIndex,
    /// `P`'s size and alignment.
    pub(crate) layout: Layout,
    /// Writes a new `P` made with `Default` at the pointer (false, and nothing written, for a
    /// plugin made by its `#[init]`).
    pub(crate) construct_at: unsafe fn(*mut u8) -> bool,
    /// Moves the boxed `P` to the pointer (false, and nothing written, if it is not a `P`).
    pub(crate) write_at: unsafe fn(*mut u8, Box<dyn Any + Send>) -> bool,
    /// Drops the `P` at the pointer, which must hold one that is not used again.
    pub(crate) drop_at: unsafe fn(*mut u8),
    pub(crate) lifecycle: Lifecycle,
}

/// # Safety
/// `at` is valid for writes of a `P` and aligned for it.
#[allow(unsafe_code, reason = "constructs a plugin in its system's arena")]
unsafe fn construct_at<P: Plugin>(at: *mut u8) -> bool {
    match P::__default() {
        // SAFETY: the caller's contract.
        Some(value) => unsafe {
            at.cast::<P>().write(value);
            true
        },
        None => false,
    }
}

/// # Safety
/// `at` is valid for writes of a `P` and aligned for it.
#[allow(unsafe_code, reason = "moves a plugin into its system's arena")]
unsafe fn write_at<P: Plugin>(at: *mut u8, value: Box<dyn Any + Send>) -> bool {
    match value.downcast::<P>() {
        // SAFETY: the caller's contract.
        Ok(value) => unsafe {
            at.cast::<P>().write(*value);
            true
        },
        Err(_) => false,
    }
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
    pub const fn new<P: Plugin>(
        handlers: &'static [HandlerDecl],
        responders: &'static [super::request::ResponderDecl],
        depends_on: &'static [&'static str],
        lifecycle: Lifecycle,
        file: &'static str,
        line: u32,
    ) -> Self {
        PluginDecl {
            handlers,
            responders,
            info: PluginInfo {
                name: P::NAME,
                version: P::VERSION,
                depends_on,
                type_name: std::any::type_name::<P>,
                file,
                line,
            },
            key: slot_of::<P>,
            layout: Layout::new::<P>(),
            construct_at: construct_at::<P>,
            write_at: write_at::<P>,
            drop_at: drop_at::<P>,
            lifecycle,
        }
    }

    /// Name, version and origin.
    pub(crate) fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// How it is made and run.
    pub(crate) fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }
}

impl fmt::Debug for PluginDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.fmt(f)
    }
}
