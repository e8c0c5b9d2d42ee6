//! A static event's value on the bus, without its type: [`StaticValue`], stored in place when
//! it is small and shared behind an `Arc` otherwise; and [`Received`], what a typed
//! subscriber gets back.
//!
//! Most events are a few words (an id, a count, a timestamp). Moving such a value through a
//! buffer in place costs no allocation: a typed channel then carries the value as a
//! `tokio::sync::broadcast` of the same type does. A value is moved into an `Arc` (once) only
//! when it is larger than two words (16 bytes), or when a second holder needs it
//! (another typed subscriber, an async handler, a dynamic view of it).

use std::any::{Any, TypeId};
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Deref;
use std::sync::Arc;

use crate::dynamic::{DynamicEvent, Payload, Topic};
use crate::linked::{EventDesc, StaticEvent, StaticRef, TableCore};

/// The storage of a value held in place: suitably sized and aligned for any type that
/// [`fits`]. Two possibly uninitialized words side by side, rather than one possibly
/// uninitialized block: each is then a scalar to the compiler, so a value moves word by word
/// (through registers) rather than as a block copied wider than it was written (a 16-byte
/// load of two 8-byte stores, or of one and memory never written, cannot be forwarded from
/// the stores, and stalls).
#[derive(Clone, Copy)]
#[repr(C)]
struct Words {
    low: MaybeUninit<usize>,
    high: MaybeUninit<usize>,
}

impl Words {
    /// Nothing written yet.
    #[inline(always)]
    fn uninit() -> Words {
        Words {
            low: MaybeUninit::uninit(),
            high: MaybeUninit::uninit(),
        }
    }

    /// The address of the two words, for a value held in them.
    #[inline(always)]
    fn as_ptr(&self) -> *const Words {
        self
    }

    /// The address of the two words, to write or move a value held in them.
    #[inline(always)]
    fn as_mut_ptr(&mut self) -> *mut Words {
        self
    }
}

/// Whether an `E` is stored in place.
const fn fits<E>() -> bool {
    size_of::<E>() <= size_of::<Words>() && align_of::<E>() <= align_of::<Words>()
}

/// A static event's value, as the bus holds it without knowing its type.
pub(crate) trait StaticItem: Any + Send + Sync {
    /// Its type's description.
    fn desc(&self) -> &'static EventDesc;
    /// What it counts for in the byte budget (`StaticEvent::__size`).
    fn size(&self) -> usize;
}

impl<E: StaticEvent> StaticItem for E {
    fn desc(&self) -> &'static EventDesc {
        E::__TABLE.desc()
    }

    fn size(&self) -> usize {
        self.__size()
    }
}

/// A static event's value, moved once out of `publish`: in place or shared.
///
/// Three words: `kind` knows what `words` holds, an `E` in place or an `Arc<dyn StaticItem>`
/// (the `SHARED` kind). Flat rather than an enum, so that an [`Item`](super::Item) holding
/// either it or an `Arc<DynamicEvent>` stays three words too (every push and receive moves it).
pub(crate) struct StaticValue {
    kind: &'static Kind,
    words: Words,
}

/// What a value knows of the type held in its words: functions made for it.
struct Kind {
    /// The type held in place (`None` for [`SHARED`]: ask the value).
    type_id: Option<TypeId>,
    /// The value at this address, as a trait object.
    item: unsafe fn(*const ()) -> *const dyn StaticItem,
    /// Drops the value at this address.
    drop: unsafe fn(*mut ()),
    /// Moves the value at this address into an `Arc` (`None` for [`SHARED`]: it is one).
    share: Option<ShareFn>,
}

/// Moves the value at an address into an `Arc`.
type ShareFn = unsafe fn(*mut ()) -> Arc<dyn StaticItem>;

/// The kind of words holding an `Arc<dyn StaticItem>`.
static SHARED: Kind = Kind {
    type_id: None,
    item: item_shared,
    drop: drop_at::<Arc<dyn StaticItem>>,
    share: None,
};

/// [`Kind::OF`] for each type held in place.
struct KindOf<E>(E);

impl<E: StaticEvent> KindOf<E> {
    const OF: Kind = Kind {
        type_id: Some(TypeId::of::<E>()),
        item: item_at::<E>,
        drop: drop_at::<E>,
        share: Some(share_at::<E>),
    };
}

/// SAFETY (this and the next three): `at` is the address of the initialized words of a
/// `StaticValue` whose kind is the one the function belongs to: an `E` for `KindOf::<E>::OF`,
/// which only `StaticValue::new::<E>` makes, an `Arc<dyn StaticItem>` for `SHARED`.
#[allow(unsafe_code, reason = "an in-place value's address, typed")]
unsafe fn item_at<E: StaticEvent>(at: *const ()) -> *const dyn StaticItem {
    at.cast::<E>() as *const dyn StaticItem
}

