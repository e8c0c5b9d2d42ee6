//! Tests of [`DynamicEventBuilder`]: defaults, setters, and what `build` refuses.

use serde_json::json;

use super::*;
use crate::dynamic::event::tests::{Order, Unserializable, at, build_err};
use crate::dynamic::header::{HEADER_NAME_RULE, RESERVED_ATTRIBUTES};

#[test]
fn builder_defaults() {
    let before = SystemTime::now();
    let event = DynamicEvent::builder("order.placed").build().unwrap();
    let after = SystemTime::now();
    let id = uuid::Uuid::parse_str(event.id()).unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(event.topic(), "order.placed");
    assert_eq!(event.source(), "staticbus");
    assert!(before <= event.time() && event.time() <= after);
    assert_eq!(event.subject(), None);
    assert_eq!(event.content_type(), None);
    assert_eq!(event.data_schema(), None);
    assert!(event.headers().is_empty());
    assert!(event.payload().is_empty());
    assert_eq!(event.payload_len(), 0);

    let other = DynamicEvent::builder("order.placed").build().unwrap();
    assert_ne!(event.id(), other.id());
}

#[test]
fn builder_sets_everything() {
    let event = DynamicEvent::builder(String::from("billing.v2.invoice_sent"))
        .id("inv-1")
        .source("/billing")
        .time(at(1_700_000_000, 5))
        .subject("invoice/42")
        .content_type("text/plain")
        .data_schema("https://example.invalid/invoice.json")
        .header("tenant", "acme")
        .header("traceparent", "00-abc-def-01")
        .header("tenant", "globex")
        .bytes("hello")
        .build()
        .unwrap();
    assert_eq!(event.id(), "inv-1");
    assert_eq!(event.topic().as_str(), "billing.v2.invoice_sent");
    assert_eq!(event.source(), "/billing");
    assert_eq!(event.time(), at(1_700_000_000, 5));
    assert_eq!(event.subject(), Some("invoice/42"));
    assert_eq!(event.content_type(), Some("text/plain"));
    assert_eq!(
        event.data_schema(),
        Some("https://example.invalid/invoice.json")
    );
    assert_eq!(event.header("tenant"), Some("globex"));
    assert_eq!(event.header("traceparent"), Some("00-abc-def-01"));
    assert_eq!(event.header("missing"), None);
    assert_eq!(event.headers().len(), 2);
    assert_eq!(event.bytes().map(|b| &b[..]), Some(&b"hello"[..]));
    assert_eq!(event.payload_len(), 5);
}

#[test]
fn builder_accepts_topic_values() {
    let topic = Topic::new("a.b").unwrap();
    let event = DynamicEvent::builder(topic.clone()).build().unwrap();
    assert_eq!(event.topic(), &topic);
    let event = DynamicEvent::new(topic, Payload::bytes(vec![1, 2])).unwrap();
    assert_eq!(event.payload_len(), 2);
    assert_eq!(
        DynamicEvent::new("a.b", Payload::Empty).unwrap().topic(),
        "a.b"
    );
}

