//! Timeouts of async handlers: a call that overruns is cancelled (its future dropped) and
//! fails with a `HandlerTimeout`; the others of the event still run; metrics count it as
//! failed and timed out. On tokio's paused clock: exact, and nothing really sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use staticbus::SubscribeOptions;
use staticbus::prelude::*;

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

/// An async handler that sleeps `d`, then counts one in `done`.
fn sleeper(
    d: Duration,
    done: &Arc<AtomicU64>,
) -> impl Fn(Arc<DynamicEvent>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
+ Send
+ Sync
+ 'static {
    let done = Arc::clone(done);
    move |_| {
        let done = Arc::clone(&done);
        Box::pin(async move {
            tokio::time::sleep(d).await;
            done.fetch_add(1, Ordering::SeqCst);
        })
    }
}

#[tokio::test(start_paused = true)]
async fn an_overrunning_async_handler_is_cancelled_and_counted() {
    let system = EventSystem::builder().build().unwrap();
    let slow_done = Arc::new(AtomicU64::new(0));
    let quick_done = Arc::new(AtomicU64::new(0));
    let limit = || SubscribeOptions::new().timeout(Duration::from_millis(100));
    let _slow = system
        .on_async_with("t.x", limit(), sleeper(Duration::from_secs(1), &slow_done))
        .unwrap();
    let _quick = system
        .on_async_with(
            "t.x",
            limit(),
            sleeper(Duration::from_millis(99), &quick_done),
        )
        .unwrap();

    let started = tokio::time::Instant::now();
    match system.publish_dynamic(event("t.x")).await {
        Err(Error::Handlers(errors)) => {
            assert_eq!(errors.errors.len(), 1);
            let timeout = errors.errors[0]
                .timeout()
                .expect("the failure is a timeout");
            assert_eq!(timeout.after(), Duration::from_millis(100));
            assert!(
                errors.errors[0]
                    .to_string()
                    .contains("timed out after 100ms")
            );
        }
        other => panic!("expected the timeout as an error, got {other:?}"),
    }
    // The slow call was cancelled at its deadline; the quick one then ran to its end.
    assert_eq!(started.elapsed(), Duration::from_millis(100 + 99));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        slow_done.load(Ordering::SeqCst),
        0,
        "its future was dropped"
    );
    assert_eq!(quick_done.load(Ordering::SeqCst), 1);

    let metrics = system.metrics();
    let topic = &metrics.topics["t.x"];
    assert_eq!(
        (
            topic.published,
            topic.delivered,
            topic.failed,
            topic.timed_out
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(metrics.total.timed_out, 1);
}

#[derive(StaticEvent, Debug)]
#[event(name = "timeouts.static")]
struct Slow(u64);

static STATIC_DONE: AtomicU64 = AtomicU64::new(0);

#[handler]
async fn slow_static(e: &Slow) {
    tokio::time::sleep(Duration::from_millis(e.0)).await;
    STATIC_DONE.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn the_system_default_bounds_static_and_dynamic_async_handlers() {
    let system = EventSystem::builder()
        .handler_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    // Static: within the default, then over it.
    system.publish(Slow(50)).await.unwrap();
    match system.publish(Slow(51)).await {
        Err(Error::Handlers(errors)) => {
            assert!(errors.errors[0].timeout().is_some(), "{}", errors.errors[0]);
            assert!(errors.errors[0].handler.name().contains("slow_static"));
        }
        other => panic!("expected the static handler's timeout, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(STATIC_DONE.load(Ordering::SeqCst), 1);

    // Dynamic: the default, and a subscription's own (longer) timeout over it.
    let defaulted = Arc::new(AtomicU64::new(0));
    let own = Arc::new(AtomicU64::new(0));
    let _a = system
        .on_async("t.d", sleeper(Duration::from_millis(80), &defaulted))
        .unwrap();
    let longer = SubscribeOptions::new().timeout(Duration::from_millis(200));
    let _b = system
        .on_async_with("t.d", longer, sleeper(Duration::from_millis(80), &own))
        .unwrap();
    let result = system.publish_dynamic(event("t.d")).await;
    let errors = match result {
        Err(Error::Handlers(errors)) => errors,
        other => panic!("expected one timeout, got {other:?}"),
    };
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(
        errors.errors[0].timeout().map(|t| t.after()),
        Some(Duration::from_millis(50))
    );
    assert_eq!(
        (defaulted.load(Ordering::SeqCst), own.load(Ordering::SeqCst)),
        (0, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn any_duration_is_a_valid_timeout() {
    let system = EventSystem::builder()
        .handler_timeout(Duration::MAX)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let _max = system
        .on_async("t.max", sleeper(Duration::from_secs(3600), &done))
        .unwrap();
    let zero = SubscribeOptions::new().timeout(Duration::ZERO);
    let _zero = system
        .on_async_with("t.max", zero, sleeper(Duration::from_millis(1), &done))
        .unwrap();
    match system.publish_dynamic(event("t.max")).await {
        Err(Error::Handlers(errors)) => {
            assert_eq!(errors.errors.len(), 1, "only the zero timeout ran out");
            assert_eq!(
                errors.errors[0].timeout().map(|t| t.after()),
                Some(Duration::ZERO)
            );
        }
        other => panic!("expected the zero timeout to run out, got {other:?}"),
    }
    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "Duration::MAX is no deadline"
    );
}

#[tokio::test]
async fn a_timeout_on_a_sync_handler_or_a_pull_subscriber_is_refused() {
    let system = EventSystem::builder().build().unwrap();
    let timed = || SubscribeOptions::new().timeout(Duration::from_secs(1));
    for err in [
        system
            .on_with("t.sync", timed(), |_: &EventRef<'_>| {})
            .map(drop)
            .unwrap_err(),
        system
            .subscribe_topic_with("t.pull", timed())
            .map(drop)
            .unwrap_err(),
        system
            .subscribe_with::<Slow>(timed())
            .map(drop)
            .unwrap_err(),
    ] {
        match err {
            Error::InvalidConfig { option, reason } => {
                assert_eq!(option, "SubscribeOptions::timeout");
                assert!(reason.contains("on_async_with"), "{reason}");
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
    assert!(
        system.list_subscriptions().is_empty(),
        "nothing was subscribed"
    );
}

#[derive(StaticEvent, Debug)]
#[event(name = "timeouts.attr")]
struct Job(u64);

static ATTR_DONE: AtomicU64 = AtomicU64::new(0);

#[handler(timeout = "20ms")]
async fn bounded(e: &Job) {
    tokio::time::sleep(Duration::from_millis(e.0)).await;
    ATTR_DONE.fetch_add(1, Ordering::SeqCst);
}

#[derive(Default)]
struct Worker;

#[plugin(name = "timeout-worker")]
impl Worker {
    #[on(timeout = "1m 30s", priority = 1)]
    async fn patient(&self, e: &Job) {
        tokio::time::sleep(Duration::from_millis(e.0)).await;
        ATTR_DONE.fetch_add(10, Ordering::SeqCst);
    }
}

/// `#[handler(timeout = "..")]` and `#[on(timeout = "..")]` bound their handler, over the
/// system's default, and are in its `HandlerInfo`.
#[tokio::test(start_paused = true)]
async fn the_attribute_bounds_its_handler_over_the_system_default() {
    let system = EventSystem::builder()
        .handler_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let job = staticbus::registry()
        .event("timeouts.attr")
        .expect("registered");
    let timeouts: Vec<_> = job
        .handlers()
        .iter()
        .map(|h| {
            (
                h.function().rsplit("::").next().unwrap_or_default(),
                h.timeout(),
            )
        })
        .collect();
    assert_eq!(
        timeouts,
        [
            ("patient", Some(Duration::from_secs(90))),
            ("bounded", Some(Duration::from_millis(20)))
        ]
    );
    system.publish(Job(20)).await.unwrap();
    assert_eq!(
        ATTR_DONE.load(Ordering::SeqCst),
        11,
        "both ran within their own timeouts"
    );
    match system.publish(Job(21)).await {
        Err(Error::Handlers(errors)) => {
            assert_eq!(errors.errors.len(), 1);
            let error = &errors.errors[0];
            assert!(
                error.handler.name().contains("bounded"),
                "{}",
                error.handler.name()
            );
            assert_eq!(
                error.timeout().map(|t| t.after()),
                Some(Duration::from_millis(20))
            );
        }
        other => panic!("expected `bounded` to time out, got {other:?}"),
    }
    assert_eq!(
        ATTR_DONE.load(Ordering::SeqCst),
        21,
        "the patient one ran again"
    );
}
