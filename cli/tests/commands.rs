//! Each read-only command against a store with known events: its output for people, its
//! `--json` output parsed, its options.

mod common;

use common::{SAMPLE, assert_code, json, json_lines, run, sample, stderr, stdout};

#[test]
fn stats_counts_events_streams_topics_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let output = run(&store, &["--json", "stats"]);
    assert_code(&output, 0);
    let stats = json(&output);
    assert_eq!(stats["events"], 9);
    assert_eq!(stats["streams"], 4);
    assert_eq!(stats["first_position"], 1);
    assert_eq!(stats["last_position"], 9);
    assert_eq!(stats["first_time"], "2023-11-14T22:13:20Z");
    assert_eq!(stats["topics"]["order.placed"], 2);
    assert_eq!(stats["topics"]["audit.empty"], 1);
    assert_eq!(stats["topics"].as_object().unwrap().len(), 8);
    assert!(stats["file_bytes"].as_u64().unwrap() > 0);

    let output = run(&store, &["stats"]);
    assert_code(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("events   9"), "{text}");
    assert!(text.contains("streams  4"), "{text}");
    assert!(text.contains("order.placed     2"), "{text}");
}

#[test]
fn stats_of_an_empty_store_has_no_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("empty.db");
    common::append(&store, "s", Vec::new());
    let stats = json(&run(&store, &["--json", "stats"]));
    assert_eq!(stats["events"], 0);
    assert!(stats["first_position"].is_null());
    assert!(stats["last_time"].is_null());
}

#[test]
fn tail_prints_the_last_events_in_order_filtered_by_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let output = run(&store, &["--json", "tail", "-n", "3"]);
    assert_code(&output, 0);
    let positions: Vec<String> = json_lines(&output)
        .iter()
        .map(|e| e["sequence"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(positions, ["7", "8", "9"]);

    let output = run(&store, &["--json", "tail", "--topic", "order.*", "-n", "2"]);
    let events = json_lines(&output);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["order.shipped", "order.cancelled"]);

    let output = run(&store, &["--json", "tail", "--topic", "^stock\\..*$"]);
    assert_eq!(json_lines(&output).len(), 1);

    // The default is 10: all 9; for people, one line each.
    let output = run(&store, &["tail"]);
    assert_code(&output, 0);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 9, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("order-1@0  order.placed"),
        "{text}"
    );
    assert!(text.contains("<5 bytes>"), "{text}");
}

#[test]
fn a_bad_topic_pattern_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let output = run(&store, &["tail", "--topic", "^(order$"]);
    assert_code(&output, 2);
    assert!(stderr(&output).contains("--topic"), "{}", stderr(&output));
}

#[test]
fn read_gives_one_stream_both_ways_from_a_revision_up_to_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let revisions = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["--json", "read"];
        all.extend_from_slice(args);
        let output = run(&store, &all);
        assert_code(&output, 0);
        json_lines(&output)
            .iter()
            .map(|e| e["revision"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(revisions(&["order-1"]), [0, 1, 2]);
    assert_eq!(revisions(&["order-1", "--from", "1"]), [1, 2]);
    assert_eq!(revisions(&["order-1", "--backwards"]), [2, 1, 0]);
    assert_eq!(
        revisions(&["order-1", "--backwards", "--from", "1"]),
        [1, 0]
    );
    assert_eq!(revisions(&["order-1", "--limit", "2"]), [0, 1]);
    assert_eq!(revisions(&["nobody"]), Vec::<u64>::new());

    let output = run(&store, &["read", "order-2"]);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("order-2@1  order.cancelled"), "{text}");
    let output = run(&store, &["read", "nobody"]);
    assert_code(&output, 0);
    assert!(stderr(&output).contains("`nobody` has no events"));
}

