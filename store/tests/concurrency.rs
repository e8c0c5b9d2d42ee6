//! Many writers at once: one writer thread commits their appends in groups, and the store
//! stays gap-free and duplicate-free, each stream's revisions contiguous.

use std::collections::BTreeMap;

use staticbus_store::{Expected, NewEvent, ReadFilter, Store};

const WRITERS: u64 = 8;
const EACH: u64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_a_gap_free_store_through_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream = format!("writer-{w}");
            for n in 0..EACH {
                let event = NewEvent::new("load.test", format!("{w}:{n}").into_bytes());
                // Each writer knows its stream's revision: optimistic concurrency holds.
                let expected = match n {
                    0 => Expected::NoStream,
                    n => Expected::Exact(n - 1),
                };
                let appended = store.append(stream.clone(), expected, vec![event]).await;
                assert_eq!(appended.map(|a| a.revision).ok(), Some(Some(n)));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = WRITERS * EACH;
    let all = store
        .read_all(0, usize::MAX, &ReadFilter::new())
        .await
        .unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let mut revisions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for event in &all {
        revisions
            .entry(&event.stream)
            .or_default()
            .push(event.revision);
        let body = String::from_utf8(event.payload.clone()).unwrap();
        let (w, n) = body.split_once(':').unwrap();
        assert_eq!(event.stream, format!("writer-{w}"));
        assert_eq!(n.parse::<u64>().unwrap(), event.revision);
    }
    assert_eq!(revisions.len() as u64, WRITERS);
    for revs in revisions.values() {
        assert_eq!(*revs, (0..EACH).collect::<Vec<_>>());
    }
    let stats = store.stats();
    assert_eq!((stats.appends, stats.events), (total, total));
    // Eight writers waiting at once: batches hold several appends each.
    assert!(stats.batches * 2 < total, "{stats:?}");
}
