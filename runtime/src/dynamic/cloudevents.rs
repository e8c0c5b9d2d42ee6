//! The CloudEvents 1.0 structured-mode JSON codec behind [`DynamicEvent::to_cloudevent`] and
//! [`DynamicEvent::from_cloudevent`].

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::error::EventError;
use super::event::DynamicEvent;
use super::header::{HEADER_NAME_RULE, header_name_problem};
use super::payload::Payload;
use super::time::{parse_rfc3339, rfc3339};
use super::topic::Topic;

/// The content type [`DynamicEventBuilder::json`](super::DynamicEventBuilder::json) sets, and
/// the one recorded for `data` read without one.
pub(super) const JSON_CONTENT_TYPE: &str = "application/json";

/// The event as a structured-mode CloudEvents 1.0 JSON object (see
/// [`DynamicEvent::to_cloudevent`]).
pub(super) fn to_cloudevent(event: &DynamicEvent) -> Result<Value, EventError> {
    let mut ce = Map::new();
    ce.insert("specversion".into(), "1.0".into());
    ce.insert("id".into(), Value::from(&*event.id));
    ce.insert("source".into(), Value::from(&*event.source));
    ce.insert("type".into(), event.topic.as_str().into());
    let time = rfc3339(event.time).ok_or(EventError::TimeOutOfRange { time: event.time })?;
    ce.insert("time".into(), time.into());
    let optional = [
        ("subject", event.subject.as_deref()),
        ("datacontenttype", event.content_type.as_deref()),
        ("dataschema", event.data_schema.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            ce.insert(name.into(), value.into());
        }
    }
    for (name, value) in &event.headers {
        ce.insert(name.clone(), value.clone().into());
    }
    match &event.payload {
        Payload::Empty => {}
        Payload::Bytes(bytes) => {
            if event
                .content_type
                .as_deref()
                .is_some_and(is_json_content_type)
            {
                let data: Value =
                    serde_json::from_slice(bytes).map_err(|source| EventError::Json {
                        topic: event.topic.to_string(),
                        source,
                    })?;
                ce.insert("data".into(), data);
            } else {
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                ce.insert("data_base64".into(), encoded.into());
            }
        }
        Payload::Value(value) => {
            match event.content_type.as_deref() {
                None => {
                    ce.insert("datacontenttype".into(), JSON_CONTENT_TYPE.into());
                }
                Some(ct) if is_json_content_type(ct) => {}
                Some(ct) => {
                    return Err(EventError::NotJsonContentType {
                        topic: event.topic.to_string(),
                        type_name: value.type_name(),
                        content_type: ct.to_owned(),
                    });
                }
            }
            ce.insert("data".into(), event.encode_value(value)?);
        }
    }
    Ok(Value::Object(ce))
}

/// Reads one structured-mode CloudEvents 1.0 JSON event (see
/// [`DynamicEvent::from_cloudevent`]).
pub(super) fn from_cloudevent(json: &[u8]) -> Result<DynamicEvent, EventError> {
    let value: Value = serde_json::from_slice(json)
        .map_err(|e| invalid_cloudevent(format!("it is not JSON: {e}")))?;
    from_cloudevent_value(value)
}

