//! Upcasters: functions that bring an older event payload to the next schema version, keyed
//! by topic and the version they read. [`Upcasters::upcast`] chains them (1 -> 2 -> 3...)
//! as far as they go; the store applies its own ([`StoreOptions::upcasters`]) on every
//! aggregate load, and [`Store::upcast`] applies them to any event read, so a replay sees
//! the payloads a load sees.
//!
//! [`StoreOptions::upcasters`]: crate::StoreOptions::upcasters

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::Store;
use crate::error::StoreError;
use crate::event::StoredEvent;

/// The error an upcaster returns.
pub type UpcastError = Box<dyn std::error::Error + Send + Sync>;

type UpcastFn = dyn Fn(Value) -> Result<Value, UpcastError> + Send + Sync;

/// A registry of upcasters: for a topic and a schema version `v`, a function from a payload
/// of version `v` to one of version `v + 1`. Cheap to clone (the functions are shared).
///
/// ```
/// use serde_json::json;
/// use staticbus_store::Upcasters;
///
/// let upcasters = Upcasters::new()
///     // v1 had `amount` in cents; v2 calls it `total`.
///     .add("order.placed", 1, |mut v| {
///         if let Some(amount) = v.as_object_mut().and_then(|o| o.remove("amount")) {
///             v["total"] = amount;
///         }
///         v
///     })
///     // v3 adds a currency, which v2 payloads can only get from the total's sign.
///     .try_add("order.placed", 2, |mut v| {
///         if v["total"].as_i64().is_some_and(|t| t < 0) {
///             return Err("a negative total".into());
///         }
///         v["currency"] = json!("EUR");
///         Ok(v)
///     });
/// let (v3, version) = upcasters
///     .upcast_value("order.placed", 1, json!({ "amount": 1250 }))
///     .unwrap();
/// assert_eq!((v3, version), (json!({ "total": 1250, "currency": "EUR" }), 3));
/// ```
#[derive(Clone, Default)]
pub struct Upcasters {
    by_topic: BTreeMap<String, BTreeMap<u32, Arc<UpcastFn>>>,
    /// Registrations of a topic and version that had one already (the first is kept): an
    /// [`InvalidOption`](StoreError::InvalidOption) when the store opens.
    duplicates: Vec<(String, u32)>,
}

impl Upcasters {
    /// No upcasters.
    pub fn new() -> Upcasters {
        Upcasters::default()
    }

    /// Registers `upcast`, which turns a `topic` payload of schema version `from` into one of
    /// version `from + 1`.
    ///
    /// One registered already for `topic` and `from` (two would be ambiguous) makes
    /// [`Store::open_with`](crate::Store::open_with) fail with
    /// [`InvalidOption`](StoreError::InvalidOption) naming them.
    pub fn add<F>(self, topic: impl Into<String>, from: u32, upcast: F) -> Upcasters
    where
        F: Fn(Value) -> Value + Send + Sync + 'static,
    {
        self.insert(topic.into(), from, Arc::new(move |v| Ok(upcast(v))))
    }

    /// Registers `upcast`, which turns a `topic` payload of schema version `from` into one of
    /// version `from + 1`, or fails (`?` takes any error, `Err("why".into())` a message): a
    /// load that meets the failure is an [`Upcast`](StoreError::Upcast) error naming the
    /// event. A second one for `topic` and `from` is refused as [`add`](Self::add) says.
    pub fn try_add<F>(self, topic: impl Into<String>, from: u32, upcast: F) -> Upcasters
    where
        F: Fn(Value) -> Result<Value, UpcastError> + Send + Sync + 'static,
    {
        self.insert(topic.into(), from, Arc::new(upcast))
    }

