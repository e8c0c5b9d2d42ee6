//! The export format: one CloudEvents 1.0 structured-mode JSON object per line, both ways.
//!
//! The core attributes as the runtime's codec writes them (`runtime/src/dynamic/
//! cloudevents.rs`): `specversion` "1.0", `id`, `source`, `type` (the topic), `subject`,
//! `time` (RFC 3339, microseconds), `datacontenttype`, `dataschema`, then `data` or
//! `data_base64`. `source`, `subject`, `dataschema` and `datacontenttype` are the event's
//! metadata entries of those names, which is where the runtime persists a dynamic event's
//! attributes ([`CORE`]); without one, `source` is [`SOURCE`] and `datacontenttype`
//! `application/json` for a JSON payload, else `application/octet-stream`. The payload goes
//! into `data` byte for byte when it is JSON on one line with nothing around it and its
//! content type is JSON (so it comes back identical); any other payload goes into
//! `data_base64`; an empty payload has neither.
//!
//! Extension attributes (CloudEvents names: 1 to 20 of `a-z0-9`): `stream`, `revision`
//! (a number), `sequence` (the position, a decimal string as the CloudEvents sequence
//! extension has it), `schemaversion` (a number); each metadata entry under its key when
//! the key is such a name and no attribute's, else under the key sanitised (lowercase
//! letters and digits kept, cut to 20, a number added when taken), with the renamed keys
//! in `metadatanames` (a JSON object, sanitised name -> key, as a string) so that import
//! gives them back as they were; the core attributes taken from metadata are listed there
//! too (under their own names), so that import tells them from the defaults.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use jiff::Timestamp;
use serde_json::Value;
use serde_json::value::RawValue;
use staticbus_store::{NewEvent, StoredEvent};

/// The `source` of every exported event.
pub(crate) const SOURCE: &str = "staticbus-store";

/// The attribute listing renamed metadata keys.
const NAMES: &str = "metadatanames";

/// The core attributes a metadata entry of the same name becomes (the runtime persists a
/// dynamic event's `source`, `subject`, content type and schema under these keys).
const CORE: &[&str] = &["source", "subject", "datacontenttype", "dataschema"];

/// Names a metadata key never takes as it is: the CloudEvents core attributes and the
/// extensions this format writes.
const RESERVED: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
    "stream",
    "revision",
    "sequence",
    "schemaversion",
    NAMES,
];

/// An event read back from a line: where it goes and what it is.
#[derive(Debug)]
pub(crate) struct Imported {
    /// Its stream.
    pub(crate) stream: String,
    /// The revision the line says it had (informative: the store assigns revisions).
    pub(crate) revision: Option<u64>,
    /// The event, with its id.
    pub(crate) event: NewEvent,
}

/// The event as one line of the export format.
pub(crate) fn encode(event: &StoredEvent) -> String {
    let core = |name: &str| event.metadata.get(name).map(String::as_str);
    let mut out = Object::default();
    out.string("specversion", "1.0");
    out.string("id", &event.id);
    out.string("source", core("source").unwrap_or(SOURCE));
    out.string("type", &event.topic);
    if let Some(subject) = core("subject") {
        out.string("subject", subject);
    }
    out.string("time", &event.timestamp.to_string());
    let payload = &event.payload;
    let content_type = core("datacontenttype").or_else(|| default_content_type(payload));
    let data: Option<&str> = std::str::from_utf8(payload).ok().filter(|text| {
        content_type.is_none_or(is_json_type)
            && !text.starts_with(char::is_whitespace)
            && !text.ends_with(char::is_whitespace)
            && !text.contains(['\n', '\r'])
            && serde_json::from_str::<&RawValue>(text).is_ok()
    });
    if let Some(content_type) = content_type {
        out.string("datacontenttype", content_type);
    }
    if let Some(schema) = core("dataschema") {
        out.string("dataschema", schema);
    }
    out.string("stream", &event.stream);
    out.raw("revision", &event.revision.to_string());
    out.string("sequence", &event.position.to_string());
    out.raw("schemaversion", &event.schema_version.to_string());
    let (extensions, renamed) = extension_names(&event.metadata);
    for (name, value) in extensions {
        out.string(&name, value);
    }
    if !renamed.is_empty() {
        let names = serde_json::to_string(&renamed).unwrap_or_default();
        out.string(NAMES, &names);
    }
    match data {
        Some(text) => out.raw("data", text),
        None if !payload.is_empty() => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
            out.string("data_base64", &encoded);
        }
        None => {}
    }
    out.finish()
}

