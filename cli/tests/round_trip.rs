//! Export, then import: the same events in a fresh store (ids, topics, payloads, streams,
//! revisions, metadata, times: the same checksum); importing twice stores nothing new; a
//! malformed line stops the import there, or is skipped with --keep-going.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{assert_code, json, json_lines, run, sample, stderr, stdout};
use staticbus_store::admin::StoreFile;

fn rows(path: &std::path::Path) -> Vec<staticbus_store::StoredEvent> {
    let file = StoreFile::open(path, std::time::Duration::from_secs(1)).unwrap();
    file.events(1, u64::MAX, 1000).unwrap()
}

#[test]
fn an_export_imported_into_a_fresh_store_gives_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let source = sample(&dir);
    let file = dir.path().join("export.jsonl");
    let output = run(&source, &["export", "-o", file.to_str().unwrap()]);
    assert_code(&output, 0);
    // Not a terminal: no progress bar drawn.
    assert_eq!(stderr(&output), "");

    let copy = dir.path().join("copy.db");
    let output = run(&copy, &["--json", "import", file.to_str().unwrap()]);
    assert_code(&output, 0);
    assert_eq!(stderr(&output), "");
    let report = json(&output);
    assert_eq!(report["imported"], 9);
    assert_eq!(report["present"], 0);
    assert_eq!(report["renumbered"], 0);

    let (before, after) = (rows(&source), rows(&copy));
    assert_eq!(before.len(), 9);
    assert_eq!(
        before, after,
        "every field of every event, positions included"
    );
    // A metadata key that is not an extension name came back as it was.
    assert_eq!(after[0].metadata["trace-id"], "trace-0");
    assert_eq!(after[0].metadata["Source"], "upstream");
    // Core attributes taken from metadata went back there; the export's defaults did not.
    assert_eq!(after[1].metadata["source"], "billing");
    assert_eq!(after[3].metadata["datacontenttype"], "text/plain");
    assert!(!after[0].metadata.contains_key("source"));
    assert!(!after[0].metadata.contains_key("datacontenttype"));
    assert_eq!(after[8].payload, b"{\n  \"pretty\": true\n}");

    let sum = |path| json(&run(path, &["--json", "verify"]))["checksum"].clone();
    assert_eq!(sum(&source), sum(&copy));
}

#[test]
fn importing_the_same_file_twice_stores_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let source = sample(&dir);
    let file = dir.path().join("export.jsonl");
    assert_code(&run(&source, &["export", "-o", file.to_str().unwrap()]), 0);
    let copy = dir.path().join("copy.db");
    assert_code(&run(&copy, &["import", file.to_str().unwrap()]), 0);
    let output = run(&copy, &["import", file.to_str().unwrap()]);
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("imported 0 events, 9 already present"),
        "{}",
        stdout(&output)
    );
    assert_eq!(rows(&copy).len(), 9);
    // Into the store the events came from: all of them are there already.
    let report = json(&run(&source, &["--json", "import", file.to_str().unwrap()]));
    assert_eq!(
        (report["imported"].as_u64(), report["present"].as_u64()),
        (Some(0), Some(9))
    );
}

#[test]
fn import_reads_standard_input_and_reports_renumbered_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let source = sample(&dir);
    // Only order.paid: part of its stream.
    let export = run(&source, &["export", "--topic", "order.paid"]);
    let copy = dir.path().join("copy.db");
    let mut child = common::command()
        .args(["--json", "--store", copy.to_str().unwrap(), "import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export.stdout)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_code(&output, 0);
    let report = json(&output);
    assert_eq!(report["file"], "standard input");
    assert_eq!(report["imported"], 1);
    // order.paid was order-1's revision 1; alone in the copy it is revision 0.
    assert_eq!(report["renumbered"], 1);
    assert_eq!(rows(&copy)[0].revision, 0);
}

fn lines_with_a_bad_third(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let source = sample(dir);
    let mut lines: Vec<String> = stdout(&run(&source, &["export"]))
        .lines()
        .map(str::to_owned)
        .collect();
    lines.insert(
        2,
        r#"{"specversion":"1.0","id":"x","type":"a.b"}"#.to_owned(),
    );
    lines.insert(4, "not json at all".to_owned());
    lines.insert(5, String::new());
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    file
}

#[test]
fn a_malformed_line_stops_the_import_there_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = lines_with_a_bad_third(&dir);
    let copy = dir.path().join("copy.db");
    let output = run(&copy, &["import", file.to_str().unwrap()]);
    assert_code(&output, 7);
    let error = stderr(&output);
    assert!(error.contains("bad.jsonl` line 3"), "{error}");
    assert!(error.contains("`stream`"), "{error}");
    assert!(error.contains("nothing after it"), "{error}");
    assert!(
        stdout(&output).contains("imported 2 events"),
        "{}",
        stdout(&output)
    );
    let ids: Vec<String> = rows(&copy).into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["event-0", "event-1"]);
}

#[test]
fn keep_going_skips_and_reports_each_malformed_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = lines_with_a_bad_third(&dir);
    let copy = dir.path().join("copy.db");
    let output = run(
        &copy,
        &["--json", "import", "--keep-going", file.to_str().unwrap()],
    );
    assert_code(&output, 7);
    let report = json(&output);
    assert_eq!(report["imported"], 9);
    let skipped: Vec<u64> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["line"].as_u64().unwrap())
        .collect();
    assert_eq!(skipped, [3, 5]);
    assert!(
        report["skipped"][1]["error"]
            .as_str()
            .unwrap()
            .contains("line 5: not a JSON")
    );
    assert_eq!(rows(&copy).len(), 9);
}

#[test]
fn an_event_the_store_refuses_is_named_by_line_and_the_others_before_it_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    let source = sample(&dir);
    let export = stdout(&run(&source, &["export"]));
    let mut lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // event-0 again, in another stream: the store refuses the id there.
    let mut moved = lines[0].clone();
    moved["stream"] = "elsewhere".into();
    lines.insert(3, moved);
    let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
    let file = dir.path().join("conflict.jsonl");
    std::fs::write(&file, text.join("\n") + "\n").unwrap();
    let copy = dir.path().join("copy.db");
    let output = run(&copy, &["import", file.to_str().unwrap()]);
    assert_code(&output, 7);
    let error = stderr(&output);
    assert!(
        error.contains("conflict.jsonl` line 4: event `event-0`"),
        "{error}"
    );
    assert_eq!(rows(&copy).len(), 3);
    assert_eq!(json_lines(&run(&copy, &["--json", "tail"])).len(), 3);
}
