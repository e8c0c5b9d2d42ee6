//! Catch-up subscriptions: everything stored, then the live events, in position order, with
//! no gap and no duplicate, while writers append; checkpoints in the same database.

use std::time::Duration;

use staticbus_store::{Expected, NewEvent, ReadFilter, Store, StoreError};

const WRITERS: u64 = 8;
const EACH: u64 = 20_000;
/// Events per append: 20,000 per writer in 1,000 appends.
const PER_APPEND: u64 = 20;

fn events(writer: u64, from: u64) -> Vec<NewEvent> {
    (from..from + PER_APPEND)
        .map(|n| NewEvent::new("load.tick", format!("{writer}:{n}").into_bytes()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_every_event_once_in_order_while_8_writers_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    // Some events before the subscriber starts: it catches up on them first.
    store
        .append("early", Expected::NoStream, events(99, 0))
        .await
        .unwrap();
    let total = WRITERS * EACH + PER_APPEND;
    let mut subscription = store.subscribe(0, ReadFilter::new());
    let checker = tokio::spawn(async move {
        let mut next_writer_event = [0u64; WRITERS as usize];
        for expected in 1..=total {
            let event = subscription.next().await.unwrap();
            // Contiguous and duplicate-free: exactly the next position, every time.
            assert_eq!(event.position, expected);
            let body = String::from_utf8(event.payload).unwrap();
            let (w, n) = body.split_once(':').unwrap();
            let (w, n): (u64, u64) = (w.parse().unwrap(), n.parse().unwrap());
            if w != 99 {
                // Each writer's events arrive in the order it appended them.
                assert_eq!(n, next_writer_event[w as usize]);
                next_writer_event[w as usize] += 1;
            }
        }
        subscription
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for from in (0..EACH).step_by(PER_APPEND as usize) {
                store
                    .append(format!("writer-{w}"), Expected::Any, events(w, from))
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut subscription = tokio::time::timeout(Duration::from_secs(120), checker)
        .await
        .expect("the subscriber keeps up")
        .unwrap();
    assert_eq!(subscription.position(), total);
    // Nothing more: the next one is the next to commit.
    store
        .append("late", Expected::NoStream, events(99, 0))
        .await
        .unwrap();
    assert_eq!(subscription.next().await.unwrap().position, total + 1);
}

#[tokio::test]
async fn a_checkpointed_subscription_goes_on_after_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    let topics = ["order.placed", "stock.moved", "order.paid", "order.shipped"];
    for (n, topic) in topics.iter().enumerate() {
        let event = NewEvent::new(*topic, vec![n as u8]);
        store.append("s", Expected::Any, vec![event]).await.unwrap();
    }
    let orders = || ReadFilter::new().topic("order.*").unwrap();
    let mut first = store
        .subscribe_checkpointed("mailer", orders())
        .await
        .unwrap();
    let a = first.next().await.unwrap();
    let b = first.next().await.unwrap();
    // The filter skipped `stock.moved`.
    assert_eq!((a.position, b.position), (1, 3));
    first.save_checkpoint().await.unwrap();
    assert_eq!(store.checkpoint("mailer").await.unwrap(), Some(3));

    let mut again = store
        .subscribe_checkpointed("mailer", orders())
        .await
        .unwrap();
    let c = again.next().await.unwrap();
    assert_eq!((c.position, c.topic.as_str()), (4, "order.shipped"));

    // A subscription without a name has no checkpoint to save.
    let anonymous = store.subscribe(0, ReadFilter::new());
    let err = anonymous.save_checkpoint().await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidOption { .. }), "{err}");
}

#[tokio::test]
async fn a_subscriber_of_a_closed_store_gets_what_was_committed_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("events.db")).unwrap();
    store
        .append("s", Expected::Any, vec![NewEvent::new("t", b"1".to_vec())])
        .await
        .unwrap();
    let mut subscription = store.subscribe(0, ReadFilter::new());
    store.close().await.unwrap();
    assert_eq!(subscription.next().await.unwrap().position, 1);
    let err = subscription.next().await.unwrap_err();
    assert!(matches!(err, StoreError::Closed), "{err}");
}
