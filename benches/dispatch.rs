//! Cost of delivering one event to its handlers, side by side, in two groups.
//!
//! `static_dispatch`: a direct call, `emit` through the static tables (1 free fn, 1 plugin
//! method, 8 mixed handlers), a `TypeId`-keyed map of boxed closures, and a
//! `tokio::sync::broadcast` channel. Every variant runs the same handler body
//! ([`staticbus_benches::record`]) on the same payload; throughput is one event per iteration.
//! The dispatcher (system, map) goes through `black_box` along with the event, so that nothing
//! loop-invariant, such as the `TypeId` hash, is hoisted out of the timed loop.
//!
//! `publish_1_free_fn` is `publish(e).await` of the same event, polled once (its only handler
//! is sync, so it finishes in that poll) with a task context made once, as an executor's:
//! what `publish` adds to `emit` when nothing waits.
//!
//! `dynamic_dispatch`: the dynamic bus, on the same 16-byte `Bytes` event
//! ([`staticbus_benches::dyn_event`]), every handler adding its payload length into a counter.
//! - `push_{1,8}_glob_cached`: `emit_dynamic` of a pre-built event to 1 or 8 sync subscribers
//!   on a glob (`bench.dyn.*`), the match served from the route cache; one event per iteration.
//!   `push_8_glob_cached_no_metrics` is the 8-subscriber case with `enable_metrics(false)`: the
//!   difference is what the bus's per-topic counters cost on this path.
//! - `string_map_{1,8}`: the baseline, a `HashMap<String, Vec<Box<dyn Fn(&Bytes)>>>` looked up
//!   by the topic `&str` on every event, the payload behind an `Arc`; one event per iteration.
//! - `channel_*`: 1 producer / 1 consumer, capacity 1024, 1000 events per iteration
//!   (`Throughput::Elements(1000)`), each carrying the event behind an `Arc` (the bus: a clone
//!   of the `DynamicEvent`, which its `publish` takes by value, shared as `Arc` with the
//!   subscriber). The async peers (staticbus, tokio broadcast, flume, kanal) run through
//!   [`staticbus_benches::run_batch`] on one Tokio `current_thread` runtime: the consumer waits,
//!   the spawned producer sends the batch (it fits, so it never waits), the woken consumer
//!   drains it. crossbeam-channel has no async API, so it runs the same fill-then-drain shape
//!   with `try_send`/`try_recv` on the bench thread (no task to spawn or wake: if anything, that
//!   favours it).
//! - `channel_typed_*`: the same batch of a static event value ([`staticbus_benches::Tick`],
//!   8 bytes): this bus's `EventPublisher<Tick>` and `subscribe::<Tick>()`, which carry the
//!   value as it was published, against `tokio::sync::broadcast::<Tick>`.
//!
//! ```text
//! cargo bench -p staticbus-benches --bench dispatch -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p staticbus-benches --bench dispatch -- dynamic_dispatch --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use staticbus::{DynamicEvent, EventSystem};
use staticbus_benches::{
    ASYNC_BATCH, AsyncPublish, BROADCAST, BroadcastChannel, BusChannel, CHANNEL_BATCH,
    CHANNEL_CAPACITY, DYN_PAYLOAD, DYN_TOPIC, DynamicPush, EightMixed, OneFree, OnePlugin, Quoter,
    REQUEST_BATCH, StringMap, Tick, TypeIdMap, TypedBroadcast, TypedChannel, call_batch,
    channel_runtime, checked_system, consume, direct_batch, direct_call, dyn_event, emit,
    emit_dynamic, oneshot_batch, publish_now, record, request_batch, run_batch,
};

fn static_dispatch(c: &mut Criterion) {
    let system = checked_system().expect("the bench registry is consistent");
    let map = TypeIdMap::with_one_handler();
    assert_eq!(map.emit(&OneFree { value: 1 }), 1, "TypeIdMap handlers");
    let (tx, mut rx) = tokio::sync::broadcast::channel::<OneFree>(16);

    let free = OneFree { value: 1 };
    let plugin = OnePlugin { value: 1 };
    let eight = EightMixed { value: 1 };

    let mut group = c.benchmark_group("static_dispatch");
    group.throughput(Throughput::Elements(1));

    group.bench_function("direct_call", |b| b.iter(|| direct_call(black_box(&free))));
    // The same direct call inside `emit`'s harness: the system passed through `black_box`
    // too, and a count returned (which `iter` passes through `black_box`), so that the ratio
    // to it is what `emit` itself adds. On some cores each `black_box` (a store and a load
    // of the stack) costs several cycles.
    group.bench_function("direct_call_emit_harness", |b| {
        b.iter(|| {
            black_box(&system);
            direct_call(black_box(&free));
            1usize
        })
    });
    group.bench_function("emit_1_free_fn", |b| {
        b.iter(|| emit(black_box(&system), black_box(&free)))
    });
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(
        publish_now(&system, free, &mut cx),
        1,
        "publish runs the one handler inline"
    );
    group.bench_function("publish_1_free_fn", |b| {
        b.iter(|| publish_now(black_box(&system), *black_box(&free), &mut cx))
    });
    group.bench_function("emit_1_plugin_method", |b| {
        b.iter(|| emit(black_box(&system), black_box(&plugin)))
    });
    group.bench_function("emit_8_handlers", |b| {
        b.iter(|| emit(black_box(&system), black_box(&eight)))
    });
    group.bench_function("typeid_hashmap", |b| {
        b.iter(|| black_box(&map).emit(black_box(&free)))
    });
    group.bench_function("tokio_broadcast", |b| {
        b.iter(|| {
            tx.send(*black_box(&free)).expect("the receiver is alive");
            let got = rx.try_recv().expect("one value was just sent");
            record(&BROADCAST, got.value);
        })
    });

    group.finish();
}

