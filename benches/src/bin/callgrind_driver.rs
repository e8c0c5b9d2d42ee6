//! Runs one dispatch mechanism N times, for instruction counting under callgrind.
//!
//! ```text
//! callgrind_driver <mechanism> <iterations>
//! ```
//!
//! Mechanisms of the `static_dispatch` group: `direct`, `harness` (what the `emit_*` ones
//! spend outside `emit`), `emit_free`, `publish_free`, `emit_plugin`, `emit_8`, `typeid`. Of
//! the `dynamic_dispatch` group: `dyn_push_1`, `dyn_push_8` (`emit_dynamic` to 1 or 8 glob
//! subscribers, cached route), `string_map_1`, `string_map_8`, and the 1P/1C channels
//! `channel_bus` and `channel_broadcast` (N events in batches of `CHANNEL_BATCH`, on the
//! bench's `current_thread` runtime), and the typed `channel_typed` /
//! `channel_typed_broadcast`. `dyn_push_8_no_metrics` and `channel_bus_no_metrics` are the
//! same with `enable_metrics(false)`, to count what the bus's counters cost.
//!
//! Setup (building the system and checking every handler is linked) is the same whatever N is,
//! so `(Ir(N = 1_000_000) - Ir(N = 0)) / 1_000_000` is the cost of one event, loop included
//! (`scripts/instructions.sh` does that subtraction). As in the criterion bench, the dispatcher
//! goes through `black_box` with the event, so nothing loop-invariant is hoisted out of the loop.

use std::hint::black_box;
use std::process::ExitCode;

use std::sync::Arc;

use bytes::Bytes;
use staticbus::EventSystem;
use staticbus_benches::{
    BroadcastChannel, BusChannel, CHANNEL_BATCH, DYN_PAYLOAD, DYN_TOPIC, DynamicPush, EightMixed,
    OneFree, OnePlugin, StringMap, Tick, TypeIdMap, TypedBroadcast, TypedChannel, channel_runtime,
    checked_system, direct_call, dyn_event, emit, emit_dynamic, publish_now,
};

const USAGE: &str = "usage: callgrind_driver <mechanism> <iterations>
mechanisms: direct harness emit_free publish_free emit_plugin emit_8 typeid
            dyn_push_1 dyn_push_8 dyn_push_8_no_metrics string_map_1 string_map_8
            channel_bus channel_bus_no_metrics channel_broadcast
            channel_typed channel_typed_broadcast request_direct request_typed";

fn repeat(n: u64, mut f: impl FnMut()) {
    for _ in 0..n {
        f();
    }
}

/// Runs `n` events through `batch` (which moves up to `CHANNEL_BATCH` per call).
fn batches(n: u64, mut batch: impl FnMut(usize) -> usize) {
    let mut left = n;
    while left > 0 {
        let size = left.min(CHANNEL_BATCH as u64);
        // `size` is at most CHANNEL_BATCH, a usize.
        assert_eq!(batch(size as usize) as u64, size, "every event arrives");
        left -= size;
    }
}

fn push(subscribers: usize, metrics: bool) -> DynamicPush {
    DynamicPush::with_builder(EventSystem::builder().enable_metrics(metrics), subscribers)
        .expect("a system with push subscribers")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mechanism, n) = match args.as_slice() {
        [mechanism, n] => match n.parse::<u64>() {
            Ok(n) => (mechanism.as_str(), n),
            Err(err) => {
                eprintln!("bad iteration count {n:?}: {err}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };

    let system = match checked_system() {
        Ok(system) => system,
        Err(err) => {
            eprintln!("cannot build the event system: {err}");
            return ExitCode::FAILURE;
        }
    };
    let map = TypeIdMap::with_one_handler();
    let free = OneFree { value: 1 };
    let plugin = OnePlugin { value: 1 };
    let eight = EightMixed { value: 1 };

    match mechanism {
        "direct" => repeat(n, || direct_call(black_box(&free))),
        // What the `emit_*` mechanisms spend outside `emit`: the same three `black_box`es and
        // the loop, with the event's value standing in for the handled count.
        "harness" => repeat(n, || {
            black_box(black_box(&system));
            black_box(black_box(&free).value);
        }),
        "emit_free" => repeat(n, || {
            black_box(emit(black_box(&system), black_box(&free)));
        }),
        "publish_free" => {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            repeat(n, || {
                black_box(publish_now(black_box(&system), *black_box(&free), &mut cx));
            })
        }
        "emit_plugin" => repeat(n, || {
            black_box(emit(black_box(&system), black_box(&plugin)));
        }),
        "emit_8" => repeat(n, || {
            black_box(emit(black_box(&system), black_box(&eight)));
        }),
        "typeid" => repeat(n, || {
            black_box(black_box(&map).emit(black_box(&free)));
        }),
        "dyn_push_1" | "dyn_push_8" | "dyn_push_8_no_metrics" => {
            let push = match mechanism {
                "dyn_push_1" => push(1, true),
                "dyn_push_8" => push(8, true),
                _ => push(8, false),
            };
            let event = dyn_event();
            repeat(n, || {
                black_box(emit_dynamic(black_box(push.system()), black_box(&event)));
            });
        }
        "string_map_1" | "string_map_8" => {
            let map = StringMap::with_handlers(if mechanism == "string_map_1" { 1 } else { 8 });
            let payload = Arc::new(Bytes::from_static(DYN_PAYLOAD));
            repeat(n, || {
                black_box(black_box(&map).emit(black_box(DYN_TOPIC), black_box(&payload)));
            });
        }
        "channel_bus" | "channel_bus_no_metrics" => {
            let rt = channel_runtime();
            let builder = EventSystem::builder().enable_metrics(mechanism == "channel_bus");
            let bus = BusChannel::with_builder(builder, &rt).expect("a system with a subscriber");
            let event = dyn_event();
            batches(n, |size| {
                black_box(&bus).batch(&rt, black_box(&event), size)
            });
        }
        "channel_typed" => {
            let rt = channel_runtime();
            let typed = TypedChannel::new(&rt).expect("a system with a typed subscriber");
            batches(n, |size| {
                black_box(&typed).batch(&rt, *black_box(&Tick { value: 1 }), size)
            });
        }
        "channel_typed_broadcast" => {
            let rt = channel_runtime();
            let mut typed = TypedBroadcast::new();
            batches(n, |size| {
                black_box(&mut typed).batch(&rt, *black_box(&Tick { value: 1 }), size)
            });
        }
        "channel_broadcast" => {
            let rt = channel_runtime();
            let mut broadcast = BroadcastChannel::new();
            let shared = Arc::new(dyn_event());
            batches(n, |size| {
                black_box(&mut broadcast).batch(&rt, black_box(&shared), size)
            });
        }
        "request_direct" | "request_typed" => {
            let rt = channel_runtime();
            let system = EventSystem::builder().build().expect("a system");
            let quoter = staticbus_benches::Quoter::default();
            let mut left = n;
            while left > 0 {
                let size = left.min(staticbus_benches::REQUEST_BATCH as u64);
                // `size` is at most REQUEST_BATCH, a usize.
                if mechanism == "request_direct" {
                    black_box(staticbus_benches::direct_batch(&rt, &quoter, size as usize));
                } else {
                    black_box(staticbus_benches::request_batch(
                        &rt,
                        &system,
                        size as usize,
                    ));
                }
                left -= size;
            }
        }
        other => {
            eprintln!("unknown mechanism {other:?}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
