//! The plugin instances of one system, in one allocation: each at the offset the registry gave
//! its type, the same in every system, with a state byte just before it.
//!
//! A plugin method reaches its instance as `base + offset`: the base is in the [`Host`]
//! (`super::Host`) it is handed, the offset in its type's `PluginKey`, so the instance's address
//! takes two independent loads (a slot array would add a third, dependent one). The state byte
//! at `offset - 1` says whether the instance exists and whether its handlers run: a handler of a
//! plugin that is disabled, not initialized yet, stopped or failed is skipped, at the cost of one
//! load from the instance's own cache line, paid only by that plugin's handlers.
//!
//! An instance is written once, by its system's lifecycle (`construct` for a plugin made with
//! `Default`, `write` for one its `#[init]` returned), before its state says it exists; it is
//! dropped with the arena.

use std::alloc::{self, Layout};
use std::any::Any;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use super::plugin::PluginDecl;

/// The instance exists (it is dropped with the arena).
const HAS_VALUE: u8 = 1;
/// Its handlers run.
const LIVE: u8 = 2;

/// Where every linked plugin type lives in an [`Instances`]: computed once, by the registry.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The decls whose instances every system holds, in registry order, with their offsets.
    slots: Vec<(&'static PluginDecl, usize)>,
    layout: Layout,
}

/// Why a decl got no place in the [`Plan`].
pub(crate) enum Refused {
    /// Its key already has an offset: the same type was registered twice.
    Twice,
    /// The instances so far and this one do not fit in one allocation.
    TooLarge,
}

/// `size` rounded up to a multiple of `align` (a power of two), if that fits.
fn align_up(size: usize, align: usize) -> Option<usize> {
    size.checked_add(align - 1).map(|s| s & !(align - 1))
}

/// Where a plugin of layout `value` goes after `layout`: its offset (with one byte free before
/// it, for its state) and the layout extended with it.
fn extend(layout: Layout, value: Layout) -> Option<(Layout, usize)> {
    let offset = align_up(layout.size().checked_add(1)?, value.align())?;
    let size = offset.checked_add(value.size())?;
    let align = layout.align().max(value.align());
    Some((Layout::from_size_align(size, align).ok()?, offset))
}

impl Plan {
    /// Places `decls` one after another, in this order, and gives each one's key its offset.
    /// A decl that cannot be placed is left out and reported to `refused`.
    pub(crate) fn place(
        decls: &[&'static PluginDecl],
        mut refused: impl FnMut(&'static PluginDecl, Refused),
    ) -> Plan {
        // Byte 0 is the state byte of `UNASSIGNED`, owned by no plugin: always zero.
        let mut layout = Layout::new::<u8>();
        let mut slots = Vec::with_capacity(decls.len());
        for &decl in decls {
            let Some((extended, offset)) = extend(layout, decl.layout) else {
                refused(decl, Refused::TooLarge);
                continue;
            };
            if !(decl.key)().assign(offset) {
                refused(decl, Refused::Twice);
                continue;
            }
            layout = extended;
            slots.push((decl, offset));
        }
        Plan { slots, layout }
    }

    /// The decls that have a place, in registry order (a plugin's index in every system).
    pub(crate) fn decls(&self) -> impl ExactSizeIterator<Item = &'static PluginDecl> + '_ {
        self.slots.iter().map(|&(decl, _)| decl)
    }
}

/// The memory for one instance of every plugin of a [`Plan`], each at its offset from
/// [`base`](Self::base), each written when its system's lifecycle makes it.
pub(crate) struct Instances {
    base: NonNull<u8>,
    plan: &'static Plan,
}

// SAFETY: an `Instances` owns values of plugin types only, and `Plugin: Send + Sync`
// (`PluginDecl::new` requires it); the allocation itself is plain memory, and its state bytes
// are atomics.
#[allow(unsafe_code, reason = "the arena holds only Send + Sync plugin values")]
unsafe impl Send for Instances {}
// SAFETY: as above; `&Instances` only hands out `&P` of `Sync` plugins.
#[allow(unsafe_code, reason = "the arena holds only Send + Sync plugin values")]
unsafe impl Sync for Instances {}

/// The state byte of the instance at `at` (an instance's address in an arena).
///
/// # Safety
/// `at` is `base + offset` of a slot of a live arena: the byte before it is that slot's state,
/// zeroed when the arena was allocated and only ever accessed atomically.
#[allow(unsafe_code, reason = "the state byte before an instance")]
#[inline(always)]
pub(crate) unsafe fn state_at<'a>(at: *const u8) -> &'a AtomicU8 {
    // SAFETY: the caller's contract; `AtomicU8` has the size and alignment of `u8`.
    unsafe { &*at.sub(1).cast::<AtomicU8>() }
}

/// Whether the handlers of the instance at `at` run.
///
/// # Safety
/// As [`state_at`].
#[allow(unsafe_code, reason = "the state byte before an instance")]
#[inline(always)]
pub(crate) unsafe fn is_live(at: *const u8) -> bool {
    // SAFETY: the caller's contract.
    unsafe { state_at(at) }.load(Ordering::Acquire) & LIVE != 0
}

/// Whether the instance at `at` exists.
///
/// # Safety
/// As [`state_at`].
#[allow(unsafe_code, reason = "the state byte before an instance")]
#[inline]
pub(crate) unsafe fn has_value(at: *const u8) -> bool {
    // SAFETY: the caller's contract.
    unsafe { state_at(at) }.load(Ordering::Acquire) & HAS_VALUE != 0
}

/// Why an instance could not be written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// The slot already holds one (each is made once per system).
    Occupied,
    /// The value given is not of the slot's type (a generated-code bug).
    WrongType,
}

impl Instances {
    /// Memory for every plugin of `plan`, none of them made yet.
    pub(crate) fn new(plan: &'static Plan) -> Instances {
        // SAFETY: the layout has a non-zero size (at least the unassigned key's state byte,
        // `Plan::place`). Zeroed: every state byte says "empty".
        #[allow(unsafe_code, reason = "allocating the arena")]
        let raw = unsafe { alloc::alloc_zeroed(plan.layout) };
        let base = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(plan.layout));
        Instances { base, plan }
    }

