//! Static events across processes, against a real NATS server: a static type exported by one
//! system (`export_static`) and imported by another (`import_static`) reaches the
//! importer's static handlers as its type, once each, while dynamic subscribers see the
//! event with its id, and nothing is exported back; a payload that is not the type, or a
//! permanent failure of its handler, is dead-lettered; an import no group takes is refused.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{NatsServer, eventually, ids, nats, recorder, system};
use staticbus::prelude::*;
use staticbus::{BoxError, Permanent, Retry};
use staticbus_bridge::{Bridge, BridgeError, Group};

#[derive(StaticEvent, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "ship.sent")]
struct Shipped {
    n: u64,
    to: String,
}

/// Each system's instance records what its handler got.
#[derive(Default)]
struct Shipping {
    seen: Mutex<Vec<u64>>,
}

#[plugin(name = "bridge-typed-shipping", version = "0.0.0")]
impl Shipping {
    #[on]
    fn shipped(&self, e: &Shipped) -> Result<(), BoxError> {
        if e.to == "nowhere" {
            return Err(Permanent::new("no such address").into());
        }
        self.seen.lock().unwrap().push(e.n);
        Ok(())
    }
}

fn seen(system: &EventSystem) -> Vec<u64> {
    let mut seen = system
        .plugin::<Shipping>()
        .unwrap()
        .seen
        .lock()
        .unwrap()
        .clone();
    seen.sort_unstable();
    seen
}

/// A system whose bridge imports `Shipped`, in group `shipping` on `ship.*`, and exports
/// `ship.*` too (so that a loop would show).
async fn importer(server: &NatsServer) -> (EventSystem, common::Seen, Bridge) {
    let consumer = system();
    let dynamic = recorder(&consumer, "ship.*");
    let bridge = Bridge::builder(&consumer, nats(server).await)
        .import_static::<Shipped>()
        .export("ship.*")
        .group(
            Group::new("shipping", "ship.*")
                .retry(Retry::constant(0, Duration::from_millis(20)))
                .max_deliver(3),
        )
        .start()
        .await
        .unwrap();
    (consumer, dynamic, bridge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_static_type_reaches_the_static_handlers_as_itself() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let producer = system();
    let out = Bridge::builder(&producer, nats(&server).await)
        .export_static::<Shipped>()
        .start()
        .await
        .unwrap();
    let (consumer, dynamic, bridge) = importer(&server).await;
    for n in 0..20 {
        let to = format!("dock {n}");
        producer.publish(Shipped { n, to }).await.unwrap();
    }
    eventually(Duration::from_secs(10), "all 20 handled", || {
        bridge.stats().handled == 20
    })
    .await;
    let all: Vec<u64> = (0..20).collect();
    assert_eq!(
        seen(&consumer),
        all,
        "the importer's static handler, once each"
    );
    assert_eq!(
        seen(&producer),
        all,
        "the producer's own, from its publishes"
    );
    let mut ids = ids(&dynamic);
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        20,
        "dynamic subscribers see each event's id: {ids:?}"
    );
    assert!(ids.iter().all(|id| !id.is_empty()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = bridge.stats();
    assert_eq!(
        (stats.exported, stats.not_exported),
        (0, 20),
        "not exported back: {stats:?}"
    );
    bridge.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_not_the_type_is_a_dead_letter_never_handled() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let producer = system();
    let out = Bridge::builder(&producer, nats(&server).await)
        .export("ship.*")
        .start()
        .await
        .unwrap();
    let (consumer, _, bridge) = importer(&server).await;
    // From a producer that is not this program: the right name, the wrong shape.
    let wrong = DynamicEvent::builder("ship.sent")
        .id("wrong-shape")
        .json(&serde_json::json!({ "n": "seven" }))
        .build()
        .unwrap();
    producer.publish_dynamic(wrong).await.unwrap();
    let refused = DynamicEvent::builder("ship.sent")
        .id("refused")
        .json(&serde_json::json!({ "n": 8, "to": "nowhere" }))
        .build()
        .unwrap();
    producer.publish_dynamic(refused).await.unwrap();
    eventually(Duration::from_secs(10), "both dead-lettered", || {
        bridge.stats().dead_lettered == 2
    })
    .await;
    assert_eq!(bridge.stats().handled, 0);
    assert!(seen(&consumer).is_empty());

    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("STATICBUS_DEAD_LETTERS").await.unwrap();
    let mut reasons = Vec::new();
    for seq in 1..=2 {
        let letter = stream.get_raw_message(seq).await.unwrap();
        let reason = letter
            .headers
            .get(staticbus_bridge::DEAD_LETTER_REASON)
            .unwrap()
            .as_str()
            .to_owned();
        reasons.push(reason);
    }
    let has = |words: &[&str]| reasons.iter().any(|r| words.iter().all(|w| r.contains(w)));
    assert!(
        has(&["permanent", "cannot be read as", "Shipped"]),
        "{reasons:?}"
    );
    assert!(has(&["permanent", "no such address"]), "{reasons:?}");
    bridge.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_that_no_group_takes_is_a_setup_error() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let consumer = system();
    let error = Bridge::builder(&consumer, nats(&server).await)
        .import_static::<Shipped>()
        .group(Group::new("other", "order.*"))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BridgeError::InvalidOption {
                option: "import_static",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("ship.sent"), "{error}");
}

/// The compact codec end to end: both bridges use it, and the static type comes out as it
/// went in; the stored message's body is CBOR, smaller than its JSON.
#[cfg(feature = "cbor")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_type_travels_as_cbor_with_the_cbor_codec() {
    use staticbus_bridge::CborCodec;
    let Some(server) = NatsServer::start() else {
        return;
    };
    let producer = system();
    let out = Bridge::builder(&producer, nats(&server).await)
        .codec(CborCodec)
        .export_static::<Shipped>()
        .start()
        .await
        .unwrap();
    let consumer = system();
    let bridge = Bridge::builder(&consumer, nats(&server).await)
        .codec(CborCodec)
        .import_static::<Shipped>()
        .group(Group::new("shipping", "ship.*"))
        .start()
        .await
        .unwrap();
    let to = "a dock far away, with a long address".to_owned();
    producer
        .publish(Shipped {
            n: 1_000_000,
            to: to.clone(),
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "handled", || {
        bridge.stats().handled == 1
    })
    .await;
    assert_eq!(seen(&consumer), [1_000_000]);

    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("STATICBUS").await.unwrap();
    let message = stream.get_raw_message(1).await.unwrap();
    let content_type = message.headers.get("content-type").unwrap().as_str();
    assert_eq!(content_type, "application/cbor");
    let json = serde_json::to_vec(&serde_json::json!({ "n": 1_000_000, "to": to })).unwrap();
    assert!(
        message.payload.len() < json.len(),
        "{} bytes of CBOR vs {} of JSON",
        message.payload.len(),
        json.len()
    );
    bridge.shutdown().await;
    out.shutdown().await;
}
