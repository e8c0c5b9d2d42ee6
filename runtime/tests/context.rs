//! Handlers that take a `HandlerContext`: publishing further events, reaching other plugins,
//! the ids of a flow, and no reference cycle through the system.
//!
//! Tests run in parallel and share statics: each test has its own event types and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use staticbus::SystemHandle;
use staticbus::prelude::*;

// ---- a static handler publishes further static events ---------------------------------------

#[derive(StaticEvent)]
#[event(name = "ctx.order.placed")]
struct Placed(u64);

#[derive(StaticEvent)]
#[event(name = "ctx.invoice.due")]
struct InvoiceDue(u64);

#[derive(StaticEvent)]
#[event(name = "ctx.invoice.sent")]
struct InvoiceSent(u64);

static INVOICED: AtomicU64 = AtomicU64::new(0);
static SENT: AtomicU64 = AtomicU64::new(0);

#[handler]
fn bill(e: &Placed, ctx: &HandlerContext<'_>) -> Result<(), staticbus::Error> {
    assert_eq!(
        (ctx.topic(), ctx.event_id(), ctx.attempt()),
        ("ctx.order.placed", None, 1)
    );
    let emitted = ctx.emit(&InvoiceDue(e.0));
    assert_eq!(emitted.handled(), 1);
    Ok(())
}

#[handler]
fn invoice(e: &InvoiceDue) {
    INVOICED.fetch_add(e.0, Ordering::Relaxed);
}

#[handler]
async fn send(e: &InvoiceDue, ctx: &HandlerContext<'_>) -> Result<(), staticbus::Error> {
    tokio::task::yield_now().await;
    ctx.publish(InvoiceSent(e.0)).await.map(drop)
}

#[handler]
fn sent(e: &InvoiceSent) {
    SENT.fetch_add(e.0, Ordering::Relaxed);
}

#[tokio::test]
async fn a_handler_emits_and_publishes_through_its_context() {
    let system = EventSystem::builder().build().unwrap();
    system.emit(&Placed(3));
    assert_eq!(INVOICED.load(Ordering::Relaxed), 3);
    // `emit` skips the async `send`; `publish` runs it, and it publishes in turn.
    system.publish(InvoiceDue(4)).await.unwrap();
    assert_eq!(INVOICED.load(Ordering::Relaxed), 7);
    assert_eq!(SENT.load(Ordering::Relaxed), 4);
}

// ---- a plugin reaches another plugin -----------------------------------------------------

#[derive(StaticEvent)]
#[event(name = "ctx.stock.moved")]
struct StockMoved(u64);

#[derive(Default)]
struct Ledger {
    total: AtomicU64,
}

#[plugin(name = "ctx-ledger")]
impl Ledger {}

#[derive(Default)]
struct Warehouse;

#[plugin(name = "ctx-warehouse")]
impl Warehouse {
    #[on]
    fn moved(&self, e: &StockMoved, ctx: &HandlerContext<'_>) {
        let ledger: &Ledger = ctx.plugin::<Ledger>().expect("linked");
        ledger.total.fetch_add(e.0, Ordering::Relaxed);
    }
}

#[test]
fn a_plugin_method_reaches_another_plugin_of_its_system() {
    let (a, b) = (
        EventSystem::builder().build().unwrap(),
        EventSystem::builder().build().unwrap(),
    );
    a.emit(&StockMoved(5));
    b.emit(&StockMoved(1));
    let total = |s: &EventSystem| s.plugin::<Ledger>().unwrap().total.load(Ordering::Relaxed);
    assert_eq!(
        (total(&a), total(&b)),
        (5, 1),
        "each system's own plugin instances"
    );
}

// ---- the ids of a flow -----------------------------------------------------------------

/// What a handler saw: its event's id, its cause, its flow.
type Ids = (String, Option<String>, Option<String>);

#[test]
fn events_published_from_a_handler_carry_its_event_as_their_cause() {
    let system = EventSystem::builder().build().unwrap();
    let seen: Arc<Mutex<Vec<Ids>>> = Arc::default();
    let record = {
        let seen = Arc::clone(&seen);
        move |ctx: &HandlerContext<'_>| {
            seen.lock().unwrap().push((
                ctx.event_id().unwrap_or_default().to_owned(),
                ctx.causation_id().map(str::to_owned),
                ctx.correlation_id().map(str::to_owned),
            ));
        }
    };
    let _first = {
        let record = record.clone();
        system
            .on(
                "ctx.flow.first",
                move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| {
                    record(ctx);
                    let next = DynamicEvent::builder("ctx.flow.second")
                        .id("e2")
                        .build()
                        .unwrap();
                    ctx.emit_dynamic(&next);
                },
            )
            .unwrap()
    };
    let _second = {
        let record = record.clone();
        system
            .on(
                "ctx.flow.second",
                move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| {
                    record(ctx);
                    let next = DynamicEvent::builder("ctx.flow.third")
                        .id("e3")
                        .build()
                        .unwrap();
                    ctx.emit_dynamic(&next);
                },
            )
            .unwrap()
    };
    let _third = system
        .on(
            "ctx.flow.third",
            move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| record(ctx),
        )
        .unwrap();
    let first = DynamicEvent::builder("ctx.flow.first")
        .id("e1")
        .build()
        .unwrap();
    system.emit_dynamic(&first);
    let owned = |id: &str, cause: Option<&str>, flow: Option<&str>| {
        (
            id.to_owned(),
            cause.map(str::to_owned),
            flow.map(str::to_owned),
        )
    };
    assert_eq!(
        *seen.lock().unwrap(),
        [
            owned("e1", None, None),
            owned("e2", Some("e1"), Some("e1")),
            owned("e3", Some("e2"), Some("e1")),
        ]
    );
}