/// Each metadata entry's extension attribute name (none for the [`CORE`] ones), and the
/// renamed ones and the core ones (name -> key).
fn extension_names(
    metadata: &BTreeMap<String, String>,
) -> (Vec<(String, &str)>, BTreeMap<String, &str>) {
    let mut taken: BTreeSet<String> = metadata
        .keys()
        .filter(|k| is_extension_name(k) && !RESERVED.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut names = Vec::with_capacity(metadata.len());
    let mut renamed = BTreeMap::new();
    for (key, value) in metadata {
        if CORE.contains(&key.as_str()) {
            // Written as the core attribute; listed, so that import keeps it.
            renamed.insert(key.clone(), key.as_str());
            continue;
        }
        if is_extension_name(key) && !RESERVED.contains(&key.as_str()) {
            names.push((key.clone(), value.as_str()));
            continue;
        }
        let mut base: String = key
            .chars()
            .filter_map(|c| {
                let c = c.to_ascii_lowercase();
                (c.is_ascii_lowercase() || c.is_ascii_digit()).then_some(c)
            })
            .take(20)
            .collect();
        if base.is_empty() {
            base = "metadata".to_owned();
        }
        let mut name = base.clone();
        let mut n = 2u32;
        while RESERVED.contains(&name.as_str()) || taken.contains(&name) {
            let suffix = n.to_string();
            let keep = base.len().min(20 - suffix.len());
            name = format!("{}{suffix}", &base[..keep]);
            n += 1;
        }
        taken.insert(name.clone());
        renamed.insert(name.clone(), key.as_str());
        names.push((name, value.as_str()));
    }
    (names, renamed)
}

/// The content type an export gives a payload without one in its metadata: none for an
/// empty payload.
fn default_content_type(payload: &[u8]) -> Option<&'static str> {
    if payload.is_empty() {
        None
    } else if serde_json::from_slice::<&RawValue>(payload).is_ok() {
        Some("application/json")
    } else {
        Some("application/octet-stream")
    }
}

/// Whether a content type is JSON (`application/json`, `text/json`, `*+json`, parameters
/// aside): its `data` is JSON text, not a string's text.
fn is_json_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// The CloudEvents extension attribute naming rule: 1 to 20 of `a-z0-9`.
fn is_extension_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A JSON object written in order, its values as JSON text.
#[derive(Default)]
struct Object(String);

impl Object {
    fn raw(&mut self, name: &str, json: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push_str(&Value::from(name).to_string());
        self.0.push(':');
        self.0.push_str(json);
    }

