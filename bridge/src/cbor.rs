//! A compact binary body: JSON payloads travel as CBOR (RFC 8949), feature `cbor`.

use bytes::Bytes;
use staticbus::DynamicEvent;

pub use crate::codec::CBOR_FROM;
use crate::codec::{CONTENT_TYPE, Codec, CodecError, attributes, event_of};
use crate::transport::Headers;

/// The content type of a body made CBOR.
const CBOR: &str = "application/cbor";

/// A codec whose bodies are CBOR (feature `cbor`): JSON payloads (a `.json(..)` event, bytes
/// under a JSON content type, a serializable value or a `Serialize` static event) are sent
/// as CBOR, usually smaller than the JSON text (no quotes, lengths instead of separators,
/// numbers in binary), and read back as the same JSON value, so that handlers see the
/// payload [`JsonCodec`](crate::JsonCodec) would have given them (`e.json::<T>()`, an
/// imported static type). Other bytes travel as they are, under their content type. The
/// attributes travel in headers, as with `JsonCodec`; the header `staticbuscbor` marks a
/// body made CBOR. Every member of a deployment must use the same codec.
///
/// ```
/// use staticbus::DynamicEvent;
/// use staticbus_bridge::{CborCodec, Codec};
///
/// let event = DynamicEvent::builder("order.placed")
///     .json(&serde_json::json!({ "order": 7, "lines": [1, 2, 3] }))
///     .build()?;
/// let (headers, body) = CborCodec.encode(&event)?;
/// assert_eq!(headers["content-type"], "application/cbor");
/// let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
/// let back = CborCodec.decode("events.order.placed", &headers, &body)?;
/// assert_eq!(back.json::<serde_json::Value>()?["lines"][2], 3);
/// assert_eq!(back.content_type(), Some("application/json"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CborCodec;

impl Codec for CborCodec {
    fn encode(&self, event: &DynamicEvent) -> Result<(Headers, Bytes), CodecError> {
        let failed = |reason: String| CodecError::Encode {
            topic: event.topic().as_str().to_owned(),
            id: event.id().to_owned(),
            reason,
        };
        let from = match event.bytes() {
            Some(bytes) if !is_json(event.content_type()) => {
                return Ok((attributes(event, event.content_type()), bytes.clone()));
            }
            None if event.payload().is_empty() => {
                return Ok((attributes(event, event.content_type()), Bytes::new()));
            }
            Some(_) => event.content_type().unwrap_or("application/json"),
            None => "application/json",
        };
        let value = event
            .json_value()
            .map_err(|e| failed(format!("its payload is not JSON: {e}")))?;
        let mut body = Vec::new();
        ciborium::into_writer(&value, &mut body).map_err(|e| failed(e.to_string()))?;
        let mut headers = attributes(event, Some(CBOR));
        headers.insert(CBOR_FROM.to_owned(), from.to_owned());
        Ok((headers, Bytes::from(body)))
    }

    fn decode(
        &self,
        subject: &str,
        headers: &[(&str, &str)],
        body: &Bytes,
    ) -> Result<DynamicEvent, CodecError> {
        let failed = |reason: String| CodecError::Decode {
            subject: subject.to_owned(),
            reason,
        };
        let from = headers
            .iter()
            .find(|(name, _)| *name == CBOR_FROM)
            .map(|&(_, value)| value);
        let Some(from) = from else {
            // Not made CBOR here: the body as it is, as JsonCodec reads it.
            return crate::JsonCodec.decode(subject, headers, body);
        };
        let value: serde_json::Value = ciborium::from_reader(body.as_ref())
            .map_err(|e| failed(format!("its body is not the CBOR of a JSON value: {e}")))?;
        let json = serde_json::to_vec(&value).map_err(|e| failed(e.to_string()))?;
        let attributes: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| *name != CBOR_FROM && *name != CONTENT_TYPE)
            .copied()
            .collect();
        event_of(subject, &attributes)
            .content_type(from)
            .bytes(json)
            .build()
            .map_err(|e| failed(e.to_string()))
    }
}

