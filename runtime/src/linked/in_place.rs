//! [`ResponderFuture`]: a responder's future held in place, in the request's own future, with
//! its first poll a direct call. The `stackfuture` crate holds a future the same way, but polls
//! it only through a function pointer (never inlined, even where its type is known): this one
//! is made and first polled by [`start`](ResponderFuture::start), generic over the future's
//! type, so that in a responder's thunk the optimiser sees the future just made and keeps only
//! its body (an answer ready at once costs no state-machine dispatch, no erased call, no
//! erased drop). Only a future still pending after that poll is polled and dropped through
//! its erased functions.

#![allow(
    unsafe_code,
    reason = "a future held in place, polled and dropped through its erased functions"
)]

use std::future::Future;
use std::marker::{PhantomData, PhantomPinned};
use std::mem::{self, MaybeUninit};
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

use super::handler::BoxError;

/// Bytes a responder's future may take in place; a larger one is boxed.
const RESPONDER_FUTURE_BYTES: usize = 128;

/// Alignment of the place; a future that needs more is boxed.
const ALIGN: usize = 16;

/// The bytes a future is held in.
#[repr(C, align(16))]
struct Place([u8; RESPONDER_FUTURE_BYTES]);

/// What a request needs of the future in its place, its type erased (its output too: these
/// are one static per future type, which may not be `'static`).
struct Erased {
    /// Polls the future at the address; when it is ready, writes its output at the second and
    /// returns true.
    poll: unsafe fn(*mut (), &mut Context<'_>, *mut ()) -> bool,
    /// Drops the future at the address.
    drop: unsafe fn(*mut ()),
}

/// The future of type `F` at `at`, polled; its output, if ready, written at `out`.
///
/// # Safety
/// `at` holds a live `F`, pinned (never moved before it is dropped); `out` is valid for a
/// write of an `F::Output`.
unsafe fn poll_erased<F: Future>(at: *mut (), cx: &mut Context<'_>, out: *mut ()) -> bool {
    // SAFETY: the caller's contract: a live `F` that does not move.
    match unsafe { Pin::new_unchecked(&mut *at.cast::<F>()) }.poll(cx) {
        Poll::Ready(output) => {
            // SAFETY: the caller's contract.
            unsafe { out.cast::<F::Output>().write(output) };
            true
        }
        Poll::Pending => false,
    }
}

/// The future of type `F` at `at`, dropped.
///
/// # Safety
/// `at` holds a live `F`, not used after.
unsafe fn drop_erased<F>(at: *mut ()) {
    // SAFETY: the caller's contract.
    unsafe { ptr::drop_in_place(at.cast::<F>()) }
}

/// The erased functions of `F`, one static per type.
struct Functions<F>(PhantomData<F>);

impl<F: Future> Functions<F> {
    const ERASED: Erased = Erased {
        poll: poll_erased::<F>,
        drop: drop_erased::<F>,
    };
}

/// A responder's future (answering `Result<T, BoxError>`), held in place: in the request's own
/// future when it fits in 128 bytes with an alignment of at most 16, else boxed. Empty until
/// [`start`](Self::start), and again once the future answered (it is dropped then).
///
/// `Send` (it holds only `Send` futures), not `Unpin`: a future in it never moves.
pub struct ResponderFuture<'a, T> {
    /// `None` (one word written) while empty: making an empty one writes no bytes of the place.
    held: Option<Held>,
    /// The futures it holds live for `'a` and are `Send`; never moved once made.
    _holds: PhantomData<(&'a mut (dyn Future<Output = T> + Send), PhantomPinned)>,
}

/// A future in its place, with its functions.
struct Held {
    erased: &'static Erased,
    place: MaybeUninit<Place>,
}

/// What a larger (or more aligned) future is held as.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'a>>;

impl<'a, T> ResponderFuture<'a, T> {
    /// An empty place.
    #[inline]
    pub const fn new() -> Self {
        ResponderFuture {
            held: None,
            _holds: PhantomData,
        }
    }

    /// Whether it holds a future (made, not answered yet).
    #[inline]
    pub fn is_busy(&self) -> bool {
        self.held.is_some()
    }

