//! `verify` against stores corrupted on purpose with SQLite directly: each problem found
//! and listed, exit 5; a sound store passes with a checksum that follows its rows.

mod common;

use common::{assert_code, json, run, sample, stdout};

fn corrupt(store: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.execute_batch(sql).unwrap();
}

fn problems(output: &std::process::Output) -> Vec<(String, Option<u64>, String)> {
    json(output)["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["position"].as_u64(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_sound_store_verifies_with_a_checksum_of_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let output = run(&store, &["--json", "verify"]);
    assert_code(&output, 0);
    let report = json(&output);
    assert_eq!(report["ok"], true);
    assert_eq!(report["events"], 9);
    assert_eq!(report["streams"], 4);
    assert_eq!(report["last_position"], 9);
    let checksum = report["checksum"].as_str().unwrap().to_owned();
    assert!(
        checksum.starts_with("fnv1a128:") && checksum.len() == 9 + 32,
        "{checksum}"
    );
    // Stable: the same rows, the same checksum.
    assert_eq!(
        json(&run(&store, &["--json", "verify"]))["checksum"],
        checksum.as_str()
    );
    let text = stdout(&run(&store, &["verify"]));
    assert!(text.contains(&checksum) && text.contains("ok"), "{text}");

    // One byte of one payload changed: another checksum, and still no problem.
    corrupt(
        &store,
        "UPDATE events SET payload = x'01' WHERE position = 8",
    );
    let output = run(&store, &["--json", "verify"]);
    assert_code(&output, 0);
    assert_ne!(json(&output)["checksum"], checksum.as_str());
}

#[test]
fn a_deleted_row_is_a_gap_in_positions_and_in_its_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    // Position 3 is order-1's revision 1.
    corrupt(&store, "DELETE FROM events WHERE position = 3");
    let output = run(&store, &["--json", "verify"]);
    assert_code(&output, 5);
    assert_eq!(json(&output)["ok"], false);
    let found = problems(&output);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "gap");
    assert_eq!(found[0].1, Some(4));
    assert!(found[0].2.contains("position 3 is missing"), "{found:?}");
    assert_eq!(found[1].0, "revision");
    assert_eq!(found[1].1, Some(5));
    assert!(
        found[1]
            .2
            .contains("stream `order-1`: revision 2 follows revision 0: revision 1 is missing"),
        "{found:?}"
    );

    let output = run(&store, &["verify"]);
    assert_code(&output, 5);
    let text = stdout(&output);
    assert!(
        text.contains("problem (gap): position 3 is missing"),
        "{text}"
    );
    assert!(common::stderr(&output).contains("has 2 problems"));
}

#[test]
fn an_edited_revision_and_rows_that_do_not_decode_are_each_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    corrupt(
        &store,
        "UPDATE events SET revision = 7 WHERE position = 5;          -- order-1: 0, 1, 7
         UPDATE events SET metadata = '[1, 2]' WHERE position = 1;
         UPDATE events SET timestamp = 9223372036854775807 WHERE position = 2;
         UPDATE events SET topic = 'Not A Topic' WHERE position = 4;
         INSERT INTO checkpoints (name, position) VALUES ('ahead', 99);",
    );
    let output = run(&store, &["--json", "verify"]);
    assert_code(&output, 5);
    let found = problems(&output);
    let kinds: Vec<(&str, Option<u64>)> = found.iter().map(|p| (p.0.as_str(), p.1)).collect();
    assert_eq!(
        kinds,
        [
            ("row", Some(1)),
            ("row", Some(2)),
            ("row", Some(4)),
            ("revision", Some(5)),
            ("checkpoint", None)
        ],
        "{found:?}"
    );
    assert!(found[0].2.contains("metadata"), "{found:?}");
    assert!(found[1].2.contains("timestamp"), "{found:?}");
    assert!(found[2].2.contains("topic"), "{found:?}");
    assert!(
        found[3]
            .2
            .contains("revision 7 follows revision 1: revisions 2..=6 are")
    );
    assert!(
        found[4].2.contains("`ahead` is at position 99"),
        "{found:?}"
    );
}

#[test]
fn revisions_out_of_position_order_are_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    // order-1 is at positions 1, 3, 5 with revisions 0, 1, 2: swap the last two.
    corrupt(
        &store,
        "UPDATE events SET revision = 100 WHERE position = 3;
         UPDATE events SET revision = 1 WHERE position = 5;
         UPDATE events SET revision = 2 WHERE position = 3;",
    );
    let found = problems(&run(&store, &["--json", "verify"]));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].2.contains("revision 2 follows revision 0"),
        "{found:?}"
    );
    assert!(
        found[1].2.contains("revision 1 comes after revision 2"),
        "{found:?}"
    );
}
