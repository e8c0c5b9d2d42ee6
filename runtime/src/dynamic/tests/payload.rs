//! Tests of [`Payload`] and [`ValuePayload`]: sharing, sizes and JSON on demand.

use serde_json::json;

use super::*;
use crate::dynamic::DynamicEvent;
use crate::dynamic::event::tests::Order;

#[test]
fn value_payloads_are_shared() {
    let event = DynamicEvent::builder("job.done")
        .value(Order { id: 1, total: 2 })
        .build()
        .unwrap();
    assert_eq!(
        event.downcast_ref::<Order>(),
        Some(&Order { id: 1, total: 2 })
    );
    assert_eq!(event.downcast_ref::<u64>(), None);
    assert!(event.bytes().is_none());
    let a = event.value_arc::<Order>().unwrap();
    let clone = event.clone();
    let b = clone.value_arc::<Order>().unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(event.value_arc::<String>().is_none());
    assert_eq!(event.payload_len(), 0);

    let value = event.payload().as_value().unwrap();
    assert!(value.is::<Order>());
    assert!(!value.is_serializable());
    assert!(value.to_json().is_none());
    assert!(value.as_any().downcast_ref::<Order>().is_some());
    assert_eq!(value.type_name(), "staticbus::dynamic::event::tests::Order");

    let shared = Arc::new(Order { id: 3, total: 4 });
    let event = DynamicEvent::new("a", Payload::shared(Arc::clone(&shared))).unwrap();
    assert!(Arc::ptr_eq(&event.value_arc::<Order>().unwrap(), &shared));
    let event = DynamicEvent::new("a", Payload::shared_serializable(shared)).unwrap();
    assert_eq!(event.json::<Order>().unwrap(), Order { id: 3, total: 4 });
}

#[test]
fn bytes_payloads_are_shared() {
    let event = DynamicEvent::builder("a")
        .bytes(vec![7u8; 4096])
        .build()
        .unwrap();
    let clone = event.clone();
    assert_eq!(
        event.bytes().unwrap().as_ptr(),
        clone.bytes().unwrap().as_ptr()
    );
    assert_eq!(event.payload_len(), 4096);
    assert!(event.downcast_ref::<Vec<u8>>().is_none());
    assert!(event.value_arc::<Vec<u8>>().is_none());
    assert_eq!(Payload::from(Bytes::from_static(b"x")).size(), 1);
}

#[test]
fn declared_value_size() {
    let payload = Payload::value([0u8; 64]).with_size(64);
    assert_eq!(payload.size(), 64);
    let event = DynamicEvent::new("a", payload).unwrap();
    assert_eq!(event.payload_len(), 64);
    assert_eq!(event.payload().as_value().unwrap().size(), 64);
    assert_eq!(Payload::bytes("abc").with_size(99).size(), 3);
    assert_eq!(Payload::Empty.with_size(99).size(), 0);
}

#[test]
fn serializable_values_encode_on_demand() {
    let event = DynamicEvent::builder("a")
        .serializable(Order { id: 1, total: 2 })
        .build()
        .unwrap();
    assert!(event.payload().as_value().unwrap().is_serializable());
    assert_eq!(event.json::<Order>().unwrap(), Order { id: 1, total: 2 });
    assert_eq!(event.json_value().unwrap(), json!({"id": 1, "total": 2}));
    assert_eq!(
        event.downcast_ref::<Order>(),
        Some(&Order { id: 1, total: 2 })
    );
}

#[test]
fn mismatched_encoder_is_an_error_not_a_panic() {
    let payload = Payload::from_parts(Arc::new(5u8), "u8", Some(encode_json::<Order> as JsonFn));
    let event = DynamicEvent::new("a", payload).unwrap();
    let msg = event.json_value().unwrap_err().to_string();
    assert!(
        msg.contains(
            "the JSON encoder of `staticbus::dynamic::event::tests::Order` was given another type"
        ),
        "{msg}"
    );
    assert_eq!(event.downcast_ref::<u8>(), Some(&5));
}
