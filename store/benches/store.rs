//! The store's benchmarks (one run: `cargo bench -p staticbus-store --bench store`):
//!
//! - `append/group_commit`: 16 tasks appending one event at a time (2,048 events), through
//!   the writer's group commit, against `append/raw_rusqlite`: the same rows inserted with a
//!   prepared statement into the same table (created by the store), one transaction per
//!   batch of the size the store's batches had (measured in the same run), same durability
//!   (WAL, `synchronous = FULL`). The target is a throughput ratio of at least 0.8.
//!   `append/raw_rusqlite_without_read_indexes`: the same, with the two indexes the store
//!   reads by (topic, time) dropped: what they cost. `append/paired`: the same two runs
//!   alternating, 20 pairs, the median ratio (printed).
//! - `latency`: one append at a time, `PerEvent` and `PerBatch`: median and p99, printed.
//! - `replay/read_all` and `replay/subscription`: 10,000 stored events read back, and
//!   delivered one by one to a handler through a catch-up subscription.
//! - `aggregate/load`: an aggregate of 10,000 events loaded with and without a snapshot.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use staticbus_store::{
    Aggregate, Durability, Expected, NewEvent, ReadFilter, Snapshots, Store, StoreOptions,
};

const TASKS: usize = 16;
const EACH: usize = 128;
const EVENTS: usize = TASKS * EACH;
const REPLAYED: usize = 10_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn payload(n: usize) -> Vec<u8> {
    format!("{{\"n\":{n},\"note\":\"a small JSON payload of some forty bytes\"}}").into_bytes()
}

/// 16 tasks, 128 single-event appends each, into a fresh store; the events per batch.
fn group_commit(rt: &tokio::runtime::Runtime, dir: &Path, round: usize) -> f64 {
    let path = dir.join(format!("group-{round}.db"));
    let store = Store::open_with(&path, StoreOptions::new().durability(Durability::PerBatch))
        .expect("a store");
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..EACH {
                    let event = NewEvent::new("bench.tick", payload(n));
                    let done = store.append(format!("s-{t}"), Expected::Any, vec![event]);
                    black_box(done.await.expect("append"));
                }
            }));
        }
        for task in tasks {
            task.await.expect("a task");
        }
        store.close().await.expect("close");
    });
    let stats = store.stats();
    stats.events as f64 / stats.batches.max(1) as f64
}

/// The same rows with plain rusqlite: a prepared insert, one transaction per `batch` rows,
/// into the table the store creates (opened and closed by the store first, so the schema is
/// its own); `indexed: false` drops the two indexes the store reads by (topic, time) first.
fn raw_inserts(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    round: usize,
    batch: usize,
    indexed: bool,
) {
    let path = dir.join(format!("raw-{round}.db"));
    let store = Store::open_with(&path, StoreOptions::new().durability(Durability::PerBatch))
        .expect("a store");
    rt.block_on(store.close()).expect("close");
    drop(store);
    let mut conn = rusqlite::Connection::open(&path).expect("sqlite");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    if !indexed {
        conn.execute_batch("DROP INDEX events_by_topic; DROP INDEX events_by_time")
            .expect("the store's read indexes");
    }
    let mut position = 1i64;
    let mut revisions = [0i64; TASKS];
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(batch.max(1)) {
        let tx = conn.transaction().expect("tx");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, '{}', ?7)")
                .expect("prepare");
            for &i in chunk {
                let t = i % TASKS;
                let id = uuid::Uuid::new_v4().to_string();
                insert
                    .execute(rusqlite::params![
                        position,
                        format!("s-{t}"),
                        revisions[t],
                        id,
                        "bench.tick",
                        payload(i / TASKS),
                        jiff::Timestamp::now().as_microsecond(),
                    ])
                    .expect("insert");
                position += 1;
                revisions[t] += 1;
            }
        }
        tx.commit().expect("commit");
    }
}

fn appends(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    let batch = group_commit(&rt, dir.path(), 0).round() as usize;
    eprintln!("store batches averaged {batch} events: the raw baseline commits that many");
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    let mut round = 1;
    group.bench_function("group_commit", |b| {
        b.iter(|| {
            round += 1;
            group_commit(&rt, dir.path(), round)
        })
    });
    group.bench_function("raw_rusqlite", |b| {
        b.iter(|| {
            round += 1;
            raw_inserts(&rt, dir.path(), round, batch, true)
        })
    });
    group.bench_function("raw_rusqlite_without_read_indexes", |b| {
        b.iter(|| {
            round += 1;
            raw_inserts(&rt, dir.path(), round, batch, false)
        })
    });
    group.finish();
    paired(&rt, dir.path(), &mut round, batch);
}