    /// The address every instance's offset is relative to.
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// How many plugins it has room for.
    pub(crate) fn len(&self) -> usize {
        self.plan.slots.len()
    }

    /// The decl and address of plugin `index` (registry order).
    fn slot(&self, index: usize) -> Option<(&'static PluginDecl, *mut u8)> {
        let &(decl, offset) = self.plan.slots.get(index)?;
        // SAFETY: `offset` is inside the plan's layout (`Plan::place`), which is this
        // allocation's.
        #[allow(unsafe_code, reason = "an address inside the arena")]
        let at = unsafe { self.base.as_ptr().add(offset) };
        Some((decl, at))
    }

    /// Makes plugin `index` with `Default`, if it is made that way; true if it now exists.
    pub(crate) fn construct(&self, index: usize) -> Result<bool, WriteError> {
        let Some((decl, at)) = self.slot(index) else {
            return Err(WriteError::WrongType);
        };
        // SAFETY: `at` is a slot's address in this live arena.
        #[allow(unsafe_code, reason = "the state byte of a slot")]
        let state = unsafe { state_at(at) };
        if state.load(Ordering::Acquire) & HAS_VALUE != 0 {
            return Err(WriteError::Occupied);
        }
        // SAFETY: `at` is where `Plan::place` put `decl`'s type (aligned for it, in bounds),
        // nothing is there yet (its state says so, and only this system's lifecycle, one step
        // at a time, writes it), and no reference to it exists (handlers need `LIVE`).
        #[allow(unsafe_code, reason = "constructing in the arena")]
        let made = unsafe { (decl.construct_at)(at) };
        if made {
            state.store(HAS_VALUE, Ordering::Release);
        }
        Ok(made)
    }

    /// Puts `value` (what plugin `index`'s `#[init]` returned) in its slot.
    pub(crate) fn write(&self, index: usize, value: Box<dyn Any + Send>) -> Result<(), WriteError> {
        let (decl, at) = self.slot(index).ok_or(WriteError::WrongType)?;
        // SAFETY: `at` is a slot's address in this live arena.
        #[allow(unsafe_code, reason = "the state byte of a slot")]
        let state = unsafe { state_at(at) };
        if state.load(Ordering::Acquire) & HAS_VALUE != 0 {
            return Err(WriteError::Occupied);
        }
        // SAFETY: as in `construct`; `write_at` checks the value's type.
        #[allow(unsafe_code, reason = "writing into the arena")]
        let written = unsafe { (decl.write_at)(at, value) };
        if !written {
            return Err(WriteError::WrongType);
        }
        state.store(HAS_VALUE, Ordering::Release);
        Ok(())
    }

    /// Whether plugin `index`'s instance exists (it stays until the arena is dropped: an
    /// instance is never unmade in place, since `&P` handed out may outlive its plugin's run).
    pub(crate) fn is_made(&self, index: usize) -> bool {
        let Some((_, at)) = self.slot(index) else {
            return false;
        };
        // SAFETY: `at` is a slot's address in this live arena.
        #[allow(unsafe_code, reason = "the state byte of a slot")]
        unsafe {
            has_value(at)
        }
    }

    /// Lets plugin `index`'s handlers run (`live`) or skips them; a plugin whose instance
    /// does not exist stays skipped.
    pub(crate) fn set_live(&self, index: usize, live: bool) {
        let Some((_, at)) = self.slot(index) else {
            return;
        };
        // SAFETY: `at` is a slot's address in this live arena.
        #[allow(unsafe_code, reason = "the state byte of a slot")]
        let state = unsafe { state_at(at) };
        if state.load(Ordering::Acquire) & HAS_VALUE != 0 {
            state.store(
                if live { HAS_VALUE | LIVE } else { HAS_VALUE },
                Ordering::Release,
            );
        }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for index in 0..self.plan.slots.len() {
            let Some((decl, at)) = self.slot(index) else {
                continue;
            };
            // SAFETY: `at` is a slot's address in this live arena; nothing else uses the
            // arena any more (`&mut self`), and an instance that exists is dropped once, here,
            // by its own decl.
            #[allow(unsafe_code, reason = "dropping what the arena holds")]
            unsafe {
                if has_value(at) {
                    (decl.drop_at)(at);
                }
            }
        }
        // SAFETY: `base` was allocated in `Instances::new` with this very layout.
        #[allow(unsafe_code, reason = "freeing the arena")]
        unsafe {
            alloc::dealloc(self.base.as_ptr(), self.plan.layout);
        }
    }
}
