//! Benchmark support: the events and handlers the criterion benches dispatch.
//!
//! Every mechanism runs the same handler body, [`record`], on the same event shape, so that the
//! benches compare dispatch and nothing else:
//!
//! | mechanism        | entry point                                   | counter it adds to      |
//! |------------------|-----------------------------------------------|-------------------------|
//! | direct call      | [`direct_call`]                               | [`DIRECT`]              |
//! | 1 free fn        | [`emit`] of [`OneFree`]                       | [`FREE`]                |
//! | 1 plugin method  | [`emit`] of [`OnePlugin`]                     | [`OneMethod::total`]    |
//! | 8 handlers       | [`emit`] of [`EightMixed`]                    | [`EIGHT`], the plugins  |
//! | TypeId map       | [`TypeIdMap::emit`] of [`OneFree`]            | [`MAP`]                 |
//!
//! The dynamic bus has its own shared pieces, every mechanism again running [`record`], adding
//! the payload length of the same [`dyn_event`] (read with [`payload_value`]):
//!
//! | mechanism              | entry point                                  | counter it adds to |
//! |------------------------|----------------------------------------------|--------------------|
//! | push, 1 or 8 globs     | [`emit_dynamic`] on a [`DynamicPush`]        | [`DYN_PUSH`]       |
//! | String map, 1 or 8     | [`StringMap::emit`]                          | [`STRING_MAP`]     |
//! | channels, 1P/1C        | [`run_batch`] of a producer and a consumer   | [`CHANNEL`]        |
//!
//! The criterion binary (`benches/dispatch.rs`) times them; `src/bin/callgrind_driver.rs` runs
//! one of them N times so that `scripts/instructions.sh` can count instructions per event.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use staticbus::prelude::*;
use staticbus::{EventPublisher, EventSubscriber, EventSystemBuilder};

/// The handler body every mechanism runs: adds `value` to `counter`.
///
/// A relaxed load and a relaxed store rather than `fetch_add`: the benches run on one thread,
/// and a `lock`-prefixed add (~20 cycles) would swamp the few nanoseconds of dispatch being
/// compared.
#[inline(always)]
pub fn record(counter: &AtomicU64, value: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(value),
        Ordering::Relaxed,
    );
}

/// Sum of the values [`direct_call`] saw.
pub static DIRECT: AtomicU64 = AtomicU64::new(0);
/// Sum of the values the free handler of [`OneFree`] saw.
pub static FREE: AtomicU64 = AtomicU64::new(0);
/// Sum of the values the four free handlers of [`EightMixed`] saw.
pub static EIGHT: AtomicU64 = AtomicU64::new(0);
/// Sum of the values the [`TypeIdMap`] handler saw.
pub static MAP: AtomicU64 = AtomicU64::new(0);
/// Sum of the values taken off the `tokio::sync::broadcast` channel.
pub static BROADCAST: AtomicU64 = AtomicU64::new(0);

/// Handled by exactly one free `#[handler]` function; also the payload of the baselines.
#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "bench.one.free")]
pub struct OneFree {
    /// What the handler adds to its counter.
    pub value: u64,
}

/// Handled by exactly one `#[on]` method, of [`OneMethod`].
#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "bench.one.plugin")]
pub struct OnePlugin {
    /// What the handler adds to its counter.
    pub value: u64,
}

/// Handled by eight sync handlers: four free functions, two methods of [`EightLeft`] and two
/// of [`EightRight`].
#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "bench.eight.mixed")]
pub struct EightMixed {
    /// What each handler adds to its counter.
    pub value: u64,
}

/// The honest floor: the handler body behind one call the optimiser cannot remove.
#[inline(never)]
pub fn direct_call(e: &OneFree) {
    record(&DIRECT, e.value);
}

/// `system.emit(e)`, returning how many handlers ran (the caller looks at the result, as a
/// real one would; the benches and the callgrind driver both go through here).
#[inline]
pub fn emit<E: StaticEvent>(system: &EventSystem, e: &E) -> usize {
    system.emit(e).handled()
}

#[handler]
fn one_free(e: &OneFree) {
    record(&FREE, e.value);
}

/// The plugin whose single `#[on]` method handles [`OnePlugin`].
#[derive(Debug, Default)]
pub struct OneMethod {
    /// Sum of the values it saw.
    pub total: AtomicU64,
}

#[plugin(name = "bench-one-method", version = "0.0.0")]
impl OneMethod {
    #[on]
    fn one_plugin(&self, e: &OnePlugin) {
        record(&self.total, e.value);
    }
}

#[handler(priority = 4)]
fn eight_a(e: &EightMixed) {
    record(&EIGHT, e.value);
}

#[handler(priority = 3)]
fn eight_b(e: &EightMixed) {
    record(&EIGHT, e.value);
}

#[handler(priority = -3)]
fn eight_c(e: &EightMixed) {
    record(&EIGHT, e.value);
}

