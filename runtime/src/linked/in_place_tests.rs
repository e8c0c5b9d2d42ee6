//! `ResponderFuture`: every future it holds is polled where it was made and dropped exactly
//! once (answered at once, answered later, cancelled, replaced, panicking in its poll or its
//! drop), in place or boxed.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use super::*;

/// Counts its drops; its address checked on every poll (it must not move once polled).
struct Probe<const PAD: usize> {
    drops: Arc<AtomicUsize>,
    /// Polls left before it answers.
    pending: usize,
    /// Where it was first polled.
    at: Option<usize>,
    panic_in_poll: bool,
    panic_in_drop: bool,
    answer: u64,
    _pad: [u8; PAD],
}

impl<const PAD: usize> Probe<PAD> {
    fn new(drops: &Arc<AtomicUsize>, pending: usize, answer: u64) -> Self {
        Probe {
            drops: Arc::clone(drops),
            pending,
            at: None,
            panic_in_poll: false,
            panic_in_drop: false,
            answer,
            _pad: [0; PAD],
        }
    }
}

impl<const PAD: usize> Future for Probe<PAD> {
    type Output = Result<u64, BoxError>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: no field is moved out.
        let this = unsafe { self.get_unchecked_mut() };
        let here = std::ptr::from_mut(this) as usize;
        assert_eq!(*this.at.get_or_insert(here), here, "a polled future moved");
        assert!(!this.panic_in_poll, "the responder panicked");
        if this.pending == 0 {
            return Poll::Ready(Ok(this.answer));
        }
        this.pending -= 1;
        Poll::Pending
    }
}

impl<const PAD: usize> Drop for Probe<PAD> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panic_in_drop {
            panic!("the responder's future panicked in its drop");
        }
    }
}

/// An over-aligned future: boxed, since the place is aligned to 16.
#[repr(align(64))]
struct Aligned(Probe<0>);

impl Future for Aligned {
    type Output = Result<u64, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: a structural pin of the one field.
        unsafe { self.map_unchecked_mut(|a| &mut a.0) }.poll(cx)
    }
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

#[test]
fn a_future_ready_at_once_is_dropped_at_once_in_place_or_boxed() {
    assert!(fits::<Probe<0>>());
    assert!(!fits::<Probe<200>>());
    assert!(!fits::<Aligned>());
    let drops = Arc::new(AtomicUsize::new(0));
    let mut slot = Box::pin(ResponderFuture::<u64>::new());
    assert!(!slot.is_busy());
    let polled = slot
        .as_mut()
        .start(Probe::<0>::new(&drops, 0, 7), &mut cx());
    assert!(matches!(polled, Poll::Ready(Ok(7))));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(!slot.is_busy());
    let polled = slot
        .as_mut()
        .start(Probe::<200>::new(&drops, 0, 8), &mut cx());
    assert!(matches!(polled, Poll::Ready(Ok(8))));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    let polled = slot
        .as_mut()
        .start(Aligned(Probe::new(&drops, 0, 9)), &mut cx());
    assert!(matches!(polled, Poll::Ready(Ok(9))));
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert!(!slot.is_busy());
    assert!(slot.as_mut().poll_held(&mut cx()).is_none());
}

