//! A group member killed mid-stream (a child process, `kill -9`): what it had not
//! acknowledged is delivered again, to the member that survives; nothing is lost, and at the
//! end nothing is left unacknowledged.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{NatsServer, eventually};
use staticbus::prelude::*;
use staticbus_bridge::nats::{Nats, NatsConfig};
use staticbus_bridge::{Bridge, Group};

const CHILD: &str = "STATICBUS_BRIDGE_CHILD_URL";
const EVENTS: usize = 400;

fn group() -> Group {
    Group::new("workers", "job.*")
        .max_in_flight(16)
        .ack_wait(Duration::from_secs(1))
}

/// A member of `workers` handling each event in 10 ms; `report` hears of each event
/// handled (before the bridge acknowledges it).
async fn member(
    url: &str,
    report: impl Fn(String) + Send + Sync + 'static,
) -> (EventSystem, Bridge) {
    let system = EventSystem::builder().build().unwrap();
    let report = Arc::new(report);
    let sub = system
        .on_async("job.*", move |event: Arc<DynamicEvent>| {
            let report = Arc::clone(&report);
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                report(event.id().to_owned());
            }
        })
        .unwrap();
    std::mem::forget(sub);
    let nats = Nats::connect(NatsConfig::new(url).heartbeat(Duration::from_secs(1)))
        .await
        .unwrap();
    let bridge = Bridge::builder(&system, nats)
        .group(group())
        .start()
        .await
        .unwrap();
    (system, bridge)
}

/// The child: a member printing each event it handled, until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_member() {
    let Ok(url) = std::env::var(CHILD) else {
        return; // Run as the child of the test below only.
    };
    let (_system, _bridge) = member(&url, |id| println!("handled {id}")).await;
    println!("ready");
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_leaves_what_it_did_not_acknowledge_to_the_survivor() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some(server) = NatsServer::start() else {
        return;
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_member",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let by_child: Arc<Mutex<Vec<String>>> = Arc::default();
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stdout = child.stdout.take().unwrap();
    let (lines, flag) = (Arc::clone(&by_child), Arc::clone(&ready));
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The test harness's own "test child_member ... " may start the first line.
            if let Some(at) = line.find("handled ") {
                lines
                    .lock()
                    .unwrap()
                    .push(line[at + "handled ".len()..].to_owned());
            } else if line.ends_with("ready") {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    eventually(Duration::from_secs(20), "the child is a member", || {
        ready.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;

    let by_survivor: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&by_survivor);
    let (_system, survivor) = member(&server.url(), move |id| log.lock().unwrap().push(id)).await;

    let producer = EventSystem::builder().build().unwrap();
    let nats = Nats::connect(NatsConfig::new(server.url())).await.unwrap();
    let out = Bridge::builder(&producer, nats)
        .export("job.*")
        .start()
        .await
        .unwrap();
    for n in 0..EVENTS {
        let event = DynamicEvent::builder("job.run")
            .id(format!("job-{n}"))
            .build()
            .unwrap();
        producer.publish_dynamic(event).await.unwrap();
    }
    eventually(Duration::from_secs(20), "the child handled some", || {
        by_child.lock().unwrap().len() >= 20
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_after = by_child.lock().unwrap().len();

    let all: BTreeSet<String> = (0..EVENTS).map(|n| format!("job-{n}")).collect();
    eventually(
        Duration::from_secs(30),
        "every event handled by someone",
        || {
            let child: BTreeSet<String> = by_child.lock().unwrap().iter().cloned().collect();
            let survivor: BTreeSet<String> = by_survivor.lock().unwrap().iter().cloned().collect();
            &child | &survivor == all
        },
    )
    .await;
    assert!(
        killed_after < EVENTS,
        "killed mid-stream ({killed_after} handled)"
    );
    let received = survivor.stats().received;
    eprintln!(
        "the child handled {killed_after} before the kill; the survivor {} ({received} \
         received: {} more than the child left)",
        by_survivor.lock().unwrap().len(),
        received.saturating_sub((EVENTS - killed_after) as u64),
    );

    // Nothing is left unacknowledged or undelivered on the broker.
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("STATICBUS").await.unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("workers").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = consumer.info().await.unwrap().clone();
        if info.num_ack_pending == 0 && info.num_pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {} unacknowledged, {} undelivered",
            info.num_ack_pending,
            info.num_pending
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    survivor.shutdown().await;
    out.shutdown().await;
}
