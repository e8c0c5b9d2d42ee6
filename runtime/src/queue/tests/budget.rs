//! The shared budget: its meter layouts, limits shared by every buffer, items that can never
//! fit, the accounting of receives, drops and absurd byte counts.

use std::sync::Arc;

use super::support::*;
use crate::queue::PushOutcome::{Enqueued, Rejected};
use crate::queue::budget::Meter;
use crate::queue::sync::lock;
use crate::queue::{Budget, Buffer};

#[test]
fn both_limits_share_one_word_when_they_fit() {
    let packed = |events, bytes| {
        matches!(
            Budget::new(Some(events), Some(bytes)).meter,
            Meter::Packed { .. }
        )
    };
    assert!(packed(1 << 20, 1 << 30));
    assert!(packed(1, usize::MAX >> 1));
    assert!(packed(usize::MAX >> 1, 1));
    assert!(!packed(1 << 40, 1 << 40));
    assert!(!packed(1, usize::MAX));
    assert!(
        !packed(0, usize::MAX),
        "a zero item limit gives the bytes no room to share"
    );
    let budget = Budget::new(Some(3), Some(usize::MAX >> 2));
    assert_eq!(budget.used(), (0, 0));
    let buffer = Buffer::new(4, Arc::clone(&budget));
    assert_eq!(buffer.try_push(1, usize::MAX >> 2, NEWEST), Enqueued);
    assert_eq!(budget.used(), (1, usize::MAX >> 2));
    assert_eq!(buffer.try_push(2, 0, NEWEST), Enqueued);
    assert_eq!(buffer.try_push(3, 1, NEWEST), Rejected(3));
    assert_eq!(buffer.try_push(4, 0, NEWEST), Enqueued);
    assert_eq!(buffer.try_push(5, 0, NEWEST), Rejected(5));
    assert_eq!(budget.used(), (3, usize::MAX >> 2));
    assert_eq!(contents(&buffer), [1, 2, 4]);
    assert_eq!(budget.used(), (0, 0));
}

#[tokio::test]
async fn the_event_limit_is_shared_by_all_buffers() {
    for budget in [
        Budget::new(Some(3), None),
        Budget::new(Some(3), Some(1000)),
        Budget::with_packing(Some(3), Some(1000), false),
    ] {
        let a = Buffer::new(10, Arc::clone(&budget));
        let b = Buffer::new(10, Arc::clone(&budget));
        assert_eq!(a.try_push(1, 1, NEWEST), Enqueued);
        assert_eq!(a.try_push(2, 1, NEWEST), Enqueued);
        assert_eq!(b.try_push(3, 1, NEWEST), Enqueued);
        assert_eq!(b.try_push(4, 1, NEWEST), Rejected(4));
        assert_eq!(a.try_push(5, 1, NEWEST), Rejected(5));
        assert_eq!(budget.used(), (3, 3));
        assert_eq!(a.try_recv(), Ok(1));
        assert_eq!(b.try_push(6, 1, NEWEST), Enqueued);
        assert_eq!(contents(&b), [3, 6]);
    }
}

#[tokio::test]
async fn the_byte_limit_is_shared_by_all_buffers() {
    for budget in [
        Budget::new(None, Some(10)),
        Budget::new(Some(100), Some(10)),
        Budget::with_packing(Some(100), Some(10), false),
    ] {
        let a = Buffer::new(10, Arc::clone(&budget));
        let b = Buffer::new(10, Arc::clone(&budget));
        assert_eq!(a.try_push(1, 6, NEWEST), Enqueued);
        assert_eq!(b.try_push(2, 5, NEWEST), Rejected(2));
        assert_eq!(b.try_push(3, 4, NEWEST), Enqueued);
        assert_eq!(
            b.try_push(4, 0, NEWEST),
            Enqueued,
            "a zero-byte item still fits"
        );
        assert_eq!(a.try_push(5, 1, NEWEST), Rejected(5));
        assert_eq!(budget.used(), (3, 10));
        assert_eq!(b.bytes(), 4);
    }
}

