//! Regression tests, one per bug found in use, each named after what it must do.
//!
//! Tests run in parallel and share statics: each test has its own event types and topics.

use std::sync::Arc;
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{DropReason, EventSubscriber};

/// A test that waits longer than this has hung.
const HANG: Duration = Duration::from_secs(10);

fn event(topic: &str, n: u64) -> DynamicEvent {
    DynamicEvent::builder(topic).value(n).build().unwrap()
}

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future).await.expect("hung")
}

// ---- 1. a dispatch limit tokio cannot represent --------------------------------------------

#[test]
fn a_dispatch_limit_above_what_a_semaphore_holds_is_invalid_config_not_a_panic() {
    for n in [usize::MAX, tokio::sync::Semaphore::MAX_PERMITS + 1] {
        let err = EventSystem::builder()
            .max_concurrent_dispatches(n)
            .build()
            .unwrap_err();
        match &err {
            Error::InvalidConfig { option, reason } => {
                assert_eq!(*option, "max_concurrent_dispatches");
                assert!(reason.contains("unset for no limit"), "{reason}");
            }
            other => panic!("{other}"),
        }
    }
    let limit = tokio::sync::Semaphore::MAX_PERMITS;
    assert!(
        EventSystem::builder()
            .max_concurrent_dispatches(limit)
            .build()
            .is_ok()
    );
}

// ---- 2. every Duration is a valid timeout --------------------------------------------------

#[tokio::test]
async fn duration_max_as_default_timeout_waits_without_a_deadline() {
    let system = EventSystem::builder()
        .channel_capacity(1)
        .default_timeout(Duration::MAX)
        .build()
        .unwrap();
    let sub = system.subscribe_topic("regress.max.timeout").unwrap();
    system
        .publish_dynamic(event("regress.max.timeout", 1))
        .await
        .unwrap();
    // The buffer is full: this publish waits for room, with no deadline to overflow.
    let waiting = {
        let system = system.clone();
        tokio::spawn(async move {
            system
                .publish_dynamic(event("regress.max.timeout", 2))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        within(sub.receive()).await.unwrap().downcast_ref(),
        Some(&1u64)
    );
    within(waiting).await.unwrap().unwrap();
    assert_eq!(
        within(sub.receive()).await.unwrap().downcast_ref(),
        Some(&2u64)
    );
}

#[tokio::test]
async fn duration_max_as_receive_timeout_waits_like_receive() {
    let system = EventSystem::builder().build().unwrap();
    let sub = system.subscribe_topic("regress.max.receive").unwrap();
    let publisher = {
        let system = system.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            system
                .publish_dynamic(event("regress.max.receive", 7))
                .await
        })
    };
    let got = within(sub.receive_timeout(Duration::MAX)).await.unwrap();
    assert_eq!(got.downcast_ref(), Some(&7u64));
    publisher.await.unwrap().unwrap();
    let report = within(system.shutdown(Duration::MAX)).await;
    assert!(report.drained);
}

// ---- 3. dropping the last system closes its subscribers -----------------------------------

