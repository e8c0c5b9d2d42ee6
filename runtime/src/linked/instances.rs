//! The plugin instances of one system, in one allocation: each at the offset the registry gave
//! its type, the same in every system.
//!
//! A plugin method reaches its instance as `base + offset`: the base is in the [`Host`]
//! (`super::Host`) it is handed, the offset in its type's `PluginKey`, so the instance's address
//! takes two independent loads (a slot array would add a third, dependent one).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use super::plugin::PluginDecl;

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

impl Plan {
    /// Places `decls` one after another, in this order, and gives each one's key its offset.
    /// A decl that cannot be placed is left out and reported to `refused`.
    pub(crate) fn place(
        decls: &[&'static PluginDecl],
        mut refused: impl FnMut(&'static PluginDecl, Refused),
    ) -> Plan {
        let mut layout = Layout::new::<()>();
        let mut slots = Vec::with_capacity(decls.len());
        for &decl in decls {
            let Ok((extended, offset)) = layout.extend(decl.layout) else {
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

    /// The decls that have a place, in registry order.
    pub(crate) fn decls(&self) -> impl ExactSizeIterator<Item = &'static PluginDecl> + '_ {
        self.slots.iter().map(|&(decl, _)| decl)
    }
}

/// One instance of every plugin of a [`Plan`], each at its offset from [`base`](Self::base).
pub(crate) struct Instances {
    base: NonNull<u8>,
    plan: &'static Plan,
}

// SAFETY: an `Instances` owns values of plugin types only, and `Plugin: Send + Sync`
// (`PluginDecl::new` requires it); the allocation itself is plain memory.
#[allow(unsafe_code, reason = "the arena holds only Send + Sync plugin values")]
unsafe impl Send for Instances {}
// SAFETY: as above; `&Instances` only hands out `&P` of `Sync` plugins.
#[allow(unsafe_code, reason = "the arena holds only Send + Sync plugin values")]
unsafe impl Sync for Instances {}

/// Drops what a panicking constructor left behind: the first `built` instances and the memory.
struct Partial<'a> {
    base: NonNull<u8>,
    plan: &'a Plan,
    built: usize,
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        for &(decl, offset) in &self.plan.slots[..self.built] {
            // SAFETY: the first `built` slots were initialized by their decl's `construct_at`
            // (see `Instances::new`), and are dropped once, here, by their own decl.
            #[allow(unsafe_code, reason = "dropping what the arena built")]
            unsafe {
                (decl.drop_at)(self.base.as_ptr().add(offset));
            }
        }
        if self.plan.layout.size() != 0 {
            // SAFETY: `base` was allocated in `Instances::new` with this very layout.
            #[allow(unsafe_code, reason = "freeing the arena")]
            unsafe {
                alloc::dealloc(self.base.as_ptr(), self.plan.layout);
            }
        }
    }
}

impl Instances {
    /// Constructs every plugin of `plan` in one new allocation.
    pub(crate) fn new(plan: &'static Plan) -> Instances {
        let base = if plan.layout.size() == 0 {
            // Zero-sized plugins only: any non-null pointer aligned for all of them will do.
            NonNull::new(std::ptr::without_provenance_mut(plan.layout.align()))
                .unwrap_or(NonNull::dangling())
        } else {
            // SAFETY: the layout has a non-zero size.
            #[allow(unsafe_code, reason = "allocating the arena")]
            let raw = unsafe { alloc::alloc(plan.layout) };
            NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(plan.layout))
        };
        let mut partial = Partial {
            base,
            plan,
            built: 0,
        };
        for &(decl, offset) in &plan.slots {
            // SAFETY: `offset` is where `Plan::place` put `decl`'s type inside `plan.layout`
            // (`Layout::extend` aligns it for the type and keeps it in bounds), and nothing
            // was written there yet.
            #[allow(unsafe_code, reason = "constructing in the arena")]
            unsafe {
                (decl.construct_at)(base.as_ptr().add(offset));
            }
            partial.built += 1;
        }
        std::mem::forget(partial);
        Instances { base, plan }
    }

    /// The address every instance's offset is relative to.
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// How many instances it holds.
    pub(crate) fn len(&self) -> usize {
        self.plan.slots.len()
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        drop(Partial {
            base: self.base,
            plan: self.plan,
            built: self.plan.slots.len(),
        });
    }
}