#[allow(unsafe_code, reason = "the value behind the Arc held in place")]
unsafe fn item_shared(at: *const ()) -> *const dyn StaticItem {
    // SAFETY: see `item_at`.
    let shared = unsafe { &*at.cast::<Arc<dyn StaticItem>>() };
    Arc::as_ptr(shared)
}

#[allow(unsafe_code, reason = "dropping an in-place value")]
unsafe fn drop_at<T>(at: *mut ()) {
    // SAFETY: see `item_at`; the caller drops it once.
    unsafe { at.cast::<T>().drop_in_place() }
}

#[allow(unsafe_code, reason = "moving an in-place value into an Arc")]
unsafe fn share_at<E: StaticEvent>(at: *mut ()) -> Arc<dyn StaticItem> {
    // SAFETY: see `item_at`; the caller never reads or drops it again.
    Arc::new(unsafe { at.cast::<E>().read() })
}

const _: () = assert!(
    fits::<Arc<dyn StaticItem>>(),
    "the words hold a shared value"
);

#[allow(
    unsafe_code,
    reason = "values held in place, behind functions that know their type"
)]
impl StaticValue {
    /// `event`, in place if it [`fits`], else moved into an `Arc`.
    #[inline(always)]
    pub(crate) fn new<E: StaticEvent>(event: E) -> StaticValue {
        if !fits::<E>() {
            return StaticValue::from_shared(Arc::new(event));
        }
        let mut words = Words::uninit();
        // SAFETY: `E` fits `words` in size and alignment (checked above).
        unsafe { words.as_mut_ptr().cast::<E>().write(event) };
        StaticValue {
            kind: &KindOf::<E>::OF,
            words,
        }
    }

    /// A value shared already (a dynamic event's payload of its type).
    #[inline]
    pub(crate) fn from_arc<E: StaticEvent>(value: Arc<E>) -> StaticValue {
        StaticValue::from_shared(value)
    }

    /// A shared value.
    fn from_shared(shared: Arc<dyn StaticItem>) -> StaticValue {
        let mut words = Words::uninit();
        // SAFETY: an `Arc<dyn StaticItem>` fits (asserted at compile time above).
        unsafe {
            words
                .as_mut_ptr()
                .cast::<Arc<dyn StaticItem>>()
                .write(shared)
        };
        StaticValue {
            kind: &SHARED,
            words,
        }
    }

    /// The value.
    #[inline]
    fn item(&self) -> &dyn StaticItem {
        // SAFETY: `kind` describes `words` (see `item_at`); the reference lives as long as
        // `&self`, which owns the value.
        unsafe { &*(self.kind.item)(self.words.as_ptr().cast()) }
    }

    /// Its type's description.
    #[inline]
    pub(crate) fn desc(&self) -> &'static EventDesc {
        self.item().desc()
    }

    /// The value, type-erased.
    #[inline]
    pub(crate) fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self.item()
    }

    /// The value borrowed with `table`, its type's table, for the table's handlers.
    ///
    /// Publishing moves an `E` into a value and hands it on with `E`'s table, the only table
    /// it is ever viewed with (the check costs one comparison of `TypeId`s).
    pub(crate) fn view(&self, table: &'static TableCore) -> StaticRef<'_> {
        match StaticRef::checked(table, self.as_any()) {
            Some(view) => view,
            None => unreachable!("a static value is viewed with its own type's table"),
        }
    }

    /// Whether it is held in place (not allocated).
    #[cfg(test)]
    fn is_inline(&self) -> bool {
        self.kind.share.is_some()
    }

    /// The value behind an `Arc`, moving it there first if it is held in place.
    fn shared(&mut self) -> &Arc<dyn StaticItem> {
        if let Some(share) = self.kind.share {
            // SAFETY: `kind` describes `words`; the value is moved out, and the words
            // overwritten with the `Arc` at once, under the kind that says so.
            unsafe {
                let shared = share(self.words.as_mut_ptr().cast());
                self.words
                    .as_mut_ptr()
                    .cast::<Arc<dyn StaticItem>>()
                    .write(shared);
            }
            self.kind = &SHARED;
        }
        // SAFETY: the kind is `SHARED` now: the words hold an `Arc<dyn StaticItem>`.
        unsafe { &*self.words.as_ptr().cast::<Arc<dyn StaticItem>>() }
    }

    /// A second holder of the same value (moved into an `Arc` first if need be).
    #[inline]
    pub(crate) fn share(&mut self) -> StaticValue {
        StaticValue::from_shared(Arc::clone(self.shared()))
    }

    /// The value as an `E`, or itself back when it is another type.
    #[inline]
    pub(crate) fn downcast<E: Any + Send + Sync>(self) -> Result<Received<E>, StaticValue> {
        let held = match self.kind.type_id {
            Some(held) => held,
            None => self.as_any().type_id(),
        };
        if held != TypeId::of::<E>() {
            return Err(self);
        }
        let this = ManuallyDrop::new(self);
        let at = this.words.as_ptr();
        Ok(Received(if this.kind.share.is_some() {
            // SAFETY: the words hold an `E` (its type was checked, and the kind is not
            // `SHARED`); `this` is never dropped, so it is read out exactly once.
            Holding::Owned(unsafe { at.cast::<E>().read() })
        } else {
            // SAFETY: the kind is `SHARED`; read out once, as above.
            let shared = unsafe { at.cast::<Arc<dyn StaticItem>>().read() };
            let any: Arc<dyn Any + Send + Sync> = shared;
            Holding::Shared(
                any.downcast::<E>()
                    .unwrap_or_else(|_| unreachable!("the type was checked")),
            )
        }))
    }

    /// The value as a dynamic event: its name as topic, the value as payload (shared, with
    /// its JSON encoder and size), every attribute at its default.
    #[cold]
    pub(crate) fn make_dynamic(&mut self) -> DynamicEvent {
        let desc = self.desc();
        let shared = self.shared();
        let size = shared.size();
        let value: Arc<dyn Any + Send + Sync> = Arc::clone(shared) as Arc<dyn StaticItem>;
        let payload = Payload::from_parts(value, desc.type_name(), desc.json()).with_size(size);
        DynamicEvent::from_static(Topic::from_static_name(desc.name()), payload)
    }
}

