//! One buffer without waiting: what an item takes, the non-blocking strategies (eviction
//! included), closing and draining.

use std::sync::Arc;

use super::support::*;
use crate::queue::PushOutcome::{self, Closed, Enqueued, Rejected};
use crate::queue::{Budget, Buffer, RecvTimeout, TryRecv};

#[tokio::test]
async fn an_item_takes_one_slot_one_event_and_its_bytes() {
    for budget in every_meter(100, 1000) {
        let buffer = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(buffer.try_push(1, 10, NEWEST), Enqueued);
        assert_eq!(buffer.push(2, 5, BLOCK).await, Enqueued);
        assert_eq!(buffer.push(3, 0, OLDEST).await, Enqueued);
        assert_eq!((buffer.len(), buffer.bytes()), (3, 15));
        assert_eq!(budget.used(), (3, 15), "{budget:?}");

        assert_eq!(buffer.try_recv(), Ok(1));
        assert_eq!(
            (buffer.len(), buffer.bytes(), budget.used()),
            (2, 5, (2, 5))
        );
        assert_eq!(buffer.recv().await, Some(2));
        assert_eq!(buffer.recv_timeout(SETTLE).await, Ok(3));
        assert_eq!(
            (buffer.len(), buffer.bytes(), budget.used()),
            (0, 0, (0, 0))
        );
        assert!(buffer.is_empty());
        assert_eq!(buffer.try_recv(), Err(TryRecv::Empty));
    }
}

#[tokio::test]
async fn limits_and_capacity_are_reported() {
    let budget = Budget::new(Some(7), None);
    assert_eq!(budget.limits(), (Some(7), None));
    let buffer = Buffer::<u8>::new(3, Arc::clone(&budget));
    assert_eq!(buffer.capacity(), 3);
    assert!(Arc::ptr_eq(buffer.budget(), &budget));
    assert!(!buffer.is_closed());
    assert!(format!("{buffer:?}").contains("capacity: 3"));
    assert!(format!("{budget:?}").contains("max_events: Some(7)"));
}

#[tokio::test]
async fn drop_newest_rejects_when_this_buffer_is_full() {
    for budget in every_meter(100, 1000) {
        let buffer = Buffer::new(2, Arc::clone(&budget));
        assert_eq!(buffer.try_push(1, 1, NEWEST), Enqueued);
        assert_eq!(buffer.push(2, 1, NEWEST).await, Enqueued);
        assert_eq!(buffer.push(3, 1, NEWEST).await, Rejected(3));
        assert_eq!(buffer.try_push(4, 1, NEWEST), Rejected(4));
        assert_eq!(budget.used(), (2, 2));
        assert_eq!(contents(&buffer), [1, 2]);
    }
}

#[tokio::test]
async fn try_push_with_block_rejects_instead_of_waiting() {
    let buffer = Buffer::new(1, Budget::new(None, None));
    assert_eq!(buffer.try_push(1, 0, BLOCK), Enqueued);
    assert_eq!(buffer.try_push(2, 0, BLOCK), Rejected(2));
    let budget = Budget::new(Some(1), None);
    let other = Buffer::new(5, Arc::clone(&budget));
    let buffer = Buffer::new(5, budget);
    assert_eq!(other.try_push(1, 0, BLOCK), Enqueued);
    assert_eq!(buffer.try_push(2, 0, BLOCK), Rejected(2));
}

/// `try_enqueue` takes an item only when the buffer and the budget have room now, and
/// otherwise hands it back with nothing changed: full, over the budget, or closed.
#[tokio::test]
async fn try_enqueue_takes_an_item_only_when_there_is_room() {
    for budget in every_meter(3, 30) {
        let buffer = Buffer::new(2, Arc::clone(&budget));
        assert_eq!(buffer.try_enqueue(1, 10), Ok(()));
        assert_eq!(buffer.try_enqueue(2, 10), Ok(()));
        assert_eq!(buffer.try_enqueue(3, 10), Err(3), "full: {budget:?}");
        assert_eq!(budget.used(), (2, 20));
        // Another buffer on the same budget: its room is the budget's.
        let other = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(other.try_enqueue(4, 10), Ok(()));
        let limited = budget.limits() != (None, None);
        let over = other.try_enqueue(5, 10);
        assert_eq!(over.is_err(), limited, "over the budget: {budget:?}");
        assert_eq!(buffer.try_recv(), Ok(1));
        buffer.close();
        assert_eq!(buffer.try_enqueue(6, 0), Err(6), "closed");
        assert_eq!(contents(&buffer), [2]);
    }
}

