//! `emit` never allocates: a counting global allocator watches 10,000 emits to 3 handlers
//! (two free functions and a plugin method); nor does a plain request answered at once
//! (async and sync responders, in a system without layers).
//!
//! This file is its own test binary because the global allocator is per binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use std::future::{Future, IntoFuture};

use staticbus::Request;
use staticbus::prelude::*;

struct Counting;

thread_local! {
    // Only the thread under test counts: the harness allocates on its own threads meanwhile.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: defers every call to `System` unchanged; only counts.
#[allow(unsafe_code, reason = "a global allocator is an unsafe impl")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(StaticEvent)]
struct Measured {
    amount: u64,
}

static FREE_A: AtomicU64 = AtomicU64::new(0);
static FREE_B: AtomicU64 = AtomicU64::new(0);

#[handler(priority = 1)]
fn free_a(e: &Measured) {
    FREE_A.fetch_add(e.amount, Ordering::Relaxed);
}

#[handler]
fn free_b(e: &Measured) -> Result<(), std::io::Error> {
    FREE_B.fetch_add(e.amount, Ordering::Relaxed);
    Ok(())
}

#[derive(Default)]
struct Sum {
    total: AtomicU64,
}

#[plugin]
impl Sum {
    #[on(priority = 2)]
    fn add(&self, e: &Measured) {
        self.total.fetch_add(e.amount, Ordering::Relaxed);
    }
}

#[test]
fn emit_does_not_allocate() {
    let system = EventSystem::builder().build().expect("build");

    let before = allocations();
    COUNTING.set(true);
    let mut handled = 0;
    for i in 0..10_000u64 {
        let emitted = system.emit(&Measured { amount: i });
        handled += emitted.handled();
    }
    COUNTING.set(false);

    let allocations = allocations() - before;
    assert_eq!(handled, 30_000, "every emit reaches all 3 handlers");
    let expected: u64 = (0..10_000).sum();
    assert_eq!(FREE_A.load(Ordering::Relaxed), expected);
    assert_eq!(FREE_B.load(Ordering::Relaxed), expected);
    let sum = system.plugin::<Sum>().expect("linked");
    assert_eq!(sum.total.load(Ordering::Relaxed), expected);
    assert_eq!(allocations, 0, "emit allocated {allocations} times");
}

#[derive(Request)]
#[request(response = u64)]
struct Quote(u64);

#[derive(Request)]
#[request(response = u64)]
struct QuoteNow(u64);

#[derive(Default)]
struct Quoter;

#[plugin]
impl Quoter {
    #[responds]
    async fn quote(&self, q: Quote) -> Result<u64, std::io::Error> {
        Ok(q.0 * 3)
    }

    #[responds]
    fn quote_now(&self, q: QuoteNow) -> Result<u64, std::io::Error> {
        Ok(q.0 * 5)
    }
}

/// `request`'s answer, which its first poll must give.
fn answered_at_once<F: Future<Output = Result<u64, staticbus::RequestError>>>(
    request: F,
    cx: &mut std::task::Context<'_>,
) -> u64 {
    match std::pin::pin!(request).poll(cx) {
        std::task::Poll::Ready(Ok(answer)) => answer,
        std::task::Poll::Ready(Err(error)) => panic!("{error}"),
        std::task::Poll::Pending => panic!("not answered at once"),
    }
}

#[test]
fn a_plain_request_does_not_allocate() {
    let system = EventSystem::builder().build().expect("build");
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut sum = 0;
    let before = allocations();
    COUNTING.set(true);
    for i in 0..10_000u64 {
        sum += answered_at_once(system.request(Quote(i)).into_future(), &mut cx);
        sum += answered_at_once(system.request(QuoteNow(i)).into_future(), &mut cx);
    }
    COUNTING.set(false);
    let allocations = allocations() - before;
    assert_eq!(sum, (0..10_000).map(|i| i * 8).sum::<u64>());
    assert_eq!(allocations, 0, "requests allocated {allocations} times");
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    COUNTING.set(true);
    let before = allocations();
    let v: Vec<u64> = std::hint::black_box(Vec::with_capacity(16));
    let after = allocations();
    COUNTING.set(false);
    drop(v);
    assert!(after > before);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn emitted_fits_in_two_registers() {
    // Returned in registers and dropped with a null check: part of why `emit` is cheap.
    assert_eq!(std::mem::size_of::<staticbus::Emitted>(), 16);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn a_responders_answer_of_one_word_fits_in_two_registers() {
    // A responder's thunk returns it through a function pointer: in registers, not through
    // memory (where mismatched stores and loads stalled every request; README, requests).
    assert_eq!(
        std::mem::size_of::<staticbus::__private::Answered<u64>>(),
        16
    );
}
