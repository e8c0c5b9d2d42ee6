//! What the tests share: running the real binary, a store with known events in it.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use staticbus_store::{Expected, NewEvent, Store};

/// The binary, with no `STATICBUS_STORE` from the environment and a short busy timeout.
pub(crate) fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_staticbus"));
    command.env_remove("STATICBUS_STORE");
    command.stdin(Stdio::null());
    command
}

/// Runs the binary with `args` against the store at `store`.
pub(crate) fn run(store: &Path, args: &[&str]) -> Output {
    command()
        .arg("--store")
        .arg(store)
        .args(["--busy-timeout", "300"])
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Standard output as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// Standard error as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 errors")
}

/// The exit code (panics if the process was killed by a signal).
pub(crate) fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code")
}

/// Asserts the command exited with `expected`, showing its output if not.
pub(crate) fn assert_code(output: &Output, expected: i32) {
    assert_eq!(
        code(output),
        expected,
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

/// Standard output parsed as one JSON value.
pub(crate) fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("not one JSON value ({e}):\n{}", stdout(output));
    })
}

/// Standard output parsed as JSON lines.
pub(crate) fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Appends `events` to `stream` in the store at `path` (created if needed), then closes it.
pub(crate) fn append(path: &Path, stream: &str, events: Vec<NewEvent>) {
    runtime().block_on(async {
        let store = Store::open(path).unwrap();
        store.append(stream, Expected::Any, events).await.unwrap();
        store.close().await.unwrap();
    });
}

/// The sample's events, in position order.
pub(crate) const SAMPLE: &[(&str, &str)] = &[
    ("order-1", "order.placed"),
    ("order-2", "order.placed"),
    ("order-1", "order.paid"),
    ("stock-9", "stock.moved"),
    ("order-1", "order.shipped"),
    ("order-2", "order.cancelled"),
    ("audit", "audit.binary"),
    ("audit", "audit.empty"),
    ("audit", "audit.pretty"),
];

/// A store at `dir/events.db` holding [`SAMPLE`]: JSON payloads, metadata whose keys are
/// and are not CloudEvents extension names, a binary, an empty and a pretty-printed JSON
/// payload, times with microseconds, schema versions other than 1; `source`, `subject`,
/// `dataschema` (event 1) and `datacontenttype` (event 3, `text/plain` over a JSON payload)
/// in metadata, as the runtime persists a dynamic event's attributes.
pub(crate) fn sample(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("events.db");
    runtime().block_on(async {
        let store = Store::open(&path).unwrap();
        for (n, (stream, topic)) in SAMPLE.iter().enumerate() {
            let at =
                jiff::Timestamp::from_microsecond(1_700_000_000_000_000 + n as i64 * 1_234_567)
                    .unwrap();
            let event = match *topic {
                "audit.binary" => NewEvent::new(*topic, vec![0u8, 159, 146, 150, 10]),
                "audit.empty" => NewEvent::new(*topic, Vec::new()),
                "audit.pretty" => NewEvent::new(*topic, b"{\n  \"pretty\": true\n}".to_vec()),
                _ => NewEvent::json(*topic, &serde_json::json!({ "n": n, "b": [1, 2.5] })).unwrap(),
            };
            let event = event
                .id(format!("event-{n}"))
                .timestamp(at)
                .schema_version(1 + (n as u32 % 3))
                .metadata("trace-id", format!("trace-{n}"))
                .metadata("correlation", "c-1")
                .metadata("Source", "upstream");
            // The attributes the runtime persists under their CloudEvents names.
            let event = match n {
                1 => event
                    .metadata("source", "billing")
                    .metadata("subject", "order-2")
                    .metadata("dataschema", "https://example.com/order.json"),
                3 => event.metadata("datacontenttype", "text/plain"),
                _ => event,
            };
            store
                .append(*stream, Expected::Any, vec![event])
                .await
                .unwrap();
        }
        store.close().await.unwrap();
    });
    path
}
