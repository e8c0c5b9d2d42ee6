//! Many tasks on several threads: ordering, ping-pong through a budget of one, pushers
//! blocked on a shared budget, and a randomized stress run checking limits and accounting.

use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use super::support::*;
use crate::queue::PushOutcome::{self, Closed, Enqueued, Rejected, TimedOut};
use crate::queue::{Budget, Buffer, RecvTimeout};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_blocked_pushers_lose_nothing_and_keep_their_order() {
    const PUSHERS: u64 = 8;
    const EACH: u64 = 500;
    let buffer = Buffer::new(2, Budget::new(None, None));
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move {
                for i in 0..EACH {
                    assert_eq!(buffer.push((p, i), 1, BLOCK).await, Enqueued);
                }
            })
        })
        .collect();
    let receiver = tokio::spawn({
        let buffer = Arc::clone(&buffer);
        async move {
            let mut next = [0; PUSHERS as usize];
            for n in 0..PUSHERS * EACH {
                if n.is_multiple_of(64) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let (p, i) = buffer.recv().await.expect("not closed");
                assert_eq!(i, next[p as usize], "pusher {p} out of order");
                next[p as usize] += 1;
            }
            next
        }
    });
    for pusher in pushers {
        join(pusher).await;
    }
    assert_eq!(join(receiver).await, [EACH; PUSHERS as usize]);
    assert_eq!(buffer.len(), 0);
    assert_eq!(buffer.budget().used(), (0, 0));
}

/// One pusher and one receiver on two threads, room for one event in the whole budget:
/// every push waits for the previous item's release and every receive for the next push,
/// so any lost wake-up deadlocks the pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_through_a_budget_of_one_loses_no_wake_up() {
    const N: u64 = 20_000;
    for budget in [
        Budget::new(Some(1), None),
        Budget::new(Some(1), Some(10)),
        Budget::with_packing(Some(1), Some(10), false),
    ] {
        let buffer = Buffer::new(8, budget);
        let pusher = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move {
                for i in 0..N {
                    assert_eq!(buffer.push(i, 1, BLOCK).await, Enqueued);
                }
            }
        });
        let receiver = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move {
                for i in 0..N {
                    assert_eq!(buffer.recv().await, Some(i));
                }
            }
        });
        join(pusher).await;
        join(receiver).await;
    }
}

