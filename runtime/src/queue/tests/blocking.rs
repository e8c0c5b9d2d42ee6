//! Waiting: pushers blocked for a slot or for budget, receivers waiting for an item, their
//! deadlines, wake-up order, cancel safety, closing, and the no-lost-wake-up window.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::support::*;
use crate::queue::PushOutcome::{Closed, Enqueued, TimedOut};
use crate::queue::{Budget, Buffer, Overflow, RecvTimeout};

#[tokio::test]
async fn drop_oldest_surplus_wakes_a_pusher_blocked_on_the_budget() {
    for budget in [
        Budget::new(None, Some(10)),
        Budget::new(Some(100), Some(10)),
        Budget::with_packing(Some(100), Some(10), false),
    ] {
        let a = Buffer::new(1, Arc::clone(&budget));
        let b = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(a.try_push(1, 9, NEWEST), Enqueued);
        let pusher = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.push(2, 5, BLOCK).await }
        });
        tokio::time::sleep(SETTLE).await;
        assert!(!pusher.is_finished());
        assert_eq!(a.try_push(3, 1, OLDEST), evicted([1]));
        assert_eq!(join(pusher).await, Enqueued);
        assert_eq!(budget.used(), (2, 6));
    }
}

#[tokio::test]
async fn block_waits_for_a_free_slot() {
    for budget in every_meter(100, 1000) {
        let buffer = Buffer::new(1, budget);
        assert_eq!(buffer.push(1, 1, BLOCK).await, Enqueued);
        let pusher = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.push(2, 1, BLOCK).await }
        });
        tokio::time::sleep(SETTLE).await;
        assert!(!pusher.is_finished());
        assert_eq!(buffer.recv().await, Some(1));
        assert_eq!(join(pusher).await, Enqueued);
        assert_eq!(buffer.try_recv(), Ok(2));
    }
}

#[tokio::test]
async fn block_waits_for_budget_released_by_another_buffer() {
    let budgets = [
        Budget::new(Some(1), None),
        Budget::new(None, Some(10)),
        Budget::new(Some(1), Some(10)),
        Budget::with_packing(Some(1), Some(10), false),
    ];
    for budget in budgets {
        let a = Buffer::new(4, Arc::clone(&budget));
        let b = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(a.push(1, 10, BLOCK).await, Enqueued);
        let pusher = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.push(2, 10, BLOCK).await }
        });
        tokio::time::sleep(SETTLE).await;
        assert!(!pusher.is_finished(), "{budget:?}");
        assert_eq!(a.recv().await, Some(1));
        assert_eq!(join(pusher).await, Enqueued, "{budget:?}");
        assert_eq!(budget.used(), (1, 10));
    }
}

#[tokio::test]
async fn block_times_out_at_the_deadline() {
    let budget = Budget::new(Some(2), None);
    let full = Buffer::new(1, Arc::clone(&budget));
    let other = Buffer::new(1, Arc::clone(&budget));
    assert_eq!(full.push(1, 1, BLOCK).await, Enqueued);
    assert_eq!(other.push(2, 1, BLOCK).await, Enqueued);
    let starved = Buffer::new(4, Arc::clone(&budget));
    // Waiting for a slot, then for budget.
    for (buffer, item) in [(&full, 3), (&starved, 4)] {
        let wait = Duration::from_millis(30);
        let start = std::time::Instant::now();
        assert_eq!(buffer.push(item, 1, block_for(wait)).await, TimedOut(item));
        assert!(start.elapsed() >= wait);
    }
    assert_eq!(budget.used(), (2, 2));
    assert_eq!(
        (budget.waiters.load(SeqCst), full.push_waiters.load(SeqCst)),
        (0, 0),
        "waiters deregister"
    );
}

#[test]
fn a_deadline_already_past_needs_no_runtime() {
    let buffer = Buffer::new(1, Budget::new(None, None));
    assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
    let past = Overflow::Block {
        deadline: Some(Instant::now()),
    };
    assert_eq!(poll_once(buffer.push(2, 0, past)), Poll::Ready(TimedOut(2)));
    assert_eq!(
        poll_once(buffer.recv_timeout(Duration::ZERO)),
        Poll::Ready(Ok(1))
    );
    assert_eq!(
        poll_once(buffer.recv_timeout(Duration::ZERO)),
        Poll::Ready(Err(RecvTimeout::TimedOut))
    );
}

#[tokio::test]
async fn close_wakes_blocked_pushers_with_closed() {
    let budget = Budget::new(Some(2), None);
    let full = Buffer::new(1, Arc::clone(&budget));
    let starved = Buffer::new(4, Arc::clone(&budget));
    assert_eq!(full.push(1, 1, BLOCK).await, Enqueued);
    assert_eq!(starved.push(2, 1, BLOCK).await, Enqueued);
    let for_slot = tokio::spawn({
        let full = Arc::clone(&full);
        async move { full.push(3, 1, BLOCK).await }
    });
    let for_budget = tokio::spawn({
        let starved = Arc::clone(&starved);
        async move { starved.push(4, 1, BLOCK).await }
    });
    tokio::time::sleep(SETTLE).await;
    full.close();
    assert_eq!(join(for_slot).await, Closed(3));
    assert!(!for_budget.is_finished());
    starved.close();
    assert_eq!(join(for_budget).await, Closed(4));
    assert_eq!(budget.used(), (2, 2), "closing keeps what is buffered");
}