type Shared = Arc<DynamicEvent>;

/// flume, bounded, async API, as a 1P/1C batch of `n` events.
fn flume_batch(
    rt: &tokio::runtime::Runtime,
    (tx, rx): &(flume::Sender<Shared>, flume::Receiver<Shared>),
    event: &Shared,
    n: usize,
) -> usize {
    let tx = tx.clone();
    let event = Arc::clone(event);
    let producer = async move {
        for _ in 0..n {
            tx.send_async(Arc::clone(&event))
                .await
                .expect("the receiver is alive");
        }
    };
    let consumer = async {
        for _ in 0..n {
            consume(&rx.recv_async().await.expect("the sender is alive"));
        }
        n
    };
    run_batch(rt, producer, consumer)
}

/// kanal, bounded, async API, as a 1P/1C batch of `n` events.
fn kanal_batch(
    rt: &tokio::runtime::Runtime,
    (tx, rx): &(kanal::AsyncSender<Shared>, kanal::AsyncReceiver<Shared>),
    event: &Shared,
    n: usize,
) -> usize {
    let tx = tx.clone();
    let event = Arc::clone(event);
    let producer = async move {
        for _ in 0..n {
            tx.send(Arc::clone(&event))
                .await
                .expect("the receiver is alive");
        }
    };
    let consumer = async {
        for _ in 0..n {
            consume(&rx.recv().await.expect("the sender is alive"));
        }
        n
    };
    run_batch(rt, producer, consumer)
}

/// crossbeam-channel, bounded, on one thread: `try_send` the batch (it fits), then `try_recv`
/// it, the fill-then-drain shape the async peers run on their one-thread runtime.
fn crossbeam_batch(
    (tx, rx): &(
        crossbeam_channel::Sender<Shared>,
        crossbeam_channel::Receiver<Shared>,
    ),
    event: &Shared,
    n: usize,
) -> usize {
    for _ in 0..n {
        tx.try_send(Arc::clone(event)).expect("the batch fits");
    }
    for _ in 0..n {
        consume(&rx.try_recv().expect("sent above"));
    }
    n
}