impl Drop for StaticValue {
    fn drop(&mut self) {
        // SAFETY: `kind` describes `words`; dropped once, here.
        #[allow(unsafe_code, reason = "the value held in place, dropped")]
        unsafe {
            (self.kind.drop)(self.words.as_mut_ptr().cast())
        }
    }
}

/// A static event received by a typed [`EventSubscriber`](crate::EventSubscriber): the value
/// as it was published, read through `Deref`.
///
/// It owns the value when this subscriber took it alone (the usual case; a value of up to
/// 16 bytes, aligned to at most 8, then travels without any allocation); it shares it,
/// behind an `Arc`, when other subscribers or handlers of the same publish hold it too.
///
/// ```standalone_crate
/// use staticbus::prelude::*;
///
/// #[derive(StaticEvent, Debug, Clone, PartialEq)]
/// struct Reading(f64);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), staticbus::Error> {
/// let system = EventSystem::builder().build()?;
/// let readings = system.subscribe::<Reading>()?;
/// system.publish(Reading(1.5)).await?;
/// let reading = readings.receive().await?;
/// assert_eq!(reading.0, 1.5);
/// assert!(!reading.is_shared());
/// assert_eq!(reading.into_inner(), Reading(1.5));
/// # Ok(()) }
/// ```
pub struct Received<E>(Holding<E>);

enum Holding<E> {
    Owned(E),
    Shared(Arc<E>),
}

impl<E> Received<E> {
    /// Received shared, from a dynamic event's payload.
    pub(crate) fn shared(value: Arc<E>) -> Received<E> {
        Received(Holding::Shared(value))
    }

    /// Whether other holders share the value (then [`into_inner`](Self::into_inner) clones).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Holding::Shared(_))
    }

    /// The value, behind an `Arc` (moved into a new one if owned).
    pub fn into_arc(self) -> Arc<E> {
        match self.0 {
            Holding::Owned(value) => Arc::new(value),
            Holding::Shared(value) => value,
        }
    }

    /// The value, if no one else holds it; itself back otherwise.
    pub fn try_into_inner(self) -> Result<E, Received<E>> {
        match self.0 {
            Holding::Owned(value) => Ok(value),
            Holding::Shared(value) => Arc::try_unwrap(value).map_err(Received::shared),
        }
    }

    /// The value: moved out when owned (or no longer shared), cloned otherwise.
    pub fn into_inner(self) -> E
    where
        E: Clone,
    {
        match self.0 {
            Holding::Owned(value) => value,
            Holding::Shared(value) => Arc::unwrap_or_clone(value),
        }
    }

    /// Whether both are the same shared value (two subscribers of one publish).
    pub fn ptr_eq(this: &Received<E>, other: &Received<E>) -> bool {
        match (&this.0, &other.0) {
            (Holding::Shared(a), Holding::Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl<E> Deref for Received<E> {
    type Target = E;

    #[inline]
    fn deref(&self) -> &E {
        match &self.0 {
            Holding::Owned(value) => value,
            Holding::Shared(value) => value,
        }
    }
}

impl<E> AsRef<E> for Received<E> {
    fn as_ref(&self) -> &E {
        self
    }
}

impl<E> std::borrow::Borrow<E> for Received<E> {
    fn borrow(&self) -> &E {
        self
    }
}

impl<E: fmt::Debug> fmt::Debug for Received<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<E: fmt::Display> fmt::Display for Received<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<E: PartialEq> PartialEq for Received<E> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<E: PartialEq> PartialEq<E> for Received<E> {
    fn eq(&self, other: &E) -> bool {
        **self == *other
    }
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
