//! The pull API under load: every backpressure strategy's exact accounting with a consumer
//! twenty times slower than its producer, the global buffer limit, and Block losing nothing with eight
//! concurrent publishers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{BackpressureDecision, DropReason, EventSubscriber, MetricsSnapshot};

const EVENTS: u64 = 400;
const CAPACITY: usize = 8;
const GLOBAL: usize = 12;

#[derive(StaticEvent, Debug)]
#[event(name = "load.sample")]
struct Sample(u64);

/// Publishes `EVENTS` samples to two subscribers, one draining twenty times slower than that, watching
/// the global buffer limit all along; then drains the rest and checks the books balance.
async fn overload(strategy: BackpressureStrategy) -> MetricsSnapshot {
    let system = EventSystem::builder()
        .channel_capacity(CAPACITY)
        .global_buffer_size(GLOBAL)
        .backpressure_strategy(strategy)
        .default_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let slow: EventSubscriber<Sample> = system.subscribe::<Sample>().unwrap();
    let fast = system.subscribe_topic("load.*").unwrap();

    let over_limit = Arc::new(AtomicBool::new(false));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (system, over_limit, watching) = (
            system.clone(),
            Arc::clone(&over_limit),
            Arc::clone(&watching),
        );
        tokio::spawn(async move {
            while watching.load(Ordering::Relaxed) {
                if system.metrics().buffered_events > GLOBAL as u64 {
                    over_limit.store(true, Ordering::Relaxed);
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let consumer = tokio::spawn(async move {
        // One receive per 2 ms while the producer publishes ten per ms: 20x overloaded.
        while !DONE.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let _ = slow.try_receive();
        }
        slow
    });

    let mut backpressure_errors = 0;
    for i in 0..EVENTS {
        match system.publish(Sample(i)).await {
            Ok(_) => {}
            Err(e) if e.is_backpressure() => backpressure_errors += 1,
            Err(e) => panic!("unexpected {e}"),
        }
        if i % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Keep the fast subscriber from filling: it takes everything as it comes.
        while let Ok(Some(_)) = fast.try_receive() {}
    }
    DONE.store(true, Ordering::Relaxed);
    let slow = consumer.await.unwrap();
    while let Ok(Some(_)) = slow.try_receive() {}
    while let Ok(Some(_)) = fast.try_receive() {}
    watching.store(false, Ordering::Relaxed);
    watcher.await.unwrap();
    DONE.store(false, Ordering::Relaxed);

    let m = system.metrics();
    let t = &m.total;
    assert!(
        !over_limit.load(Ordering::Relaxed),
        "buffers exceeded global_buffer_size"
    );
    assert_eq!(m.buffered_events, 0);
    assert_eq!(t.published, EVENTS);
    assert_eq!(t.matched, EVENTS * 2);
    assert_eq!(
        t.delivered + t.dropped_total() + t.failed,
        t.matched,
        "delivered + dropped + failed = published x matching subscribers: {t:?}"
    );
    // One error per publish that at least one full buffer refused.
    let refused = t.dropped(DropReason::Rejected) + t.dropped(DropReason::TimedOut);
    assert!(backpressure_errors <= refused, "{t:?}");
    assert_eq!(backpressure_errors == 0, refused == 0, "{t:?}");
    m
}

static DONE: AtomicBool = AtomicBool::new(false);

// The overload tests share `DONE`; run them one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_evicts_and_accounts_exactly() {
    let _serial = SERIAL.lock().await;
    let m = overload(BackpressureStrategy::DropOldest).await;
    assert!(m.total.dropped(DropReason::Evicted) > 0, "{m:?}");
    assert_eq!(m.total.dropped(DropReason::TimedOut), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_rejects_with_backpressure_errors() {
    let _serial = SERIAL.lock().await;
    let m = overload(BackpressureStrategy::DropNewest).await;
    assert!(m.total.dropped(DropReason::Rejected) > 0, "{m:?}");
    assert_eq!(m.total.dropped(DropReason::Evicted), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_times_out_and_accounts_exactly() {
    let _serial = SERIAL.lock().await;
    let m = overload(BackpressureStrategy::Block).await;
    assert!(m.total.dropped(DropReason::TimedOut) > 0, "{m:?}");
    assert_eq!(m.total.dropped(DropReason::Evicted), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_strategy_decides_per_event() {
    let _serial = SERIAL.lock().await;
    let asked = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&asked);
    let m = overload(BackpressureStrategy::custom(move |ctx| {
        a.fetch_add(1, Ordering::Relaxed);
        assert_eq!(ctx.event.topic().as_str(), "load.sample");
        if ctx.buffered >= ctx.capacity {
            BackpressureDecision::DropOldest
        } else {
            BackpressureDecision::DropNewest
        }
    }))
    .await;
    assert!(asked.load(Ordering::Relaxed) > 0);
    assert!(m.total.dropped_total() > 0, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_with_eight_concurrent_publishers_loses_nothing() {
    const PER_PUBLISHER: u64 = 250;
    let system = EventSystem::builder()
        .channel_capacity(4)
        .backpressure_strategy(BackpressureStrategy::Block)
        .default_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let inbox = system.subscribe_topic("crowd.*").unwrap();
    let publishers: Vec<_> = (0..8u64)
        .map(|p| {
            let publisher = system.create_publisher::<DynamicEvent>();
            tokio::spawn(async move {
                for i in 0..PER_PUBLISHER {
                    let event = DynamicEvent::builder("crowd.msg")
                        .value((p, i))
                        .build()
                        .unwrap();
                    publisher.publish(event).await.unwrap();
                }
            })
        })
        .collect();
    let mut last = [None::<u64>; 8];
    for _ in 0..8 * PER_PUBLISHER {
        let e = inbox
            .receive_timeout(Duration::from_secs(30))
            .await
            .unwrap();
        let &(p, i) = e.downcast_ref::<(u64, u64)>().unwrap();
        assert!(
            last[p as usize].is_none_or(|prev| prev + 1 == i),
            "order per publisher"
        );
        last[p as usize] = Some(i);
    }
    for p in publishers {
        p.await.unwrap();
    }
    assert!(inbox.try_receive().unwrap().is_none());
    let t = system.metrics().total;
    assert_eq!(
        (t.published, t.delivered, t.dropped_total()),
        (8 * PER_PUBLISHER, 8 * PER_PUBLISHER, 0)
    );
}

#[tokio::test]
async fn receive_timeout_and_typed_subscribers() {
    let system = EventSystem::builder().build().unwrap();
    let samples = system.subscribe::<Sample>().unwrap();
    let err = samples
        .receive_timeout(Duration::from_millis(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    // A dynamic event under the static name that does not carry a `Sample` is skipped and
    // counted, not handed over as garbage.
    system
        .publish_dynamic(
            DynamicEvent::builder("load.sample")
                .bytes(&b"raw"[..])
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    system.publish(Sample(5)).await.unwrap();
    assert_eq!(samples.receive().await.unwrap().0, 5);
    let m = system.metrics();
    assert_eq!(m.topics["load.sample"].dropped(DropReason::TypeMismatch), 1);
}

#[tokio::test]
async fn batches_are_received_in_order_then_closed() {
    let system = EventSystem::builder().build().unwrap();
    let inbox = system.subscribe::<Sample>().unwrap();
    assert!(inbox.try_receive_batch(10).unwrap().is_empty());
    let publisher = system.create_publisher::<Sample>();
    publisher
        .publish_batch((0..5).map(Sample).collect())
        .await
        .unwrap();
    let first: Vec<u64> = inbox
        .try_receive_batch(3)
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(first, [0, 1, 2]);
    system.shutdown(Duration::from_secs(1)).await;
    assert!(inbox.is_closed());
    let rest: Vec<u64> = inbox
        .try_receive_batch(10)
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(rest, [3, 4]);
    assert!(matches!(inbox.try_receive_batch(10), Err(Error::Closed)));
    let err = publisher.publish_batch(vec![Sample(9)]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Batch { total: 1, errors } if matches!(errors[0], (0, Error::Shutdown))),
        "{err}"
    );
}
