//! `publish_as::<E>`: a dynamic event (as a broker delivers it) published as the static type
//! its topic names. The type's static handlers (sync, async, detached) get the value, once,
//! under either implementation; dynamic subscribers get the event with its attributes and
//! the value as payload; typed subscribers the value. A wrong topic or a payload that is not
//! an `E` is refused before anything runs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{Error, SubscribeOptions};

#[derive(StaticEvent, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "received.job")]
struct Job {
    n: u64,
    label: String,
}

static SYNC: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static ASYNC: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static DETACHED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[handler]
fn job_sync(job: &Job) {
    SYNC.lock().unwrap().push(job.n);
}

#[handler]
async fn job_async(job: &Job) {
    ASYNC.lock().unwrap().push(job.n);
}

#[handler(detached)]
async fn job_detached(job: &Job) {
    DETACHED.lock().unwrap().push(job.n);
}

fn take(log: &Mutex<Vec<u64>>) -> Vec<u64> {
    std::mem::take(&mut log.lock().unwrap())
}

fn received(n: u64) -> DynamicEvent {
    DynamicEvent::builder("received.job")
        .id(format!("remote-{n}"))
        .source("/elsewhere")
        .header("traceparent", "00-abc-def-01")
        .json(&serde_json::json!({ "n": n, "label": format!("job {n}") }))
        .build()
        .unwrap()
}

/// What the dynamic subscriber saw: the id, source and trace header, the value's number.
type Seen = (String, String, Option<String>, u64);

/// One test per implementation drives the shared handlers; they must not interleave.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn delivers_everywhere_once(implementation: ImplementationType) {
    let _serial = SERIAL.lock().await;
    let system = EventSystem::builder()
        .implementation(implementation)
        .build()
        .unwrap();
    take(&SYNC);
    take(&ASYNC);
    take(&DETACHED);
    let dynamic: std::sync::Arc<Mutex<Vec<Seen>>> = Default::default();
    let log = std::sync::Arc::clone(&dynamic);
    let _sub = system
        .on(
            "received.*",
            move |e: &EventRef<'_>, ctx: &HandlerContext<'_>| {
                let event = e.dynamic().expect("a dynamic subscriber sees the event");
                let job = e.downcast_ref::<Job>().expect("the payload is the value");
                log.lock().unwrap().push((
                    ctx.event_id().unwrap_or_default().to_owned(),
                    event.source().to_owned(),
                    event.header("traceparent").map(str::to_owned),
                    job.n,
                ));
            },
        )
        .unwrap();
    let typed = system.subscribe::<Job>().unwrap();

    let published = system.publish_as::<Job>(received(3)).await.unwrap();
    let job = typed.receive().await.unwrap();
    assert_eq!(
        *job,
        Job {
            n: 3,
            label: "job 3".into()
        }
    );
    let report = system.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained, "{report:?}");

    assert_eq!(
        take(&SYNC),
        [3],
        "{implementation:?}: the sync handler, once"
    );
    assert_eq!(
        take(&ASYNC),
        [3],
        "{implementation:?}: the async handler, once"
    );
    assert_eq!(
        take(&DETACHED),
        [3],
        "{implementation:?}: the detached one, once"
    );
    assert_eq!(
        *dynamic.lock().unwrap(),
        [(
            "remote-3".to_owned(),
            "/elsewhere".to_owned(),
            Some("00-abc-def-01".to_owned()),
            3
        )],
        "{implementation:?}: the dynamic subscriber sees the received attributes"
    );
    assert!(published.handled() >= 2, "{published:?}");
}

#[tokio::test]
async fn static_handlers_get_the_value_dynamic_subscribers_the_event() {
    delivers_everywhere_once(ImplementationType::StaticFastPath).await;
}

#[tokio::test]
async fn zero_copy_systems_deliver_it_once_too() {
    delivers_everywhere_once(ImplementationType::ZeroCopy).await;
}

#[derive(StaticEvent, Debug, Clone, serde::Deserialize)]
#[event(name = "received.checked")]
struct Checked {
    n: u64,
}

static CHECKED: AtomicU64 = AtomicU64::new(0);

