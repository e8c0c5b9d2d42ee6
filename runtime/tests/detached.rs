//! Detached async handlers: `publish` does not wait for them; their events wait in their own
//! bounded queue, which follows the system's backpressure strategy with exact accounting
//! (published x matching = delivered + dropped + failed, once drained), `concurrency`
//! workers call them, and `shutdown` waits for the queue, then cancels and reports what is
//! left. On Tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{BoxError, Delivery, DropReason, TopicMetrics};
use tokio::time::Instant;

fn numbered(n: u64) -> DynamicEvent {
    DynamicEvent::builder("work.item")
        .value(n)
        .build()
        .expect("valid topic")
}

/// A detached handler taking `per_call` per event, failing every 5th, counting its calls
/// and the most that ran at once.
struct Slow {
    calls: Arc<AtomicU64>,
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Slow {
    fn new() -> Slow {
        Slow {
            calls: Arc::new(AtomicU64::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            most: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn subscribe(
        &self,
        system: &EventSystem,
        options: SubscribeOptions,
        per_call: Duration,
    ) -> Subscription {
        let (calls, running, most) = (
            Arc::clone(&self.calls),
            Arc::clone(&self.running),
            Arc::clone(&self.most),
        );
        system
            .on_async_with("work.*", options, move |e: Arc<DynamicEvent>| {
                let (calls, running, most) =
                    (Arc::clone(&calls), Arc::clone(&running), Arc::clone(&most));
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(per_call).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    calls.fetch_add(1, Ordering::SeqCst);
                    match e.downcast_ref::<u64>() {
                        Some(n) if n % 5 == 0 => Err::<(), BoxError>(format!("item {n}").into()),
                        _ => Ok(()),
                    }
                }
            })
            .unwrap()
    }
}

fn balanced(t: &TopicMetrics) {
    assert_eq!(
        t.delivered + t.dropped_total() + t.failed,
        t.matched,
        "delivered + dropped + failed = matched: {t:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn publish_does_not_wait_for_a_detached_handler() {
    let system = EventSystem::builder().build().unwrap();
    let slow = Slow::new();
    let _sub = slow.subscribe(
        &system,
        SubscribeOptions::new().detached(),
        Duration::from_secs(1),
    );
    let start = Instant::now();
    for n in 1..=3 {
        system.publish_dynamic(numbered(n)).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "three publishes, no wait");
    assert_eq!(slow.calls.load(Ordering::SeqCst), 0);
    assert_eq!(system.list_subscriptions()[0].delivery, Delivery::Detached);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        slow.calls.load(Ordering::SeqCst),
        3,
        "one worker, one call at a time"
    );
    assert_eq!(slow.most.load(Ordering::SeqCst), 1);
    let t = &system.metrics().topics["work.item"];
    assert_eq!((t.published, t.delivered, t.failed), (3, 3, 0));
}

/// Publishes 200 events, one per millisecond (Tokio's timer tick), to a handler taking
/// 10 ms each (10x overload), with a queue of 8; then lets the queue drain.
async fn overload(strategy: BackpressureStrategy) -> (TopicMetrics, u64) {
    let system = EventSystem::builder()
        .backpressure_strategy(strategy)
        .default_timeout(Duration::from_secs(60))
        .dead_letter_capacity(1000)
        .build()
        .unwrap();
    let slow = Slow::new();
    let options = SubscribeOptions::new().detached().buffer_capacity(8);
    let _sub = slow.subscribe(&system, options, Duration::from_millis(10));
    for n in 1..=200 {
        let _ = system.publish_dynamic(numbered(n)).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let report = system.shutdown(Duration::from_secs(60)).await;
    assert!(report.drained, "{report:?}");
    let t = system.metrics().topics["work.item"].clone();
    balanced(&t);
    assert_eq!(t.published, 200);
    // Every call made is delivered or failed; every failure is a dead letter.
    assert_eq!(slow.calls.load(Ordering::SeqCst), t.delivered + t.failed);
    assert_eq!(system.dead_letter_stats().buried, t.failed);
    (t, slow.calls.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn under_ten_fold_overload_drop_newest_refuses_and_accounts_exactly() {
    let (t, calls) = overload(BackpressureStrategy::DropNewest).await;
    assert!(t.dropped(DropReason::Rejected) > 100, "{t:?}");
    assert_eq!(t.dropped(DropReason::Rejected) + calls, 200);
}

#[tokio::test(start_paused = true)]
async fn under_ten_fold_overload_drop_oldest_evicts_and_accounts_exactly() {
    let (t, calls) = overload(BackpressureStrategy::DropOldest).await;
    assert!(t.dropped(DropReason::Evicted) > 100, "{t:?}");
    assert_eq!(t.dropped(DropReason::Evicted) + calls, 200);
}

#[tokio::test(start_paused = true)]
async fn under_ten_fold_overload_block_slows_the_publisher_and_loses_nothing() {
    let (t, calls) = overload(BackpressureStrategy::Block).await;
    assert_eq!(t.dropped_total(), 0, "{t:?}");
    assert_eq!(calls, 200);
    assert_eq!(t.failed, 40, "every 5th failed");
}

#[tokio::test(start_paused = true)]
async fn concurrency_bounds_the_calls_running_at_once() {
    let system = EventSystem::builder().build().unwrap();
    let slow = Slow::new();
    let options = SubscribeOptions::new().concurrency(4);
    let _sub = slow.subscribe(&system, options, Duration::from_millis(10));
    for n in 1..=8 {
        system.publish_dynamic(numbered(n)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(25)).await;
    assert_eq!(slow.calls.load(Ordering::SeqCst), 8, "two rounds of four");
    assert_eq!(slow.most.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_queue_then_cancels_and_reports_what_is_left() {
    let system = EventSystem::builder().build().unwrap();
    let slow = Slow::new();
    let _sub = slow.subscribe(
        &system,
        SubscribeOptions::new().detached(),
        Duration::from_secs(1),
    );
    for n in 1..=10 {
        system.publish_dynamic(numbered(n)).await.unwrap();
    }
    let report = system.shutdown(Duration::from_millis(1500)).await;
    assert!(!report.drained);
    assert_eq!(report.detached.len(), 1, "{report:?}");
    let left = &report.detached[0];
    assert!(left.handler.contains("work.*"), "{}", left.handler);
    assert_eq!(
        (left.cancelled, left.running),
        (8, 1),
        "one done, one running"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        slow.calls.load(Ordering::SeqCst),
        2,
        "the running call finished"
    );
    let t = &system.metrics().topics["work.item"];
    assert_eq!(t.dropped(DropReason::Closed), 8);
    balanced(t);
}

#[tokio::test]
async fn only_an_async_handler_can_be_detached() {
    let system = EventSystem::builder().build().unwrap();
    let sync = system
        .on_with(
            "x",
            SubscribeOptions::new().detached(),
            |_: &EventRef<'_>| {},
        )
        .map(drop);
    let pull = system
        .subscribe_topic_with("x", SubscribeOptions::new().concurrency(2))
        .map(drop);
    for result in [sync, pull] {
        match result {
            Err(Error::InvalidConfig { option, .. }) => {
                assert_eq!(option, "SubscribeOptions::detached")
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn more_workers_than_the_limit_is_a_configuration_error_not_an_exhausted_memory() {
    let system = EventSystem::builder().build().unwrap();
    let handler = |_: Arc<DynamicEvent>| async {};
    let most = SubscribeOptions::new().concurrency(65_536);
    assert!(system.on_async_with("x", most, handler).is_ok());
    for n in [65_537, usize::MAX] {
        let options = SubscribeOptions::new().concurrency(n);
        match system.on_async_with("x", options, handler) {
            Err(Error::InvalidConfig { option, reason }) => {
                assert_eq!(option, "SubscribeOptions::concurrency");
                assert!(reason.contains("65536"), "{reason}");
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
}

// ---- static handlers ---------------------------------------------------------------------

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "detached.job")]
struct Job(u64);

static JOBS: AtomicU64 = AtomicU64::new(0);

#[handler(detached, concurrency = 2)]
async fn run_job(e: &Job) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    JOBS.fetch_add(e.0, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn a_detached_static_handler_runs_from_its_queue_under_either_implementation() {
    let info = staticbus::registry()
        .event("detached.job")
        .unwrap()
        .handlers()[0];
    assert_eq!(info.detached(), Some(2));
    for implementation in [
        ImplementationType::StaticFastPath,
        ImplementationType::ZeroCopy,
    ] {
        JOBS.store(0, Ordering::SeqCst);
        let system = EventSystem::builder()
            .implementation(implementation)
            .build()
            .unwrap();
        let start = Instant::now();
        for n in 1..=4 {
            system.publish(Job(n)).await.unwrap();
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "{implementation:?}: no wait"
        );
        assert_eq!(
            system.emit(&Job(100)).skipped_async(),
            1,
            "emit cannot queue it"
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(
            JOBS.load(Ordering::SeqCst),
            10,
            "{implementation:?}: two rounds of two"
        );
        let t = &system.metrics().topics["detached.job"];
        assert_eq!(
            (t.published, t.delivered),
            (5, 4),
            "{implementation:?}: {t:?}"
        );
        assert_eq!(t.dropped(DropReason::NotOwned), 1);
        assert!(
            system.list_subscriptions().is_empty(),
            "a static handler is not listed"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_retrying_publish_and_the_queue_then_cancels_the_rest() {
    let system = EventSystem::builder().retry_seed(1).build().unwrap();
    let retry = staticbus::Retry::constant(3, Duration::from_millis(100));
    let _retrying = system
        .on_async_with(
            "mix.retrying",
            SubscribeOptions::new().retry(retry),
            |_: Arc<DynamicEvent>| async { Err::<(), BoxError>("still down".into()) },
        )
        .unwrap();
    let slow = Slow::new();
    let _detached = slow.subscribe(
        &system,
        SubscribeOptions::new().detached(),
        Duration::from_secs(1),
    );
    for n in 1..=5 {
        system.publish_dynamic(numbered(n)).await.unwrap();
    }
    let publishing = {
        let system = system.clone();
        tokio::spawn(async move {
            let event = DynamicEvent::builder("mix.retrying").build().unwrap();
            system.publish_dynamic(event).await
        })
    };
    tokio::task::yield_now().await;

    let report = system.shutdown(Duration::from_millis(1500)).await;
    assert_eq!(
        report.in_flight, 0,
        "the retrying publish finished within the deadline"
    );
    match publishing.await.unwrap() {
        Err(Error::Handlers(errors)) => assert_eq!(errors.errors[0].attempts, 4),
        other => panic!("expected the last of 4 attempts to fail, got {other:?}"),
    }
    assert!(!report.drained);
    let left = &report.detached[0];
    assert_eq!((left.cancelled, left.running), (3, 1), "{report:?}");
    assert!(
        system.publish_dynamic(numbered(9)).await.is_err(),
        "shut down"
    );
}