/// Reads one structured-mode CloudEvents 1.0 event from a JSON value (see
/// [`DynamicEvent::from_cloudevent_value`]).
pub(super) fn from_cloudevent_value(value: Value) -> Result<DynamicEvent, EventError> {
    let mut ce = match value {
        Value::Object(map) => map,
        Value::Array(_) => {
            return Err(invalid_cloudevent(
                "it is a JSON array (a batch); read each element on its own".into(),
            ));
        }
        other => {
            return Err(invalid_cloudevent(format!(
                "it is a JSON {}, not an object",
                json_kind(&other)
            )));
        }
    };

    match take_string(&mut ce, "specversion")? {
        Some(version) if version == "1.0" => {}
        Some(version) => {
            return Err(invalid_cloudevent(format!(
                "`specversion` is {version:?}; only CloudEvents \"1.0\" is supported"
            )));
        }
        None => return Err(missing_attribute("specversion")),
    }
    let id = take_required(&mut ce, "id")?;
    let source = take_required(&mut ce, "source")?;
    let kind = take_required(&mut ce, "type")?;
    let topic = Topic::new(&kind).map_err(|e| {
        invalid_cloudevent(format!(
            "`type` {kind:?} is not a valid staticbus topic ({e})"
        ))
    })?;
    let time = match take_string(&mut ce, "time")? {
        Some(time) => parse_rfc3339(&time).map_err(|reason| {
            invalid_cloudevent(format!("`time` {time:?} is not usable: {reason}"))
        })?,
        None => SystemTime::now(),
    };
    let subject = take_optional(&mut ce, "subject")?;
    let mut content_type = take_optional(&mut ce, "datacontenttype")?;
    let data_schema = take_optional(&mut ce, "dataschema")?;

    let data = take_non_null(&mut ce, "data");
    let data_base64 = take_non_null(&mut ce, "data_base64");
    let payload = match (data, data_base64) {
        (Some(_), Some(_)) => {
            return Err(invalid_cloudevent(
                "it has both `data` and `data_base64`; an event carries at most one".into(),
            ));
        }
        (None, Some(Value::String(encoded))) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|e| {
                    invalid_cloudevent(format!("`data_base64` is not valid base64: {e}"))
                })?;
            Payload::Bytes(Bytes::from(decoded))
        }
        (None, Some(other)) => {
            return Err(invalid_cloudevent(format!(
                "`data_base64` must be a base64 string, found a JSON {}",
                json_kind(&other)
            )));
        }
        (Some(data), None) => match content_type.as_deref() {
            None => {
                content_type = Some(JSON_CONTENT_TYPE.to_owned());
                Payload::Bytes(Bytes::from(data.to_string()))
            }
            Some(ct) if is_json_content_type(ct) => Payload::Bytes(Bytes::from(data.to_string())),
            Some(_) => match data {
                Value::String(text) => Payload::Bytes(Bytes::from(text)),
                other => {
                    return Err(invalid_cloudevent(format!(
                        "`data` is a JSON {} but `datacontenttype` {:?} is not a JSON \
                         media type; non-JSON data must be a string or in `data_base64`",
                        json_kind(&other),
                        content_type.as_deref().unwrap_or_default()
                    )));
                }
            },
        },
        (None, None) => Payload::Empty,
    };

    let mut headers = BTreeMap::new();
    for (name, value) in ce {
        if let Some(reason) = header_name_problem(&name) {
            return Err(invalid_cloudevent(format!(
                "extension attribute {name:?} has an invalid name: {reason}; extension \
                 attributes follow the {HEADER_NAME_RULE}"
            )));
        }
        let value = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(invalid_cloudevent(format!(
                    "extension attribute {name:?} is a JSON {}; extension values must be \
                     strings, numbers or booleans",
                    json_kind(&other)
                )));
            }
        };
        headers.insert(name, value);
    }

    Ok(DynamicEvent {
        id: id.into(),
        topic,
        source: source.into(),
        time,
        subject,
        content_type: content_type.as_deref().map(super::event::content_type_of),
        data_schema,
        headers,
        payload,
        replayed: false,
        cause: None,
    })
}

/// Whether a payload of this content type is JSON: `application/json`, `text/json` or any
/// `+json` suffix (`application/cloudevents+json`), ignoring parameters and case. The one
/// rule of the crate (the CloudEvents codec, and codecs such as a bridge's, which re-encode
/// only JSON payloads).
///
/// ```
/// assert!(staticbus::is_json_content_type("application/json; charset=utf-8"));
/// assert!(staticbus::is_json_content_type("application/cloudevents+json"));
/// assert!(!staticbus::is_json_content_type("text/plain"));
/// ```
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn invalid_cloudevent(reason: String) -> EventError {
    EventError::InvalidCloudEvent { reason }
}

fn missing_attribute(name: &str) -> EventError {
    invalid_cloudevent(format!("the required attribute `{name}` is missing"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn take_non_null(ce: &mut Map<String, Value>, name: &str) -> Option<Value> {
    ce.remove(name).filter(|v| !v.is_null())
}

/// A string attribute, `None` if absent or null.
fn take_string(ce: &mut Map<String, Value>, name: &str) -> Result<Option<String>, EventError> {
    match take_non_null(ce, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid_cloudevent(format!(
            "`{name}` must be a string, found a JSON {}",
            json_kind(&other)
        ))),
    }
}

/// An optional attribute: absent, or a non-empty string.
fn take_optional(ce: &mut Map<String, Value>, name: &str) -> Result<Option<String>, EventError> {
    match take_string(ce, name)? {
        Some(s) if s.is_empty() => Err(invalid_cloudevent(format!(
            "`{name}` is an empty string; omit it instead"
        ))),
        other => Ok(other),
    }
}

/// A required attribute: a non-empty string.
fn take_required(ce: &mut Map<String, Value>, name: &str) -> Result<String, EventError> {
    match take_string(ce, name)? {
        None => Err(missing_attribute(name)),
        Some(s) if s.is_empty() => Err(invalid_cloudevent(format!(
            "the required attribute `{name}` is an empty string"
        ))),
        Some(s) => Ok(s),
    }
}

#[cfg(test)]
#[path = "tests/cloudevents.rs"]
mod tests;