/// `pending` polls, then the answer, polled where it was made; dropped once, as it answers.
fn answers_later<F: Future<Output = Result<u64, BoxError>> + Send>(
    make: impl FnOnce(&Arc<AtomicUsize>) -> F,
) {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut slot = Box::pin(ResponderFuture::<u64>::new());
    assert!(slot.as_mut().start(make(&drops), &mut cx()).is_pending());
    assert!(slot.is_busy());
    assert!(matches!(
        slot.as_mut().poll_held(&mut cx()),
        Some(Poll::Pending)
    ));
    assert!(matches!(
        slot.as_mut().poll_held(&mut cx()),
        Some(Poll::Ready(Ok(5)))
    ));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(!slot.is_busy());
    assert!(slot.as_mut().poll_held(&mut cx()).is_none());
    drop(slot);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_pending_future_is_polled_where_it_was_made_and_dropped_once() {
    answers_later(|drops| Probe::<0>::new(drops, 2, 5));
    answers_later(|drops| Probe::<200>::new(drops, 2, 5));
    answers_later(|drops| Aligned(Probe::new(drops, 2, 5)));
}

#[test]
fn a_pending_future_is_dropped_once_when_cancelled_cleared_or_replaced() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let mut slot = Box::pin(ResponderFuture::<u64>::new());
        assert!(
            slot.as_mut()
                .start(Probe::<0>::new(&drops, 9, 0), &mut cx())
                .is_pending()
        );
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped with the slot");
    let mut slot = Box::pin(ResponderFuture::<u64>::new());
    assert!(
        slot.as_mut()
            .start(Probe::<200>::new(&drops, 9, 0), &mut cx())
            .is_pending()
    );
    slot.as_mut().clear();
    assert_eq!(drops.load(Ordering::SeqCst), 2, "cleared");
    assert!(!slot.is_busy());
    slot.as_mut().clear();
    assert!(
        slot.as_mut()
            .start(Probe::<0>::new(&drops, 9, 0), &mut cx())
            .is_pending()
    );
    let polled = slot
        .as_mut()
        .start(Probe::<0>::new(&drops, 0, 3), &mut cx());
    assert!(matches!(polled, Poll::Ready(Ok(3))));
    assert_eq!(drops.load(Ordering::SeqCst), 4, "replaced, then answered");
}

#[test]
fn a_future_made_but_not_polled_moves_with_its_place_and_is_polled_after() {
    let drops = Arc::new(AtomicUsize::new(0));
    let held = ResponderFuture::<u64>::holding(Probe::<0>::new(&drops, 1, 4));
    let moved = Box::new(held);
    let mut slot = Box::into_pin(moved);
    assert!(matches!(
        slot.as_mut().poll_held(&mut cx()),
        Some(Poll::Pending)
    ));
    assert!(matches!(
        slot.as_mut().poll_held(&mut cx()),
        Some(Poll::Ready(Ok(4)))
    ));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let unpolled = ResponderFuture::<u64>::holding(Probe::<200>::new(&drops, 1, 4));
    drop(unpolled);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panic_in_the_first_poll_leaves_the_future_to_be_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut slot = Box::pin(ResponderFuture::<u64>::new());
    let mut probe = Probe::<0>::new(&drops, 0, 0);
    probe.panic_in_poll = true;
    let caught = panic::catch_unwind(AssertUnwindSafe(|| slot.as_mut().start(probe, &mut cx())));
    assert!(caught.is_err());
    assert!(slot.is_busy(), "still held, not leaked");
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(slot);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panic_in_a_futures_drop_does_not_drop_it_twice() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut slot = Box::pin(ResponderFuture::<u64>::new());
    let mut probe = Probe::<0>::new(&drops, 0, 1);
    probe.panic_in_drop = true;
    let caught = panic::catch_unwind(AssertUnwindSafe(|| slot.as_mut().start(probe, &mut cx())));
    assert!(
        caught.is_err(),
        "the drop's panic comes out of the poll that answered"
    );
    assert!(!slot.is_busy());
    let mut probe = Probe::<0>::new(&drops, 1, 1);
    probe.panic_in_drop = true;
    assert!(slot.as_mut().start(probe, &mut cx()).is_pending());
    let caught = panic::catch_unwind(AssertUnwindSafe(|| slot.as_mut().clear()));
    assert!(caught.is_err());
    assert!(!slot.is_busy());
    drop(slot);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn a_future_borrowing_its_callers_data_is_held_for_its_lifetime() {
    let answer = 11_u64;
    let mut slot = Box::pin(ResponderFuture::<u64>::new());
    let borrowed = &answer;
    let polled = slot.as_mut().start(async move { Ok(*borrowed) }, &mut cx());
    assert!(matches!(polled, Poll::Ready(Ok(11))));
}
