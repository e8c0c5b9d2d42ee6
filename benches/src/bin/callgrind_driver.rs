//! Runs one dispatch mechanism N times, for instruction counting under callgrind.
//!
//! ```text
//! callgrind_driver <mechanism> <iterations>
//! ```
//!
//! Mechanisms: `direct`, `emit_free`, `emit_plugin`, `emit_8`, `typeid`. Setup (building the
//! system and checking every handler is linked) is the same whatever N is, so
//! `(Ir(N = 1_000_000) - Ir(N = 0)) / 1_000_000` is the cost of one event, loop included
//! (`scripts/instructions.sh` does that subtraction). As in the criterion bench, the dispatcher
//! goes through `black_box` with the event, so nothing loop-invariant is hoisted out of the loop.

use std::hint::black_box;
use std::process::ExitCode;

use staticbus_benches::{
    EightMixed, OneFree, OnePlugin, TypeIdMap, checked_system, direct_call, emit,
};

const USAGE: &str =
    "usage: callgrind_driver <direct|emit_free|emit_plugin|emit_8|typeid> <iterations>";

fn repeat(n: u64, mut f: impl FnMut()) {
    for _ in 0..n {
        f();
    }
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
        "emit_free" => repeat(n, || {
            black_box(emit(black_box(&system), black_box(&free)));
        }),
        "emit_plugin" => repeat(n, || {
            black_box(emit(black_box(&system), black_box(&plugin)));
        }),
        "emit_8" => repeat(n, || {
            black_box(emit(black_box(&system), black_box(&eight)));
        }),
        "typeid" => repeat(n, || {
            black_box(black_box(&map).emit(black_box(&free)));
        }),
        other => {
            eprintln!("unknown mechanism {other:?}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
