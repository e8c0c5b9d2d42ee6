//! Against a real NATS server: a group's handled ids recorded in an event store outlive
//! the member. A second member (a fresh system, an empty memory window) with the same store
//! acknowledges the events the first one handled without handling them again; a member of
//! a group without a store handles them all again (what the store prevents).

mod common;

use std::time::Duration;

use common::{NatsServer, Seen, eventually, ids, job, member, nats};
use staticbus::prelude::*;
use staticbus_bridge::{Bridge, Group};
use staticbus_store::{Direction, Store};

fn count(seen: &Seen) -> usize {
    ids(seen).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_ids_in_the_store_outlive_the_member() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("dedup.db")).unwrap();
    let producer = EventSystem::builder().build().unwrap();
    let out = Bridge::builder(&producer, nats(&server).await)
        .export("job.*")
        .start()
        .await
        .unwrap();
    let stored = Group::new("workers", "job.*").dedup_store(store.clone());
    let (_first, first_seen, first) = member(&server, stored.clone(), "job.*").await;
    let (_plain, plain_seen, plain) = member(&server, Group::new("plain", "job.*"), "job.*").await;
    for n in 0..20 {
        producer.publish_dynamic(job(n)).await.unwrap();
    }
    eventually(Duration::from_secs(20), "the first 20 handled", || {
        count(&first_seen) == 20 && count(&plain_seen) == 20
    })
    .await;
    first.shutdown().await;
    plain.shutdown().await;
    let records = store
        .read_stream("bridge.dedup.workers", 0, Direction::Forwards, 100)
        .await
        .unwrap();
    assert_eq!(records.len(), 20, "one record per handled id");
    assert!(
        records.iter().any(|r| r.id == "workers:job-0"),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r.topic == "staticbus.bridge.handled")
    );

    // Both groups' consumers made again: the broker delivers every event from the start.
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let stream = js.get_stream("STATICBUS").await.unwrap();
    for group in ["workers", "plain"] {
        stream.delete_consumer(group).await.unwrap();
    }
    let (_second, second_seen, second) = member(&server, stored, "job.*").await;
    let (_again, again_seen, again) = member(&server, Group::new("plain", "job.*"), "job.*").await;
    for n in 20..30 {
        producer.publish_dynamic(job(n)).await.unwrap();
    }
    eventually(
        Duration::from_secs(20),
        "everything delivered again",
        || second.stats().received >= 30 && count(&again_seen) == 30,
    )
    .await;
    eventually(Duration::from_secs(10), "the new events handled", || {
        count(&second_seen) == 10
    })
    .await;
    let mut handled = ids(&second_seen);
    handled.sort_by_key(|id| id[4..].parse::<usize>().unwrap_or(usize::MAX));
    let expected: Vec<String> = (20..30).map(|n| format!("job-{n}")).collect();
    assert_eq!(
        handled, expected,
        "only the events the first member did not handle"
    );
    let stats = second.stats();
    assert_eq!((stats.duplicates, stats.dedup_errors), (20, 0), "{stats:?}");
    assert_eq!(
        again.stats().duplicates,
        0,
        "without a store, nothing is known"
    );
    second.shutdown().await;
    again.shutdown().await;
    out.shutdown().await;
    store.close().await.unwrap();
}
