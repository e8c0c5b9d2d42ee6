//! Panic isolation: a panicking handler (static or dynamic, sync or async, panicking while
//! its future is made or while it is polled) becomes a failure naming the handler and the
//! panic's message; every other handler of the event, the pull subscribers, and every later
//! event still get it, and the metrics count the dispatch.
//!
//! The panics print through the default panic hook (to the test's captured output).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use staticbus::prelude::*;
use staticbus::{HandlerError, HandlerPanic};

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

/// Panics with `message`; a `()` function, as a handler's body must be.
fn boom(message: &str) {
    panic!("{message}");
}

fn panic_of(error: &HandlerError) -> &HandlerPanic {
    error.panic().expect("the failure is a panic")
}

// ---- static handlers ---------------------------------------------------------------------

#[derive(StaticEvent, Debug)]
#[event(name = "panics.static")]
struct Boom(u64);

static BEFORE: AtomicU64 = AtomicU64::new(0);
static AFTER: AtomicU64 = AtomicU64::new(0);

#[handler(priority = 10)]
fn before(e: &Boom) {
    BEFORE.fetch_add(e.0, Ordering::SeqCst);
}

#[handler]
fn explode(e: &Boom) {
    if e.0 % 2 == 1 {
        panic!("odd value {}", e.0);
    }
}

#[handler(priority = -10)]
fn after(e: &Boom) {
    AFTER.fetch_add(e.0, Ordering::SeqCst);
}

#[tokio::test]
async fn a_panicking_static_handler_fails_alone_and_later_events_still_run() {
    let system = EventSystem::builder().build().unwrap();
    let emitted = system.emit(&Boom(1));
    assert_eq!(emitted.handled(), 2, "the handlers before and after it ran");
    assert_eq!(emitted.errors().len(), 1);
    let error = &emitted.errors()[0];
    assert_eq!(panic_of(error).message(), "odd value 1");
    assert!(
        error.handler.name().contains("explode"),
        "{}",
        error.handler.name()
    );
    let text = error.to_string();
    assert!(
        text.contains("explode") && text.contains("panicked: odd value 1"),
        "{text}"
    );

    // A later event runs every handler; `publish` isolates the same way.
    assert!(system.emit(&Boom(2)).is_ok());
    match system.publish(Boom(3)).await {
        Err(Error::Handlers(errors)) => {
            assert_eq!(errors.errors.len(), 1);
            assert_eq!(panic_of(&errors.errors[0]).message(), "odd value 3");
        }
        other => panic!("expected the handler's panic as its error, got {other:?}"),
    }
    // Tests of this file run in parallel, but only this one emits `Boom`.
    assert_eq!(BEFORE.load(Ordering::SeqCst), 1 + 2 + 3);
    assert_eq!(AFTER.load(Ordering::SeqCst), 1 + 2 + 3);
}

#[derive(StaticEvent, Debug)]
#[event(name = "panics.plugin")]
struct Poke;

#[derive(Default)]
struct Fragile {
    pokes: AtomicU64,
}

#[plugin(name = "fragile")]
impl Fragile {
    #[on]
    fn count(&self, _: &Poke) {
        self.pokes.fetch_add(1, Ordering::SeqCst);
    }

    #[on]
    async fn break_later(&self, _: &Poke) {
        tokio::task::yield_now().await;
        std::panic::panic_any(42_u32);
    }
}

#[tokio::test]
async fn a_panicking_async_plugin_method_is_a_failure_with_a_placeholder_message() {
    let system = EventSystem::builder().build().unwrap();
    for _ in 0..2 {
        match system.publish(Poke).await {
            Err(Error::Handlers(errors)) => {
                assert_eq!(errors.errors.len(), 1);
                let panic = panic_of(&errors.errors[0]);
                assert_eq!(panic.message(), "(a panic payload that is not a string)");
            }
            other => panic!("expected the panic as an error, got {other:?}"),
        }
    }
    let fragile = system
        .plugin::<Fragile>()
        .expect("the plugin is registered");
    assert_eq!(fragile.pokes.load(Ordering::SeqCst), 2);
}

// ---- dynamic subscriptions ----------------------------------------------------------------

#[tokio::test]
async fn a_panicking_sync_subscription_fails_alone_and_metrics_count_it() {
    let system = EventSystem::builder().build().unwrap();
    let ran = counter();
    let _first = {
        let ran = Arc::clone(&ran);
        system
            .on("dyn.sync.*", move |_: &EventRef<'_>| {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
    };
    let _broken = system
        .on("dyn.sync.x", |_: &EventRef<'_>| {
            boom("sync subscription broke")
        })
        .unwrap();
    let pull = system.subscribe_topic("dyn.sync.x").unwrap();

    for _ in 0..3 {
        match system.publish_dynamic(event("dyn.sync.x")).await {
            Err(Error::Handlers(errors)) => {
                assert_eq!(errors.errors.len(), 1);
                assert_eq!(
                    panic_of(&errors.errors[0]).message(),
                    "sync subscription broke"
                );
            }
            other => panic!("expected the panic as an error, got {other:?}"),
        }
    }
    let emitted = system.emit_dynamic(&event("dyn.sync.x"));
    assert_eq!((emitted.handled(), emitted.errors().len()), (1, 1));

    assert_eq!(
        ran.load(Ordering::SeqCst),
        4,
        "the other subscription ran every time"
    );
    assert_eq!(
        pull.len(),
        3,
        "the pull subscriber got every published event"
    );
    let metrics = system.metrics();
    let topic = &metrics.topics["dyn.sync.x"];
    assert_eq!(topic.published, 4);
    assert_eq!(topic.failed, 4);
    assert_eq!(topic.delivered, 4 + 3);
    assert_eq!(
        topic.matched,
        topic.delivered + topic.failed + topic.dropped_total()
    );
}