#[test]
fn invalid_topic_is_a_build_error() {
    let err = DynamicEvent::builder("order..placed")
        .header("Bad", "x")
        .build()
        .unwrap_err();
    assert!(matches!(err, EventError::InvalidTopic(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("invalid topic \"order..placed\": empty segment at byte 6; topics are")
    );
    let err = DynamicEvent::new("order placed", Payload::Empty).unwrap_err();
    assert!(err.to_string().contains("character ' ' at byte 5"), "{err}");
}

#[test]
fn header_names_are_checked() {
    for name in ["traceparent", "a", "x1", "abcdefghijklmnopqrst"] {
        let event = DynamicEvent::builder("a")
            .header(name, "v")
            .build()
            .unwrap();
        assert_eq!(event.header(name), Some("v"));
    }
    let cases = [
        (
            "",
            "invalid header name \"\": it is empty; header names are CloudEvents",
        ),
        (
            "TraceParent",
            "character 'T' at byte 0 is not a lowercase ASCII letter",
        ),
        ("trace-id", "character '-' at byte 5"),
        ("trace_id", "character '_' at byte 5"),
        ("caf\u{e9}", "character '\u{e9}' at byte 3"),
        ("abcdefghijklmnopqrstu", "it is 21 characters long"),
    ];
    for (name, expected) in cases {
        let err = build_err(DynamicEvent::builder("a").header(name, "v"));
        assert!(err.contains(expected), "{name:?}: {err}");
        assert!(
            err.contains("1 to 20 lowercase ASCII letters or digits"),
            "{err}"
        );
    }
    for (name, hint) in RESERVED_ATTRIBUTES {
        let err = DynamicEvent::builder("a")
            .header(*name, "v")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, EventError::ReservedHeaderName { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("header name {name:?} is reserved")),
            "{msg}"
        );
        assert!(msg.ends_with(hint), "{msg}");
    }
    // The first bad header is the one reported.
    let err = build_err(
        DynamicEvent::builder("a")
            .header("X", "1")
            .header("id", "2"),
    );
    assert!(err.contains("\"X\""), "{err}");
}

#[test]
fn empty_attributes_are_errors() {
    type Setter = fn(DynamicEventBuilder) -> DynamicEventBuilder;
    let cases: [(Setter, &str); 5] = [
        (|b| b.id(""), "id"),
        (|b| b.source(""), "source"),
        (|b| b.subject(""), "subject"),
        (|b| b.content_type(""), "datacontenttype"),
        (|b| b.data_schema(""), "dataschema"),
    ];
    for (set, attribute) in cases {
        let err = set(DynamicEvent::builder("a")).build().unwrap_err();
        assert!(
            matches!(err, EventError::EmptyAttribute { attribute: a } if a == attribute),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the CloudEvents attribute `{attribute}` cannot be an empty string; set a \
                 value or leave it unset for the default"
            )
        );
    }
}

#[test]
fn json_builder_serializes_once() {
    let event = DynamicEvent::builder("shop.order.created")
        .json(&Order { id: 7, total: 990 })
        .build()
        .unwrap();
    assert_eq!(event.content_type(), Some("application/json"));
    assert_eq!(
        event.bytes().map(|b| &b[..]),
        Some(&br#"{"id":7,"total":990}"#[..])
    );
    assert_eq!(event.json::<Order>().unwrap(), Order { id: 7, total: 990 });
    assert_eq!(event.json_value().unwrap(), json!({"id": 7, "total": 990}));

    // A later content type wins; unsized values work.
    let event = DynamicEvent::builder("a")
        .json("text")
        .content_type("application/vnd.shop+json")
        .build()
        .unwrap();
    assert_eq!(event.content_type(), Some("application/vnd.shop+json"));
    assert_eq!(event.json::<String>().unwrap(), "text");
}

#[test]
fn json_builder_error_surfaces_at_build() {
    let err = DynamicEvent::builder("a.b")
        .json(&Unserializable)
        .build()
        .unwrap_err();
    assert!(matches!(err, EventError::Serialize { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "could not serialize the `staticbus::dynamic::event::tests::Unserializable` \
             payload of event \"a.b\" as JSON: refuses to serialize"
        ),
        "{msg}"
    );
    // An invalid topic is the first problem.
    let err = DynamicEvent::builder("a..b")
        .json(&Unserializable)
        .build()
        .unwrap_err();
    assert!(matches!(err, EventError::InvalidTopic(_)), "{err:?}");
    // A later payload replaces the failed one, and the failure leaves no content type.
    let event = DynamicEvent::builder("a.b")
        .json(&Unserializable)
        .bytes("ok")
        .build()
        .unwrap();
    assert_eq!(event.payload_len(), 2);
    assert_eq!(event.content_type(), None);
}

#[test]
fn header_name_errors_state_the_cloudevents_rule() {
    let err = build_err(DynamicEvent::builder("a").header("Trace-Id", "v"));
    assert_eq!(
        err,
        "invalid header name \"Trace-Id\": character 'T' at byte 0 is not a lowercase ASCII \
         letter or digit; header names are CloudEvents extension attributes and follow the \
         CloudEvents 1.0 extension attribute naming rule: 1 to 20 lowercase ASCII letters or \
         digits (a-z, 0-9), e.g. \"traceparent\""
    );
    for name in ["", "a_b", "abcdefghijklmnopqrstu"] {
        let err = build_err(DynamicEvent::builder("a").header(name, "v"));
        assert!(
            err.contains(&format!("follow the {HEADER_NAME_RULE}")),
            "{name:?}: {err}"
        );
    }
}