/// Whether a payload under `content_type` is JSON, by the runtime's one rule
/// ([`staticbus::is_json_content_type`]).
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(staticbus::is_json_content_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonCodec;

    fn pairs(headers: &Headers) -> Vec<(&str, &str)> {
        headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[derive(serde::Serialize)]
    struct Order {
        order: u64,
        customer: &'static str,
        lines: Vec<u32>,
        paid: bool,
    }

    #[test]
    fn a_json_payload_travels_as_cbor_and_comes_back_as_the_same_json() {
        let order = serde_json::json!({
            "order": 123_456_789,
            "customer": "acme",
            "lines": [1, 2, 3, 40_000],
            "paid": true,
            "note": null,
            "total": 12.5,
        });
        let event = DynamicEvent::builder("order.placed")
            .id("e-1")
            .header("traceparent", "00-abc-def-01")
            .json(&order)
            .build()
            .unwrap();
        let (headers, body) = CborCodec.encode(&event).unwrap();
        let (_, json) = JsonCodec.encode(&event).unwrap();
        assert!(body.len() < json.len(), "{} vs {}", body.len(), json.len());
        assert_eq!(headers[CONTENT_TYPE], CBOR);
        assert_eq!(headers[CBOR_FROM], "application/json");
        let back = CborCodec
            .decode("events.order.placed", &pairs(&headers), &body)
            .unwrap();
        assert_eq!(back.json::<serde_json::Value>().unwrap(), order);
        assert_eq!(back.content_type(), Some("application/json"));
        assert_eq!(back.id(), "e-1");
        assert_eq!(back.header("traceparent"), Some("00-abc-def-01"));
        assert_eq!(back.header(CBOR_FROM), None, "not an event header");
    }

    #[test]
    fn a_payload_is_json_by_the_runtime_s_rule_text_json_included() {
        let event = DynamicEvent::builder("order.placed")
            .content_type("text/json; charset=utf-8")
            .bytes(&br#"{"order":7}"#[..])
            .build()
            .unwrap();
        let (headers, body) = CborCodec.encode(&event).unwrap();
        assert_eq!(
            headers[CONTENT_TYPE], CBOR,
            "re-encoded, as application/json is"
        );
        assert_eq!(headers[CBOR_FROM], "text/json; charset=utf-8");
        let back = CborCodec
            .decode("events.order.placed", &pairs(&headers), &body)
            .unwrap();
        assert_eq!(
            back.json::<serde_json::Value>().unwrap(),
            serde_json::json!({ "order": 7 })
        );
        assert_eq!(back.content_type(), Some("text/json; charset=utf-8"));
    }

    #[test]
    fn a_serializable_value_and_a_json_content_type_are_encoded_too() {
        let value = Order {
            order: 7,
            customer: "acme",
            lines: vec![1, 2],
            paid: false,
        };
        let event = DynamicEvent::builder("order.placed")
            .serializable(value)
            .build()
            .unwrap();
        let (headers, body) = CborCodec.encode(&event).unwrap();
        let back = CborCodec
            .decode("x", &pairs(&headers), &body)
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap();
        assert_eq!(back["lines"], serde_json::json!([1, 2]));

        let cloudevent = DynamicEvent::builder("order.placed")
            .content_type("application/cloudevents+json; charset=utf-8")
            .bytes(&br#"{"a":1}"#[..])
            .build()
            .unwrap();
        let (headers, body) = CborCodec.encode(&cloudevent).unwrap();
        let back = CborCodec.decode("x", &pairs(&headers), &body).unwrap();
        assert_eq!(
            back.content_type(),
            Some("application/cloudevents+json; charset=utf-8")
        );
        assert_eq!(back.bytes().unwrap().as_ref(), br#"{"a":1}"#);
    }

    #[test]
    fn other_bytes_travel_as_they_are() {
        let event = DynamicEvent::builder("image.taken")
            .content_type("image/png")
            .bytes(vec![0x89, b'P', b'N', b'G'])
            .build()
            .unwrap();
        let (headers, body) = CborCodec.encode(&event).unwrap();
        assert_eq!(body.as_ref(), [0x89, b'P', b'N', b'G']);
        assert!(!headers.contains_key(CBOR_FROM));
        let back = CborCodec.decode("x", &pairs(&headers), &body).unwrap();
        assert_eq!(back.content_type(), Some("image/png"));
        assert_eq!(back.bytes().unwrap().as_ref(), [0x89, b'P', b'N', b'G']);
        let empty = DynamicEvent::builder("tick").build().unwrap();
        let (headers, body) = CborCodec.encode(&empty).unwrap();
        assert!(body.is_empty());
        let back = CborCodec.decode("x", &pairs(&headers), &body).unwrap();
        assert!(back.payload().is_empty());
    }

    #[test]
    fn a_body_that_is_not_cbor_or_a_value_that_is_not_json_is_an_error() {
        let headers = [("ce-type", "order.placed"), (CBOR_FROM, "application/json")];
        let error = CborCodec
            .decode(
                "events.order.placed",
                &headers,
                &Bytes::from_static(&[0xff, 0x00]),
            )
            .unwrap_err();
        assert!(error.to_string().contains("not the CBOR"), "{error}");
        let event = DynamicEvent::builder("job.done")
            .value(vec![1u8, 2])
            .build()
            .unwrap();
        let error = CborCodec.encode(&event).unwrap_err();
        assert!(error.to_string().contains("job.done"), "{error}");
    }
}
