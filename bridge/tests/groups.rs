//! Against a real NATS server (one per test): a group's members split the events, two
//! groups each get all of them; an event id handled once however often it is delivered;
//! no event exported back; failures redelivered, then dead-lettered; a restarted server.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{NatsServer, eventually, ids, job, member, nats, recorder, system};
use staticbus::prelude::*;
use staticbus::{BoxError, Permanent, Retry};
use staticbus_bridge::{Bridge, Codec, Group, Outgoing, Transport};

/// A system exporting `pattern`, and its bridge.
async fn exporter(server: &NatsServer, pattern: &str) -> (EventSystem, Bridge) {
    let producer = system();
    let bridge = Bridge::builder(&producer, nats(server).await)
        .export(pattern)
        .start()
        .await
        .unwrap();
    (producer, bridge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_a_group_split_the_events_and_each_group_gets_them_all() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (producer, out) = exporter(&server, "job.*").await;
    let mut members = Vec::new();
    for group in ["workers", "workers", "audit"] {
        let group = Group::new(group, "job.*").max_in_flight(4);
        members.push(member(&server, group, "job.*").await);
    }
    const N: usize = 300;
    for n in 0..N {
        producer.publish_dynamic(job(n)).await.unwrap();
    }
    eventually(Duration::from_secs(20), "every event handled", || {
        let total = |i: usize| ids(&members[i].1).len();
        total(0) + total(1) >= N && total(2) >= N
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let all: BTreeSet<String> = (0..N).map(|n| format!("job-{n}")).collect();
    let (a, b, audit) = (ids(&members[0].1), ids(&members[1].1), ids(&members[2].1));
    let (sa, sb): (BTreeSet<_>, BTreeSet<_>) =
        (a.iter().cloned().collect(), b.iter().cloned().collect());
    assert_eq!(a.len() + b.len(), N, "each event once in the group");
    assert!(sa.is_disjoint(&sb), "disjoint");
    assert_eq!(&sa | &sb, all, "together, everything");
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both members took some: {} and {}",
        a.len(),
        b.len()
    );
    assert_eq!(
        audit.iter().cloned().collect::<BTreeSet<_>>(),
        all,
        "the other group: everything"
    );
    assert_eq!(audit.len(), N);
    assert_eq!(out.stats().exported, N as u64);
    for (_, _, bridge) in members {
        bridge.shutdown().await;
    }
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_is_stored_once_and_handled_once() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (producer, out) = exporter(&server, "job.*").await;
    let (_consumer, seen, bridge) = member(&server, Group::new("workers", "job.*"), "job.*").await;

    // A publish retried: the broker stores it once (same id within its window).
    producer.publish_dynamic(job(1)).await.unwrap();
    producer.publish_dynamic(job(1)).await.unwrap();
    // The same event under two broker message ids (the window missed it): handled once.
    let raw = nats(&server).await;
    for attempt in ["a", "b"] {
        let (headers, payload) = staticbus_bridge::JsonCodec.encode(&job(2)).unwrap();
        raw.publish(Outgoing {
            subject: "events.job.run".to_owned(),
            id: format!("job-2-{attempt}"),
            headers,
            payload,
        })
        .await
        .unwrap();
    }
    eventually(Duration::from_secs(10), "both copies received", || {
        bridge.stats().received >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(out.stats().exported, 1);
    assert_eq!(out.stats().export_duplicates, 1);
    let mut handled = ids(&seen);
    handled.sort();
    assert_eq!(handled, ["job-1", "job-2"], "each once");
    assert_eq!(bridge.stats().duplicates, 1);
    bridge.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_from_the_broker_is_never_exported_back() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let system = system();
        let seen = recorder(&system, "chat.*");
        let bridge = Bridge::builder(&system, nats(&server).await)
            .export("chat.*")
            .group(Group::new(name, "chat.*"))
            .start()
            .await
            .unwrap();
        nodes.push((system, seen, bridge));
    }
    let said = DynamicEvent::builder("chat.said")
        .id("hello")
        .build()
        .unwrap();
    nodes[0].0.publish_dynamic(said).await.unwrap();
    eventually(Duration::from_secs(10), "both nodes handled it", || {
        nodes.iter().all(|(_, seen, _)| !ids(seen).is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // a: its own publish, then the copy from the broker; b: the copy. Nothing more.
    assert_eq!(ids(&nodes[0].1), ["hello", "hello"]);
    assert_eq!(ids(&nodes[1].1), ["hello"]);
    let exported: u64 = nodes.iter().map(|(_, _, b)| b.stats().exported).sum();
    let not_exported: u64 = nodes.iter().map(|(_, _, b)| b.stats().not_exported).sum();
    assert_eq!((exported, not_exported), (1, 2));
    for (_, _, bridge) in nodes {
        bridge.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_redelivered_and_a_permanent_one_dead_lettered() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (producer, out) = exporter(&server, "pay.*").await;
    let consumer = system();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&calls);
    let _sub = consumer
        .on(
            "pay.*",
            move |e: &EventRef<'_>, ctx: &HandlerContext<'_>| {
                let id = ctx.event_id().unwrap_or_default().to_owned();
                let mut calls = log.lock().unwrap();
                calls.push(id.clone());
                let tries = calls.iter().filter(|c| **c == id).count();
                match e.topic() {
                    "pay.flaky" if tries < 3 => Err(BoxError::from(format!("try {tries} failed"))),
                    "pay.refused" => Err(Permanent::new("card refused").into()),
                    _ => Ok(()),
                }
            },
        )
        .unwrap();
    let bridge = Bridge::builder(&consumer, nats(&server).await)
        .group(
            Group::new("billing", "pay.*")
                .retry(Retry::constant(0, Duration::from_millis(20)))
                .max_deliver(5),
        )
        .seed(1)
        .start()
        .await
        .unwrap();
    for (topic, id) in [("pay.flaky", "f"), ("pay.refused", "r")] {
        let event = DynamicEvent::builder(topic).id(id).build().unwrap();
        producer.publish_dynamic(event).await.unwrap();
    }
    eventually(Duration::from_secs(10), "settled", || {
        let s = bridge.stats();
        s.handled == 1 && s.dead_lettered == 1
    })
    .await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.iter().filter(|c| *c == "f").count(), 3, "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| *c == "r").count(),
        1,
        "not retried: {calls:?}"
    );
    assert_eq!(bridge.stats().nacked, 2);

    // The dead letter is in its stream, with why and where from.
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("STATICBUS_DEAD_LETTERS").await.unwrap();
    let letter = stream.get_raw_message(1).await.unwrap();
    assert_eq!(letter.subject.as_str(), "deadletter.billing.pay.refused");
    let headers = letter.headers;
    let reason = headers.get(staticbus_bridge::DEAD_LETTER_REASON).unwrap();
    assert!(reason.as_str().contains("card refused"), "{reason}");
    bridge.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_and_consuming_resume_after_the_server_restarts() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let (producer, out) = exporter(&server, "job.*").await;
    let (_consumer, seen, bridge) = member(&server, Group::new("workers", "job.*"), "job.*").await;
    for n in 0..50 {
        producer.publish_dynamic(job(n)).await.unwrap();
    }
    eventually(Duration::from_secs(10), "the first half exported", || {
        out.stats().exported == 50
    })
    .await;
    server.restart();
    for n in 50..100 {
        producer.publish_dynamic(job(n)).await.unwrap();
    }
    eventually(
        Duration::from_secs(40),
        "everything handled after the restart",
        || ids(&seen).iter().collect::<BTreeSet<_>>().len() == 100,
    )
    .await;
    assert_eq!(out.stats().exported + out.stats().export_duplicates, 100);
    bridge.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_deleted_on_the_server_is_made_again() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (producer, out) = exporter(&server, "job.*").await;
    let (_consumer, seen, bridge) = member(&server, Group::new("workers", "job.*"), "job.*").await;
    for n in 0..20 {
        producer.publish_dynamic(job(n)).await.unwrap();
    }
    eventually(Duration::from_secs(10), "the first events handled", || {
        ids(&seen).len() == 20
    })
    .await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("STATICBUS").await.unwrap();
    stream.delete_consumer("workers").await.unwrap();
    for n in 20..40 {
        producer.publish_dynamic(job(n)).await.unwrap();
    }
    // Made again, it starts from the stream's beginning: the first 20 come again and are
    // acknowledged unhandled (dedup); the next 20 are handled.
    eventually(Duration::from_secs(20), "the later events handled", || {
        ids(&seen).len() == 40
    })
    .await;
    let unique: BTreeSet<String> = ids(&seen).into_iter().collect();
    assert_eq!(unique.len(), 40, "each once");
    assert!(bridge.stats().transport_errors >= 1, "{:?}", bridge.stats());
    bridge.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_broker_cannot_carry_is_a_dead_letter_at_once_not_a_panic() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (producer, out) = exporter(&server, "job.*").await;
    let event = DynamicEvent::builder("job.run")
        .id("job-newline")
        .header("note", "two\nlines")
        .build()
        .unwrap();
    producer.publish_dynamic(event).await.unwrap();
    producer.publish_dynamic(job(1)).await.unwrap();
    eventually(Duration::from_secs(10), "the good event exported", || {
        out.stats().exported == 1 && !producer.dead_letters().is_empty()
    })
    .await;
    let letters = producer.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts(), 1, "permanent: not retried");
    assert!(!letters[0].panicked(), "{}", letters[0].error());
    assert!(
        letters[0].error().contains("line break"),
        "{}",
        letters[0].error()
    );
    out.shutdown().await;
}