#[tokio::test]
async fn an_item_larger_than_the_byte_limit_is_rejected_by_every_strategy() {
    for budget in [
        Budget::new(None, Some(10)),
        Budget::new(Some(5), Some(10)),
        Budget::with_packing(Some(5), Some(10), false),
    ] {
        let buffer = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(buffer.try_push(1, 3, NEWEST), Enqueued);
        for overflow in [BLOCK, OLDEST, NEWEST] {
            let outcome = tokio::time::timeout(HANG, buffer.push(2, 11, overflow)).await;
            assert_eq!(outcome, Ok(Rejected(2)), "{overflow:?}");
            assert_eq!(
                buffer.try_push(2, 11, overflow),
                Rejected(2),
                "{overflow:?}"
            );
        }
        // Nothing was evicted for it.
        assert_eq!(contents(&buffer), [1]);
        assert_eq!(
            buffer.try_push(3, 10, NEWEST),
            Enqueued,
            "exactly the limit fits"
        );
    }
}

#[tokio::test]
async fn a_zero_event_limit_admits_nothing() {
    for budget in [
        Budget::new(Some(0), None),
        Budget::new(Some(0), Some(10)),
        Budget::with_packing(Some(0), Some(10), false),
    ] {
        let buffer = Buffer::new(4, Arc::clone(&budget));
        for overflow in [BLOCK, OLDEST, NEWEST] {
            let outcome = tokio::time::timeout(HANG, buffer.push(1, 0, overflow)).await;
            assert_eq!(outcome, Ok(Rejected(1)), "{overflow:?}");
        }
        assert_eq!(budget.used(), (0, 0));
    }
}

#[tokio::test]
async fn dropping_a_buffer_releases_its_budget() {
    for budget in every_meter(10, 100) {
        let buffer = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(buffer.try_push(1, 7, NEWEST), Enqueued);
        assert_eq!(buffer.try_push(2, 8, NEWEST), Enqueued);
        drop(buffer);
        assert_eq!(budget.used(), (0, 0));
    }
}

#[tokio::test]
async fn an_unlimited_count_is_summed_over_live_buffers_only() {
    let budget = Budget::new(Some(1000), None);
    let kept = Buffer::new(4, Arc::clone(&budget));
    assert_eq!(kept.try_push(0, 5, NEWEST), Enqueued);
    for i in 0..100 {
        let buffer = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(buffer.try_push(i, 7, NEWEST), Enqueued);
        assert_eq!(budget.used(), (2, 12));
    }
    assert_eq!(budget.used(), (1, 5));
    // Dropped buffers are forgotten as the list grows.
    assert!(lock(&budget.buffers).len() <= 8);
    let packed = Budget::new(Some(10), Some(10));
    let _buffer = Buffer::<u8>::new(1, Arc::clone(&packed));
    assert!(lock(&packed.buffers).is_empty(), "no need to list buffers");
}

#[tokio::test]
async fn a_receive_frees_the_slot_and_the_budget() {
    for budget in every_meter(1, 5) {
        let a = Buffer::new(1, Arc::clone(&budget));
        assert_eq!(a.try_push(1, 5, NEWEST), Enqueued);
        assert_eq!(a.try_push(2, 5, NEWEST), Rejected(2));
        assert_eq!(a.try_recv(), Ok(1));
        assert_eq!(a.try_push(2, 5, NEWEST), Enqueued);
        let b = Buffer::new(1, Arc::clone(&budget));
        let mut out = Vec::new();
        assert_eq!(a.recv_batch(1, &mut out), 1);
        assert_eq!(b.try_push(3, 5, NEWEST), Enqueued, "{budget:?}");
    }
}

#[tokio::test]
async fn absurd_byte_counts_do_not_panic() {
    for budget in every_meter(10, usize::MAX) {
        let buffer = Buffer::new(2, Arc::clone(&budget));
        assert_eq!(buffer.try_push(1, usize::MAX, OLDEST), Enqueued);
        let second = buffer.try_push(2, usize::MAX, OLDEST);
        let third = buffer.try_push(3, usize::MAX, OLDEST);
        assert!(second.is_enqueued(), "{budget:?}");
        assert!(third.is_enqueued(), "{budget:?}");
        let mut out = Vec::new();
        buffer.recv_batch(usize::MAX, &mut out);
        assert_eq!(budget.used(), (0, 0), "{budget:?}");
    }
}
