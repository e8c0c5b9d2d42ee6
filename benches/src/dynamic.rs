//! The dynamic bus's push benches: `n` sync subscribers on a glob, and the hand-rolled
//! string-keyed map they are compared with.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use staticbus::EventSystemBuilder;
use staticbus::prelude::*;

use crate::record;

/// Topic of every dynamic bench event.
pub const DYN_TOPIC: &str = "bench.dyn.tick";

/// The glob every dynamic subscriber uses. It matches [`DYN_TOPIC`] by pattern, not by
/// equality, so the first dispatch evaluates it and fills the bus's route cache, and every
/// timed dispatch after that is a cache hit.
pub const DYN_PATTERN: &str = "bench.dyn.*";

/// The payload of [`dyn_event`]: 16 bytes, shared (`Bytes::from_static`), never copied.
pub const DYN_PAYLOAD: &[u8] = b"0123456789abcdef";

/// Sum of the payload lengths the [`DynamicPush`] subscribers saw.
pub static DYN_PUSH: AtomicU64 = AtomicU64::new(0);
/// Sum of the payload lengths the [`StringMap`] handlers saw.
pub static STRING_MAP: AtomicU64 = AtomicU64::new(0);

/// The dynamic event every dynamic mechanism carries: [`DYN_TOPIC`], a [`DYN_PAYLOAD`] bytes
/// payload, every other attribute at its default.
pub fn dyn_event() -> DynamicEvent {
    DynamicEvent::builder(DYN_TOPIC)
        .bytes(Bytes::from_static(DYN_PAYLOAD))
        .build()
        .expect("DYN_TOPIC is a valid topic")
}

/// What every dynamic handler adds to its counter: the payload length (0 without bytes).
#[inline(always)]
pub fn payload_value(bytes: Option<&Bytes>) -> u64 {
    bytes.map_or(0, |b| b.len() as u64)
}

/// An event system whose only subscriptions are `n` sync push handlers on [`DYN_PATTERN`],
/// each adding [`payload_value`] into [`DYN_PUSH`].
///
/// Metrics stay at the builder's default (on), as a user gets them.
pub struct DynamicPush {
    system: EventSystem,
    subscribers: usize,
    _subscriptions: Vec<Subscription>,
}

impl DynamicPush {
    /// Builds the system, subscribes `subscribers` handlers, and checks once, with one
    /// [`emit_dynamic`] of [`dyn_event`], that each ran exactly once. That dispatch also fills
    /// the route cache for [`DYN_TOPIC`].
    pub fn new(subscribers: usize) -> Result<DynamicPush, staticbus::Error> {
        Self::with_builder(EventSystem::builder(), subscribers)
    }

    /// [`new`](Self::new) on a system built from `builder` (the callgrind driver uses it to
    /// count what metrics cost).
    pub fn with_builder(
        builder: EventSystemBuilder,
        subscribers: usize,
    ) -> Result<DynamicPush, staticbus::Error> {
        let system = builder.build()?;
        let subscriptions = (0..subscribers)
            .map(|_| {
                system.on(DYN_PATTERN, |e: &EventRef<'_>| {
                    record(&DYN_PUSH, payload_value(e.bytes()));
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let push = DynamicPush {
            system,
            subscribers,
            _subscriptions: subscriptions,
        };
        let event = dyn_event();
        let before = DYN_PUSH.load(Ordering::Relaxed);
        assert_eq!(
            emit_dynamic(&push.system, &event),
            subscribers,
            "DynamicPush handlers"
        );
        assert_eq!(
            DYN_PUSH.load(Ordering::Relaxed) - before,
            (subscribers * DYN_PAYLOAD.len()) as u64
        );
        Ok(push)
    }

    /// The system to [`emit_dynamic`] on.
    pub fn system(&self) -> &EventSystem {
        &self.system
    }

    /// How many handlers each dispatch runs.
    pub fn subscribers(&self) -> usize {
        self.subscribers
    }
}

/// `system.emit_dynamic(e)`, returning how many handlers ran (the caller looks at the result,
/// as a real one would).
#[inline]
pub fn emit_dynamic(system: &EventSystem, e: &DynamicEvent) -> usize {
    system.emit_dynamic(e).handled()
}

/// A handler as the string-keyed baseline stores it.
pub type BytesHandler = Box<dyn Fn(&Bytes)>;

/// The usual hand-rolled topic bus: handlers boxed under their topic `String` in a std
/// `HashMap` (SipHash), looked up by `&str` on every event, the payload behind an `Arc`.
/// Exact topics only: no patterns, so no route cache either.
#[derive(Default)]
pub struct StringMap {
    handlers: HashMap<String, Vec<BytesHandler>>,
}

impl StringMap {
    /// `handlers` handlers of [`DYN_TOPIC`], each adding [`payload_value`] into [`STRING_MAP`].
    pub fn with_handlers(handlers: usize) -> Self {
        let mut map = StringMap::default();
        for _ in 0..handlers {
            map.on(DYN_TOPIC, |b: &Bytes| {
                record(&STRING_MAP, payload_value(Some(b)))
            });
        }
        map
    }

    /// Registers `f` for `topic`.
    pub fn on(&mut self, topic: &str, f: impl Fn(&Bytes) + 'static) {
        self.handlers
            .entry(topic.to_owned())
            .or_default()
            .push(Box::new(f));
    }

    /// Calls every handler of `topic` and returns how many there were.
    #[inline]
    pub fn emit(&self, topic: &str, payload: &Arc<Bytes>) -> usize {
        let Some(list) = self.handlers.get(topic) else {
            return 0;
        };
        for handler in list {
            handler(payload);
        }
        list.len()
    }
}