/// Pushers that wait without a deadline on many buffers sharing a small budget: a lost
/// wake-up leaves one of them waiting forever once the others are done.
async fn blocking_on_a_shared_budget(budget: Arc<Budget>) {
    const BUFFERS: usize = 6;
    const PUSHERS: usize = 12;
    const EACH: usize = 400;
    let buffers: Arc<Vec<_>> = Arc::new(
        (0..BUFFERS)
            .map(|_| Buffer::new(2, Arc::clone(&budget)))
            .collect(),
    );
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| {
            let buffers = Arc::clone(&buffers);
            tokio::spawn(async move {
                for i in 0..EACH {
                    let buffer = &buffers[(p + i) % BUFFERS];
                    assert_eq!(buffer.push(1u64, 1 + i % 7, BLOCK).await, Enqueued);
                }
            })
        })
        .collect();
    let receivers: Vec<_> = (0..BUFFERS)
        .map(|b| {
            let buffers = Arc::clone(&buffers);
            tokio::spawn(async move {
                let mut got = 0;
                while let Some(one) = buffers[b].recv().await {
                    got += one;
                }
                got
            })
        })
        .collect();
    for pusher in pushers {
        join(pusher).await;
    }
    for buffer in buffers.iter() {
        buffer.close();
    }
    let mut total = 0;
    for receiver in receivers {
        total += join(receiver).await;
    }
    assert_eq!(total, (PUSHERS * EACH) as u64);
    assert_eq!(budget.used(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_wake_up_is_lost_among_pushers_blocked_on_the_budget() {
    for budget in every_meter(3, 12) {
        blocking_on_a_shared_budget(budget).await;
    }
}

/// Many buffers, pushers with every strategy and random deadlines, receivers of every kind
/// that also give up at random, and a watcher: the budget stays within its limits at every
/// instant, and every enqueued item is accounted for exactly once.
async fn stress(budget: Arc<Budget>) {
    const BUFFERS: usize = 8;
    const PUSHERS: u64 = 16;
    const EACH: u64 = 2_000;
    let buffers: Arc<Vec<_>> = Arc::new(
        (0..BUFFERS)
            .map(|i| Buffer::new(1 + i % 4, Arc::clone(&budget)))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (max_events, max_bytes) = budget.limits();
    let watcher = tokio::spawn({
        let budget = Arc::clone(&budget);
        let stop = Arc::clone(&stop);
        async move {
            let mut checks = 0u64;
            while !stop.load(Relaxed) {
                let (events, bytes) = budget.used();
                assert!(
                    max_events.is_none_or(|max| events <= max),
                    "{events} events"
                );
                assert!(max_bytes.is_none_or(|max| bytes <= max), "{bytes} bytes");
                checks += 1;
                if checks.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
            }
            checks
        }
    });
    // Sum of the ids enqueued, and of the ids that came back out.
    let enqueued = Arc::new(AtomicU64::new(0));
    let out = Arc::new(AtomicU64::new(0));
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| {
            let (buffers, enqueued, out) = (
                Arc::clone(&buffers),
                Arc::clone(&enqueued),
                Arc::clone(&out),
            );
            tokio::spawn(async move {
                let mut rng = p.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for i in 0..EACH {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let id = p * EACH + i + 1;
                    let buffer = &buffers[(rng % BUFFERS as u64) as usize];
                    let bytes = (rng >> 8) as usize % 40;
                    let overflow = match (rng >> 16) % 4 {
                        0 => OLDEST,
                        1 => NEWEST,
                        2 => block_for(Duration::from_micros((rng >> 20) % 500)),
                        _ => block_for(Duration::from_millis(5)),
                    };
                    let outcome = if (rng >> 24) % 8 == 0 {
                        buffer.try_push(id, bytes, overflow)
                    } else {
                        buffer.push(id, bytes, overflow).await
                    };
                    match outcome {
                        Enqueued => {
                            enqueued.fetch_add(id, Relaxed);
                        }
                        PushOutcome::EnqueuedEvicting(evicted) => {
                            enqueued.fetch_add(id, Relaxed);
                            out.fetch_add(evicted.into_iter().sum(), Relaxed);
                        }
                        Rejected(back) | TimedOut(back) | Closed(back) => {
                            assert_eq!(back, id);
                        }
                    }
                }
            })
        })
        .collect();
    let receivers: Vec<_> = (0..BUFFERS)
        .map(|b| {
            let (buffers, out) = (Arc::clone(&buffers), Arc::clone(&out));
            tokio::spawn(async move {
                let buffer = &buffers[b];
                let mut batch = Vec::new();
                for round in 0u64.. {
                    let got = match round % 4 {
                        0 => buffer.recv().await,
                        1 => match buffer.recv_timeout(Duration::from_micros(200)).await {
                            Ok(id) => Some(id),
                            Err(RecvTimeout::TimedOut) => continue,
                            Err(RecvTimeout::Closed) => None,
                        },
                        2 => {
                            let short = Duration::from_micros(100);
                            match tokio::time::timeout(short, buffer.recv()).await {
                                Ok(got) => got,
                                Err(_) => continue,
                            }
                        }
                        _ => {
                            batch.clear();
                            if buffer.recv_batch(3, &mut batch) == 0 {
                                if buffer.is_closed() && buffer.is_empty() {
                                    return;
                                }
                                tokio::task::yield_now().await;
                                continue;
                            }
                            out.fetch_add(batch.iter().sum(), Relaxed);
                            continue;
                        }
                    };
                    match got {
                        Some(id) => out.fetch_add(id, Relaxed),
                        None => return,
                    };
                }
            })
        })
        .collect();
    for pusher in pushers {
        join(pusher).await;
    }
    for buffer in buffers.iter() {
        buffer.close();
    }
    for receiver in receivers {
        join(receiver).await;
    }
    stop.store(true, Relaxed);
    assert!(join(watcher).await > 0);
    assert_eq!(out.load(Relaxed), enqueued.load(Relaxed), "{budget:?}");
    assert!(enqueued.load(Relaxed) > 0);
    assert_eq!(budget.used(), (0, 0), "{budget:?}");
    for buffer in buffers.iter() {
        assert_eq!((buffer.len(), buffer.bytes()), (0, 0));
        assert_eq!(buffer.push_waiters.load(SeqCst), 0);
        assert_eq!(buffer.recv_waiters.load(SeqCst), 0);
    }
    assert_eq!(budget.waiters.load(SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_budget_holds_under_contention_and_nothing_is_lost() {
    for budget in every_meter(6, 100) {
        stress(budget).await;
    }
}
