//! Appending: positions and revisions, optimistic concurrency, idempotent retries, atomic
//! appends to several streams, bad input refused with nothing lost, reopening.

use staticbus_store::{
    Direction, Durability, Expected, NewEvent, ReadFilter, Store, StoreError, StoreOptions,
};

fn event(topic: &str, n: u32) -> NewEvent {
    NewEvent::json(topic, &serde_json::json!({ "n": n })).expect("JSON")
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("events.db")).expect("the store opens")
}

#[tokio::test]
async fn positions_are_global_and_revisions_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = store
        .append(
            "a",
            Expected::NoStream,
            vec![event("t.x", 1), event("t.x", 2)],
        )
        .await
        .unwrap();
    let b = store
        .append("b", Expected::Any, vec![event("t.y", 3)])
        .await
        .unwrap();
    let a2 = store
        .append("a", Expected::Exact(1), vec![event("t.x", 4)])
        .await
        .unwrap();
    assert_eq!(
        (a.first_position, a.last_position, a.revision),
        (1, 2, Some(1))
    );
    assert_eq!((b.first_position, b.revision), (3, Some(0)));
    assert_eq!((a2.first_position, a2.revision), (4, Some(2)));
    assert!(!a2.duplicate);

    let stream = store
        .read_stream("a", 0, Direction::Forwards, 10)
        .await
        .unwrap();
    let seen: Vec<(u64, u64)> = stream.iter().map(|e| (e.position, e.revision)).collect();
    assert_eq!(seen, [(1, 0), (2, 1), (4, 2)]);
    let back = store
        .read_stream("a", 1, Direction::Backwards, 10)
        .await
        .unwrap();
    let seen: Vec<u64> = back.iter().map(|e| e.revision).collect();
    assert_eq!(seen, [1, 0]);
    assert_eq!(stream[2].json::<serde_json::Value>().unwrap()["n"], 4);
    assert_eq!(store.last_position().await.unwrap(), 4);
    assert_eq!(store.stream_revision("a").await.unwrap(), Some(2));
    assert_eq!(store.stream_revision("none").await.unwrap(), None);
}

#[tokio::test]
async fn an_event_is_found_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .append("a", Expected::Any, vec![event("t", 1).id("first")])
        .await
        .unwrap();
    store
        .append("b", Expected::Any, vec![event("t", 2).id("second")])
        .await
        .unwrap();
    assert_eq!(store.position_of("second").await.unwrap(), Some(2));
    assert_eq!(store.position_of("first").await.unwrap(), Some(1));
    assert_eq!(store.position_of("third").await.unwrap(), None);
    assert_eq!(store.position_of("").await.unwrap(), None);
}

#[tokio::test]
async fn a_wrong_expected_revision_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .append("s", Expected::NoStream, vec![event("t", 1)])
        .await
        .unwrap();
    let cases = [(Expected::NoStream, Some(0)), (Expected::Exact(5), Some(0))];
    for (expected, actual) in cases {
        let err = store
            .append("s", expected, vec![event("t", 2)])
            .await
            .unwrap_err();
        match &err {
            StoreError::WrongExpectedRevision {
                stream,
                expected: e,
                actual: a,
            } => {
                assert_eq!((stream.as_str(), *e, *a), ("s", expected, actual));
            }
            other => panic!("{other}"),
        }
    }
    let err = store
        .append("empty", Expected::Exists, vec![event("t", 3)])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected some events, but it has no events"),
        "{err}"
    );
    // Nothing of the refused appends is stored, and positions did not move.
    assert_eq!(store.last_position().await.unwrap(), 1);
    let next = store
        .append("s", Expected::Exact(0), vec![event("t", 4)])
        .await
        .unwrap();
    assert_eq!(next.first_position, 2);
}

#[tokio::test]
async fn a_retried_append_returns_the_original_positions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let events = vec![event("t", 1).id("e-1"), event("t", 2).id("e-2")];
    let first = store
        .append("s", Expected::NoStream, events.clone())
        .await
        .unwrap();
    store
        .append("other", Expected::Any, vec![event("t", 3)])
        .await
        .unwrap();
    // The same append again (its expectation no longer holds: a retry is recognised first).
    let again = store
        .append("s", Expected::NoStream, events.clone())
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.first_position, again.last_position, again.revision),
        (first.first_position, first.last_position, first.revision)
    );
    assert_eq!(store.last_position().await.unwrap(), 3);

    // A stored id in another stream, or only part of an append, is a conflict.
    let err = store
        .append("elsewhere", Expected::Any, vec![event("t", 9).id("e-1")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::IdConflict { id, position: 1, .. } if id == "e-1"),
        "{err}"
    );
    let err = store
        .append(
            "s",
            Expected::Any,
            vec![event("t", 1).id("e-1"), event("t", 5).id("e-new")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdConflict { .. }), "{err}");
    let err = store
        .append(
            "s",
            Expected::Any,
            vec![event("t", 6).id("fresh"), event("t", 2).id("e-2")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::IdConflict { id, .. } if id == "e-2"),
        "{err}"
    );
    assert_eq!(store.last_position().await.unwrap(), 3);
}

