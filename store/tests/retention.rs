//! Retention: the oldest events removed by count, size and age, never past a named
//! checkpoint unless told to; positions never start again, even when everything went.

use std::time::Duration;

use staticbus_store::{
    Expected, NewEvent, ReadFilter, Retention, Store, StoreOptions, admin::StoreFile,
};

async fn fill(store: &Store, n: u64) {
    for i in 0..n {
        let event = NewEvent::new("log.line", format!("line {i}").into_bytes());
        store
            .append("log", Expected::Any, vec![event])
            .await
            .unwrap();
    }
}

async fn positions(store: &Store) -> Vec<u64> {
    let all = store
        .read_all(0, usize::MAX, &ReadFilter::new())
        .await
        .unwrap();
    all.iter().map(|e| e.position).collect()
}

fn open(dir: &tempfile::TempDir, retention: Retention) -> Store {
    let options = StoreOptions::new().retention(retention.every(Duration::from_secs(3600)));
    Store::open_with(dir.path().join("events.db"), options).unwrap()
}

#[tokio::test]
async fn the_oldest_events_go_by_count_and_positions_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Retention::new().max_events(30));
    fill(&store, 100).await;
    let pruned = store.apply_retention().await.unwrap();
    assert_eq!((pruned.events, pruned.through), (70, 70));
    assert_eq!(positions(&store).await, (71..=100).collect::<Vec<_>>());
    let next = store
        .append(
            "log",
            Expected::Any,
            vec![NewEvent::new("log.line", b"x".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!((next.first_position, next.revision), (101, Some(100)));
    // What is left verifies: a pruned prefix is not a gap.
    store.close().await.unwrap();
    let file = StoreFile::open(dir.path().join("events.db"), Duration::from_secs(5)).unwrap();
    let verification = file.verify(|_, _| {}).unwrap();
    assert!(
        verification.problems.is_empty(),
        "{:?}",
        verification.problems
    );
}

#[tokio::test]
async fn a_named_checkpoint_holds_retention_back_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Retention::new().max_events(10));
    fill(&store, 100).await;
    store.save_checkpoint("mailer", 50).await.unwrap();
    let pruned = store.apply_retention().await.unwrap();
    assert_eq!(pruned.through, 50, "not past the checkpoint");
    assert_eq!(positions(&store).await.first(), Some(&51));
    store.close().await.unwrap();

    let store = open(&dir, Retention::new().max_events(10).past_checkpoints(true));
    let pruned = store.apply_retention().await.unwrap();
    assert_eq!((pruned.events, pruned.through), (40, 90));
}

#[tokio::test]
async fn by_size_the_newest_bytes_stay() {
    let dir = tempfile::tempdir().unwrap();
    // Each event: a 100-byte payload and "{}" of metadata.
    let store = open(&dir, Retention::new().max_bytes(1_020));
    for _ in 0..20 {
        let event = NewEvent::new("blob.put", vec![7u8; 100]);
        store
            .append("blobs", Expected::Any, vec![event])
            .await
            .unwrap();
    }
    store.apply_retention().await.unwrap();
    // Ten events are 1,020 bytes: they stay, the ten before them go.
    assert_eq!(positions(&store).await, (11..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn by_age_everything_old_goes_and_positions_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Retention::new().max_age(Duration::from_secs(60)));
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600);
    for i in 0..5 {
        let event = NewEvent::new("log.line", vec![i]).timestamp(old);
        store
            .append("log", Expected::Any, vec![event])
            .await
            .unwrap();
    }
    let pruned = store.apply_retention().await.unwrap();
    assert_eq!((pruned.events, pruned.through), (5, 5));
    assert!(positions(&store).await.is_empty());
    // The stream lost every event: the writer's remembered revision went with them, and it
    // starts again (as it would after a reopen); positions go on.
    let again = store
        .append(
            "log",
            Expected::NoStream,
            vec![NewEvent::new("log.line", b"x".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!((again.first_position, again.revision), (6, Some(0)));
    let pruned = store.apply_retention().await.unwrap();
    assert_eq!(
        (pruned.events, pruned.through),
        (0, 5),
        "the new event is recent"
    );
    store.close().await.unwrap();
    // Reopened: positions go on after the last one stored or removed.
    let store = open(&dir, Retention::new());
    assert_eq!(store.last_position().await.unwrap(), 6);
    let next = store
        .append(
            "log",
            Expected::Any,
            vec![NewEvent::new("log.line", b"y".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!((next.first_position, next.revision), (7, Some(1)));
}

#[tokio::test]
async fn the_writer_applies_it_by_itself_after_commits() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::new().retention(
        Retention::new()
            .max_events(5)
            .every(Duration::from_millis(1)),
    );
    let store = Store::open_with(dir.path().join("events.db"), options).unwrap();
    fill(&store, 20).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    fill(&store, 1).await;
    // The writer answers an append when it commits, and applies the retention after that:
    // the last append's answer can arrive before the pass that follows it has run.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut left = positions(&store).await;
    while left.len() > 6 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        left = positions(&store).await;
    }
    assert!(left.len() <= 6 && left.last() == Some(&21), "{left:?}");
}