    fn string(&mut self, name: &str, value: &str) {
        self.raw(name, &Value::from(value).to_string());
    }

    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// Reads one line of the export format (or any structured-mode CloudEvents 1.0 JSON event
/// with a `stream` extension attribute); the error says what is wrong with it.
pub(crate) fn decode(line: &str) -> Result<Imported, String> {
    let mut attributes: BTreeMap<String, Box<RawValue>> = serde_json::from_str(line)
        .map_err(|e| format!("not a JSON object of CloudEvents attributes: {e}"))?;
    match take(&mut attributes, "specversion")? {
        Some(Value::String(v)) if v == "1.0" => {}
        Some(other) => return Err(format!("`specversion` is {other}, not \"1.0\"")),
        None => return Err("the required attribute `specversion` is missing".to_owned()),
    }
    let id = required_string(take(&mut attributes, "id")?, "id")?;
    let topic = required_string(take(&mut attributes, "type")?, "type")?;
    if let Err(error) = staticbus::Topic::new(&topic) {
        return Err(format!(
            "`type` {topic:?} is not a staticbus topic: {error}"
        ));
    }
    let stream = required_string(take(&mut attributes, "stream")?, "stream")?;
    let revision = number(take(&mut attributes, "revision")?, "revision")?;
    number(take(&mut attributes, "sequence")?, "sequence")?;
    let schema_version = match number(take(&mut attributes, "schemaversion")?, "schemaversion")? {
        None => 1,
        Some(v) => u32::try_from(v).map_err(|_| format!("`schemaversion` {v} is too large"))?,
    };
    let time = match take(&mut attributes, "time")? {
        None => Timestamp::now(),
        Some(Value::String(text)) => text
            .parse::<Timestamp>()
            .map_err(|e| format!("`time` {text:?} is not an RFC 3339 time: {e}"))?,
        Some(other) => return Err(format!("`time` must be a string, found {other}")),
    };
    let content_type = match take(&mut attributes, "datacontenttype")? {
        None => None,
        Some(Value::String(ct)) => Some(ct),
        Some(other) => return Err(format!("`datacontenttype` must be a string, found {other}")),
    };
    let names: BTreeMap<String, String> = match take(&mut attributes, NAMES)? {
        None => BTreeMap::new(),
        Some(Value::String(text)) => serde_json::from_str(&text)
            .map_err(|e| format!("`{NAMES}` is not a JSON object of strings: {e}"))?,
        Some(other) => return Err(format!("`{NAMES}` must be a string, found {other}")),
    };
    let data = attributes.remove("data");
    let payload = match (data, take(&mut attributes, "data_base64")?) {
        (Some(_), Some(_)) => return Err("it has both `data` and `data_base64`".to_owned()),
        (None, Some(Value::String(encoded))) => base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| format!("`data_base64` is not valid base64: {e}"))?,
        (None, Some(other)) => {
            return Err(format!("`data_base64` must be a string, found {other}"));
        }
        (Some(raw), None) => data_bytes(&raw, content_type.as_deref()),
        (None, None) => Vec::new(),
    };
    let listed = |name: &str| names.get(name).is_some_and(|key| key == name);
    let mut core = Vec::new();
    for name in ["source", "subject", "dataschema"] {
        match take(&mut attributes, name)? {
            None => {}
            Some(Value::String(value)) => core.push((name, value)),
            Some(other) => return Err(format!("`{name}` must be a string, found {other}")),
        }
    }
    // The defaults an export writes are not metadata: a `source` of `staticbus-store` or
    // the content type it gives such a payload, unless listed as taken from metadata.
    core.retain(|(name, value)| *name != "source" || value != SOURCE || listed(name));
    if let Some(content_type) = content_type
        && (listed("datacontenttype")
            || default_content_type(&payload) != Some(content_type.as_str()))
    {
        core.push(("datacontenttype", content_type));
    }
    let mut event = NewEvent::new(topic, payload)
        .id(id)
        .schema_version(schema_version)
        .timestamp(time);
    for (name, value) in core {
        event = event.metadata(name, value);
    }
    let extensions: Vec<String> = attributes.keys().cloned().collect();
    for name in extensions {
        let value = match take(&mut attributes, &name)? {
            None => continue,
            Some(Value::String(s)) => s,
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            Some(other) => {
                return Err(format!(
                    "extension attribute `{name}` is {other}: extension values are strings, \
                     numbers or booleans"
                ));
            }
        };
        let key = names.get(&name).cloned().unwrap_or(name);
        event = event.metadata(key, value);
    }
    Ok(Imported {
        stream,
        revision,
        event,
    })
}

/// Removes attribute `name` and reads it as JSON (`None`: absent or null).
fn take(
    attributes: &mut BTreeMap<String, Box<RawValue>>,
    name: &str,
) -> Result<Option<Value>, String> {
    match attributes.remove(name) {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Value>(raw.get())
            .map(|v| Some(v).filter(|v| !v.is_null()))
            .map_err(|e| format!("`{name}`: {e}")),
    }
}