#[tokio::test]
async fn dropping_the_last_system_gives_receivers_what_was_buffered_then_closed() {
    let system = EventSystem::builder().build().unwrap();
    let buffered = system.subscribe_topic("regress.drop.*").unwrap();
    let waiting = system.subscribe_topic("regress.drop.other").unwrap();
    for n in 0..2 {
        system
            .publish_dynamic(event("regress.drop.a", n))
            .await
            .unwrap();
    }
    // One receiver is already blocked in `receive()` on an empty buffer.
    let blocked = tokio::spawn(async move { waiting.receive().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(system);
    assert!(matches!(within(blocked).await.unwrap(), Err(Error::Closed)));
    for n in 0..2u64 {
        let e = within(buffered.receive()).await.unwrap();
        assert_eq!(e.downcast_ref(), Some(&n));
    }
    assert!(matches!(
        within(buffered.receive()).await,
        Err(Error::Closed)
    ));
}

// ---- 4 and 5. a publish waiting on a buffer that shutdown closes ---------------------------

#[tokio::test]
async fn a_publish_waiting_when_shutdown_closes_its_buffer_fails_and_the_report_agrees() {
    let system = EventSystem::builder()
        .channel_capacity(1)
        .default_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let sub = system.subscribe_topic("regress.shut.*").unwrap();
    system
        .publish_dynamic(event("regress.shut.a", 1))
        .await
        .unwrap();
    let waiting = {
        let system = system.clone();
        tokio::spawn(async move { system.publish_dynamic(event("regress.shut.a", 2)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = within(system.shutdown(Duration::from_millis(30))).await;
    // The waiting publish was in flight at the deadline: not drained, one in flight.
    assert!(!report.drained, "{report:?}");
    assert_eq!(report.in_flight, 1, "{report:?}");
    assert_eq!(report.buffered, 1, "{report:?}");
    // Its event was dropped when the buffer closed: the publisher hears it.
    match within(waiting).await.unwrap() {
        Err(Error::DroppedAtShutdown {
            topic,
            dropped,
            enqueued,
        }) => {
            assert_eq!(
                (topic.as_str(), dropped, enqueued),
                ("regress.shut.a", 1, 0)
            );
        }
        other => panic!("expected DroppedAtShutdown, got {other:?}"),
    }
    let m = system.metrics().total;
    assert_eq!(m.dropped(DropReason::Closed), 1);
    assert_eq!(m.delivered + m.dropped_total() + m.failed, m.matched);
    assert_eq!(sub.receive().await.unwrap().downcast_ref(), Some(&1u64));
    assert!(matches!(sub.receive().await, Err(Error::Closed)));
}

#[tokio::test]
async fn a_shutdown_with_nothing_in_flight_reports_drained() {
    let system = EventSystem::builder().build().unwrap();
    let report = system.shutdown(Duration::from_millis(10)).await;
    assert_eq!((report.drained, report.in_flight), (true, 0));
}

// ---- 6. one rule for subscribing after shutdown --------------------------------------------

#[derive(StaticEvent)]
#[event(name = "regress.after.shutdown")]
struct AfterShutdown;

#[tokio::test]
async fn every_kind_of_subscription_is_refused_after_shutdown() {
    let system = EventSystem::builder().build().unwrap();
    system.shutdown(Duration::from_millis(10)).await;
    let refused = |result: Result<(), Error>| matches!(result, Err(Error::Shutdown));
    assert!(refused(
        system.on("regress.x", |_: &EventRef<'_>| {}).map(drop)
    ));
    assert!(refused(
        system
            .on_async("regress.x", |_: Arc<DynamicEvent>| async {})
            .map(drop)
    ));
    assert!(refused(system.subscribe::<AfterShutdown>().map(drop)));
    assert!(refused(system.subscribe_topic("regress.x").map(drop)));
}

// ---- 8. static events count in the byte budget ---------------------------------------------

#[derive(StaticEvent, Debug)]
#[event(name = "regress.sized.default")]
struct Fixed([u8; 40]);

#[derive(StaticEvent, Debug)]
#[event(name = "regress.sized.declared", size = heap_size)]
struct Declared(Vec<u8>);

impl Declared {
    fn heap_size(&self) -> usize {
        self.0.len()
    }
}

#[tokio::test]
async fn static_events_count_their_size_or_their_declared_size_in_the_byte_budget() {
    let system = EventSystem::builder()
        .max_payload_bytes(100)
        .global_buffer_bytes(100)
        .backpressure_strategy(BackpressureStrategy::DropNewest)
        .build()
        .unwrap();
    let fixed: EventSubscriber<Fixed> = system.subscribe().unwrap();
    system.publish(Fixed([1; 40])).await.unwrap();
    system.publish(Fixed([2; 40])).await.unwrap();
    assert_eq!(system.metrics().buffered_bytes, 80);
    // 120 bytes would not fit.
    let err = system.publish(Fixed([3; 40])).await.unwrap_err();
    assert!(err.is_backpressure(), "{err}");
    assert_eq!(fixed.receive().await.unwrap().0[0], 1);
    assert_eq!(fixed.receive().await.unwrap().0[0], 2);
    assert_eq!(system.metrics().buffered_bytes, 0);

    let declared: EventSubscriber<Declared> = system.subscribe().unwrap();
    system.publish(Declared(vec![0; 70])).await.unwrap();
    assert_eq!(system.metrics().buffered_bytes, 70);
    let err = system.publish(Declared(vec![0; 31])).await.unwrap_err();
    assert!(err.is_backpressure(), "{err}");
    system.publish(Declared(vec![0; 30])).await.unwrap();
    assert_eq!(system.metrics().buffered_bytes, 100);
    assert_eq!(declared.receive().await.unwrap().0.len(), 70);
}

// ---- 9. subscription ids --------------------------------------------------------------------

#[test]
fn a_subscription_id_is_a_number_that_reads_well_and_unsubscribes_by_itself() {
    let system = EventSystem::builder().build().unwrap();
    let first = system.on("regress.ids.a", |_: &EventRef<'_>| {}).unwrap();
    let second = system.on("regress.ids.b", |_: &EventRef<'_>| {}).unwrap();
    assert!(second.id().get() > first.id().get());
    let id = second.detach();
    assert_eq!(
        format!("subscription {id}"),
        format!("subscription #{}", id.get())
    );
    assert_eq!(system.list_subscriptions().len(), 2);
    assert!(system.unsubscribe(id));
    assert!(!system.unsubscribe(id), "already gone");
    assert_eq!(system.list_subscriptions().len(), 1);
    drop(first);
    assert!(system.list_subscriptions().is_empty());
}

// ---- 10. a buffer capacity per subscription ------------------------------------------------

#[tokio::test]
async fn a_pull_subscriber_can_have_its_own_buffer_capacity() {
    let system = EventSystem::builder()
        .channel_capacity(100)
        .backpressure_strategy(BackpressureStrategy::DropNewest)
        .build()
        .unwrap();
    let small = system
        .subscribe_topic_with("regress.cap.*", SubscribeOptions::new().buffer_capacity(2))
        .unwrap();
    let large = system.subscribe_topic("regress.cap.*").unwrap();
    let capacities: Vec<usize> = system
        .list_subscriptions()
        .iter()
        .map(|s| s.capacity)
        .collect();
    assert_eq!(capacities, [2, 100]);
    for n in 0..2 {
        let published = system
            .publish_dynamic(event("regress.cap.x", n))
            .await
            .unwrap();
        assert_eq!(published.enqueued(), 2);
    }
    let err = system
        .publish_dynamic(event("regress.cap.x", 2))
        .await
        .unwrap_err();
    assert!(err.is_backpressure(), "{err}");
    assert_eq!((small.len(), large.len()), (2, 3));

    let err = system
        .subscribe_topic_with("regress.cap.*", SubscribeOptions::new().buffer_capacity(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                option: "SubscribeOptions::buffer_capacity",
                ..
            }
        ),
        "{err}"
    );
}
