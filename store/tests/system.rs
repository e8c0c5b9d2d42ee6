//! A system persisting into the store: static events marked `#[event(persist)]`, dynamic
//! topics matching the builder's patterns, in publish order; `publish_durable` returning
//! after the commit.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use staticbus::prelude::*;
use staticbus::{Error, PersistError};
use staticbus_store::{ReadFilter, Store};

#[derive(StaticEvent, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(name = "order.placed", persist)]
struct OrderPlaced {
    order: u64,
    total: u64,
}

/// Not persisted: no `persist`.
#[derive(StaticEvent, Serialize, Debug, Clone)]
#[event(name = "cart.viewed")]
struct CartViewed {
    cart: u64,
}

static PLACED: AtomicU64 = AtomicU64::new(0);

#[handler]
fn count_placed(_: &OrderPlaced) {
    PLACED.fetch_add(1, Ordering::SeqCst);
}

fn dynamic(topic: &str, n: u64) -> DynamicEvent {
    DynamicEvent::builder(topic)
        .json(&serde_json::json!({ "n": n }))
        .header("traceparent", "00-abc-def-01")
        .build()
        .expect("a valid event")
}

#[tokio::test]
async fn marked_static_events_and_chosen_topics_are_persisted_in_publish_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let system = EventSystem::builder()
        .persist_to(store.clone())
        .persist_topics(["audit.*"])
        .build()
        .unwrap();
    system.emit(&OrderPlaced {
        order: 1,
        total: 100,
    });
    system.emit(&CartViewed { cart: 9 });
    system
        .publish(OrderPlaced {
            order: 2,
            total: 250,
        })
        .await
        .unwrap();
    system
        .publish_dynamic(dynamic("audit.login", 1))
        .await
        .unwrap();
    system
        .publish_dynamic(dynamic("metrics.tick", 2))
        .await
        .unwrap();
    // A durable publish returns after its commit: everything queued before it is stored.
    let durable = system
        .publish_durable(OrderPlaced {
            order: 3,
            total: 75,
        })
        .await
        .unwrap();
    assert_eq!(durable.position, 4);
    assert_eq!(durable.published.handled(), 1);

    let stored = store.read_all(0, 100, &ReadFilter::new()).await.unwrap();
    let topics: Vec<&str> = stored.iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "order.placed",
            "order.placed",
            "audit.login",
            "order.placed"
        ]
    );
    let orders: Vec<OrderPlaced> = stored
        .iter()
        .filter(|e| e.topic == "order.placed")
        .map(|e| e.json().unwrap())
        .collect();
    let ids: Vec<u64> = orders.iter().map(|o| o.order).collect();
    assert_eq!(ids, [1, 2, 3]);
    // The stream is the topic; a dynamic event keeps its id and headers.
    assert_eq!(stored[0].stream, "order.placed");
    assert_eq!(stored[2].revision, 0);
    assert_eq!(
        stored[2].metadata.get("traceparent").map(String::as_str),
        Some("00-abc-def-01")
    );
    let login = stored[2].json::<serde_json::Value>().unwrap();
    assert_eq!(login["n"], 1);
    assert!(PLACED.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn a_durable_dynamic_publish_persists_whatever_its_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let system = EventSystem::builder()
        .persist_to(store.clone())
        .build()
        .unwrap();
    let event = dynamic("metrics.tick", 7);
    let id = event.id().to_owned();
    let durable = system.publish_durable_dynamic(event).await.unwrap();
    assert_eq!(durable.position, 1);
    let stored = store.read_all(0, 10, &ReadFilter::new()).await.unwrap();
    assert_eq!(stored[0].id, id);
}

#[tokio::test]
async fn durable_publishing_without_a_store_or_with_a_closed_one_is_an_error() {
    let system = EventSystem::builder().build().unwrap();
    let err = system
        .publish_durable(OrderPlaced { order: 1, total: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Persist(PersistError::NoStore)),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let system = EventSystem::builder()
        .persist_to(store.clone())
        .build()
        .unwrap();
    store.close().await.unwrap();
    let before = PLACED.load(Ordering::SeqCst);
    let err = system
        .publish_durable(OrderPlaced { order: 1, total: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Persist(PersistError::Store { .. })),
        "{err}"
    );
    // Not committed, so not dispatched.
    let _ = before;
}

#[test]
fn bad_persistence_options_are_build_errors() {
    let err = EventSystem::builder()
        .persist_topics(["audit.*"])
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("need a store"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let err = EventSystem::builder()
        .persist_to(store)
        .persist_topics(["^(unclosed$"])
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                option: "persist_topics",
                ..
            }
        ),
        "{err}"
    );
}

/// Its one handler always fails: each publish makes a dead letter.
#[derive(StaticEvent, Serialize, Debug, Clone)]
#[event(name = "invoice.doomed")]
struct InvoiceDoomed {
    invoice: u64,
}

#[handler]
fn reject_invoice(e: &InvoiceDoomed) -> Result<(), std::io::Error> {
    Err(std::io::Error::other(format!(
        "invoice {} cannot be sent",
        e.invoice
    )))
}

#[tokio::test]
async fn dead_letters_are_persisted_when_a_store_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let system = EventSystem::builder()
        .persist_to(store.clone())
        .build()
        .unwrap();
    let _ = system.publish(InvoiceDoomed { invoice: 42 }).await;
    // The letter's persist is not awaited by the publish: a durable publish after it
    // returns once everything queued before is committed.
    system
        .publish_durable(OrderPlaced { order: 9, total: 1 })
        .await
        .unwrap();
    let letters = store
        .read_all(
            0,
            10,
            &ReadFilter::new().topic("staticbus.dead_letter").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.stream, "staticbus.dead_letter");
    assert_eq!(
        letter.metadata.get("deadtopic").map(String::as_str),
        Some("invoice.doomed")
    );
    assert!(letter.metadata["handler"].contains("reject_invoice"));
    let json: serde_json::Value = letter.json().unwrap();
    assert_eq!(json["event"]["invoice"], 42);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("invoice 42 cannot be sent")
    );
}
