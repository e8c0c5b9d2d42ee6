//! Tests of the CloudEvents JSON codec: exact output, round trips, and malformed input.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::dynamic::DynamicEventBuilder;
use crate::dynamic::event::tests::{Order, Unserializable, assert_same, at, roundtrip};

fn read_err(json: Value) -> String {
    match DynamicEvent::from_cloudevent_value(json) {
        Ok(e) => panic!("accepted {e:?}"),
        Err(e) => {
            assert!(matches!(e, EventError::InvalidCloudEvent { .. }), "{e:?}");
            e.to_string()
        }
    }
}

fn minimal() -> Value {
    json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "a.b"})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    if let Value::Object(map) = &mut base {
        map.remove(key);
    }
    base
}

#[test]
fn cloudevent_json_exact() {
    let event = DynamicEvent::builder("order.placed")
        .id("A234-1234-1234")
        .source("/shop/checkout")
        .time(at(1_700_000_000, 120_000_000))
        .subject("order/7")
        .data_schema("https://example.invalid/order.json")
        .header("tenant", "acme")
        .header("traceparent", "00-1-2-01")
        .json(&Order { id: 7, total: 990 })
        .build()
        .unwrap();
    assert_eq!(
        event.to_cloudevent().unwrap(),
        json!({
            "specversion": "1.0",
            "id": "A234-1234-1234",
            "source": "/shop/checkout",
            "type": "order.placed",
            "time": "2023-11-14T22:13:20.120000000Z",
            "subject": "order/7",
            "datacontenttype": "application/json",
            "dataschema": "https://example.invalid/order.json",
            "tenant": "acme",
            "traceparent": "00-1-2-01",
            "data": {"id": 7, "total": 990},
        })
    );
}