    fn insert(mut self, topic: String, from: u32, upcast: Arc<UpcastFn>) -> Upcasters {
        let versions = self.by_topic.entry(topic.clone()).or_default();
        match versions.entry(from) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(upcast);
            }
            std::collections::btree_map::Entry::Occupied(_) => self.duplicates.push((topic, from)),
        }
        self
    }

    /// The registrations refused as duplicates, as the store's open reports them.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let Some((topic, from)) = self.duplicates.first() else {
            return Ok(());
        };
        Err(StoreError::InvalidOption {
            option: "upcasters",
            reason: format!(
                "two upcasters of topic `{topic}` from version {from} (one of them would be \
                 ambiguous): register one"
            ),
        })
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }

    /// Brings `payload`, a `topic` payload of schema version `version`, as far as the
    /// upcasters go: the payload and its version then (the same if none applies). The
    /// error is the first failing upcaster's, with the version it was given.
    pub fn upcast_value(
        &self,
        topic: &str,
        mut version: u32,
        mut payload: Value,
    ) -> Result<(Value, u32), (u32, UpcastError)> {
        let Some(versions) = self.by_topic.get(topic) else {
            return Ok((payload, version));
        };
        while let Some(upcast) = versions.get(&version) {
            payload = upcast(payload).map_err(|e| (version, e))?;
            version = version.checked_add(1).ok_or_else(|| {
                (
                    version,
                    UpcastError::from("the schema version would pass u32::MAX"),
                )
            })?;
        }
        Ok((payload, version))
    }

    /// `event` brought as far as the upcasters go: its payload (JSON) and schema version
    /// replaced; unchanged (not even parsed) if none applies. A payload that is not JSON,
    /// or an upcaster that fails, is an [`Upcast`](StoreError::Upcast) error naming the
    /// event's position, stream, topic and the version that failed.
    pub fn upcast(&self, mut event: StoredEvent) -> Result<StoredEvent, StoreError> {
        let applies = self
            .by_topic
            .get(&event.topic)
            .is_some_and(|v| v.contains_key(&event.schema_version));
        if !applies {
            return Ok(event);
        }
        let error = |event: &StoredEvent, version, source: UpcastError| StoreError::Upcast {
            position: event.position,
            stream: event.stream.clone(),
            topic: event.topic.clone(),
            version,
            source,
        };
        let payload: Value = serde_json::from_slice(&event.payload).map_err(|e| {
            let source = format!("the payload is not JSON: {e}").into();
            error(&event, event.schema_version, source)
        })?;
        let (payload, version) = self
            .upcast_value(&event.topic, event.schema_version, payload)
            .map_err(|(version, source)| error(&event, version, source))?;
        event.payload = serde_json::to_vec(&payload)
            .map_err(|e| error(&event, version, e.to_string().into()))?;
        event.schema_version = version;
        Ok(event)
    }
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self
            .by_topic
            .iter()
            .flat_map(|(topic, versions)| versions.keys().map(move |v| (topic, v)));
        f.debug_struct("Upcasters")
            .field("from", &keys.collect::<Vec<_>>())
            .finish()
    }
}

/// Two registries are equal when they hold the same functions (the same `Arc`s: clones of
/// one registry) under the same topics and versions.
impl PartialEq for Upcasters {
    fn eq(&self, other: &Upcasters) -> bool {
        self.by_topic.len() == other.by_topic.len()
            && self.by_topic.iter().zip(&other.by_topic).all(|(a, b)| {
                a.0 == b.0
                    && a.1.len() == b.1.len()
                    && a.1
                        .iter()
                        .zip(b.1)
                        .all(|(x, y)| x.0 == y.0 && Arc::ptr_eq(x.1, y.1))
            })
    }
}

impl Eq for Upcasters {}

impl Store {
    /// `event` brought to the newest schema version the store's upcasters
    /// ([`StoreOptions::upcasters`](crate::StoreOptions::upcasters)) reach: what a load does
    /// to each event, for any event read (a replay, a projection).
    pub fn upcast(&self, event: StoredEvent) -> Result<StoredEvent, StoreError> {
        self.inner.upcasters.upcast(event)
    }

    /// The store's upcasters.
    pub fn upcasters(&self) -> &Upcasters {
        &self.inner.upcasters
    }
}
