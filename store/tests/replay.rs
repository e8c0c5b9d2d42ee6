//! Replay: stored events delivered again to a running system's subscribers, by position,
//! topic and time; handlers tell a replay from a live event; nothing is persisted again.

use std::sync::{Arc, Mutex};

use staticbus::prelude::*;
use staticbus_store::{ReadFilter, Store};

fn order(topic: &str, id: &str, n: u64) -> DynamicEvent {
    DynamicEvent::builder(topic)
        .id(id)
        .json(&serde_json::json!({ "n": n }))
        .header("traceparent", "00-abc-def-01")
        .build()
        .unwrap()
}

type Seen = Arc<Mutex<Vec<(String, String, bool, String)>>>;

fn recorder(system: &EventSystem, seen: &Seen, emails: &Arc<Mutex<u32>>) {
    let seen = Arc::clone(seen);
    let sub = system
        .on(
            "order.*",
            move |e: &EventRef<'_>, ctx: &HandlerContext<'_>| {
                let trace = e
                    .dynamic()
                    .and_then(|d| d.header("traceparent"))
                    .unwrap_or_default()
                    .to_owned();
                let id = ctx.event_id().unwrap_or_default().to_owned();
                seen.lock()
                    .unwrap()
                    .push((e.topic().to_owned(), id, ctx.is_replay(), trace));
            },
        )
        .unwrap();
    std::mem::forget(sub);
    let emails = Arc::clone(emails);
    let sub = system
        .on(
            "order.placed",
            move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| {
                // A side effect that must not happen twice opts out of replays.
                if ctx.is_replay() {
                    return;
                }
                *emails.lock().unwrap() += 1;
            },
        )
        .unwrap();
    std::mem::forget(sub);
}

#[tokio::test]
async fn stored_events_are_delivered_again_as_replays_and_not_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let live = EventSystem::builder()
        .persist_to(store.clone())
        .persist_topics(["order.*"])
        .build()
        .unwrap();
    let seen: Seen = Arc::default();
    let emails = Arc::new(Mutex::new(0));
    recorder(&live, &seen, &emails);
    live.publish_dynamic(order("order.placed", "o-1", 1))
        .await
        .unwrap();
    live.publish_dynamic(order("order.paid", "o-2", 2))
        .await
        .unwrap();
    live.publish_durable_dynamic(order("order.placed", "o-3", 3))
        .await
        .unwrap();
    assert_eq!(*emails.lock().unwrap(), 2);
    seen.lock().unwrap().clear();

    // Another system (a restarted process), persisting into the same store.
    let restarted = EventSystem::builder()
        .persist_to(store.clone())
        .persist_topics(["order.*"])
        .build()
        .unwrap();
    recorder(&restarted, &seen, &emails);
    let all = store
        .replay_into(&restarted, 0, &ReadFilter::new())
        .await
        .unwrap();
    assert_eq!((all.events, all.failed, all.last_position), (3, 0, 3));
    let got = seen.lock().unwrap().clone();
    let ids: Vec<&str> = got.iter().map(|(_, id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["o-1", "o-2", "o-3"]);
    assert!(
        got.iter()
            .all(|(_, _, replay, trace)| *replay && trace == "00-abc-def-01")
    );
    // The email handler skipped them; nothing was persisted again.
    assert_eq!(*emails.lock().unwrap(), 2);
    assert_eq!(store.last_position().await.unwrap(), 3);

    // By topic, and from a position.
    seen.lock().unwrap().clear();
    let placed = ReadFilter::new().topic("order.placed").unwrap();
    let some = store.replay_into(&restarted, 2, &placed).await.unwrap();
    assert_eq!(some.events, 1);
    assert_eq!(seen.lock().unwrap()[0].1, "o-3");

    // A live event after the replay is live again.
    seen.lock().unwrap().clear();
    restarted
        .publish_dynamic(order("order.placed", "o-4", 4))
        .await
        .unwrap();
    assert!(!seen.lock().unwrap()[0].2);
    assert_eq!(*emails.lock().unwrap(), 3);
}

#[derive(StaticEvent, serde::Serialize, serde::Deserialize, Debug, Clone)]
#[event(name = "invoice.sent", persist)]
struct InvoiceSent {
    invoice: u64,
}

static REPLAYED_INVOICES: std::sync::Mutex<Vec<(u64, bool)>> = std::sync::Mutex::new(Vec::new());

#[handler]
fn record_invoice(e: &InvoiceSent, ctx: &HandlerContext<'_>) {
    REPLAYED_INVOICES
        .lock()
        .unwrap()
        .push((e.invoice, ctx.is_replay()));
}

static EMAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A side effect: `replay = false` skips it when the event is a replayed one.
#[handler(replay = false)]
fn email_invoice(_: &InvoiceSent) {
    EMAILED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[tokio::test]
async fn persisted_static_events_go_back_to_their_static_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let system = EventSystem::builder()
        .persist_to(store.clone())
        .build()
        .unwrap();
    system
        .publish_durable(InvoiceSent { invoice: 7 })
        .await
        .unwrap();
    system
        .publish_durable(InvoiceSent { invoice: 8 })
        .await
        .unwrap();
    let replayed = store
        .replay_into(&system, 0, &ReadFilter::new())
        .await
        .unwrap();
    assert_eq!((replayed.events, replayed.failed), (2, 0));
    let seen = REPLAYED_INVOICES.lock().unwrap().clone();
    assert_eq!(seen, [(7, false), (8, false), (7, true), (8, true)]);
    // The `replay = false` handler ran for the live events only.
    assert_eq!(EMAILED.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Nothing persisted again.
    assert_eq!(store.last_position().await.unwrap(), 2);
}