/// `data`'s bytes: a JSON string under a content type that is not JSON is that string's
/// text (CloudEvents' rule); anything else is the JSON text as it is in the line.
fn data_bytes(raw: &RawValue, content_type: Option<&str>) -> Vec<u8> {
    if !content_type.is_none_or(is_json_type)
        && let Ok(text) = serde_json::from_str::<String>(raw.get())
    {
        return text.into_bytes();
    }
    raw.get().as_bytes().to_vec()
}

fn required_string(value: Option<Value>, name: &str) -> Result<String, String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("`{name}` is empty")),
        Some(other) => Err(format!("`{name}` must be a string, found {other}")),
        None => Err(format!("the required attribute `{name}` is missing")),
    }
}

/// A non-negative integer given as a JSON number or a decimal string.
fn number(value: Option<Value>, name: &str) -> Result<Option<u64>, String> {
    let bad = |v: &Value| format!("`{name}` must be a non-negative integer, found {v}");
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(&Value::Number(n))),
        Some(Value::String(s)) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| bad(&Value::String(s))),
        Some(other) => Err(bad(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keys_that_are_not_extension_names_come_back_as_they_were() {
        let mut metadata = BTreeMap::new();
        for (k, v) in [
            ("trace-id", "t1"),
            ("traceid", "t2"),
            ("Source", "s"),
            ("correlation", "c"),
            ("a-very-long-metadata-key-name-indeed", "l"),
            ("--", "dashes"),
        ] {
            metadata.insert(k.to_owned(), v.to_owned());
        }
        let (names, renamed) = extension_names(&metadata);
        let unique: BTreeSet<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(unique.len(), metadata.len(), "{names:?}");
        for (name, _) in &names {
            assert!(is_extension_name(name), "{name}");
            assert!(!RESERVED.contains(&name.as_str()), "{name}");
        }
        assert_eq!(renamed.get("traceid2"), Some(&"trace-id"));
        assert_eq!(renamed.get("source2"), Some(&"Source"));
        assert!(
            !renamed
                .values()
                .any(|k| *k == "correlation" || *k == "traceid")
        );
    }

    #[test]
    fn a_line_without_a_stream_is_refused_by_name() {
        let line = r#"{"specversion":"1.0","id":"1","source":"x","type":"a.b"}"#;
        let error = decode(line).unwrap_err();
        assert!(error.contains("`stream`"), "{error}");
    }

    #[test]
    fn a_foreign_events_source_subject_schema_and_content_type_are_kept_as_metadata() {
        let line = r#"{"specversion":"1.0","id":"1","source":"urn:shop","type":"a.b",
            "subject":"cart-7","dataschema":"urn:schema","datacontenttype":"text/plain",
            "time":"2024-01-02T03:04:05Z","stream":"s","data":"hello"}"#;
        let imported = decode(&line.replace('\n', "")).unwrap();
        let expected = NewEvent::new("a.b", b"hello".to_vec())
            .id("1")
            .timestamp("2024-01-02T03:04:05Z".parse().unwrap())
            .metadata("source", "urn:shop")
            .metadata("subject", "cart-7")
            .metadata("dataschema", "urn:schema")
            .metadata("datacontenttype", "text/plain");
        assert_eq!(imported.event, expected);

        // The defaults an export writes for an event with none of them are not metadata.
        let line = r#"{"specversion":"1.0","id":"2","source":"staticbus-store","type":"a.b",
            "time":"2024-01-02T03:04:05Z","datacontenttype":"application/json",
            "stream":"s","data":{"n":1}}"#;
        let imported = decode(&line.replace('\n', "")).unwrap();
        let expected = NewEvent::new("a.b", br#"{"n":1}"#.to_vec())
            .id("2")
            .timestamp("2024-01-02T03:04:05Z".parse().unwrap());
        assert_eq!(imported.event, expected);
    }

    #[test]
    fn text_data_under_a_text_content_type_is_the_text() {
        let raw = RawValue::from_string("\"hello\"".to_owned()).unwrap();
        assert_eq!(data_bytes(&raw, Some("text/plain")), b"hello");
        assert_eq!(data_bytes(&raw, Some("application/json")), b"\"hello\"");
        assert_eq!(data_bytes(&raw, None), b"\"hello\"");
    }
}