#[tokio::test]
async fn an_append_to_several_streams_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .append("stock", Expected::NoStream, vec![event("stock.added", 1)])
        .await
        .unwrap();
    // `stock` is not new: neither stream gets its event.
    let err = store
        .append_all(vec![
            (
                "order".into(),
                Expected::NoStream,
                vec![event("order.placed", 1)],
            ),
            (
                "stock".into(),
                Expected::NoStream,
                vec![event("stock.taken", 1)],
            ),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedRevision { .. }),
        "{err}"
    );
    assert_eq!(store.stream_revision("order").await.unwrap(), None);
    let done = store
        .append_all(vec![
            (
                "order".into(),
                Expected::NoStream,
                vec![event("order.placed", 1)],
            ),
            (
                "stock".into(),
                Expected::Exact(0),
                vec![event("stock.taken", 1)],
            ),
        ])
        .await
        .unwrap();
    let positions: Vec<u64> = done.iter().map(|a| a.first_position).collect();
    assert_eq!(positions, [2, 3]);
}

/// One batch (the writer waits 100 ms for more) where appends to one stream succeed, fail
/// before writing, and fail after writing (the batch is redone with savepoints): the revision
/// each later append checks against is the one committed, never one a failed append took.
#[tokio::test]
async fn revisions_checked_in_a_batch_follow_the_appends_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::new().batch_delay(std::time::Duration::from_millis(100));
    let store = Store::open_with(dir.path().join("events.db"), options).unwrap();
    store
        .append("s", Expected::NoStream, vec![event("s.made", 0)])
        .await
        .unwrap();
    store
        .append("other", Expected::Any, vec![event("o", 0).id("taken")])
        .await
        .unwrap();
    let batches = store.stats().batches;

    let first = store.append("s", Expected::Exact(0), vec![event("s.next", 1)]);
    // Writes `s` revision 2, then its second part's id is stored already: nothing of it stays.
    let broken = store.append_all(vec![
        ("s".into(), Expected::Exact(1), vec![event("s.next", 2)]),
        ("t".into(), Expected::Any, vec![event("t", 0).id("taken")]),
    ]);
    let after = store.append("s", Expected::Exact(1), vec![event("s.next", 3)]);
    let wrong = store.append("s", Expected::Exact(5), vec![event("s.next", 4)]);
    let (first, broken, after, wrong) = tokio::join!(first, broken, after, wrong);
    assert_eq!(store.stats().batches, batches + 1, "one batch");
    assert_eq!(first.unwrap().revision, Some(1));
    assert!(
        matches!(broken, Err(StoreError::IdConflict { .. })),
        "{broken:?}"
    );
    assert_eq!(after.unwrap().revision, Some(2));
    assert!(
        matches!(
            wrong,
            Err(StoreError::WrongExpectedRevision {
                actual: Some(2),
                ..
            })
        ),
        "{wrong:?}"
    );

    let next = store
        .append("s", Expected::Exact(2), vec![event("s.next", 5)])
        .await
        .unwrap();
    assert_eq!(next.revision, Some(3));
    let revisions: Vec<u64> = store
        .read_stream("s", 0, Direction::Forwards, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.revision)
        .collect();
    assert_eq!(revisions, [0, 1, 2, 3]);
    assert_eq!(store.stream_revision("t").await.unwrap(), None);
}

#[tokio::test]
async fn bad_events_are_refused_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::new().max_event_bytes(64);
    let store = Store::open_with(dir.path().join("events.db"), options).unwrap();
    store
        .append("s", Expected::Any, vec![event("t", 1)])
        .await
        .unwrap();
    let cases = [
        ("", vec![event("t", 1)], "stream id must not be empty"),
        ("s", vec![event("no spaces allowed", 1)], "event `"),
        (
            "s",
            vec![NewEvent::new("t", vec![0u8; 65])],
            "over the store's max_event_bytes (64)",
        ),
        (
            "s",
            vec![event("t", 1).id("x"), event("t", 2).id("x")],
            "appears twice",
        ),
        ("s", vec![event("t", 1).id("")], "must not be empty"),
    ];
    for (stream, events, says) in cases {
        let err = store
            .append(stream, Expected::Any, events)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidEvent { .. }) && err.to_string().contains(says),
            "{err}"
        );
    }
    assert_eq!(store.last_position().await.unwrap(), 1);
    for (option, bad) in [
        ("batch_events", StoreOptions::new().batch_events(0)),
        ("queue", StoreOptions::new().queue(0)),
        ("max_event_bytes", StoreOptions::new().max_event_bytes(0)),
    ] {
        let err = Store::open_with(dir.path().join("other.db"), bad).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidOption { option: o, .. } if o == option),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_reopened_store_goes_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    for durability in [
        Durability::PerEvent,
        Durability::PerBatch,
        Durability::Interval,
    ] {
        let path = dir.path().join(format!("{durability:?}.db"));
        let options = StoreOptions::new().durability(durability);
        let store = Store::open_with(&path, options.clone()).unwrap();
        store
            .append(
                "s",
                Expected::NoStream,
                vec![event("t", 1).metadata("trace", "abc")],
            )
            .await
            .unwrap();
        store.close().await.unwrap();
        let err = store
            .append("s", Expected::Any, vec![event("t", 2)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Closed), "{err}");

        let store = Store::open_with(&path, options).unwrap();
        let next = store
            .append("s", Expected::Exact(0), vec![event("t", 2)])
            .await
            .unwrap();
        assert_eq!((next.first_position, next.revision), (2, Some(1)));
        let all = store.read_all(0, 10, &ReadFilter::new()).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].metadata.get("trace").map(String::as_str),
            Some("abc")
        );
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "not a database, just some text that is long enough to matter",
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
    let missing = dir.path().join("no/such/dir/events.db");
    let err = Store::open(&missing).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}
