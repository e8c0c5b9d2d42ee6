//! End-to-end loopback through a real NATS server (one run: `cargo bench -p staticbus-bridge
//! --bench loopback`; it starts its own `nats-server`, or says why not and measures nothing):
//!
//! - `loopback/bridge`: 2,000 events published on one system, exported by its bridge,
//!   handled on a second system through its group (a durable pull consumer), acknowledged.
//! - `loopback/raw_async_nats`: the same payloads and headers with `async-nats` directly:
//!   JetStream publishes with the same number awaiting their acknowledgements at once
//!   (256) on one connection, a durable pull consumer on another taking and acknowledging
//!   each message (two connections, as the bridge's two systems, or two processes, have).
//!
//! - `loopback/paired`: the two alternating, 20 pairs, the median ratio (printed).
//!
//! The target: the bridge's time at most 1.2x raw async-nats's.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use staticbus::prelude::*;
use staticbus_bridge::nats::{Nats, NatsConfig};
use staticbus_bridge::{Bridge, Codec, Group, JsonCodec};

const EVENTS: usize = 2_000;
const UNACKED: usize = 256;

/// The consumer side's count, and a wake-up when it reaches the round's target.
#[derive(Default)]
struct Handled {
    count: AtomicU64,
    target: AtomicU64,
    reached: tokio::sync::Notify,
}

impl Handled {
    /// One more handled.
    fn one(&self) {
        let count = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        if count == self.target.load(Ordering::Acquire) {
            self.reached.notify_one();
        }
    }

    /// Waits until `n` more than now are handled.
    fn expect(&self, n: u64) -> impl std::future::Future<Output = ()> + '_ {
        let target = self.count.load(Ordering::Acquire) + n;
        self.target.store(target, Ordering::Release);
        async move {
            while self.count.load(Ordering::Acquire) < target {
                self.reached.notified().await;
            }
        }
    }
}

fn event(round: u64, n: usize) -> DynamicEvent {
    DynamicEvent::builder("bench.tick")
        .id(format!("r{round}-{n}"))
        .json(&serde_json::json!({ "n": n, "note": "a small JSON payload" }))
        .build()
        .expect("an event")
}

