//! The channel API's fast path: a thread remembers the last route of pull subscribers only
//! that it published on, and publishes on it again without looking it up. These tests check
//! that the remembered route never outlives a change: new and dropped subscribers, other
//! systems on the same thread, other topics, shutdown; and that a push that has to wait is
//! still drained by `shutdown`.

use std::sync::Arc;
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{BackpressureStrategy, DropReason, EventSubscriber};

fn event(topic: &str, n: u64) -> DynamicEvent {
    DynamicEvent::builder(topic)
        .value(n)
        .build()
        .expect("valid topic")
}

fn value(e: &DynamicEvent) -> u64 {
    *e.downcast_ref::<u64>().expect("a u64 payload")
}

fn drain(sub: &EventSubscriber<DynamicEvent>) -> Vec<u64> {
    let mut got = Vec::new();
    while let Some(e) = sub.try_receive().expect("open") {
        got.push(value(&e));
    }
    got
}

#[tokio::test]
async fn a_new_subscriber_gets_the_next_publish_on_a_remembered_route() {
    let system = EventSystem::builder().build().unwrap();
    let first = system.subscribe_topic("cache.new.*").unwrap();
    let publisher = system.create_publisher::<DynamicEvent>();
    for n in 0..3 {
        let published = publisher.publish(event("cache.new.x", n)).await.unwrap();
        assert_eq!(published.enqueued(), 1);
    }
    let second = system.subscribe_topic("cache.new.x").unwrap();
    let published = publisher.publish(event("cache.new.x", 3)).await.unwrap();
    assert_eq!(published.enqueued(), 2);
    assert_eq!(drain(&first), [0, 1, 2, 3]);
    assert_eq!(drain(&second), [3]);
}

#[tokio::test]
async fn a_dropped_subscriber_is_off_the_remembered_route() {
    let system = EventSystem::builder().build().unwrap();
    let kept = system.subscribe_topic("cache.drop.x").unwrap();
    let dropped = system.subscribe_topic("cache.drop.*").unwrap();
    let shared = Arc::new(event("cache.drop.x", 1));
    for _ in 0..2 {
        let published = system.publish_shared(Arc::clone(&shared)).await.unwrap();
        assert_eq!(published.enqueued(), 2);
    }
    drop(dropped);
    let published = system.publish_shared(Arc::clone(&shared)).await.unwrap();
    assert_eq!(published.enqueued(), 1);
    assert_eq!(drain(&kept), [1, 1, 1]);
    let m = system.metrics();
    assert_eq!(m.total.published, 3);
    assert_eq!(m.total.matched, 5);
    // The dropped subscriber's two unread events moved from delivered to dropped.
    assert_eq!(m.total.delivered, 3);
    assert_eq!(m.total.dropped.get(&DropReason::Closed), Some(&2));
}

#[tokio::test]
async fn systems_and_topics_on_one_thread_keep_their_own_routes() {
    let a = EventSystem::builder().build().unwrap();
    let b = EventSystem::builder().build().unwrap();
    let a_x = a.subscribe_topic("cache.sys.x").unwrap();
    let a_y = a.subscribe_topic("cache.sys.y").unwrap();
    let b_x = b.subscribe_topic("cache.sys.x").unwrap();
    // Alternate systems and topics so that every publish replaces the remembered route.
    for n in 0..4 {
        a.publish_dynamic(event("cache.sys.x", n)).await.unwrap();
        b.publish_dynamic(event("cache.sys.x", 10 + n))
            .await
            .unwrap();
        a.publish_dynamic(event("cache.sys.y", 20 + n))
            .await
            .unwrap();
        a.publish_dynamic(event("cache.sys.y", 30 + n))
            .await
            .unwrap();
    }
    assert_eq!(drain(&a_x), [0, 1, 2, 3]);
    assert_eq!(drain(&b_x), [10, 11, 12, 13]);
    assert_eq!(drain(&a_y), [20, 30, 21, 31, 22, 32, 23, 33]);
    // A system dropped while its route is remembered: a new one on the same topic is not
    // confused with it.
    drop(a_x);
    drop(a_y);
    drop(a);
    let c = EventSystem::builder().build().unwrap();
    let c_x = c.subscribe_topic("cache.sys.x").unwrap();
    c.publish_dynamic(event("cache.sys.x", 40)).await.unwrap();
    b.publish_dynamic(event("cache.sys.x", 50)).await.unwrap();
    assert_eq!(drain(&c_x), [40]);
    assert_eq!(drain(&b_x), [50]);
}