#[tokio::test]
async fn an_async_subscription_panicking_while_polled_or_made_is_a_failure() {
    let system = EventSystem::builder().build().unwrap();
    let ran = counter();
    let _polled = system
        .on_async("dyn.async.x", |_: Arc<DynamicEvent>| async {
            tokio::task::yield_now().await;
            boom("panicked while polled");
        })
        .unwrap();
    let _made = system
        .on_async("dyn.async.*", |_: Arc<DynamicEvent>| {
            boom("panicked while making the future");
            std::future::ready(())
        })
        .unwrap();
    let _healthy = {
        let ran = Arc::clone(&ran);
        system
            .on_async("dyn.async.**", move |_: Arc<DynamicEvent>| {
                let ran = Arc::clone(&ran);
                async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap()
    };
    for _ in 0..2 {
        match system.publish_dynamic(event("dyn.async.x")).await {
            Err(Error::Handlers(errors)) => {
                let mut messages: Vec<&str> = errors
                    .errors
                    .iter()
                    .map(|e| panic_of(e).message())
                    .collect();
                messages.sort_unstable();
                assert_eq!(
                    messages,
                    ["panicked while making the future", "panicked while polled"]
                );
            }
            other => panic!("expected both panics as errors, got {other:?}"),
        }
    }
    assert_eq!(
        ran.load(Ordering::SeqCst),
        2,
        "the healthy handler ran every time"
    );
    let metrics = system.metrics();
    let topic = &metrics.topics["dyn.async.x"];
    assert_eq!((topic.published, topic.failed, topic.delivered), (2, 4, 2));
}

#[tokio::test]
async fn a_panicking_filter_fails_its_subscription_alone() {
    use staticbus::SubscribeOptions;
    let system = EventSystem::builder().build().unwrap();
    let filtered_ran = counter();
    let other_ran = counter();
    let picky = SubscribeOptions::new().filter(|e| {
        if e.topic().ends_with(".bad") {
            boom("cannot judge this one");
        }
        true
    });
    let _picky = {
        let ran = Arc::clone(&filtered_ran);
        system
            .on_with("dyn.filter.*", picky, move |_: &EventRef<'_>| {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
    };
    let _other = {
        let ran = Arc::clone(&other_ran);
        system
            .on("dyn.filter.*", move |_: &EventRef<'_>| {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
    };
    assert!(system.emit_dynamic(&event("dyn.filter.good")).is_ok());
    match system.publish_dynamic(event("dyn.filter.bad")).await {
        Err(Error::Handlers(errors)) => {
            assert_eq!(errors.errors.len(), 1);
            let message = panic_of(&errors.errors[0]).message();
            assert_eq!(message, "in its filter: cannot judge this one");
        }
        other => panic!("expected the filter's panic as an error, got {other:?}"),
    }
    assert_eq!(
        filtered_ran.load(Ordering::SeqCst),
        1,
        "not called when its filter panicked"
    );
    assert_eq!(
        other_ran.load(Ordering::SeqCst),
        2,
        "the other subscription ran both times"
    );
    let metrics = system.metrics();
    let topic = &metrics.topics["dyn.filter.bad"];
    assert_eq!((topic.published, topic.delivered, topic.failed), (1, 1, 1));
}

#[tokio::test]
async fn a_panicking_backpressure_strategy_refuses_the_event() {
    use staticbus::{BackpressureStrategy, DropReason};
    let system = EventSystem::builder()
        .channel_capacity(1)
        .backpressure_strategy(BackpressureStrategy::custom(|_| {
            boom("the strategy broke");
            staticbus::BackpressureDecision::Block
        }))
        .build()
        .unwrap();
    let sub = system.subscribe_topic("dyn.full").unwrap();
    system.publish_dynamic(event("dyn.full")).await.unwrap();
    match system.publish_dynamic(event("dyn.full")).await {
        Err(Error::Backpressure(e)) => assert_eq!((e.rejected, e.enqueued), (1, 0)),
        other => panic!("expected the event refused, got {other:?}"),
    }
    assert_eq!(sub.len(), 1, "the first event is still there");
    let metrics = system.metrics();
    assert_eq!(metrics.topics["dyn.full"].dropped(DropReason::Rejected), 1);
}

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "panics.unisolated")]
struct Unisolated;

#[handler]
fn explode_unisolated(_: &Unisolated) {
    panic!("not isolated");
}

#[tokio::test]
async fn with_isolation_off_a_panic_unwinds_into_the_caller_once_counted() {
    let system = EventSystem::builder()
        .isolate_panics(false)
        .build()
        .unwrap();
    let _sub = system
        .on("panics.off", |_: &EventRef<'_>| {
            boom("dynamic, not isolated")
        })
        .unwrap();
    for caught in [
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            system.emit_dynamic(&event("panics.off"));
        })),
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            system.emit(&Unisolated);
        })),
    ] {
        let payload = caught.expect_err("the panic reached the caller");
        let message = payload.downcast_ref::<String>().expect("a message");
        assert!(message.contains("not isolated"), "{message}");
    }
    // Counted for its handler and buried before it went on (the dispatch stops there, as
    // without isolation: the topic's counts of it are not recorded); the bus holds no lock,
    // and keeps working.
    assert_eq!(system.dead_letter_stats().buried, 2);
    let handlers = system.metrics().handlers;
    assert_eq!(handlers.iter().map(|h| h.panicked).sum::<u64>(), 2);
    let _ok = system.on("panics.after", |_: &EventRef<'_>| {}).unwrap();
    assert!(system.emit_dynamic(&event("panics.after")).is_ok());
}