// ---- no cycle through the system ---------------------------------------------------------

#[derive(StaticEvent)]
#[event(name = "ctx.keep.handle")]
struct KeepHandle;

#[derive(Default)]
struct Keeper {
    kept: Mutex<Option<SystemHandle>>,
}

#[plugin(name = "ctx-keeper")]
impl Keeper {
    #[on]
    fn keep(&self, _: &KeepHandle, ctx: &HandlerContext<'_>) {
        *self.kept.lock().unwrap() = Some(ctx.handle());
    }
}

#[derive(StaticEvent)]
#[event(name = "ctx.keep.later")]
struct Later(u64);

static LATER: AtomicU64 = AtomicU64::new(0);

#[handler]
fn later(e: &Later) {
    LATER.fetch_add(e.0, Ordering::Relaxed);
}

#[tokio::test]
async fn a_handle_kept_by_a_plugin_does_not_keep_its_system_alive() {
    let system = EventSystem::builder().build().unwrap();
    system.emit(&KeepHandle);
    let handle = system
        .plugin::<Keeper>()
        .unwrap()
        .kept
        .lock()
        .unwrap()
        .clone()
        .expect("kept");
    // While the system lives, the handle publishes on it.
    handle.publish(Later(2)).await.unwrap();
    assert_eq!(handle.emit(&Later(3)).map(|e| e.handled()), Some(1));
    assert_eq!(LATER.load(Ordering::Relaxed), 5);
    let weak = system.downgrade();
    drop(system);
    // The plugin, and the handle inside it, went with the system.
    assert!(weak.upgrade().is_none());
    assert!(handle.upgrade().is_none());
    assert!(handle.emit(&Later(1)).is_none());
    assert!(matches!(
        handle.publish(Later(1)).await,
        Err(Error::Shutdown)
    ));
}

#[tokio::test]
async fn an_async_closure_publishes_later_through_a_handle() {
    let system = EventSystem::builder().build().unwrap();
    let done = system.subscribe_topic("ctx.async.done").unwrap();
    let _sub = system
        .on_async(
            "ctx.async.start",
            |e: Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
                assert_eq!(ctx.event_id(), Some(e.id()));
                let handle = ctx.handle();
                async move {
                    tokio::task::yield_now().await;
                    let next = DynamicEvent::builder("ctx.async.done").build().unwrap();
                    handle.publish_dynamic(next).await.map(drop)
                }
            },
        )
        .unwrap();
    let start = DynamicEvent::builder("ctx.async.start").build().unwrap();
    system.publish_dynamic(start).await.unwrap();
    assert_eq!(
        done.try_receive().unwrap().unwrap().topic(),
        "ctx.async.done"
    );
}

// ---- the cause reaches a detached handler -------------------------------------------------

/// A detached handler is called later, by its worker: its context still names the cause of
/// an event published inside a handler, and the flow (here: an async handler publishing
/// through its handle, and the detached handler's own publish, one step further).
#[tokio::test]
async fn a_detached_handler_sees_the_cause_of_what_a_handler_published() {
    let system = EventSystem::builder().build().unwrap();
    let seen: Arc<Mutex<Vec<Ids>>> = Arc::default();
    let _first = system
        .on_async(
            "ctx.later.first",
            |_: Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
                let handle = ctx.handle();
                async move {
                    let next = DynamicEvent::builder("ctx.later.second")
                        .id("l2")
                        .build()
                        .unwrap();
                    handle.publish_dynamic(next).await.map(drop)
                }
            },
        )
        .unwrap();
    let record = |seen: &Arc<Mutex<Vec<Ids>>>, then: Option<&'static str>| {
        let seen = Arc::clone(seen);
        move |e: Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
            seen.lock().unwrap().push((
                e.id().to_owned(),
                ctx.causation_id().map(str::to_owned),
                ctx.correlation_id().map(str::to_owned),
            ));
            let handle = ctx.handle();
            async move {
                if let Some(topic) = then {
                    let next = DynamicEvent::builder(topic).id("l3").build().unwrap();
                    handle.publish_dynamic(next).await.map(drop)?;
                }
                Ok::<(), staticbus::Error>(())
            }
        }
    };
    let detached = || staticbus::SubscribeOptions::new().detached();
    let _second = system
        .on_async_with(
            "ctx.later.second",
            detached(),
            record(&seen, Some("ctx.later.third")),
        )
        .unwrap();
    let _third = system
        .on_async_with("ctx.later.third", detached(), record(&seen, None))
        .unwrap();
    let first = DynamicEvent::builder("ctx.later.first")
        .id("l1")
        .build()
        .unwrap();
    system.publish_dynamic(first).await.unwrap();
    // The workers run later: wait (5 s at most) for both before shutting down.
    for _ in 0..500 {
        if seen.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let report = system.shutdown(std::time::Duration::from_secs(5)).await;
    assert!(report.drained, "{report:?}");
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("l2".to_owned(), some("l1"), some("l1")),
            ("l3".to_owned(), some("l2"), some("l1")),
        ]
    );
}