#[tokio::test]
async fn close_wakes_waiting_receivers() {
    let buffer = Buffer::<u32>::new(4, Budget::new(None, None));
    let receivers = [
        tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.recv().await.ok_or(RecvTimeout::Closed) }
        }),
        tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.recv_timeout(HANG).await }
        }),
    ];
    tokio::time::sleep(SETTLE).await;
    buffer.close();
    for receiver in receivers {
        assert_eq!(join(receiver).await, Err(RecvTimeout::Closed));
    }
}

#[tokio::test]
async fn recv_waits_for_a_push() {
    let buffer = Buffer::new(4, Budget::new(None, None));
    let receiver = tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move { buffer.recv().await }
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!receiver.is_finished());
    assert_eq!(buffer.try_push(7, 0, NEWEST), Enqueued);
    assert_eq!(join(receiver).await, Some(7));
}

#[tokio::test]
async fn a_burst_of_pushes_wakes_every_waiting_receiver() {
    let buffer = Buffer::new(4, Budget::new(None, None));
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move { buffer.recv().await })
        })
        .collect();
    until(|| buffer.recv_waiters.load(SeqCst) == 3).await;
    // Only the first push finds the buffer empty; the woken receivers pass the turn on.
    for i in 1..=3 {
        assert_eq!(buffer.try_push(i, 0, NEWEST), Enqueued);
    }
    let mut got = Vec::new();
    for receiver in receivers {
        got.push(join(receiver).await.expect("an item"));
    }
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3]);
}

#[tokio::test]
async fn a_burst_of_receives_wakes_every_blocked_pusher() {
    let buffer = Buffer::new(3, Budget::new(None, None));
    for i in 0..3 {
        assert_eq!(buffer.try_push(i, 0, NEWEST), Enqueued);
    }
    let pushers: Vec<_> = (3..6)
        .map(|i| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move { buffer.push(i, 0, BLOCK).await })
        })
        .collect();
    until(|| buffer.push_waiters.load(SeqCst) == 3).await;
    // Only the first receive finds the buffer full; the woken pushers pass the turn on.
    for i in 0..3 {
        assert_eq!(buffer.try_recv(), Ok(i));
    }
    for pusher in pushers {
        assert_eq!(join(pusher).await, Enqueued);
    }
    assert_eq!(contents(&buffer), [3, 4, 5]);
}

#[tokio::test]
async fn recv_timeout_times_out_then_receives() {
    let buffer = Buffer::new(4, Budget::new(None, None));
    let wait = Duration::from_millis(30);
    let start = std::time::Instant::now();
    assert_eq!(buffer.recv_timeout(wait).await, Err(RecvTimeout::TimedOut));
    assert!(start.elapsed() >= wait);
    assert_eq!(buffer.recv_waiters.load(SeqCst), 0, "waiter deregisters");
    assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
    assert_eq!(buffer.recv_timeout(wait).await, Ok(1));
    // Too far away to represent: no deadline at all.
    tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move {
            tokio::time::sleep(SETTLE).await;
            buffer.try_push(2, 0, NEWEST)
        }
    });
    let far = tokio::time::timeout(HANG, buffer.recv_timeout(Duration::MAX)).await;
    assert_eq!(far, Ok(Ok(2)));
}

#[tokio::test]
async fn recv_is_cancel_safe() {
    let buffer = Buffer::new(4, Budget::new(None, None));
    // Cancelled while waiting: the later item is not lost.
    assert!(tokio::time::timeout(SETTLE, buffer.recv()).await.is_err());
    assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
    assert_eq!(buffer.try_recv(), Ok(1));

    // Notified, then dropped before it ran: the item stays, and the notification passes
    // to the next waiting receiver.
    let mut first = Box::pin(buffer.recv());
    assert!(poll_once(first.as_mut()).is_pending());
    let second = tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move { buffer.recv().await }
    });
    tokio::time::sleep(SETTLE).await;
    assert_eq!(buffer.try_push(2, 0, NEWEST), Enqueued);
    drop(first);
    assert_eq!(join(second).await, Some(2));
    assert_eq!(buffer.recv_waiters.load(SeqCst), 0);
}

