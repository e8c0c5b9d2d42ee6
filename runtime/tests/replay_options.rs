//! Replays on dynamic subscriptions: `SubscribeOptions::replay(false)` keeps replayed events
//! from a sync handler, an async one, a detached one and a pull subscriber (counted dropped,
//! `Filtered`), with or without a filter of its own; the others see them, and their context
//! says replay, a detached handler's too (its call is made later, by its worker).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{DropReason, EventSubscriber, SubscribeOptions};

fn event(topic: &str, n: u64) -> DynamicEvent {
    DynamicEvent::builder(topic)
        .json(&serde_json::json!({ "n": n }))
        .build()
        .unwrap()
}

type Log = Arc<Mutex<Vec<(&'static str, String, bool)>>>;

fn sync_recorder(
    log: &Log,
    name: &'static str,
) -> impl Fn(&EventRef<'_>, &HandlerContext<'_>) + use<> {
    let log = Arc::clone(log);
    move |e: &EventRef<'_>, ctx: &HandlerContext<'_>| {
        log.lock()
            .unwrap()
            .push((name, e.topic().to_owned(), ctx.is_replay()));
    }
}

fn async_recorder(
    log: &Log,
    name: &'static str,
) -> impl Fn(Arc<DynamicEvent>, &HandlerContext<'_>) -> std::future::Ready<()> + use<> {
    let log = Arc::clone(log);
    move |e: Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
        log.lock()
            .unwrap()
            .push((name, e.topic().as_str().to_owned(), ctx.is_replay()));
        std::future::ready(())
    }
}

fn seen(log: &Log, name: &str) -> Vec<(String, bool)> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(n, _, _)| *n == name)
        .map(|(_, topic, replay)| (topic.clone(), *replay))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn subscriptions_that_take_no_replays_see_live_events_only() {
    let system = EventSystem::builder().build().unwrap();
    let log: Log = Arc::default();
    let live = || SubscribeOptions::new().replay(false);
    let _subs = [
        system.on("mail.*", sync_recorder(&log, "sync")).unwrap(),
        system
            .on_with("mail.*", live(), sync_recorder(&log, "sync_live"))
            .unwrap(),
        system
            .on_async_with("mail.*", live(), async_recorder(&log, "async_live"))
            .unwrap(),
        system
            .on_async_with(
                "mail.*",
                SubscribeOptions::new().detached(),
                async_recorder(&log, "detached"),
            )
            .unwrap(),
        system
            .on_async_with(
                "mail.*",
                live().detached(),
                async_recorder(&log, "detached_live"),
            )
            .unwrap(),
        system
            .on_with(
                "mail.*",
                live().filter(|e| e.topic().ends_with(".sent")),
                sync_recorder(&log, "filtered_live"),
            )
            .unwrap(),
    ];
    let all = system.subscribe_topic("mail.*").unwrap();
    let live_pull = system.subscribe_topic_with("mail.*", live()).unwrap();

    system.publish_dynamic(event("mail.sent", 1)).await.unwrap();
    system.replay(event("mail.sent", 2)).await.unwrap();
    system.replay(event("mail.queued", 3)).await.unwrap();
    system
        .publish_dynamic(event("mail.queued", 4))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;

    let both = [
        ("mail.sent".to_owned(), false),
        ("mail.sent".to_owned(), true),
        ("mail.queued".to_owned(), true),
        ("mail.queued".to_owned(), false),
    ];
    let live_only = [
        ("mail.sent".to_owned(), false),
        ("mail.queued".to_owned(), false),
    ];
    assert_eq!(seen(&log, "sync"), both);
    assert_eq!(seen(&log, "detached"), both, "its worker knows a replay");
    for name in ["sync_live", "async_live", "detached_live"] {
        assert_eq!(seen(&log, name), live_only, "{name}");
    }
    assert_eq!(
        seen(&log, "filtered_live"),
        [("mail.sent".to_owned(), false)],
        "its own filter still applies"
    );

    let pulled = |sub: &EventSubscriber<DynamicEvent>| {
        std::iter::from_fn(|| sub.try_receive().unwrap())
            .map(|e| e.json::<serde_json::Value>().unwrap()["n"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(pulled(&all), [1, 2, 3, 4]);
    assert_eq!(pulled(&live_pull), [1, 4]);

    // Each refused replay counts as filtered: 4 subscriptions refused both replays, and the
    // filtered one refused the live `mail.queued` too.
    let metrics = system.metrics();
    let filtered = |topic: &str| metrics.topics[topic].dropped(DropReason::Filtered);
    assert_eq!((filtered("mail.sent"), filtered("mail.queued")), (5, 6));
}

#[test]
fn the_option_is_shown_in_debug_output() {
    let options = SubscribeOptions::new().replay(false);
    assert!(format!("{options:?}").contains("replay: false"));
    assert!(format!("{:?}", SubscribeOptions::new()).contains("replay: true"));
}