#[handler(priority = -4)]
fn eight_d(e: &EightMixed) {
    record(&EIGHT, e.value);
}

/// First plugin handling [`EightMixed`] (two methods).
#[derive(Debug, Default)]
pub struct EightLeft {
    /// Sum of the values its methods saw.
    pub total: AtomicU64,
}

#[plugin(name = "bench-eight-left", version = "0.0.0")]
impl EightLeft {
    #[on(priority = 2)]
    fn first(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }

    #[on(priority = -1)]
    fn second(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }
}

/// Second plugin handling [`EightMixed`] (two methods).
#[derive(Debug, Default)]
pub struct EightRight {
    /// Sum of the values its methods saw.
    pub total: AtomicU64,
}

#[plugin(name = "bench-eight-right", version = "0.0.0")]
impl EightRight {
    #[on(priority = 1)]
    fn first(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }

    #[on(priority = -2)]
    fn second(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }
}

/// A handler as the runtime-registration baseline stores it.
pub type AnyHandler = Box<dyn Fn(&dyn Any)>;

/// The usual runtime-registration baseline: handlers boxed under their event's `TypeId` in a
/// std `HashMap` (SipHash), the event passed as `&dyn Any` and downcast by each handler.
#[derive(Default)]
pub struct TypeIdMap {
    handlers: HashMap<TypeId, Vec<AnyHandler>>,
}

impl TypeIdMap {
    /// The baseline the benches use: one handler of [`OneFree`] that adds into [`MAP`].
    pub fn with_one_handler() -> Self {
        let mut map = TypeIdMap::default();
        map.on(|e: &OneFree| record(&MAP, e.value));
        map
    }

    /// Registers `f` for events of type `E`.
    pub fn on<E: Any>(&mut self, f: impl Fn(&E) + 'static) {
        self.handlers
            .entry(TypeId::of::<E>())
            .or_default()
            .push(Box::new(move |e: &dyn Any| {
                if let Some(e) = e.downcast_ref::<E>() {
                    f(e);
                }
            }));
    }

    /// Calls every handler of `E` and returns how many there were.
    #[inline]
    pub fn emit<E: Any>(&self, e: &E) -> usize {
        let Some(list) = self.handlers.get(&TypeId::of::<E>()) else {
            return 0;
        };
        for handler in list {
            handler(e);
        }
        list.len()
    }
}

/// Builds the system and checks, once, that every mechanism reaches its handlers, so that a
/// handler the linker dropped fails loudly instead of being timed as a free no-op.
pub fn checked_system() -> Result<EventSystem, staticbus::Error> {
    let system = EventSystem::builder().build()?;
    let (free, plugin, eight) = (7, 11, 13);

    let before = FREE.load(Ordering::Relaxed);
    assert_eq!(
        emit(&system, &OneFree { value: free }),
        1,
        "OneFree handlers"
    );
    assert_eq!(FREE.load(Ordering::Relaxed) - before, free);

    let one = system.plugin::<OneMethod>().expect("OneMethod is linked");
    let before = one.total.load(Ordering::Relaxed);
    assert_eq!(
        emit(&system, &OnePlugin { value: plugin }),
        1,
        "OnePlugin handlers"
    );
    assert_eq!(one.total.load(Ordering::Relaxed) - before, plugin);

    let left = system.plugin::<EightLeft>().expect("EightLeft is linked");
    let right = system.plugin::<EightRight>().expect("EightRight is linked");
    let sum = || {
        EIGHT.load(Ordering::Relaxed)
            + left.total.load(Ordering::Relaxed)
            + right.total.load(Ordering::Relaxed)
    };
    let before = sum();
    assert_eq!(
        emit(&system, &EightMixed { value: eight }),
        8,
        "EightMixed handlers"
    );
    assert_eq!(sum() - before, 8 * eight);

    Ok(system)
}

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
/// Sum of the payload lengths the channel consumers took off their channel.
pub static CHANNEL: AtomicU64 = AtomicU64::new(0);

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

/// Capacity of every channel of the channel comparison (the bus's `channel_capacity` too).
pub const CHANNEL_CAPACITY: usize = 1024;

/// Events one producer sends and one consumer receives per timed iteration. Below
/// [`CHANNEL_CAPACITY`], so no sender ever waits for room and `tokio::sync::broadcast`, which
/// has no backpressure, never overwrites an unread event: every peer delivers every event.
pub const CHANNEL_BATCH: usize = 1000;

/// The runtime every async channel peer runs on: Tokio `current_thread`.
///
/// One thread, so the comparison measures what each channel costs per event (locks, atomics,
/// wakers, allocations) rather than how the OS schedules two threads on a shared, noisy VM.
/// On it, [`run_batch`] runs the same shape for every peer: the consumer waits on an empty
/// channel, the producer sends the whole batch (it never waits: the batch fits), and the
/// woken consumer drains it.
pub fn channel_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current_thread runtime")
}