#[test]
fn export_writes_cloudevents_lines_between_positions_for_a_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let output = run(&store, &["export"]);
    assert_code(&output, 0);
    let events = json_lines(&output);
    assert_eq!(events.len(), SAMPLE.len());
    let first = &events[0];
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["id"], "event-0");
    assert_eq!(first["source"], "staticbus-store");
    assert_eq!(first["type"], "order.placed");
    assert_eq!(first["time"], "2023-11-14T22:13:20Z");
    assert_eq!(first["datacontenttype"], "application/json");
    assert_eq!(first["data"], serde_json::json!({ "n": 0, "b": [1, 2.5] }));
    assert_eq!(first["stream"], "order-1");
    assert_eq!(first["revision"], 0);
    assert_eq!(first["sequence"], "1");
    assert_eq!(first["schemaversion"], 1);
    // Metadata: a valid extension name as it is, the others renamed and listed.
    assert_eq!(first["correlation"], "c-1");
    assert_eq!(first["traceid"], "trace-0");
    assert_eq!(first["source2"], "upstream");
    let names: serde_json::Value =
        serde_json::from_str(first["metadatanames"].as_str().unwrap()).unwrap();
    assert_eq!(
        names,
        serde_json::json!({ "traceid": "trace-id", "source2": "Source" })
    );
    assert_eq!(events[1]["time"], "2023-11-14T22:13:21.234567Z");
    // Metadata named as core attributes are those attributes, listed as taken from metadata.
    assert_eq!(events[1]["source"], "billing");
    assert_eq!(events[1]["subject"], "order-2");
    assert_eq!(events[1]["dataschema"], "https://example.com/order.json");
    assert!(first.get("subject").is_none() && first.get("dataschema").is_none());
    let names: serde_json::Value =
        serde_json::from_str(events[1]["metadatanames"].as_str().unwrap()).unwrap();
    assert_eq!(names["source"], "source");
    // A text content type: the payload is not JSON text to the reader, so base64.
    assert_eq!(events[3]["datacontenttype"], "text/plain");
    assert!(events[3].get("data").is_none() && events[3].get("data_base64").is_some());
    // Binary: base64; empty: no data; pretty JSON (a newline): base64, still JSON.
    assert_eq!(events[6]["data_base64"], "AJ+Slgo=");
    assert_eq!(events[6]["datacontenttype"], "application/octet-stream");
    assert!(events[7].get("data").is_none() && events[7].get("data_base64").is_none());
    assert_eq!(events[8]["datacontenttype"], "application/json");
    assert!(events[8].get("data_base64").is_some());

    let output = run(
        &store,
        &["export", "--from", "2", "--to", "5", "--topic", "order.*"],
    );
    let ids: Vec<String> = json_lines(&output)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["event-1", "event-2", "event-4"]);

    let file = dir.path().join("out.jsonl");
    let output = run(
        &store,
        &["--json", "export", "--output", file.to_str().unwrap()],
    );
    assert_code(&output, 0);
    assert_eq!(json(&output)["exported"], 9);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, stdout(&run(&store, &["export"])));
}

#[test]
fn snapshots_says_when_there_is_no_table_and_lists_rows_when_there_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let conn = rusqlite::Connection::open(&store).unwrap();
    // A new store has the table, with no rows.
    let listing = json(&run(&store, &["--json", "snapshots"]));
    assert_eq!(listing["table"], true);
    assert_eq!(listing["snapshots"], serde_json::json!([]));
    assert_eq!(stdout(&run(&store, &["snapshots"])).trim(), "no snapshots");
    // A store written before snapshots existed has none.
    conn.execute_batch("DROP TABLE snapshots").unwrap();
    let output = run(&store, &["snapshots"]);
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("no snapshots table"),
        "{}",
        stdout(&output)
    );
    let listing = json(&run(&store, &["--json", "snapshots"]));
    assert_eq!(listing["table"], false);
    assert_eq!(listing["snapshots"], serde_json::json!([]));

    // The table as the store writes it.
    conn.execute_batch(
        "CREATE TABLE snapshots (stream TEXT PRIMARY KEY, revision INTEGER NOT NULL,
                                 version INTEGER NOT NULL, payload BLOB NOT NULL);
         INSERT INTO snapshots VALUES ('order-1', 2, 1, x'7b7d'), ('cart-3', 40, 2, x'00112233');",
    )
    .unwrap();
    drop(conn);
    let listing = json(&run(&store, &["--json", "snapshots"]));
    assert_eq!(listing["table"], true);
    assert_eq!(
        listing["snapshots"],
        serde_json::json!([
            { "stream": "cart-3", "revision": 40, "version": 2, "bytes": 4 },
            { "stream": "order-1", "revision": 2, "version": 1, "bytes": 2 },
        ])
    );
    let text = stdout(&run(&store, &["snapshots"]));
    assert!(text.contains("cart-3"), "{text}");
}

#[test]
fn the_store_comes_from_the_environment_or_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let output = common::command()
        .env("STATICBUS_STORE", &store)
        .args(["--json", "stats"])
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(json(&output)["events"], 9);

    let output = common::command().arg("stats").output().unwrap();
    assert_code(&output, 2);
    assert!(
        stderr(&output).contains("STATICBUS_STORE"),
        "{}",
        stderr(&output)
    );
    let output = common::command()
        .args(["--store", "x", "frobnicate"])
        .output()
        .unwrap();
    assert_code(&output, 2);
}

#[test]
fn help_lists_the_exit_codes() {
    let output = common::command().arg("--help").output().unwrap();
    assert_code(&output, 0);
    let text = stdout(&output);
    for line in [
        "3  no event store",
        "4  the store is locked",
        "5  the store is corrupt",
    ] {
        assert!(text.contains(line), "{text}");
    }
}
