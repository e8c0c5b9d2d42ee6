//! The same application code under both implementations gives the same numbers: what handlers
//! ran, what `emit` and `publish` report, what `metrics()` counts, what
//! `list_subscriptions()` lists. The differences that remain are documented on
//! `ImplementationType`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use staticbus::prelude::*;
use staticbus::{Delivery, MetricsSnapshot, PatternKind};

#[derive(StaticEvent, Debug)]
#[event(name = "agree.order")]
struct Order(u64);

/// No handler and no subscriber: publishing it counts nothing, under either implementation.
#[derive(StaticEvent, Debug)]
#[event(name = "quiet.order")]
struct Quiet;

static SYNC: AtomicU64 = AtomicU64::new(0);
static ASYNC: AtomicU64 = AtomicU64::new(0);

#[handler(priority = 5)]
fn count(e: &Order) -> Result<(), String> {
    SYNC.fetch_add(1, Ordering::Relaxed);
    if e.0 == 13 {
        Err("unlucky".into())
    } else {
        Ok(())
    }
}

#[handler]
async fn count_later(_: &Order) {
    ASYNC.fetch_add(1, Ordering::Relaxed);
}

/// What one run of the scenario observed.
#[derive(Debug, PartialEq)]
struct Observed {
    emitted: (usize, usize, usize),
    published: (usize, usize),
    failed: usize,
    dynamic: (usize, usize),
    handlers: (u64, u64),
    metrics: MetricsSnapshot,
    subscriptions: Vec<(String, PatternKind, i32, Delivery, usize, usize)>,
}

async fn scenario(implementation: ImplementationType) -> Observed {
    let (sync_before, async_before) = (SYNC.load(Ordering::Relaxed), ASYNC.load(Ordering::Relaxed));
    let system = EventSystem::builder()
        .implementation(implementation)
        .build()
        .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let _push = {
        let seen = Arc::clone(&seen);
        system
            .on("agree.*", move |_: &EventRef<'_>| {
                seen.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap()
    };
    let typed = system.subscribe::<Order>().unwrap();
    let untyped = system.subscribe_topic("agree.**").unwrap();

    let emitted = system.emit(&Order(1));
    let published = system.publish(Order(2)).await.unwrap();
    let failed = match system.publish(Order(13)).await {
        Err(Error::Handlers(e)) => e.errors.len(),
        other => panic!("{other:?}"),
    };
    system.publish(Quiet).await.unwrap();
    system.emit(&Quiet);
    let dynamic = system
        .publish_dynamic(DynamicEvent::builder("agree.dyn").build().unwrap())
        .await
        .unwrap();
    assert_eq!(typed.len(), 2);
    assert_eq!(untyped.len(), 3);
    assert_eq!(seen.load(Ordering::Relaxed), 4);

    let subscriptions = system
        .list_subscriptions()
        .into_iter()
        .map(|s| {
            (
                s.pattern, s.kind, s.priority, s.delivery, s.buffered, s.capacity,
            )
        })
        .collect();
    Observed {
        emitted: (
            emitted.handled(),
            emitted.skipped_async(),
            emitted.errors().len(),
        ),
        published: (published.handled(), published.enqueued()),
        failed,
        dynamic: (dynamic.handled(), dynamic.enqueued()),
        handlers: (
            SYNC.load(Ordering::Relaxed) - sync_before,
            ASYNC.load(Ordering::Relaxed) - async_before,
        ),
        metrics: system.metrics(),
        subscriptions,
    }
}

#[tokio::test]
async fn both_implementations_count_list_and_report_the_same() {
    // One test runs both, in turn: the handlers' counters are shared statics.
    let fast = scenario(ImplementationType::StaticFastPath).await;
    let zero_copy = scenario(ImplementationType::ZeroCopy).await;
    assert_eq!(fast, zero_copy);

    // And the numbers are the right ones.
    assert_eq!(
        fast.emitted,
        (2, 3, 0),
        "count + the push handler; async and two pulls skipped"
    );
    assert_eq!(
        fast.published,
        (3, 2),
        "count, count_later, the push handler; two buffers"
    );
    assert_eq!(fast.failed, 1);
    assert_eq!(fast.dynamic, (1, 1), "the push handler; the untyped buffer");
    assert_eq!(fast.handlers, (3, 2));
    assert_eq!(
        fast.subscriptions.len(),
        3,
        "static handlers are not subscriptions"
    );
    let order = &fast.metrics.topics["agree.order"];
    assert_eq!((order.published, order.matched, order.delivered), (3, 9, 7));
    assert!(
        !fast.metrics.topics.contains_key("quiet.order"),
        "a static event no dynamic subscription sees is not counted"
    );
    assert_eq!(fast.metrics.subscriptions, 3);
}
