//! A flow across processes, against a real NATS server: an event published by a handler is
//! exported with its causation and correlation ids (headers `causationid`,
//! `correlationid`), and the handlers of the system that receives it see them, so that what
//! they publish continues the same flow, back across the broker.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{NatsServer, eventually, nats, system};
use staticbus::prelude::*;
use staticbus_bridge::{Bridge, Group};

/// What a handler saw: its event's id, its cause, its flow.
type Ids = (String, Option<String>, Option<String>);

type Log = Arc<Mutex<Vec<Ids>>>;

/// On `topic`: records the ids, then publishes `then` (with id `then_id`) through the
/// context's handle, if given.
fn relay(system: &EventSystem, topic: &str, then: Option<(&'static str, &'static str)>) -> Log {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let sub = system
        .on_async(
            topic,
            move |e: Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
                seen.lock().unwrap().push((
                    e.id().to_owned(),
                    ctx.causation_id().map(str::to_owned),
                    ctx.correlation_id().map(str::to_owned),
                ));
                let handle = ctx.handle();
                async move {
                    if let Some((topic, id)) = then {
                        let next = DynamicEvent::builder(topic).id(id).build().unwrap();
                        handle.publish_dynamic(next).await?;
                    }
                    Ok::<(), staticbus::Error>(())
                }
            },
        )
        .unwrap();
    std::mem::forget(sub);
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_continues_across_the_broker_both_ways() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    // A: `flow.begin` (local) makes `flow.start` (exported); `flow.next` comes back.
    let a = system();
    relay(&a, "flow.begin", Some(("flow.start", "x1")));
    let ends = relay(&a, "flow.next", None);
    let a_bridge = Bridge::builder(&a, nats(&server).await)
        .export("flow.start")
        .group(Group::new("ends", "flow.next"))
        .start()
        .await
        .unwrap();
    // B: `flow.start` (from A) makes `flow.next` (exported back to A).
    let b = system();
    let middle = relay(&b, "flow.start", Some(("flow.next", "y1")));
    let b_bridge = Bridge::builder(&b, nats(&server).await)
        .export("flow.next")
        .group(Group::new("middle", "flow.start"))
        .start()
        .await
        .unwrap();

    let begin = DynamicEvent::builder("flow.begin")
        .id("w0")
        .build()
        .unwrap();
    a.publish_dynamic(begin).await.unwrap();
    eventually(Duration::from_secs(10), "the flow came back to A", || {
        !ends.lock().unwrap().is_empty()
    })
    .await;
    let ids =
        |id: &str, cause: &str, flow: &str| (id.to_owned(), Some(cause.into()), Some(flow.into()));
    assert_eq!(
        *middle.lock().unwrap(),
        [ids("x1", "w0", "w0")],
        "B's handler: caused by A's first event, in its flow"
    );
    assert_eq!(
        *ends.lock().unwrap(),
        [ids("y1", "x1", "w0")],
        "A's handler: caused by B's event, still in the first event's flow"
    );
    a_bridge.shutdown().await;
    b_bridge.shutdown().await;
}