#[handler]
fn checked(e: &Checked) -> Result<(), String> {
    CHECKED.fetch_add(1, Ordering::SeqCst);
    if e.n == 13 {
        return Err("thirteen is refused".into());
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_topic_or_payload_is_refused_before_anything_runs() {
    let system = EventSystem::builder().build().unwrap();
    let before = CHECKED.load(Ordering::SeqCst);

    let other = DynamicEvent::builder("received.other")
        .json(&serde_json::json!({ "n": 1 }))
        .build()
        .unwrap();
    let error = system.publish_as::<Checked>(other).await.unwrap_err();
    assert!(matches!(error, Error::NotItsType { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("received.other") && message.contains("received.checked"),
        "{message}"
    );

    let bad = DynamicEvent::builder("received.checked")
        .json(&serde_json::json!({ "n": "not a number" }))
        .build()
        .unwrap();
    let error = system.publish_as::<Checked>(bad).await.unwrap_err();
    assert!(matches!(error, Error::Event(_)), "{error:?}");
    assert!(error.to_string().contains("Checked"), "{error}");
    assert_eq!(CHECKED.load(Ordering::SeqCst), before, "nothing ran");

    // A handler's failure is the publish's, as for `publish`.
    let thirteen = DynamicEvent::builder("received.checked")
        .json(&serde_json::json!({ "n": 13 }))
        .build()
        .unwrap();
    let error = system.publish_as::<Checked>(thirteen).await.unwrap_err();
    assert!(error.to_string().contains("thirteen is refused"), "{error}");
    assert_eq!(CHECKED.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn a_payload_that_is_the_value_already_is_shared_not_read_as_json() {
    let system = EventSystem::builder().build().unwrap();
    let value = std::sync::Arc::new(Job {
        n: 40,
        label: "shared".into(),
    });
    let typed = system.subscribe::<Job>().unwrap();
    let event = DynamicEvent::builder("received.job")
        .payload(staticbus::Payload::shared(std::sync::Arc::clone(&value)))
        .build()
        .unwrap();
    let _serial = SERIAL.lock().await;
    system.publish_as::<Job>(event).await.unwrap();
    let got = typed.receive().await.unwrap();
    assert_eq!(got.label, "shared");
    assert!(
        std::sync::Arc::ptr_eq(&got.into_arc(), &value),
        "the same value, not a copy"
    );
    let _ = system.shutdown(Duration::from_secs(5)).await;
    take(&SYNC);
    take(&ASYNC);
    take(&DETACHED);
}

#[tokio::test]
async fn a_subscription_may_refuse_it_like_any_event() {
    let system = EventSystem::builder().build().unwrap();
    let _serial = SERIAL.lock().await;
    let seen = std::sync::Arc::new(AtomicU64::new(0));
    let count = std::sync::Arc::clone(&seen);
    let _sub = system
        .on_with(
            "received.job",
            SubscribeOptions::new()
                .filter(|e: &EventRef<'_>| e.downcast_ref::<Job>().is_some_and(|j| j.n > 5)),
            move |_: &EventRef<'_>| {
                count.fetch_add(1, Ordering::SeqCst);
            },
        )
        .unwrap();
    system.publish_as::<Job>(received(1)).await.unwrap();
    system.publish_as::<Job>(received(9)).await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let _ = system.shutdown(Duration::from_secs(5)).await;
    take(&SYNC);
    take(&ASYNC);
    take(&DETACHED);
}

#[derive(StaticEvent, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "received.kept", persist)]
struct Kept {
    n: u64,
}

/// A sink that remembers what it was given.
#[derive(Clone, Default)]
struct Sink(std::sync::Arc<Mutex<Vec<staticbus::DurableEvent>>>);

impl staticbus::EventSink for Sink {
    fn persist(
        &self,
        event: staticbus::DurableEvent,
    ) -> staticbus::BoxFuture<'static, Result<u64, staticbus::BoxError>> {
        let mut kept = self.0.lock().unwrap();
        kept.push(event);
        let position = kept.len() as u64;
        Box::pin(std::future::ready(Ok(position)))
    }
}

#[tokio::test]
async fn a_persisted_type_is_persisted_with_the_received_id() {
    let sink = Sink::default();
    let system = EventSystem::builder()
        .persist_to(sink.clone())
        .build()
        .unwrap();
    let event = || {
        DynamicEvent::builder("received.kept")
            .id("remote-kept-1")
            .json(&serde_json::json!({ "n": 5 }))
            .build()
            .unwrap()
    };
    system.publish_as::<Kept>(event()).await.unwrap();
    // Delivered again (a redelivery): the same id, which a store keeps once.
    system.publish_as::<Kept>(event()).await.unwrap();
    let _ = system.shutdown(Duration::from_secs(5)).await;
    let kept = sink.0.lock().unwrap();
    assert_eq!(kept.len(), 2);
    for durable in kept.iter() {
        assert_eq!(durable.id, "remote-kept-1");
        assert_eq!(durable.topic, "received.kept");
        let payload: serde_json::Value = serde_json::from_slice(&durable.payload).unwrap();
        assert_eq!(payload, serde_json::json!({ "n": 5 }));
    }
}

#[derive(StaticEvent, Debug, serde::Deserialize)]
#[event(name = "received.traced")]
struct Traced {
    n: u64,
}

/// What a handler saw: its event's id, its cause, its flow.
type Ids = (Option<String>, Option<String>, Option<String>);

static TRACED: Mutex<Vec<Ids>> = Mutex::new(Vec::new());

fn ids(ctx: &HandlerContext<'_>) -> Ids {
    (
        ctx.event_id().map(str::to_owned),
        ctx.causation_id().map(str::to_owned),
        ctx.correlation_id().map(str::to_owned),
    )
}

#[handler]
fn traced(e: &Traced, ctx: &HandlerContext<'_>) {
    TRACED.lock().unwrap().push(ids(ctx));
    let after = DynamicEvent::builder("received.after")
        .id(format!("after-{}", e.n))
        .build()
        .unwrap();
    ctx.emit_dynamic(&after);
}

#[tokio::test]
async fn a_received_event_continues_the_flow_it_comes_from() {
    let system = EventSystem::builder().build().unwrap();
    let after: std::sync::Arc<Mutex<Vec<Ids>>> = Default::default();
    let log = std::sync::Arc::clone(&after);
    let _after = system
        .on(
            "received.after",
            move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| log.lock().unwrap().push(ids(ctx)),
        )
        .unwrap();
    let flow = staticbus::Flow {
        causation: Some("c0"),
        correlation: Some("flow-1"),
    };
    let event = DynamicEvent::builder("received.traced")
        .id("t1")
        .json(&serde_json::json!({ "n": 1 }))
        .build()
        .unwrap();
    system.publish_as_in::<Traced>(flow, event).await.unwrap();
    // Without a flow: the static handler still has the id, and causes what it publishes.
    let event = DynamicEvent::builder("received.traced")
        .id("t2")
        .json(&serde_json::json!({ "n": 2 }))
        .build()
        .unwrap();
    system.publish_as::<Traced>(event).await.unwrap();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        std::mem::take(&mut *TRACED.lock().unwrap()),
        [
            (some("t1"), some("c0"), some("flow-1")),
            (some("t2"), None, None)
        ],
        "the static handler: the received id, the flow's ids"
    );
    assert_eq!(
        *after.lock().unwrap(),
        [
            (some("after-1"), some("t1"), some("flow-1")),
            (some("after-2"), some("t2"), some("t2"))
        ],
        "what it published: caused by the received event, in its flow"
    );

    // A dynamic event in a flow.
    let seen: std::sync::Arc<Mutex<Vec<Ids>>> = Default::default();
    let log = std::sync::Arc::clone(&seen);
    let _dynamic = system
        .on(
            "received.plain",
            move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| log.lock().unwrap().push(ids(ctx)),
        )
        .unwrap();
    let plain = DynamicEvent::builder("received.plain")
        .id("p1")
        .build()
        .unwrap();
    system.publish_dynamic_in(flow, plain).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(some("p1"), some("c0"), some("flow-1"))]
    );
}
