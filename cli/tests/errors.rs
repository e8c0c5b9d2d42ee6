//! Every failure's exit code, and messages that name the file and the problem: a missing
//! store (never created), a file that is not a store, a locked database, a corrupt row, an
//! export or import file that cannot be written or read.

mod common;

use common::{assert_code, run, sample, stderr};

const READ_ONLY: &[&[&str]] = &[
    &["stats"],
    &["tail"],
    &["read", "order-1"],
    &["export"],
    &["verify"],
    &["snapshots"],
];

#[test]
fn a_missing_store_is_exit_3_naming_the_file_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here.db");
    for args in READ_ONLY {
        let output = run(&missing, args);
        assert_code(&output, 3);
        let error = stderr(&output);
        assert!(error.contains("nothing-here.db"), "{args:?}: {error}");
        assert!(error.contains("does not exist"), "{args:?}: {error}");
        assert!(!missing.exists(), "{args:?} created the store");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_file_that_is_not_a_store_is_exit_3_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "these are not events\n".repeat(100)).unwrap();
    for args in READ_ONLY.iter().chain([&["import", "-"][..]].iter()) {
        let output = run(&text, args);
        assert_code(&output, 3);
        let error = stderr(&output);
        assert!(error.contains("notes.txt"), "{args:?}: {error}");
        assert!(error.contains("not a database"), "{args:?}: {error}");
    }

    let other = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE users (name TEXT)")
        .unwrap();
    drop(conn);
    let empty_import = dir.path().join("empty.jsonl");
    std::fs::write(&empty_import, "").unwrap();
    for args in [&["stats"][..], &["import", empty_import.to_str().unwrap()]] {
        let output = run(&other, args);
        assert_code(&output, 3);
        let error = stderr(&output);
        assert!(error.contains("other.db"), "{error}");
        assert!(error.contains("not a staticbus event store"), "{error}");
    }
    let conn = rusqlite::Connection::open(&other).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        tables, 1,
        "import added tables to another application's database"
    );
}

#[test]
fn a_locked_store_is_exit_4_for_import_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let file = dir.path().join("export.jsonl");
    assert_code(&run(&store, &["export", "-o", file.to_str().unwrap()]), 0);

    let holder = rusqlite::Connection::open(&store).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let output = run(&store, &["import", file.to_str().unwrap()]);
    assert_code(&output, 4);
    let error = stderr(&output);
    assert!(error.contains("events.db"), "{error}");
    assert!(error.contains("locked by another process"), "{error}");
    // In WAL mode readers never wait for the writer: reading still works.
    assert_code(&run(&store, &["stats"]), 0);
    holder.execute_batch("ROLLBACK").unwrap();
    assert_code(&run(&store, &["import", file.to_str().unwrap()]), 0);
}

#[test]
fn a_store_locked_even_for_readers_is_exit_4_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    // Exclusive locking mode: after its first write, this connection keeps every lock.
    let holder = rusqlite::Connection::open(&store).unwrap();
    holder
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; \
             INSERT INTO meta (key, value) VALUES ('held', 'yes'); COMMIT;",
        )
        .unwrap();
    for args in READ_ONLY {
        let output = run(&store, args);
        assert_code(&output, 4);
        let error = stderr(&output);
        assert!(error.contains("events.db"), "{args:?}: {error}");
        assert!(error.contains("locked"), "{args:?}: {error}");
    }
    drop(holder);
    assert_code(&run(&store, &["stats"]), 0);
}

#[test]
fn a_row_that_does_not_decode_is_exit_5_naming_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let conn = rusqlite::Connection::open(&store).unwrap();
    conn.execute(
        "UPDATE events SET metadata = 'not json' WHERE position = 2",
        [],
    )
    .unwrap();
    drop(conn);
    for args in [&["read", "order-2"][..], &["export"], &["tail"]] {
        let output = run(&store, args);
        assert_code(&output, 5);
        let error = stderr(&output);
        assert!(error.contains("events.db` is corrupt"), "{args:?}: {error}");
        assert!(error.contains("position 2"), "{args:?}: {error}");
    }
    // What does not touch the row still works.
    assert_code(&run(&store, &["read", "order-1"]), 0);
}

#[test]
fn an_export_file_that_cannot_be_written_is_exit_6_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample(&dir);
    let target = dir.path().join("no-such-dir").join("out.jsonl");
    let output = run(&store, &["export", "--output", target.to_str().unwrap()]);
    assert_code(&output, 6);
    let error = stderr(&output);
    assert!(error.contains("no-such-dir/out.jsonl"), "{error}");
    assert!(error.contains("cannot create"), "{error}");
}

#[test]
fn an_import_file_that_cannot_be_read_is_exit_6_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.db");
    let output = run(&store, &["import", "/nonexistent/export.jsonl"]);
    assert_code(&output, 6);
    let error = stderr(&output);
    assert!(error.contains("/nonexistent/export.jsonl"), "{error}");
    assert!(
        !store.exists(),
        "the store was created for a file that cannot be read"
    );
}