/// One 1-producer/1-consumer batch on `rt`: `producer` is spawned as its own task, `consumer`
/// runs as the `block_on` future (polled first, so it starts by waiting for the first event).
/// Returns what `consumer` returns, once the producer has finished too.
pub fn run_batch<P, C>(rt: &tokio::runtime::Runtime, producer: P, consumer: C) -> usize
where
    P: Future<Output = ()> + Send + 'static,
    C: Future<Output = usize>,
{
    rt.block_on(async move {
        let producing = tokio::spawn(producer);
        let received = consumer.await;
        producing.await.expect("the producer does not panic");
        received
    })
}

/// The consumer's handler body, the same for every channel: [`record`] the payload length of
/// each event received into [`CHANNEL`].
#[inline(always)]
pub fn consume(event: &DynamicEvent) {
    record(&CHANNEL, payload_value(event.bytes()));
}

/// This bus as a 1P/1C channel: one pull subscriber ([`EventSubscriber`], on [`DYN_PATTERN`])
/// and one [`EventPublisher`] of `Arc<DynamicEvent>` (shared, as the peers send it), `channel_capacity` [`CHANNEL_CAPACITY`],
/// default backpressure (`Block`) and metrics (on).
pub struct BusChannel {
    publisher: EventPublisher<Arc<DynamicEvent>>,
    subscriber: EventSubscriber<DynamicEvent>,
    // Last: the subscriber unsubscribes from it on drop.
    _system: EventSystem,
}

impl BusChannel {
    /// Builds the system, subscribes, and checks one event end to end on `rt`.
    pub fn new(rt: &tokio::runtime::Runtime) -> Result<BusChannel, staticbus::Error> {
        Self::with_builder(EventSystem::builder(), rt)
    }

    /// [`new`](Self::new) on a system built from `builder`, its `channel_capacity` set to
    /// [`CHANNEL_CAPACITY`] (the callgrind driver uses it to count what metrics cost).
    pub fn with_builder(
        builder: EventSystemBuilder,
        rt: &tokio::runtime::Runtime,
    ) -> Result<BusChannel, staticbus::Error> {
        let system = builder.channel_capacity(CHANNEL_CAPACITY).build()?;
        let subscriber = system.subscribe_topic(DYN_PATTERN)?;
        let channel = BusChannel {
            publisher: system.create_publisher::<Arc<DynamicEvent>>(),
            subscriber,
            _system: system,
        };
        let received = channel.batch(rt, &dyn_event(), 1);
        assert_eq!(received, 1, "BusChannel delivers");
        assert!(channel.subscriber.is_empty());
        Ok(channel)
    }

    /// Publishes `event` `n` times, shared (an `Arc` clone each, as the other channels send
    /// it), and receives them, as [`run_batch`] does for every peer; returns how many arrived.
    pub fn batch(&self, rt: &tokio::runtime::Runtime, event: &DynamicEvent, n: usize) -> usize {
        let publisher = self.publisher.clone();
        let event = Arc::new(event.clone());
        let producer = async move {
            for _ in 0..n {
                let published = publisher
                    .publish(Arc::clone(&event))
                    .await
                    .expect("the batch fits the buffer");
                debug_assert_eq!(published.enqueued(), 1);
            }
        };
        let consumer = async {
            for _ in 0..n {
                let event = self.subscriber.receive().await.expect("the system is open");
                consume(&event);
            }
            n
        };
        run_batch(rt, producer, consumer)
    }
}

/// `tokio::sync::broadcast` as the same 1P/1C channel, carrying the event behind an `Arc`
/// (what the bus's subscribers receive too). One receiver; capacity [`CHANNEL_CAPACITY`].
pub struct BroadcastChannel {
    tx: tokio::sync::broadcast::Sender<Arc<DynamicEvent>>,
    rx: tokio::sync::broadcast::Receiver<Arc<DynamicEvent>>,
}

impl BroadcastChannel {
    /// A channel of capacity [`CHANNEL_CAPACITY`] with one receiver.
    pub fn new() -> Self {
        let (tx, rx) = tokio::sync::broadcast::channel(CHANNEL_CAPACITY);
        BroadcastChannel { tx, rx }
    }

    /// Sends `n` clones of the `Arc` and receives them, as [`run_batch`] does for every peer;
    /// returns how many arrived.
    pub fn batch(
        &mut self,
        rt: &tokio::runtime::Runtime,
        event: &Arc<DynamicEvent>,
        n: usize,
    ) -> usize {
        let tx = self.tx.clone();
        let event = Arc::clone(event);
        let producer = async move {
            for _ in 0..n {
                tx.send(Arc::clone(&event)).expect("the receiver is alive");
            }
        };
        let rx = &mut self.rx;
        let consumer = async move {
            for _ in 0..n {
                let event = rx.recv().await.expect("the batch fits: never lagged");
                consume(&event);
            }
            n
        };
        run_batch(rt, producer, consumer)
    }
}

impl Default for BroadcastChannel {
    fn default() -> Self {
        Self::new()
    }
}