    /// Makes `future` here (dropping the one it held, if any) and polls it once, with a direct
    /// call; a future that answers is dropped at once, and the place is empty again.
    #[inline(always)]
    pub fn start<F>(
        self: Pin<&mut Self>,
        future: F,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, BoxError>>
    where
        F: Future<Output = Result<T, BoxError>> + Send + 'a,
    {
        if fits::<F>() {
            self.start_in_place(future, cx)
        } else {
            let boxed: Boxed<'a, T> = Box::pin(future);
            self.start_in_place(boxed, cx)
        }
    }

    /// A place holding `future`, not polled yet.
    pub(crate) fn holding<F>(future: F) -> Self
    where
        F: Future<Output = Result<T, BoxError>> + Send + 'a,
    {
        let mut this = ResponderFuture::new();
        if fits::<F>() {
            place_in(&mut this.held, future);
        } else {
            let boxed: Boxed<'a, T> = Box::pin(future);
            place_in(&mut this.held, boxed);
        }
        this
    }

    /// Polls the future it holds (`None` if empty); one that answers is dropped at once.
    #[inline]
    pub fn poll_held(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Result<T, BoxError>>> {
        // SAFETY: nothing is moved out; the place is pinned with `self`.
        let slot = unsafe { &raw mut self.get_unchecked_mut().held };
        // SAFETY: `slot` is `self.held`; this borrow ends before `slot` is used again.
        let held = unsafe { (*slot).as_mut() }?;
        let (erased, at) = (held.erased, held.place.as_mut_ptr().cast::<()>());
        let mut out = MaybeUninit::<Result<T, BoxError>>::uninit();
        // SAFETY: a `Held` holds a live future of its `erased` functions' type, whose output is
        // a `Result<T, BoxError>`, pinned with `self`.
        if !unsafe { (erased.poll)(at, cx, out.as_mut_ptr().cast()) } {
            return Some(Poll::Pending);
        }
        // SAFETY: `slot` is `self.held`, holding that future, not used again.
        unsafe { clear(slot) };
        // SAFETY: `poll` returned true: it wrote the output.
        Some(Poll::Ready(unsafe { out.assume_init() }))
    }

    /// Drops the future it holds, if any (which a pinned future allows: it is not moved).
    #[inline]
    pub fn clear(self: Pin<&mut Self>) {
        // SAFETY: nothing is moved out: the future is dropped in place.
        let slot = unsafe { &raw mut self.get_unchecked_mut().held };
        // SAFETY: `slot` is `self.held`.
        unsafe { clear(slot) }
    }

    /// `future`, which fits, made in the place and polled once there, typed.
    #[inline(always)]
    fn start_in_place<F>(
        self: Pin<&mut Self>,
        future: F,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, BoxError>>
    where
        F: Future<Output = Result<T, BoxError>> + Send + 'a,
    {
        // SAFETY: nothing is moved out: the future is made in the pinned place.
        let slot = unsafe { &raw mut self.get_unchecked_mut().held };
        // SAFETY: `slot` is `self.held`; this borrow ends here.
        let at = place_in(unsafe { &mut *slot }, future);
        // SAFETY: `place_in` made a live `F` at `at`, in the pinned place: it does not move.
        let polled = unsafe { Pin::new_unchecked(&mut *at) }.poll(cx);
        if polled.is_ready() {
            // Dropped here, where its type is known; emptied even if its drop panics.
            let _empty = Empty(slot);
            // SAFETY: the live `F` at `at`, not used again.
            unsafe { ptr::drop_in_place(at) };
        }
        polled
    }
}

/// `future`, which fits, made in `slot`'s place (after the one it held is dropped); where.
#[inline(always)]
fn place_in<F: Future>(slot: &mut Option<Held>, future: F) -> *mut F {
    debug_assert!(fits::<F>());
    if slot.is_some() {
        replaced(slot);
    }
    let held = slot.insert(Held {
        erased: &Functions::<F>::ERASED,
        place: MaybeUninit::uninit(),
    });
    let at = held.place.as_mut_ptr().cast::<F>();
    // SAFETY: the place is large and aligned enough for an `F` (`fits`); what it held was
    // dropped.
    unsafe { at.write(future) };
    at
}

/// Drops the future a slot about to hold another one holds (out of line: requests make
/// their responder's future in an empty slot).
#[cold]
#[inline(never)]
fn replaced(slot: &mut Option<Held>) {
    // SAFETY: `slot` is a valid `Option<Held>`, borrowed only here.
    unsafe { clear(slot) }
}

/// Drops the future `slot` holds, if any, and empties it (also if that drop panics: never
/// dropped twice).
///
/// # Safety
/// `slot` points to a valid `Option<Held>`, not borrowed elsewhere.
#[inline]
unsafe fn clear(slot: *mut Option<Held>) {
    // SAFETY: the caller's contract; this borrow ends before `slot` is written.
    let Some(held) = (unsafe { (*slot).as_mut() }) else {
        return;
    };
    let (erased, at) = (held.erased, held.place.as_mut_ptr().cast::<()>());
    let _empty = Empty(slot);
    // SAFETY: a `Held` holds a live future of its `erased` functions' type; `_empty` makes
    // sure it is not used again.
    unsafe { (erased.drop)(at) }
}

/// Empties a slot when dropped, after its future was (or while its drop unwinds).
struct Empty(*mut Option<Held>);

impl Drop for Empty {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: made from a valid slot whose future is dropped, with no borrow of it left;
        // `None` needs no drop of what was there.
        unsafe { self.0.write(None) }
    }
}

/// Whether a future of type `F` fits in a place.
#[inline(always)]
const fn fits<F>() -> bool {
    mem::size_of::<F>() <= RESPONDER_FUTURE_BYTES && mem::align_of::<F>() <= ALIGN
}

impl<T> Default for ResponderFuture<'_, T> {
    fn default() -> Self {
        ResponderFuture::new()
    }
}

impl<T> Drop for ResponderFuture<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `self.held`, borrowed nowhere else.
        unsafe { clear(&raw mut self.held) };
    }
}

#[cfg(test)]
#[path = "in_place_tests.rs"]
mod tests;