#[test]
fn cloudevent_data_encoding() {
    let ce = |builder: DynamicEventBuilder| builder.build().unwrap().to_cloudevent().unwrap();

    let empty = ce(DynamicEvent::builder("a"));
    assert!(empty.get("data").is_none() && empty.get("data_base64").is_none());
    assert!(empty.get("datacontenttype").is_none());

    let binary = ce(DynamicEvent::builder("a").bytes(vec![0u8, 159, 255]));
    assert_eq!(binary["data_base64"], "AJ//");
    assert!(binary.get("data").is_none());

    let text = ce(DynamicEvent::builder("a")
        .content_type("text/plain")
        .bytes("hi"));
    assert_eq!(text["data_base64"], "aGk=");

    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/cloudevents+json",
        "text/json",
    ] {
        let doc = ce(DynamicEvent::builder("a")
            .content_type(content_type)
            .bytes(r#"{"k":[1,2]}"#));
        assert_eq!(doc["data"], json!({"k": [1, 2]}), "{content_type}");
        assert_eq!(doc["datacontenttype"], content_type);
    }

    let value = ce(DynamicEvent::builder("a").serializable(Order { id: 1, total: 2 }));
    assert_eq!(value["data"], json!({"id": 1, "total": 2}));
    assert_eq!(value["datacontenttype"], "application/json");

    let typed = ce(DynamicEvent::builder("a")
        .content_type("application/vnd.x+json")
        .serializable(3u8));
    assert_eq!(typed["data"], 3);
    assert_eq!(typed["datacontenttype"], "application/vnd.x+json");
}

#[test]
fn cloudevent_encoding_errors() {
    let not_serializable = DynamicEvent::new("a.v", Payload::value(1u8)).unwrap();
    let err = not_serializable.to_cloudevent().unwrap_err();
    assert!(matches!(err, EventError::NotSerializable { .. }), "{err:?}");

    let text_value = DynamicEvent::builder("a.v")
        .content_type("text/plain")
        .serializable(1u8)
        .build()
        .unwrap();
    let err = text_value.to_cloudevent().unwrap_err();
    assert!(
        matches!(err, EventError::NotJsonContentType { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("but its content type is \"text/plain\""),
        "{err}"
    );

    let bad_json = DynamicEvent::builder("a.j")
        .content_type("application/json")
        .bytes("{oops")
        .build()
        .unwrap();
    let err = bad_json.to_cloudevent().unwrap_err();
    assert!(matches!(err, EventError::Json { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("the payload of event \"a.j\""),
        "{err}"
    );

    let failing = DynamicEvent::new("a.f", Payload::serializable(Unserializable)).unwrap();
    assert!(matches!(
        failing.to_cloudevent().unwrap_err(),
        EventError::Json { .. }
    ));
}

#[test]
fn roundtrip_bytes() {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let event = DynamicEvent::builder("blob.stored")
        .source("urn:store")
        .content_type("application/octet-stream")
        .bytes(all_bytes.clone())
        .build()
        .unwrap();
    let back = roundtrip(&event);
    assert_same(&event, &back);
    assert_eq!(back.bytes().unwrap(), &all_bytes[..]);

    // No content type: still base64, still no content type.
    let event = DynamicEvent::builder("blob.raw")
        .bytes(vec![1, 2, 3])
        .build()
        .unwrap();
    assert_same(&event, &roundtrip(&event));

    // Empty bytes are not an empty payload.
    let event = DynamicEvent::builder("blob.empty")
        .bytes(Bytes::new())
        .build()
        .unwrap();
    let back = roundtrip(&event);
    assert_eq!(back.bytes().map(Bytes::len), Some(0));
}

#[test]
fn roundtrip_json_and_attributes() {
    let event = DynamicEvent::builder("shop.order.created")
        .id("order-7")
        .source("https://shop.example.invalid/orders")
        .subject("7")
        .data_schema("https://example.invalid/order.json")
        .header("tenant", "acme")
        .header("priority", "5")
        .json(&Order { id: 7, total: 990 })
        .build()
        .unwrap();
    let back = roundtrip(&event);
    assert_same(&event, &back);
    assert_eq!(back.json::<Order>().unwrap(), Order { id: 7, total: 990 });

    let empty = DynamicEvent::builder("a").build().unwrap();
    assert_same(&empty, &roundtrip(&empty));

    // A serializable value comes back as JSON bytes.
    let value = DynamicEvent::builder("a")
        .serializable(Order { id: 1, total: 2 })
        .build()
        .unwrap();
    let back = roundtrip(&value);
    assert_eq!(back.content_type(), Some("application/json"));
    assert_eq!(back.json::<Order>().unwrap(), Order { id: 1, total: 2 });
    assert!(back.downcast_ref::<Order>().is_none());
}

#[test]
fn roundtrip_time_precision() {
    for (secs, nanos, text) in [
        (0, 0, "1970-01-01T00:00:00Z"),
        (1_700_000_000, 0, "2023-11-14T22:13:20Z"),
        (1_700_000_000, 1, "2023-11-14T22:13:20.000000001Z"),
        (1_700_000_000, 123_456_789, "2023-11-14T22:13:20.123456789Z"),
        (1_700_000_000, 500_000_000, "2023-11-14T22:13:20.500000000Z"),
        (951_782_400, 0, "2000-02-29T00:00:00Z"),
    ] {
        let event = DynamicEvent::builder("t")
            .time(at(secs, nanos))
            .build()
            .unwrap();
        assert_eq!(event.to_cloudevent().unwrap()["time"], text);
        assert_eq!(roundtrip(&event).time(), at(secs, nanos), "{text}");
    }
    // Now, with whatever precision the clock has.
    let event = DynamicEvent::builder("t").build().unwrap();
    assert_eq!(roundtrip(&event).time(), event.time());
}

#[test]
fn reads_time_offsets_and_case() {
    let base = at(1_700_000_000, 0); // 2023-11-14T22:13:20Z
    for (text, expected) in [
        ("2023-11-14T22:13:20Z", base),
        ("2023-11-14t22:13:20z", base),
        ("2023-11-14T22:13:20+00:00", base),
        ("2023-11-14T22:13:20-00:00", base),
        ("2023-11-15T00:13:20+02:00", base),
        ("2023-11-14T16:43:20-05:30", base),
        (
            "2023-11-15T00:13:20.25+02:00",
            base + Duration::from_millis(250),
        ),
        (
            "2023-11-14T22:13:20.1234567891Z",
            base + Duration::from_nanos(123_456_789),
        ),
    ] {
        let event =
            DynamicEvent::from_cloudevent_value(with(minimal(), "time", text.into())).unwrap();
        assert_eq!(event.time(), expected, "{text}");
    }
}

#[test]
fn reads_missing_time_as_now_and_nulls_as_absent() {
    let before = SystemTime::now();
    let event = DynamicEvent::from_cloudevent_value(minimal()).unwrap();
    assert!(event.time() >= before);
    assert_eq!(event.id(), "1");
    assert_eq!(event.source(), "/s");
    assert_eq!(event.topic(), "a.b");
    assert!(event.payload().is_empty());

    let nulls = json!({
        "specversion": "1.0", "id": "1", "source": "/s", "type": "a.b",
        "time": null, "subject": null, "datacontenttype": null, "dataschema": null,
        "data": null, "data_base64": null, "tenant": null,
    });
    let event = DynamicEvent::from_cloudevent_value(nulls).unwrap();
    assert_eq!(
        (event.subject(), event.content_type(), event.data_schema()),
        (None, None, None)
    );
    assert!(event.headers().is_empty());
    assert!(event.payload().is_empty());
}

#[test]
fn reads_data_by_content_type() {
    // No content type: `data` is JSON, and the content type is recorded.
    let event =
        DynamicEvent::from_cloudevent_value(with(minimal(), "data", json!({"id": 1, "total": 2})))
            .unwrap();
    assert_eq!(event.content_type(), Some("application/json"));
    assert_eq!(event.json::<Order>().unwrap(), Order { id: 1, total: 2 });

    // A JSON string under a JSON content type stays a JSON string.
    let doc = with(
        with(minimal(), "datacontenttype", "application/json".into()),
        "data",
        "hi".into(),
    );
    let event = DynamicEvent::from_cloudevent_value(doc).unwrap();
    assert_eq!(event.bytes().unwrap(), &b"\"hi\""[..]);

    // Text stays text.
    let doc = with(
        with(minimal(), "datacontenttype", "text/plain".into()),
        "data",
        "hi there".into(),
    );
    let event = DynamicEvent::from_cloudevent_value(doc).unwrap();
    assert_eq!(event.bytes().unwrap(), &b"hi there"[..]);
    assert_eq!(event.content_type(), Some("text/plain"));

    // Extensions of every scalar type become strings.
    let doc = json!({
        "specversion": "1.0", "id": "1", "source": "/s", "type": "a.b",
        "tenant": "acme", "count": 5, "ratio": 0.5, "sampled": true,
    });
    let event = DynamicEvent::from_cloudevent_value(doc).unwrap();
    assert_eq!(event.header("tenant"), Some("acme"));
    assert_eq!(event.header("count"), Some("5"));
    assert_eq!(event.header("ratio"), Some("0.5"));
    assert_eq!(event.header("sampled"), Some("true"));
}

#[test]
fn malformed_cloudevents_are_errors() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([minimal()]),
            "it is a JSON array (a batch); read each element on its own",
        ),
        (json!("event"), "it is a JSON string, not an object"),
        (json!(null), "it is a JSON null, not an object"),
        (
            without(minimal(), "specversion"),
            "the required attribute `specversion` is missing",
        ),
        (
            with(minimal(), "specversion", "0.3".into()),
            "`specversion` is \"0.3\"; only CloudEvents \"1.0\" is supported",
        ),
        (
            with(minimal(), "specversion", json!(1.0)),
            "`specversion` must be a string, found a JSON number",
        ),
        (
            without(minimal(), "id"),
            "the required attribute `id` is missing",
        ),
        (
            with(minimal(), "id", json!(null)),
            "the required attribute `id` is missing",
        ),
        (
            with(minimal(), "id", "".into()),
            "the required attribute `id` is an empty string",
        ),
        (
            with(minimal(), "id", json!(42)),
            "`id` must be a string, found a JSON number",
        ),
        (
            without(minimal(), "source"),
            "the required attribute `source` is missing",
        ),
        (
            without(minimal(), "type"),
            "the required attribute `type` is missing",
        ),
        (
            with(minimal(), "type", "com.example/created".into()),
            "`type` \"com.example/created\" is not a valid staticbus topic (invalid topic \
             \"com.example/created\": character '/' at byte 11 is not allowed",
        ),
        (
            with(minimal(), "type", json!(["a"])),
            "`type` must be a string, found a JSON array",
        ),
        (
            with(minimal(), "time", json!(0)),
            "`time` must be a string, found a JSON number",
        ),
        (
            with(minimal(), "time", "yesterday".into()),
            "`time` \"yesterday\" is not usable: it has no `Z` or UTC offset",
        ),
        (
            with(minimal(), "time", "2023-11-14 22:13:20Z".into()),
            "`time` \"2023-11-14 22:13:20Z\" is not usable: timestamp format is invalid",
        ),
        (
            with(minimal(), "time", "2023-13-14T22:13:20Z".into()),
            "is not usable: numeric component is out of range; expected RFC 3339",
        ),
        (
            with(minimal(), "time", "2023-11-14T22:13:20+24:00".into()),
            "is not usable: the UTC offset is out of range",
        ),
        (
            with(minimal(), "time", "1969-12-31T23:59:59Z".into()),
            "is not usable: it lies outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59",
        ),
        (
            with(minimal(), "time", "1970-01-01T00:30:00+01:00".into()),
            "is not usable: it lies outside 1970-01-01T00:00:00Z",
        ),
        (
            with(minimal(), "time", "9999-12-31T23:30:00-01:00".into()),
            "is not usable: it lies outside",
        ),
        (
            with(minimal(), "time", "2023-11-14T22:13:20\u{e9}00:00".into()),
            "is not usable",
        ),
        (
            with(minimal(), "subject", "".into()),
            "`subject` is an empty string; omit it instead",
        ),
        (
            with(minimal(), "datacontenttype", json!(true)),
            "`datacontenttype` must be a string, found a JSON boolean",
        ),
        (
            with(
                with(minimal(), "data", json!(1)),
                "data_base64",
                "AA==".into(),
            ),
            "it has both `data` and `data_base64`; an event carries at most one",
        ),
        (
            with(minimal(), "data_base64", json!([1, 2])),
            "`data_base64` must be a base64 string, found a JSON array",
        ),
        (
            with(minimal(), "data_base64", "not base64!".into()),
            "`data_base64` is not valid base64: ",
        ),
        (
            with(
                with(minimal(), "datacontenttype", "text/plain".into()),
                "data",
                json!({"a": 1}),
            ),
            "`data` is a JSON object but `datacontenttype` \"text/plain\" is not a JSON \
             media type",
        ),
        (
            with(minimal(), "TraceParent", "x".into()),
            "extension attribute \"TraceParent\" has an invalid name: character 'T' at \
             byte 0 is not a lowercase ASCII letter or digit",
        ),
        (
            with(minimal(), "trace_id", "x".into()),
            "extension attribute \"trace_id\" has an invalid name: character '_' at byte 5",
        ),
        (
            with(minimal(), "abcdefghijklmnopqrstu", "x".into()),
            "it is 21 characters long",
        ),
        (
            with(minimal(), "tenant", json!({"id": 1})),
            "extension attribute \"tenant\" is a JSON object; extension values must be \
             strings, numbers or booleans",
        ),
        (
            with(minimal(), "tags", json!(["a"])),
            "extension attribute \"tags\" is a JSON array",
        ),
    ];
    for (input, expected) in cases {
        let err = read_err(input.clone());
        assert!(err.starts_with("invalid CloudEvent: "), "{err}");
        assert!(
            err.contains(expected),
            "{input}\n  got: {err}\n  want: {expected}"
        );
    }
}

#[test]
fn malformed_bytes_are_errors() {
    for input in [
        &b""[..],
        b"{",
        b"\xff\xfe",
        b"{\"specversion\": \"1.0\",}",
        b"nul",
    ] {
        let err = DynamicEvent::from_cloudevent(input).unwrap_err();
        assert!(
            matches!(err, EventError::InvalidCloudEvent { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("invalid CloudEvent: it is not JSON: "),
            "{err}"
        );
    }
    // Deep nesting hits serde_json's recursion limit instead of the stack.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(DynamicEvent::from_cloudevent(deep.as_bytes()).is_err());
}

#[test]
fn json_media_types() {
    for (ct, json) in [
        ("application/json", true),
        (" application/json ; charset=utf-8", true),
        ("APPLICATION/JSON", true),
        ("application/cloudevents+json", true),
        ("text/json", true),
        ("application/jsonx", false),
        ("text/plain", false),
        ("application/octet-stream", false),
        ("", false),
    ] {
        assert_eq!(is_json_content_type(ct), json, "{ct:?}");
    }
}

#[test]
fn extension_name_errors_state_the_cloudevents_rule() {
    let err = read_err(with(minimal(), "Trace-Id", "x".into()));
    assert_eq!(
        err,
        "invalid CloudEvent: extension attribute \"Trace-Id\" has an invalid name: character \
         'T' at byte 0 is not a lowercase ASCII letter or digit; extension attributes follow \
         the CloudEvents 1.0 extension attribute naming rule: 1 to 20 lowercase ASCII letters \
         or digits (a-z, 0-9)"
    );
    // The builder's error for the same name states the same rule, in the same words.
    let built = DynamicEvent::builder("a")
        .header("Trace-Id", "x")
        .build()
        .unwrap_err()
        .to_string();
    let rule = format!("follow the {HEADER_NAME_RULE}");
    assert!(err.ends_with(&rule), "{err}");
    assert!(built.contains(&rule), "{built}");
    for name in ["a_b", "abcdefghijklmnopqrstu", "caf\u{e9}"] {
        let err = read_err(with(minimal(), name, "x".into()));
        assert!(err.ends_with(&rule), "{name:?}: {err}");
    }
}
