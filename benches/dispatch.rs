//! Cost of delivering one event to its handlers, side by side: a direct call, `emit` through the
//! static tables (1 free fn, 1 plugin method, 8 mixed handlers), a `TypeId`-keyed map of boxed
//! closures, and a `tokio::sync::broadcast` channel. Every variant runs the same handler body
//! ([`staticbus_benches::record`]) on the same payload; throughput is one event per iteration.
//! The dispatcher (system, map) goes through `black_box` along with the event, so that nothing
//! loop-invariant, such as the `TypeId` hash, is hoisted out of the timed loop.
//!
//! ```text
//! cargo bench -p staticbus-benches --bench dispatch -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use staticbus_benches::{
    BROADCAST, EightMixed, OneFree, OnePlugin, TypeIdMap, checked_system, direct_call, emit, record,
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
    group.bench_function("emit_1_free_fn", |b| {
        b.iter(|| emit(black_box(&system), black_box(&free)))
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

criterion_group!(benches, static_dispatch);
criterion_main!(benches);