#[tokio::test]
async fn drop_oldest_evicts_this_buffers_oldest_items() {
    for budget in every_meter(100, 1000) {
        let buffer = Buffer::new(3, Arc::clone(&budget));
        for i in 1..=3 {
            assert_eq!(buffer.try_push(i, 10, OLDEST), Enqueued);
        }
        assert_eq!(buffer.try_push(4, 1, OLDEST), evicted([1]));
        assert_eq!(buffer.push(5, 2, OLDEST).await, evicted([2]));
        assert_eq!((buffer.len(), buffer.bytes()), (3, 13));
        assert_eq!(budget.used(), (3, 13), "{budget:?}");
        assert_eq!(contents(&buffer), [3, 4, 5]);
        assert_eq!(budget.used(), (0, 0));
    }
}

#[tokio::test]
async fn drop_oldest_evicts_as_many_as_the_bytes_need() {
    for budget in [
        Budget::new(None, Some(10)),
        Budget::new(Some(100), Some(10)),
        Budget::with_packing(Some(100), Some(10), false),
    ] {
        let buffer = Buffer::new(8, Arc::clone(&budget));
        for i in 1..=3 {
            assert_eq!(buffer.try_push(i, 3, OLDEST), Enqueued);
        }
        let outcome = buffer.try_push(4, 8, OLDEST);
        assert_eq!(outcome, evicted([1, 2, 3]));
        if let PushOutcome::EnqueuedEvicting(evicted) = outcome {
            assert_eq!(evicted.len(), 3);
            assert_eq!(evicted.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
            assert_eq!((&evicted).into_iter().count(), 3);
            assert_eq!(evicted.into_vec(), [1, 2, 3]);
        }
        assert_eq!(
            (buffer.len(), buffer.bytes(), budget.used()),
            (1, 8, (1, 8))
        );

        // Evicting a large item for a smaller one gives the difference back.
        assert_eq!(buffer.try_push(5, 2, OLDEST), Enqueued);
        assert_eq!(buffer.try_push(6, 3, OLDEST), evicted([4]));
        assert_eq!((buffer.bytes(), budget.used()), (5, (2, 5)));
        assert_eq!(contents(&buffer), [5, 6]);
    }
}

#[tokio::test]
async fn drop_oldest_evicts_for_the_event_limit_too() {
    for budget in [
        Budget::new(Some(2), None),
        Budget::new(Some(2), Some(100)),
        Budget::with_packing(Some(2), Some(100), false),
    ] {
        let buffer = Buffer::new(8, Arc::clone(&budget));
        assert_eq!(buffer.try_push(1, 1, OLDEST), Enqueued);
        assert_eq!(buffer.try_push(2, 1, OLDEST), Enqueued);
        assert_eq!(buffer.try_push(3, 1, OLDEST), evicted([1]));
        assert_eq!(budget.used(), (2, 2));
    }
}

#[tokio::test]
async fn drop_oldest_changes_nothing_when_other_buffers_hold_the_budget() {
    for budget in [
        Budget::new(None, Some(10)),
        Budget::new(Some(100), Some(10)),
        Budget::with_packing(Some(100), Some(10), false),
    ] {
        let a = Buffer::new(4, Arc::clone(&budget));
        let b = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(a.try_push(1, 8, NEWEST), Enqueued);
        // Nothing of ours to evict.
        assert_eq!(b.try_push(2, 5, OLDEST), Rejected(2));
        // Evicting all of ours would not be enough: keep them.
        assert_eq!(b.try_push(3, 1, OLDEST), Enqueued);
        assert_eq!(b.try_push(4, 1, OLDEST), Enqueued);
        assert_eq!(b.try_push(5, 5, OLDEST), Rejected(5));
        assert_eq!((b.len(), b.bytes(), budget.used()), (2, 2, (3, 10)));
        assert_eq!(contents(&b), [3, 4]);
    }
    for budget in [
        Budget::new(Some(2), None),
        Budget::new(Some(2), Some(100)),
        Budget::with_packing(Some(2), Some(100), false),
    ] {
        let a = Buffer::new(4, Arc::clone(&budget));
        let b = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(a.try_push(1, 1, NEWEST), Enqueued);
        assert_eq!(a.try_push(2, 1, NEWEST), Enqueued);
        assert_eq!(b.try_push(3, 1, OLDEST), Rejected(3));
        assert_eq!(budget.used(), (2, 2));
    }
}

#[tokio::test]
async fn after_close_receivers_drain_then_see_closed() {
    let budget = Budget::new(None, None);
    let buffer = Buffer::new(4, Arc::clone(&budget));
    for i in 1..=4 {
        assert_eq!(buffer.try_push(i, 1, NEWEST), Enqueued);
    }
    buffer.close();
    buffer.close();
    assert!(buffer.is_closed());
    for overflow in [BLOCK, OLDEST, NEWEST] {
        assert_eq!(buffer.push(9, 1, overflow).await, Closed(9));
        assert_eq!(buffer.try_push(9, 1, overflow), Closed(9));
    }
    assert_eq!(buffer.try_recv(), Ok(1));
    assert_eq!(buffer.recv().await, Some(2));
    assert_eq!(buffer.recv_timeout(SETTLE).await, Ok(3));
    let mut out = Vec::new();
    assert_eq!(buffer.recv_batch(10, &mut out), 1);
    assert_eq!(out, [4]);
    assert_eq!(buffer.recv().await, None);
    assert_eq!(buffer.try_recv(), Err(TryRecv::Closed));
    assert_eq!(buffer.recv_timeout(SETTLE).await, Err(RecvTimeout::Closed));
    assert_eq!(buffer.recv_batch(10, &mut out), 0);
    assert_eq!(budget.used(), (0, 0));
}

#[tokio::test]
async fn close_and_drain_hands_back_everything_and_releases_the_budget() {
    for budget in every_meter(3, 30) {
        let a = Buffer::new(4, Arc::clone(&budget));
        let b = Buffer::new(4, Arc::clone(&budget));
        for i in 1..=3 {
            assert_eq!(a.try_push(i, 10, NEWEST), Enqueued);
        }
        let blocked = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.push(4, 10, BLOCK).await }
        });
        tokio::time::sleep(SETTLE).await;
        let limited = budget.limits() != (None, None);
        assert_eq!(blocked.is_finished(), !limited, "{budget:?}");
        assert_eq!(a.close_and_drain(), [1, 2, 3]);
        assert!(a.is_closed());
        assert_eq!(a.try_push(5, 1, NEWEST), Closed(5));
        assert_eq!(a.try_recv(), Err(TryRecv::Closed));
        assert_eq!(join(blocked).await, Enqueued);
        assert_eq!(budget.used(), (1, 10));
        assert!(a.close_and_drain().is_empty());
    }
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "channel_capacity")]
fn a_zero_capacity_is_a_bug_caught_in_debug_builds() {
    let _ = Buffer::<u8>::new(0, Budget::new(None, None));
}

#[test]
#[cfg(not(debug_assertions))]
fn a_zero_capacity_counts_as_one_in_release_builds() {
    let buffer = Buffer::new(0, Budget::new(None, None));
    assert_eq!(buffer.capacity(), 1);
    assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
    assert_eq!(buffer.try_push(2, 0, NEWEST), Rejected(2));
}
