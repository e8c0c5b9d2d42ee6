//! Tests of [`DynamicEvent`]'s accessors, JSON reading and `Debug`, and the fixtures the
//! other dynamic event tests share (so type names in messages read
//! `staticbus::dynamic::event::tests::...` wherever a test lives).

use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;
use crate::dynamic::DynamicEventBuilder;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) total: u64,
}

/// Serializing it always fails.
pub(crate) struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to serialize"))
    }
}

pub(crate) fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Every attribute and the payload bytes of two events agree.
pub(crate) fn assert_same(a: &DynamicEvent, b: &DynamicEvent) {
    assert_eq!(a.id(), b.id());
    assert_eq!(a.topic(), b.topic());
    assert_eq!(a.source(), b.source());
    assert_eq!(a.time(), b.time());
    assert_eq!(a.subject(), b.subject());
    assert_eq!(a.content_type(), b.content_type());
    assert_eq!(a.data_schema(), b.data_schema());
    assert_eq!(a.headers(), b.headers());
    assert_eq!(a.bytes(), b.bytes());
    assert_eq!(a.payload().is_empty(), b.payload().is_empty());
}

pub(crate) fn roundtrip(event: &DynamicEvent) -> DynamicEvent {
    let json = serde_json::to_vec(&event.to_cloudevent().unwrap()).unwrap();
    DynamicEvent::from_cloudevent(&json).unwrap()
}

pub(crate) fn build_err(builder: DynamicEventBuilder) -> String {
    builder.build().expect_err("build should fail").to_string()
}

#[test]
fn json_read_errors_name_the_topic() {
    let empty = DynamicEvent::builder("a.empty").build().unwrap();
    let err = empty.json::<Order>().unwrap_err();
    assert!(matches!(err, EventError::NoPayload { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "event \"a.empty\" has no payload to read as JSON"
    );

    let value = DynamicEvent::new("a.value", Payload::value(5u32)).unwrap();
    let err = value.json_value().unwrap_err();
    assert!(matches!(err, EventError::NotSerializable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "the payload of event \"a.value\" is a `u32` value without a JSON encoder; \
             publish it with `Payload::serializable`"
        ),
        "{msg}"
    );
    assert!(msg.contains("downcast_ref::<u32>()"), "{msg}");

    let malformed = DynamicEvent::builder("a.bad")
        .bytes("{not json")
        .build()
        .unwrap();
    let err = malformed.json::<Order>().unwrap_err();
    assert!(matches!(err, EventError::Deserialize { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "the payload of event \"a.bad\" cannot be read as \
             `staticbus::dynamic::event::tests::Order`: key must be a string"
        ),
        "{msg}"
    );
    assert!(malformed.json_value().is_err());

    let wrong_shape = DynamicEvent::builder("a.shape")
        .json(&json!({"id": "x"}))
        .build()
        .unwrap();
    let msg = wrong_shape.json::<Order>().unwrap_err().to_string();
    assert!(msg.contains("cannot be read as"), "{msg}");
    assert!(
        msg.contains("invalid type: string \"x\", expected u64"),
        "{msg}"
    );

    let failing = DynamicEvent::new("a.fail", Payload::serializable(Unserializable)).unwrap();
    let err = failing.json_value().unwrap_err();
    assert!(matches!(err, EventError::Json { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the payload of event \"a.fail\" could not be converted to or from JSON: refuses to \
         serialize"
    );
}

#[test]
fn debug_shows_the_payload_length_only() {
    let event = DynamicEvent::builder("upload.file")
        .id("1")
        .time(at(1_700_000_000, 0))
        .bytes(vec![b'x'; 1 << 20])
        .build()
        .unwrap();
    let debug = format!("{event:?}");
    assert!(debug.len() < 400, "{debug}");
    assert_eq!(
        debug,
        "DynamicEvent { id: \"1\", topic: \"upload.file\", source: \"staticbus\", time: \
         2023-11-14T22:13:20Z, subject: None, content_type: None, data_schema: None, \
         headers: {}, payload: Bytes { len: 1048576 } }"
    );
    let value = DynamicEvent::new("a", Payload::serializable(vec![0u64; 1000])).unwrap();
    let debug = format!("{:?}", value.payload());
    assert_eq!(
        debug,
        "Value { type_name: \"alloc::vec::Vec<u64>\", serializable: true, size: 0 }"
    );
    assert_eq!(format!("{:?}", Payload::Empty), "Empty");
    let builder = format!("{:?}", DynamicEvent::builder("a").bytes("xy"));
    assert_eq!(
        builder,
        "DynamicEventBuilder { topic: Ok(\"a\"), payload: Bytes { len: 2 }, .. }"
    );
}
