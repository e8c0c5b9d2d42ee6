//! The 1-producer / 1-consumer channel benches: this bus's pull API (dynamic and typed) and
//! `tokio::sync::broadcast`, each running the same batch shape on one `current_thread`
//! runtime (flume, kanal and crossbeam are in `benches/dispatch.rs`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use staticbus::prelude::*;
use staticbus::{EventPublisher, EventSubscriber, EventSystemBuilder};

use crate::{DYN_PATTERN, dyn_event, payload_value, record};

/// Sum of the payload lengths (or tick values) the channel consumers took off their channel.
pub static CHANNEL: AtomicU64 = AtomicU64::new(0);

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
/// and one [`EventPublisher`] of `Arc<DynamicEvent>` (shared, as the peers send it),
/// `channel_capacity` [`CHANNEL_CAPACITY`], default backpressure (`Block`) and metrics (on).
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

/// The value of the typed channel comparison: a static event with no handler, published by
/// value and received as it was published.
#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "bench.typed.tick")]
pub struct Tick {
    /// What the consumer adds to its counter.
    pub value: u64,
}

/// This bus as a typed 1P/1C channel: `subscribe::<Tick>()` and an
/// `EventPublisher<Tick>`, `channel_capacity` [`CHANNEL_CAPACITY`], default backpressure and
/// metrics.
pub struct TypedChannel {
    publisher: EventPublisher<Tick>,
    subscriber: EventSubscriber<Tick>,
    _system: EventSystem,
}

impl TypedChannel {
    /// Builds the system, subscribes, and checks one value end to end on `rt`.
    pub fn new(rt: &tokio::runtime::Runtime) -> Result<TypedChannel, staticbus::Error> {
        let system = EventSystem::builder()
            .channel_capacity(CHANNEL_CAPACITY)
            .build()?;
        let channel = TypedChannel {
            publisher: system.create_publisher::<Tick>(),
            subscriber: system.subscribe::<Tick>()?,
            _system: system,
        };
        assert_eq!(
            channel.batch(rt, Tick { value: 1 }, 1),
            1,
            "TypedChannel delivers"
        );
        assert!(channel.subscriber.is_empty());
        Ok(channel)
    }

    /// Publishes `tick` `n` times by value and receives them, as [`run_batch`] does for every
    /// peer; returns how many arrived.
    pub fn batch(&self, rt: &tokio::runtime::Runtime, tick: Tick, n: usize) -> usize {
        let publisher = self.publisher.clone();
        let producer = async move {
            for _ in 0..n {
                let published = publisher.publish(tick).await.expect("the batch fits");
                debug_assert_eq!(published.enqueued(), 1);
            }
        };
        let consumer = async {
            for _ in 0..n {
                let tick = self.subscriber.receive().await.expect("the system is open");
                record(&CHANNEL, tick.value);
            }
            n
        };
        run_batch(rt, producer, consumer)
    }
}

/// `tokio::sync::broadcast` of [`Tick`] by value: the typed channel's peer.
pub struct TypedBroadcast {
    tx: tokio::sync::broadcast::Sender<Tick>,
    rx: tokio::sync::broadcast::Receiver<Tick>,
}

impl TypedBroadcast {
    /// A channel of capacity [`CHANNEL_CAPACITY`] with one receiver.
    pub fn new() -> Self {
        let (tx, rx) = tokio::sync::broadcast::channel(CHANNEL_CAPACITY);
        TypedBroadcast { tx, rx }
    }

    /// Sends `tick` `n` times and receives them; returns how many arrived.
    pub fn batch(&mut self, rt: &tokio::runtime::Runtime, tick: Tick, n: usize) -> usize {
        let tx = self.tx.clone();
        let producer = async move {
            for _ in 0..n {
                tx.send(tick).expect("the receiver is alive");
            }
        };
        let rx = &mut self.rx;
        let consumer = async move {
            for _ in 0..n {
                let tick = rx.recv().await.expect("the batch fits: never lagged");
                record(&CHANNEL, tick.value);
            }
            n
        };
        run_batch(rt, producer, consumer)
    }
}

impl Default for TypedBroadcast {
    fn default() -> Self {
        Self::new()
    }
}