fn dynamic_dispatch(c: &mut Criterion) {
    let push_1 = DynamicPush::new(1).expect("a system with 1 subscriber");
    let push_8 = DynamicPush::new(8).expect("a system with 8 subscribers");
    let push_8_no_metrics =
        DynamicPush::with_builder(EventSystem::builder().enable_metrics(false), 8)
            .expect("a system with 8 subscribers");
    let event = dyn_event();

    let map_1 = StringMap::with_handlers(1);
    let map_8 = StringMap::with_handlers(8);
    let payload = Arc::new(Bytes::from_static(DYN_PAYLOAD));
    assert_eq!(map_1.emit(DYN_TOPIC, &payload), 1, "StringMap handlers");
    assert_eq!(map_8.emit(DYN_TOPIC, &payload), 8, "StringMap handlers");

    let rt = channel_runtime();
    let bus = BusChannel::new(&rt).expect("a system with a pull subscriber");
    let shared: Shared = Arc::new(dyn_event());
    let mut broadcast = BroadcastChannel::new();
    let typed = TypedChannel::new(&rt).expect("a system with a typed subscriber");
    let mut typed_broadcast = TypedBroadcast::new();
    let tick = Tick { value: 1 };
    assert_eq!(
        typed_broadcast.batch(&rt, tick, 1),
        1,
        "typed broadcast delivers"
    );
    let flume = flume::bounded::<Shared>(CHANNEL_CAPACITY);
    let kanal = kanal::bounded_async::<Shared>(CHANNEL_CAPACITY);
    let crossbeam = crossbeam_channel::bounded::<Shared>(CHANNEL_CAPACITY);
    assert_eq!(broadcast.batch(&rt, &shared, 1), 1, "broadcast delivers");
    assert_eq!(flume_batch(&rt, &flume, &shared, 1), 1, "flume delivers");
    assert_eq!(kanal_batch(&rt, &kanal, &shared, 1), 1, "kanal delivers");
    assert_eq!(
        crossbeam_batch(&crossbeam, &shared, 1),
        1,
        "crossbeam delivers"
    );

    let mut group = c.benchmark_group("dynamic_dispatch");
    group.throughput(Throughput::Elements(1));

    for (name, push) in [
        ("push_1_glob_cached", &push_1),
        ("push_8_glob_cached", &push_8),
        ("push_8_glob_cached_no_metrics", &push_8_no_metrics),
    ] {
        assert_eq!(emit_dynamic(push.system(), &event), push.subscribers());
        group.bench_function(name, |b| {
            b.iter(|| emit_dynamic(black_box(push.system()), black_box(&event)))
        });
    }
    for (name, map) in [("string_map_1", &map_1), ("string_map_8", &map_8)] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(map).emit(black_box(DYN_TOPIC), black_box(&payload)))
        });
    }

    // What the reliability options cost when nothing fails (batches of `ASYNC_BATCH`).
    let plain = AsyncPublish::plain().expect("a system with an async handler");
    let timed = AsyncPublish::with_timeout().expect("a system with a timed async handler");
    let retried = AsyncPublish::with_retry().expect("a system with a retried async handler");
    group.throughput(Throughput::Elements(ASYNC_BATCH as u64));
    for (name, publish) in [
        ("publish_1_async", &plain),
        ("publish_1_async_timeout", &timed),
        ("publish_1_async_retry", &retried),
    ] {
        assert_eq!(publish.batch(&rt, &shared, 1), 1, "{name} runs its handler");
        group.bench_function(name, |b| {
            b.iter(|| black_box(publish).batch(&rt, black_box(&shared), ASYNC_BATCH))
        });
    }

    group.throughput(Throughput::Elements(CHANNEL_BATCH as u64));
    group.bench_function("channel_staticbus", |b| {
        b.iter(|| black_box(&bus).batch(&rt, black_box(&event), CHANNEL_BATCH))
    });
    group.bench_function("channel_tokio_broadcast", |b| {
        b.iter(|| black_box(&mut broadcast).batch(&rt, black_box(&shared), CHANNEL_BATCH))
    });
    group.bench_function("channel_typed_staticbus", |b| {
        b.iter(|| black_box(&typed).batch(&rt, *black_box(&tick), CHANNEL_BATCH))
    });
    group.bench_function("channel_typed_tokio_broadcast", |b| {
        b.iter(|| black_box(&mut typed_broadcast).batch(&rt, *black_box(&tick), CHANNEL_BATCH))
    });
    group.bench_function("channel_flume", |b| {
        b.iter(|| flume_batch(&rt, black_box(&flume), black_box(&shared), CHANNEL_BATCH))
    });
    group.bench_function("channel_kanal", |b| {
        b.iter(|| kanal_batch(&rt, black_box(&kanal), black_box(&shared), CHANNEL_BATCH))
    });
    group.bench_function("channel_crossbeam", |b| {
        b.iter(|| crossbeam_batch(black_box(&crossbeam), black_box(&shared), CHANNEL_BATCH))
    });

    group.finish();
}

/// `system.request(r).await` to an inline responder, against the same async function called
/// directly and a hand-written `oneshot` round trip through a spawned task; batches of
/// [`REQUEST_BATCH`] in one task on a `current_thread` runtime.
fn requests(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let system = EventSystem::builder().build().expect("a system");
    let quoter = Quoter::default();
    let expected = direct_batch(&rt, &quoter, REQUEST_BATCH);
    assert_eq!(request_batch(&rt, &system, REQUEST_BATCH), expected);
    assert_eq!(oneshot_batch(&rt, REQUEST_BATCH), expected);
    assert_eq!(call_batch(&rt, &system, REQUEST_BATCH), expected);
    let mut group = c.benchmark_group("requests");
    group.throughput(Throughput::Elements(REQUEST_BATCH as u64));
    group.bench_function("direct_async_call", |b| {
        b.iter(|| direct_batch(&rt, black_box(&quoter), REQUEST_BATCH))
    });
    group.bench_function("typed_request", |b| {
        b.iter(|| request_batch(&rt, black_box(&system), REQUEST_BATCH))
    });
    group.bench_function("oneshot_spawned_task", |b| {
        b.iter(|| oneshot_batch(&rt, REQUEST_BATCH))
    });
    group.bench_function("call_by_name_json", |b| {
        b.iter(|| call_batch(&rt, black_box(&system), REQUEST_BATCH))
    });
    group.finish();
}

criterion_group!(benches, static_dispatch, dynamic_dispatch, requests);
criterion_main!(benches);