#[tokio::test]
async fn recv_batch_takes_up_to_max_and_wakes_blocked_pushers() {
    let budget = Budget::new(None, Some(100));
    let buffer = Buffer::new(4, Arc::clone(&budget));
    let mut out = vec![0];
    assert_eq!(buffer.recv_batch(8, &mut out), 0);
    for i in 1..=4 {
        assert_eq!(buffer.try_push(i, 10, NEWEST), Enqueued);
    }
    let pushers: Vec<_> = (5..=7)
        .map(|i| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move { buffer.push(i, 10, BLOCK).await })
        })
        .collect();
    tokio::time::sleep(SETTLE).await;
    assert_eq!(buffer.recv_batch(3, &mut out), 3);
    assert_eq!(out, [0, 1, 2, 3]);
    for pusher in pushers {
        assert_eq!(join(pusher).await, Enqueued);
    }
    assert_eq!(buffer.recv_batch(0, &mut out), 0);
    assert_eq!(buffer.recv_batch(usize::MAX, &mut out), 4);
    assert_eq!(out[4..], [4, 5, 6, 7]);
    assert_eq!(budget.used(), (0, 0));
}

#[tokio::test]
async fn blocked_pushers_get_slots_in_arrival_order() {
    let buffer = Buffer::new(1, Budget::new(None, None));
    assert_eq!(buffer.try_push(0, 0, NEWEST), Enqueued);
    let mut pushers = Vec::new();
    for i in 1..=3 {
        let pusher = Arc::clone(&buffer);
        pushers.push(tokio::spawn(async move { pusher.push(i, 0, BLOCK).await }));
        until(|| buffer.push_waiters.load(SeqCst) == i).await;
    }
    // A newcomer queues behind them instead of taking the next free slot.
    let newcomer = tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move { buffer.push(4, 0, BLOCK).await }
    });
    until(|| buffer.push_waiters.load(SeqCst) == 4).await;
    let mut received = Vec::new();
    for _ in 0..5 {
        received.push(tokio::time::timeout(HANG, buffer.recv()).await.unwrap());
    }
    assert_eq!(received, [0, 1, 2, 3, 4].map(Some));
    for pusher in pushers.into_iter().chain([newcomer]) {
        assert_eq!(join(pusher).await, Enqueued);
    }
}

#[tokio::test]
async fn a_newcomer_does_not_take_a_slot_handed_to_a_waiting_pusher() {
    let buffer = Buffer::new(1, Budget::new(None, None));
    assert_eq!(buffer.try_push(0, 0, NEWEST), Enqueued);
    let waiting = tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move { buffer.push(1, 0, BLOCK).await }
    });
    until(|| buffer.push_waiters.load(SeqCst) == 1).await;
    // Frees the slot and wakes the waiting pusher, which has not run yet (one thread).
    assert_eq!(buffer.try_recv(), Ok(0));
    assert!(poll_once(buffer.push(2, 0, BLOCK)).is_pending());
    assert_eq!(join(waiting).await, Enqueued);
    assert_eq!(buffer.try_recv(), Ok(1));
    // Non-blocking strategies never wait, so they take a free slot regardless.
    assert_eq!(buffer.try_push(3, 0, NEWEST), Enqueued);
}

#[tokio::test]
async fn a_freed_slot_the_woken_pusher_cannot_use_passes_to_the_next() {
    let budget = Budget::new(None, Some(10));
    let buffer = Buffer::new(1, Arc::clone(&budget));
    let other = Buffer::new(1, Arc::clone(&budget));
    assert_eq!(buffer.try_push(0, 5, NEWEST), Enqueued);
    assert_eq!(other.try_push(100, 4, NEWEST), Enqueued);
    let big = tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move { buffer.push(1, 7, BLOCK).await }
    });
    until(|| buffer.push_waiters.load(SeqCst) == 1).await;
    let small = tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move { buffer.push(2, 1, BLOCK).await }
    });
    until(|| buffer.push_waiters.load(SeqCst) == 2).await;
    // Frees the slot and 5 bytes: 4 + 7 > 10 for the first waiter, 4 + 1 fits the second.
    assert_eq!(buffer.try_recv(), Ok(0));
    assert_eq!(join(small).await, Enqueued);
    assert!(!big.is_finished());
    assert_eq!(other.try_recv(), Ok(100));
    assert_eq!(buffer.try_recv(), Ok(2));
    assert_eq!(join(big).await, Enqueued);
    assert_eq!(budget.used(), (1, 7));
}

#[test]
fn a_release_between_refusal_and_registration_is_not_missed() {
    let budgets = [
        Budget::new(Some(1), None),
        Budget::new(None, Some(1)),
        Budget::new(Some(1), Some(1)),
        Budget::with_packing(Some(1), Some(1), false),
    ];
    for budget in budgets {
        let a = Buffer::new(4, Arc::clone(&budget));
        let b = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(b.try_push(1, 1, NEWEST), Enqueued);
        let releaser = Arc::clone(&b);
        // Nobody waits yet when `b` releases, so nobody is notified: the pusher must see
        // the release when it retries after registering. Runs once, the first time.
        let mut hook = Some(move || assert_eq!(releaser.try_recv(), Ok(1)));
        let between = || {
            if let Some(release) = hook.take() {
                release();
            }
        };
        assert_eq!(
            poll_once(a.push_with(2, 1, BLOCK, between)),
            Poll::Ready(Enqueued)
        );
        assert!(hook.is_none(), "the hook ran");
        assert_eq!(budget.used(), (1, 1));
    }
}