fn loopback(c: &mut Criterion) {
    let Some(server) = common::NatsServer::start() else {
        eprintln!(
            "*** loopback: nats-server cannot be started (apt-get install nats-server): nothing measured ***"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let url = server.url();

    // The bridge: a producer system and a consumer system.
    let (producer, out, handled, bridge_in) = rt.block_on(async {
        let producer = EventSystem::builder().build().expect("a system");
        let nats = Nats::connect(NatsConfig::new(&url)).await.expect("nats");
        let out = Bridge::builder(&producer, nats)
            .export("bench.*")
            .max_unacked(UNACKED, 8192)
            .start()
            .await
            .expect("a bridge");
        let consumer = EventSystem::builder().build().expect("a system");
        let handled = Arc::new(Handled::default());
        let count = Arc::clone(&handled);
        let sub = consumer
            .on("bench.*", move |_: &EventRef<'_>| count.one())
            .expect("a handler");
        std::mem::forget(sub);
        let nats = Nats::connect(NatsConfig::new(&url)).await.expect("nats");
        let bridge_in = Bridge::builder(&consumer, nats)
            .group(Group::new("bench", "bench.*"))
            .start()
            .await
            .expect("a bridge");
        (producer, out, handled, (consumer, bridge_in))
    });

    // Raw async-nats: its own stream, the same setup; a client publishing and another one
    // consuming (as the bridge's two systems, and two processes, have).
    let (js, raw_consumer) = rt.block_on(async {
        let client = async_nats::connect(&url).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let consuming = async_nats::jetstream::new(async_nats::connect(&url).await.expect("nats"));
        let stream = consuming
            .get_or_create_stream(async_nats::jetstream::stream::Config {
                name: "RAW".to_owned(),
                subjects: vec!["raw.>".to_owned()],
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .expect("a stream");
        let consumer = stream
            .get_or_create_consumer(
                "raw",
                async_nats::jetstream::consumer::pull::Config {
                    durable_name: Some("raw".to_owned()),
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await
            .expect("a consumer");
        (js, consumer)
    });
    let raw_messages = rt.block_on(async { raw_consumer.messages().await.expect("messages") });
    let raw_messages = Arc::new(tokio::sync::Mutex::new(raw_messages));

    let mut group = c.benchmark_group("loopback");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    let bridge_round = |round: u64| {
        rt.block_on(async {
            let done = handled.expect(EVENTS as u64);
            for n in 0..EVENTS {
                producer
                    .publish_dynamic(event(round, n))
                    .await
                    .expect("published");
            }
            // Woken by the handler of the last one (as the raw side's round ends when its
            // consumer task does; a polling sleep would add up to a timer tick).
            done.await;
        })
    };
    let raw_round = |round: u64| {
        rt.block_on(async {
            let consume = {
                let messages = Arc::clone(&raw_messages);
                tokio::spawn(async move {
                    let mut messages = messages.lock().await;
                    let mut taken = 0;
                    while taken < EVENTS {
                        // An error is reported and the stream goes on (a heartbeat missed
                        // while the other side ran and nobody polled this one): as the
                        // bridge's member does, take the next item.
                        match messages.next().await.expect("a message") {
                            Ok(message) => {
                                message.ack().await.expect("acked");
                                taken += 1;
                            }
                            Err(error) => eprintln!("loopback/raw: consuming: {error}"),
                        }
                    }
                })
            };
            futures_util::stream::iter(0..EVENTS)
                .map(|n| {
                    let js = js.clone();
                    async move {
                        let event = event(round, n);
                        let (headers, payload) = JsonCodec.encode(&event).expect("encoded");
                        let mut map = async_nats::HeaderMap::new();
                        for (name, value) in &headers {
                            map.insert(name.as_str(), value.as_str());
                        }
                        let publish = async_nats::jetstream::message::PublishMessage::build()
                            .payload(payload)
                            .headers(map)
                            .message_id(event.id());
                        js.send_publish("raw.bench.tick", publish)
                            .await
                            .expect("sent")
                            .await
                            .expect("acknowledged");
                    }
                })
                .buffer_unordered(UNACKED)
                .collect::<Vec<()>>()
                .await;
            consume.await.expect("consumed");
        })
    };
    let mut round = 0u64;
    // `LOOPBACK_PROFILE=bridge` (or `raw`): only that side, `LOOPBACK_ROUNDS` rounds (50),
    // for a profiler (under callgrind: the instructions of this process per event, a
    // machine-independent count); prints the wall time and this process's CPU time per
    // round.
    if let Ok(side) = std::env::var("LOOPBACK_PROFILE") {
        let rounds: u32 = std::env::var("LOOPBACK_ROUNDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(50)
            .max(1);
        let (start, cpu_start, switches_start) = (Instant::now(), rusage(), switches());
        for _ in 0..rounds {
            round += 1;
            if side == "bridge" {
                bridge_round(round);
            } else {
                raw_round(round);
            }
        }
        let per_round = |seconds: f64| seconds * 1e3 / f64::from(rounds);
        let (cpu, switched) = (rusage(), switches());
        eprintln!(
            "loopback/{side}: per round {:.1} ms wall, this process's CPU {:.1} ms user + \
             {:.1} ms system, {:.0} context switches per 1,000 events",
            per_round(start.elapsed().as_secs_f64()),
            per_round(cpu.0 - cpu_start.0),
            per_round(cpu.1 - cpu_start.1),
            (switched - switches_start) as f64 * 1000.0 / (f64::from(rounds) * EVENTS as f64)
        );
        return;
    }
    group.bench_function("bridge", |b| {
        b.iter(|| {
            round += 1;
            bridge_round(round)
        })
    });
    group.bench_function("raw_async_nats", |b| {
        b.iter(|| {
            round += 1;
            raw_round(round)
        })
    });
    group.finish();

    // Paired: the two alternating (each first in every other pair), timed within a second
    // of each other, so that a drifting machine moves both.
    const PAIRS: usize = 20;
    let mut ratios = Vec::with_capacity(PAIRS);
    for pair in 0..PAIRS {
        let mut time = |bridge: bool| {
            round += 1;
            let start = Instant::now();
            if bridge {
                bridge_round(round);
            } else {
                raw_round(round);
            }
            start.elapsed().as_secs_f64()
        };
        let (bridge, raw) = if pair % 2 == 0 {
            let bridge = time(true);
            (bridge, time(false))
        } else {
            let raw = time(false);
            (time(true), raw)
        };
        if std::env::var_os("PAIRS_DEBUG").is_some() {
            eprintln!(
                "pair {pair}: bridge {:.1} ms raw {:.1} ms",
                bridge * 1e3,
                raw * 1e3
            );
        }
        ratios.push(bridge / raw);
    }
    ratios.sort_by(f64::total_cmp);
    eprintln!(
        "loopback/paired: bridge time / raw async-nats time, median of {PAIRS} pairs {:.2} \
         (quartiles {:.2} to {:.2})",
        ratios[PAIRS / 2],
        ratios[PAIRS / 4],
        ratios[3 * PAIRS / 4]
    );
    rt.block_on(async {
        bridge_in.1.shutdown().await;
        out.shutdown().await;
    });
    drop(server);
}

/// This process's context switches so far, voluntary and not: summed over its threads
/// (`/proc/self/task/*/status`).
fn switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// This process's user and system CPU time so far, in seconds (from `/proc/self/stat`;
/// zeros where it cannot be read).
fn rusage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th
    // and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let field = |n: usize| {
        rest.split_whitespace()
            .nth(n)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (field(11), field(12))
}

criterion_group!(benches, loopback);
criterion_main!(benches);