#[tokio::test]
async fn a_push_handler_added_to_a_remembered_route_runs() {
    let system = EventSystem::builder().build().unwrap();
    let pull = system.subscribe_topic("cache.mixed").unwrap();
    system
        .publish_dynamic(event("cache.mixed", 1))
        .await
        .unwrap();
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    let _push = system
        .on("cache.mixed", move |e: &EventRef<'_>| {
            let n = *e.downcast_ref::<u64>().expect("u64");
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    let published = system
        .publish_dynamic(event("cache.mixed", 2))
        .await
        .unwrap();
    assert_eq!((published.handled(), published.enqueued()), (1, 1));
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(drain(&pull), [1, 2]);
}

#[tokio::test]
async fn shutdown_waits_for_a_publish_blocked_on_a_full_buffer() {
    let system = blocking_system();
    let sub = system.subscribe_topic("cache.block").unwrap();
    system
        .publish_dynamic(event("cache.block", 1))
        .await
        .unwrap();
    // The buffer is full: this publish waits for room, counted in flight.
    let blocked = {
        let system = system.clone();
        tokio::spawn(async move { system.publish_dynamic(event("cache.block", 2)).await })
    };
    // One thread (`current_thread`): sleeping lets the spawned publish run up to its wait.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!blocked.is_finished(), "the publish waits for room");
    let shutdown = {
        let system = system.clone();
        tokio::spawn(async move { system.shutdown(Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown waits for the blocked publish"
    );
    // Receiving makes room: the blocked publish completes, then the shutdown.
    assert_eq!(value(&sub.receive().await.unwrap()), 1);
    let published = blocked.await.unwrap().unwrap();
    assert_eq!(published.enqueued(), 1);
    let report = shutdown.await.unwrap();
    assert!(report.drained);
    assert_eq!(report.buffered, 1);
    assert_eq!(value(&sub.receive().await.unwrap()), 2);
    assert!(matches!(sub.receive().await, Err(Error::Closed)));
}

#[derive(StaticEvent, Debug, PartialEq)]
#[event(name = "routes.typed.reading")]
struct Reading(u64);

/// A static event's value is shared with every typed subscriber but the last subscription,
/// which takes it; an async handler before them and an untyped subscriber in between get it
/// as a dynamic event.
#[tokio::test]
async fn typed_subscribers_share_the_value_and_the_last_one_takes_it() {
    let system = EventSystem::builder().build().unwrap();
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let _before = {
        let seen = Arc::clone(&seen);
        system
            .on_async("routes.typed.*", move |e: Arc<DynamicEvent>| {
                let seen = Arc::clone(&seen);
                async move {
                    let value = e.downcast_ref::<Reading>().map_or(0, |r| r.0);
                    seen.fetch_add(value, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .unwrap()
    };
    let first = system.subscribe::<Reading>().unwrap();
    let untyped = system.subscribe_topic("routes.typed.*").unwrap();
    let last = system.subscribe::<Reading>().unwrap();

    for n in [7, 8] {
        let published = system.publish(Reading(n)).await.unwrap();
        assert_eq!((published.handled(), published.enqueued()), (1, 3));
    }
    for n in [7, 8] {
        let (a, b) = (first.try_receive().unwrap(), last.try_receive().unwrap());
        assert_eq!(
            (a.as_deref(), b.as_deref()),
            (Some(&Reading(n)), Some(&Reading(n)))
        );
        assert!(
            staticbus::Received::ptr_eq(&a.unwrap(), &b.unwrap()),
            "one value, shared"
        );
        let dynamic = untyped
            .try_receive()
            .unwrap()
            .expect("the untyped one got it");
        assert_eq!(dynamic.downcast_ref::<Reading>(), Some(&Reading(n)));
    }
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 15);
}

/// A system whose buffers hold one event, under `Block` with a long timeout.
fn blocking_system() -> EventSystem {
    EventSystem::builder()
        .channel_capacity(1)
        .backpressure_strategy(BackpressureStrategy::Block)
        .default_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A system whose buffers hold `capacity` events, under `strategy`.
fn system_with(capacity: usize, strategy: BackpressureStrategy) -> EventSystem {
    EventSystem::builder()
        .channel_capacity(capacity)
        .backpressure_strategy(strategy)
        .build()
        .unwrap()
}

/// Publishes `n` and returns the result, on the thread's remembered route once the first
/// publish of a test remembered it.
async fn publish_reading(system: &EventSystem, n: u64) -> Result<staticbus::Published, Error> {
    system
        .create_publisher::<Reading>()
        .publish(Reading(n))
        .await
}

/// The lane (a publish on the remembered route) hands a full buffer to the full dispatch:
/// `DropNewest` rejects with the same error and counts as before, and nothing is lost from
/// the books: published = delivered + dropped.
#[tokio::test]
async fn a_full_buffer_on_the_lane_rejects_and_counts_exactly() {
    let system = system_with(2, BackpressureStrategy::DropNewest);
    let typed = system.subscribe::<Reading>().unwrap();
    for n in 0..2 {
        assert_eq!(publish_reading(&system, n).await.unwrap().enqueued(), 1);
    }
    for n in 2..5 {
        match publish_reading(&system, n).await {
            Err(Error::Backpressure(e)) => {
                assert_eq!((e.rejected, e.enqueued), (1, 0));
                assert_eq!(e.topic, "routes.typed.reading");
            }
            other => panic!("expected a backpressure error, got {other:?}"),
        }
    }
    let metrics = system.metrics();
    let topic = &metrics.topics["routes.typed.reading"];
    assert_eq!((topic.published, topic.matched, topic.delivered), (5, 5, 2));
    assert_eq!(topic.dropped(DropReason::Rejected), 3);
    assert_eq!(typed.try_receive().unwrap().map(|r| r.0), Some(0));
    assert_eq!(typed.try_receive().unwrap().map(|r| r.0), Some(1));
    assert!(typed.try_receive().unwrap().is_none());
}

/// On a route of two subscribers, the first takes the event on the lane and the second's
/// full buffer detours: the report names both, the books add up.
#[tokio::test]
async fn a_detour_after_the_first_push_keeps_what_the_first_took() {
    let system = system_with(1, BackpressureStrategy::DropNewest);
    let roomy = system.subscribe_topic("lane.two.*").unwrap();
    let full = system.subscribe_topic("lane.two.x").unwrap();
    let shared = Arc::new(event("lane.two.x", 1));
    let published = system.publish_shared(Arc::clone(&shared)).await.unwrap();
    assert_eq!(published.enqueued(), 2);
    assert_eq!(drain(&roomy), [1]);
    // `full` is full, `roomy` is empty again.
    match system.publish_shared(Arc::clone(&shared)).await {
        Err(Error::Backpressure(e)) => assert_eq!((e.enqueued, e.rejected), (1, 1)),
        other => panic!("expected a backpressure error, got {other:?}"),
    }
    assert_eq!(drain(&roomy), [1]);
    assert_eq!(drain(&full), [1]);
    let metrics = system.metrics();
    let topic = &metrics.topics["lane.two.x"];
    assert_eq!((topic.published, topic.matched, topic.delivered), (2, 4, 3));
    assert_eq!(topic.dropped(DropReason::Rejected), 1);
}

/// `DropOldest` on the lane evicts, and the evicted event moves from delivered to dropped.
#[tokio::test]
async fn drop_oldest_on_the_lane_evicts_and_counts() {
    let system = system_with(2, BackpressureStrategy::DropOldest);
    let sub = system.subscribe_topic("lane.oldest").unwrap();
    let publisher = system.create_publisher::<DynamicEvent>();
    for n in 0..5 {
        let published = publisher.publish(event("lane.oldest", n)).await.unwrap();
        assert_eq!(published.enqueued(), 1);
    }
    assert_eq!(drain(&sub), [3, 4]);
    let metrics = system.metrics();
    let topic = &metrics.topics["lane.oldest"];
    assert_eq!((topic.published, topic.delivered), (5, 2));
    assert_eq!(topic.dropped(DropReason::Evicted), 3);
}

/// `Block` on the lane waits for room (as the full dispatch does), then delivers.
#[tokio::test]
async fn block_on_the_lane_waits_for_room() {
    let system = blocking_system();
    let typed = system.subscribe::<Reading>().unwrap();
    for n in 0..2 {
        // Remember the route: the second publish of 0 is already on the lane.
        assert_eq!(publish_reading(&system, n).await.unwrap().enqueued(), 1);
        assert_eq!(typed.receive().await.unwrap().0, n);
    }
    assert_eq!(publish_reading(&system, 2).await.unwrap().enqueued(), 1);
    let blocked = {
        let system = system.clone();
        tokio::spawn(async move { publish_reading(&system, 3).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!blocked.is_finished(), "the publish waits for room");
    assert_eq!(typed.receive().await.unwrap().0, 2);
    assert_eq!(blocked.await.unwrap().unwrap().enqueued(), 1);
    assert_eq!(typed.receive().await.unwrap().0, 3);
    let metrics = system.metrics();
    let topic = &metrics.topics["routes.typed.reading"];
    assert_eq!((topic.published, topic.delivered), (4, 4));
}

/// A publish on the lane after `shutdown` is refused, as every publish is.
#[tokio::test]
async fn the_lane_refuses_after_shutdown() {
    let system = EventSystem::builder().build().unwrap();
    let typed = system.subscribe::<Reading>().unwrap();
    for n in 0..2 {
        assert_eq!(publish_reading(&system, n).await.unwrap().enqueued(), 1);
    }
    let report = system.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.buffered, 2);
    assert!(matches!(
        publish_reading(&system, 2).await,
        Err(Error::Shutdown)
    ));
    assert_eq!(typed.receive().await.unwrap().0, 0);
    assert_eq!(typed.receive().await.unwrap().0, 1);
    assert!(matches!(typed.receive().await, Err(Error::Closed)));
}