/// Rounds of the store and of the raw baseline, alternating, timed in pairs (the store first
/// in one pair, the raw baseline first in the next): the median of the pairs' ratios,
/// printed. A disk whose speed drifts (a shared virtual disk does) moves criterion's two
/// figures apart, measured a minute apart; a pair is measured within a second.
fn paired(rt: &tokio::runtime::Runtime, dir: &Path, round: &mut usize, batch: usize) {
    const PAIRS: usize = 20;
    let mut ratios = Vec::with_capacity(PAIRS);
    for pair in 0..PAIRS {
        let mut time = |store: bool| {
            *round += 1;
            let start = Instant::now();
            if store {
                group_commit(rt, dir, *round);
            } else {
                raw_inserts(rt, dir, *round, batch, true);
            }
            start.elapsed().as_secs_f64()
        };
        let (store, raw) = if pair % 2 == 0 {
            let store = time(true);
            (store, time(false))
        } else {
            let raw = time(false);
            (time(true), raw)
        };
        ratios.push(raw / store);
    }
    ratios.sort_by(f64::total_cmp);
    eprintln!(
        "append/paired: throughput of the group commit / raw rusqlite, median of {PAIRS} \
         pairs {:.2} (quartiles {:.2} to {:.2})",
        ratios[PAIRS / 2],
        ratios[PAIRS / 4],
        ratios[3 * PAIRS / 4]
    );
}

/// Sequential single appends: median and p99 of each, printed (criterion has no p99).
fn latency(_: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    for durability in [
        Durability::PerEvent,
        Durability::PerBatch,
        Durability::Interval,
    ] {
        let path = dir.path().join(format!("{durability:?}.db"));
        let store =
            Store::open_with(&path, StoreOptions::new().durability(durability)).expect("store");
        let mut times: Vec<Duration> = rt.block_on(async {
            let mut times = Vec::with_capacity(500);
            for n in 0..500 {
                let event = NewEvent::new("bench.tick", payload(n));
                let start = Instant::now();
                store
                    .append("s", Expected::Any, vec![event])
                    .await
                    .expect("append");
                times.push(start.elapsed());
            }
            times
        });
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        eprintln!(
            "latency/{durability:?}: median {:?}, p99 {:?} (500 sequential appends)",
            at(0.5),
            at(0.99)
        );
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    total: u64,
}

#[derive(Serialize, Deserialize)]
struct Added {
    n: u64,
}

impl Aggregate for Counter {
    type Event = Added;
    const KIND: &'static str = "counter";
    const SNAPSHOTS: Option<Snapshots<Self>> = Some(Snapshots::every(REPLAYED as u64));
    fn topic(_: &Added) -> &str {
        "counter.added"
    }
    fn apply(&mut self, event: &Added) {
        self.total += event.n;
    }
}

#[derive(Default, Serialize, Deserialize)]
struct PlainCounter {
    total: u64,
}

impl Aggregate for PlainCounter {
    type Event = Added;
    const KIND: &'static str = "counter";
    fn topic(_: &Added) -> &str {
        "counter.added"
    }
    fn apply(&mut self, event: &Added) {
        self.total += event.n;
    }
}

fn replay_and_load(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path().join("replay.db")).expect("store");
    rt.block_on(async {
        // 10,000 events of one aggregate, in appends of 500, then one save that snapshots.
        for start in (0..REPLAYED).step_by(500) {
            let events = (start..start + 500)
                .map(|n| NewEvent::json("counter.added", &Added { n: n as u64 }).expect("json"))
                .collect();
            store
                .append("counter-1", Expected::Any, events)
                .await
                .expect("append");
        }
        let mut loaded = store.load::<Counter>("1").await.expect("load");
        store
            .save(&mut loaded, vec![Added { n: 0 }])
            .await
            .expect("save (and snapshot)");
    });
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(REPLAYED as u64));
    group.sample_size(10);
    group.bench_function("read_all", |b| {
        b.iter(|| {
            rt.block_on(async {
                let all = store.read_all(0, REPLAYED, &ReadFilter::new()).await;
                black_box(all.expect("read").len())
            })
        })
    });
    group.bench_function("subscription", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut sub = store.subscribe(0, ReadFilter::new());
                let mut sum = 0u64;
                for _ in 0..REPLAYED {
                    let event = sub.next().await.expect("next");
                    sum += black_box(event.position);
                }
                sum
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("aggregate_load");
    group.sample_size(10);
    group.bench_function("10000_events_snapshot", |b| {
        b.iter(|| rt.block_on(async { store.load::<Counter>("1").await.expect("load").total }))
    });
    group.bench_function("10000_events_no_snapshot", |b| {
        b.iter(|| rt.block_on(async { store.load::<PlainCounter>("1").await.expect("load").total }))
    });
    group.finish();
}

criterion_group!(benches, appends, latency, replay_and_load);
criterion_main!(benches);
