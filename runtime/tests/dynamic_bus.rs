//! The dynamic bus: push subscriptions by pattern, static events seen dynamically, payload
//! limits, unsubscribe during dispatch, the builder's checks, shutdown and health.
//!
//! Tests run in parallel: each builds its own system and uses its own topics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use staticbus::prelude::*;
use staticbus::{Delivery, DropReason, HealthIssue, PatternKind, SubscriptionInfo, TopicMetrics};

fn system() -> EventSystem {
    EventSystem::builder().build().expect("build")
}

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

fn counter() -> (
    Arc<AtomicUsize>,
    impl Fn(&EventRef<'_>) + Send + Sync + 'static,
) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = Arc::clone(&n);
    (n, move |_: &EventRef<'_>| {
        m.fetch_add(1, Ordering::Relaxed);
    })
}

#[test]
fn exact_glob_and_regex_subscriptions_match_what_they_say() {
    let system = system();
    let (exact, f) = counter();
    let _a = system.on("phase.started", f).unwrap();
    let (one, f) = counter();
    let _b = system.on("phase.*", f).unwrap();
    let (deep, f) = counter();
    let _c = system.on("phase.**", f).unwrap();
    let (re, f) = counter();
    let _d = system.on(r"^phase\.(started|completed)$", f).unwrap();

    for topic in [
        "phase.started",
        "phase.completed",
        "phase.step.done",
        "phases.started",
        "phase",
    ] {
        system.emit_dynamic(&event(topic));
    }
    assert_eq!(exact.load(Ordering::Relaxed), 1);
    assert_eq!(one.load(Ordering::Relaxed), 2, "phase.* is one segment");
    assert_eq!(
        deep.load(Ordering::Relaxed),
        3,
        "phase.** is any depth below phase"
    );
    assert_eq!(re.load(Ordering::Relaxed), 2);

    let kinds: Vec<PatternKind> = system.list_subscriptions().iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            PatternKind::Exact,
            PatternKind::Glob,
            PatternKind::Glob,
            PatternKind::Regex
        ]
    );
}

#[test]
fn invalid_patterns_are_errors_at_subscribe_time() {
    let system = system();
    for bad in ["order.[", "", "order..created", r"^(unclosed$", "a b"] {
        let err = system.on(bad, |_: &EventRef<'_>| {}).unwrap_err();
        assert!(
            matches!(err, Error::Pattern(_) | Error::Topic(_)),
            "{bad:?}: {err}"
        );
        assert!(
            err.to_string().contains(bad) || bad.is_empty(),
            "{bad:?}: {err}"
        );
    }
    assert!(system.list_subscriptions().is_empty());
}

#[test]
fn priority_then_subscription_order_and_list_subscriptions() {
    let system = system();
    let order = Arc::new(Mutex::new(Vec::new()));
    let record = |name: &'static str| {
        let order = Arc::clone(&order);
        move |_: &EventRef<'_>| order.lock().unwrap().push(name)
    };
    let _low = system
        .on_with(
            "prio.x",
            SubscribeOptions::new().priority(-1),
            record("low"),
        )
        .unwrap();
    let _first = system.on("prio.*", record("first")).unwrap();
    let _high = system
        .on_with(
            "prio.x",
            SubscribeOptions::new().priority(9),
            record("high"),
        )
        .unwrap();
    let _second = system.on("prio.x", record("second")).unwrap();
    system.emit_dynamic(&event("prio.x"));
    assert_eq!(*order.lock().unwrap(), ["high", "first", "second", "low"]);

    let listed: Vec<(String, i32, Delivery)> = system
        .list_subscriptions()
        .into_iter()
        .map(
            |SubscriptionInfo {
                 pattern,
                 priority,
                 delivery,
                 ..
             }| (pattern, priority, delivery),
        )
        .collect();
    assert_eq!(listed[0], ("prio.x".to_owned(), 9, Delivery::Sync));
    assert_eq!(listed.len(), 4);
}

#[test]
fn filters_and_dropping_the_handle_unsubscribe() {
    let system = system();
    let (n, f) = counter();
    let sub = system
        .on_with(
            "filter.*",
            SubscribeOptions::new().filter(|e| e.topic().ends_with(".keep")),
            f,
        )
        .unwrap();
    system.emit_dynamic(&event("filter.keep"));
    system.emit_dynamic(&event("filter.skip"));
    assert_eq!(n.load(Ordering::Relaxed), 1);
    let skip = system.metrics().topics["filter.skip"].clone();
    assert_eq!(skip.dropped(DropReason::Filtered), 1);

    drop(sub);
    system.emit_dynamic(&event("filter.keep"));
    assert_eq!(n.load(Ordering::Relaxed), 1);
    assert!(system.list_subscriptions().is_empty());

    let (m, f) = counter();
    let sub = system.on("filter.keep", f).unwrap();
    assert!(sub.unsubscribe());
    system.emit_dynamic(&event("filter.keep"));
    assert_eq!(m.load(Ordering::Relaxed), 0);
}

#[test]
fn unsubscribe_during_dispatch_stops_the_later_handler() {
    let system = system();
    let (later, f) = counter();
    let later_sub = Arc::new(Mutex::new(Some(system.on("during.x", f).unwrap())));
    let slot = Arc::clone(&later_sub);
    let _first = system
        .on_with(
            "during.x",
            SubscribeOptions::new().priority(1),
            move |_: &EventRef<'_>| {
                // Runs first, removes the second subscription mid-dispatch.
                drop(slot.lock().unwrap().take());
            },
        )
        .unwrap();
    let emitted = system.emit_dynamic(&event("during.x"));
    assert_eq!(later.load(Ordering::Relaxed), 0);
    assert_eq!(emitted.handled(), 1);
    let m = &system.metrics().topics["during.x"];
    assert_eq!(m.matched, 2);
    assert_eq!((m.delivered, m.dropped(DropReason::Unsubscribed)), (1, 1));
    assert!(later_sub.lock().unwrap().is_none());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    total: u64,
}

#[tokio::test]
async fn payloads_are_shared_and_decoded_on_demand() {
    let system = system();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let _json = system
        .on(
            "shop.order.created",
            move |e: &EventRef<'_>| -> Result<(), Error> {
                let order: Order = e.json()?;
                s.lock().unwrap().push(order.id);
                Ok(())
            },
        )
        .unwrap();
    let ptrs = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..2 {
        let ptrs = Arc::clone(&ptrs);
        system
            .on_async("shop.**", move |e: Arc<DynamicEvent>| {
                let ptrs = Arc::clone(&ptrs);
                async move {
                    let bytes = e.bytes().expect("bytes payload");
                    ptrs.lock().unwrap().push(bytes.as_ptr() as usize);
                }
            })
            .unwrap()
            .detach();
    }
    let created = DynamicEvent::builder("shop.order.created")
        .source("tests")
        .header("tenant", "acme")
        .json(&Order { id: 7, total: 990 })
        .build()
        .unwrap();
    let original = created.bytes().unwrap().as_ptr() as usize;
    let published = system.publish_dynamic(created).await.unwrap();
    assert_eq!(published.handled(), 3);
    assert_eq!(*seen.lock().unwrap(), [7]);
    assert_eq!(
        *ptrs.lock().unwrap(),
        [original, original],
        "no copy per subscriber"
    );
}

#[tokio::test]
async fn oversized_payload_is_refused_before_delivery() {
    let system = EventSystem::builder()
        .max_payload_bytes(1024)
        .build()
        .unwrap();
    let (n, f) = counter();
    let _s = system.on("upload.*", f).unwrap();
    let big = DynamicEvent::builder("upload.file")
        .bytes(vec![0u8; 1025])
        .build()
        .unwrap();
    let err = system.publish_dynamic(big).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::PayloadTooLarge {
                size: 1025,
                max: 1024,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_payload_bytes"));
    assert_eq!(n.load(Ordering::Relaxed), 0);
    assert_eq!(system.metrics().total.published, 0);
    let ok = DynamicEvent::builder("upload.file")
        .bytes(vec![0u8; 1024])
        .build()
        .unwrap();
    assert_eq!(system.publish_dynamic(ok).await.unwrap().handled(), 1);
}

// ---- static events on the dynamic bus -------------------------------------------------------

#[derive(StaticEvent, Debug, Clone, PartialEq, Serialize)]
#[event(name = "billing.invoice.sent")]
struct InvoiceSent {
    number: u64,
}

#[derive(StaticEvent, Debug)]
#[event(name = "billing.secret")]
struct NotSerializable(#[allow(dead_code, reason = "a payload nobody reads")] u64);

static INVOICES: AtomicU64 = AtomicU64::new(0);

#[handler]
fn count_invoice(e: &InvoiceSent) {
    INVOICES.fetch_add(e.number, Ordering::Relaxed);
}

#[tokio::test]
async fn static_events_reach_dynamic_subscribers_without_copies() {
    let system = system();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let _sync = system
        .on("billing.**", move |e: &EventRef<'_>| {
            let typed = e.downcast_ref::<InvoiceSent>().map(|i| i.number);
            let json = e.json_value().ok();
            s.lock().unwrap().push((e.topic().to_owned(), typed, json));
        })
        .unwrap();

    let before = INVOICES.load(Ordering::Relaxed);
    let invoice = InvoiceSent { number: 12 };
    let emitted = system.emit(&invoice);
    assert_eq!(emitted.handled(), 2, "static handler + dynamic subscriber");
    assert_eq!(INVOICES.load(Ordering::Relaxed) - before, 12);
    system.emit(&NotSerializable(1));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "billing.invoice.sent");
        assert_eq!(seen[0].1, Some(12));
        assert_eq!(seen[0].2, Some(serde_json::json!({ "number": 12 })));
        assert_eq!(
            (seen[1].0.as_str(), seen[1].2.clone()),
            ("billing.secret", None)
        );
    }

    // An async subscriber needs the event owned: publish moves it into one Arc.
    let got = Arc::new(Mutex::new(None));
    let g = Arc::clone(&got);
    let _async = system
        .on_async("billing.invoice.*", move |e: Arc<DynamicEvent>| {
            let g = Arc::clone(&g);
            async move {
                *g.lock().unwrap() = e.downcast_ref::<InvoiceSent>().cloned();
            }
        })
        .unwrap();
    let skipped = system.emit(&InvoiceSent { number: 1 });
    assert_eq!(
        skipped.skipped_async(),
        1,
        "emit borrows: async subscriber skipped"
    );
    let published = system.publish(InvoiceSent { number: 30 }).await.unwrap();
    assert_eq!(published.handled(), 3);
    assert_eq!(*got.lock().unwrap(), Some(InvoiceSent { number: 30 }));
}

// ---- builder ---------------------------------------------------------------------------------

#[test]
fn invalid_builder_combinations_name_the_option() {
    let cases: Vec<(EventSystemBuilder, &str)> = vec![
        (
            EventSystem::builder().channel_capacity(0),
            "channel_capacity",
        ),
        (
            EventSystem::builder().max_concurrent_dispatches(0),
            "max_concurrent_dispatches",
        ),
        (
            EventSystem::builder().global_buffer_size(0),
            "global_buffer_size",
        ),
        (
            EventSystem::builder()
                .max_payload_bytes(1000)
                .global_buffer_bytes(999),
            "global_buffer_bytes",
        ),
        (
            EventSystem::builder().default_timeout(Duration::ZERO),
            "default_timeout",
        ),
        (
            EventSystem::builder().health_buffer_threshold(1.5),
            "health_buffer_threshold",
        ),
    ];
    for (builder, option) in cases {
        let err = builder.build().unwrap_err();
        match &err {
            Error::InvalidConfig { option: o, .. } => assert_eq!(*o, option, "{err}"),
            other => panic!("{option}: unexpected {other}"),
        }
        assert!(err.to_string().contains(option));
    }
    // Zero timeout is fine when nothing blocks.
    EventSystem::builder()
        .default_timeout(Duration::ZERO)
        .backpressure_strategy(BackpressureStrategy::DropNewest)
        .build()
        .unwrap();
}

use staticbus::EventSystemBuilder;

// ---- shutdown and health -------------------------------------------------------------------

#[tokio::test]
async fn shutdown_refuses_publishes_and_drains_subscribers() {
    let system = system();
    let orders = system.subscribe_topic("drain.*").unwrap();
    for i in 0..3 {
        system
            .publish_dynamic(
                DynamicEvent::builder("drain.order")
                    .value(i as u64)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let report = system.shutdown(Duration::from_secs(1)).await;
    assert!(report.drained);
    assert_eq!(report.buffered, 3);
    let err = system
        .publish_dynamic(event("drain.order"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Shutdown), "{err}");
    let err = system.publish(InvoiceSent { number: 0 }).await.unwrap_err();
    assert!(matches!(err, Error::Shutdown), "{err}");
    for i in 0..3u64 {
        let e = orders.receive().await.unwrap();
        assert_eq!(e.downcast_ref::<u64>(), Some(&i));
    }
    assert!(matches!(orders.receive().await.unwrap_err(), Error::Closed));
    assert!(matches!(orders.try_receive().unwrap_err(), Error::Closed));
    assert!(system.health_check().issues.contains(&HealthIssue::Closed));
}

#[tokio::test]
async fn health_check_reports_lagging_subscribers_and_full_buffers() {
    let system = EventSystem::builder()
        .channel_capacity(10)
        .global_buffer_size(20)
        .backpressure_strategy(BackpressureStrategy::DropNewest)
        .build()
        .unwrap();
    let lagging = system.subscribe_topic("health.*").unwrap();
    assert!(system.health_check().is_healthy());
    for _ in 0..9 {
        system.publish_dynamic(event("health.tick")).await.unwrap();
    }
    let report = system.health_check();
    assert!(
        report.issues.iter().any(|i| matches!(
            i,
            HealthIssue::LaggingSubscriber {
                buffered: 9,
                capacity: 10,
                ..
            }
        )),
        "{report:?}"
    );
    assert!(
        !report
            .issues
            .iter()
            .any(|i| matches!(i, HealthIssue::BufferAboveThreshold { .. }))
    );
    let _second = system.subscribe_topic("health.*").unwrap();
    for _ in 0..7 {
        let _ = system.publish_dynamic(event("health.tick")).await;
    }
    let report = system.health_check();
    assert!(
        report
            .issues
            .iter()
            .any(|i| matches!(i, HealthIssue::BufferAboveThreshold { .. })),
        "{report:?}"
    );
    drop(lagging);
    let m = system.metrics();
    assert_eq!(m.total.dropped(DropReason::Closed), 10, "{m:?}");
}

#[test]
fn metrics_are_per_topic_and_sum_up() {
    let system = system();
    let _a = system.on("m.a", |_: &EventRef<'_>| {}).unwrap();
    let _b = system
        .on("m.*", |e: &EventRef<'_>| -> Result<(), std::io::Error> {
            if e.topic() == "m.b" {
                Err(std::io::Error::other("no b"))
            } else {
                Ok(())
            }
        })
        .unwrap();
    system.emit_dynamic(&event("m.a"));
    system.emit_dynamic(&event("m.a"));
    let failed = system.emit_dynamic(&event("m.b"));
    assert_eq!(failed.errors().len(), 1);
    assert!(
        failed.errors()[0].to_string().contains("m.*"),
        "{}",
        failed.errors()[0]
    );
    let m = system.metrics();
    assert_eq!(
        m.topics["m.a"],
        TopicMetrics {
            published: 2,
            matched: 4,
            delivered: 4,
            ..TopicMetrics::default()
        }
    );
    assert_eq!((m.topics["m.b"].matched, m.topics["m.b"].failed), (1, 1));
    assert_eq!(
        (
            m.total.published,
            m.total.matched,
            m.total.delivered,
            m.total.failed
        ),
        (3, 5, 4, 1)
    );
    assert_eq!(m.subscriptions, 2);
}

#[test]
fn metrics_can_be_disabled() {
    let system = EventSystem::builder()
        .enable_metrics(false)
        .build()
        .unwrap();
    let (n, f) = counter();
    let _a = system.on("quiet.*", f).unwrap();
    system.emit_dynamic(&event("quiet.x"));
    assert_eq!(n.load(Ordering::Relaxed), 1);
    assert_eq!(system.metrics().total, TopicMetrics::default());
}

// ---- implementations and isolation ---------------------------------------------------------

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "impl.step")]
struct Step(u64);

static STEPS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[handler(priority = 5)]
fn step_first(_: &Step) {
    STEPS.lock().unwrap().push("first");
}

#[handler]
fn step_check(s: &Step) -> Result<(), std::io::Error> {
    STEPS.lock().unwrap().push("check");
    if s.0 == 13 {
        Err(std::io::Error::other("unlucky step"))
    } else {
        Ok(())
    }
}

#[handler(priority = -5)]
async fn step_last(_: &Step) {
    tokio::task::yield_now().await;
    STEPS.lock().unwrap().push("last");
}

#[tokio::test]
async fn zero_copy_runs_the_same_handlers_in_the_same_order() {
    // Both systems live in this one test, so `STEPS` is not shared with another test.
    let mut runs = Vec::new();
    for implementation in [
        ImplementationType::StaticFastPath,
        ImplementationType::ZeroCopy,
    ] {
        let system = EventSystem::builder()
            .implementation(implementation)
            .build()
            .unwrap();
        assert_eq!(system.implementation(), implementation);
        let emitted = system.emit(&Step(1));
        let published = system.publish(Step(2)).await.unwrap();
        let failed = system.publish(Step(13)).await.unwrap_err();
        let Error::Handlers(failed) = failed else {
            panic!("{failed}")
        };
        let steps = std::mem::take(&mut *STEPS.lock().unwrap());
        runs.push((
            emitted.handled(),
            emitted.skipped_async(),
            published.handled(),
            failed.errors[0].handler.name().into_owned(),
            steps,
        ));
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(
        runs[0].4,
        [
            "first", "check", "first", "check", "last", "first", "check", "last"
        ]
    );
    assert!(runs[0].3.ends_with("::step_check"), "{}", runs[0].3);
}

#[derive(StaticEvent)]
#[event(name = "iso.ping")]
struct IsoPing;

#[test]
fn one_systems_subscriptions_never_see_another_systems_events() {
    let (a, b) = (system(), system());
    let (n, f) = counter();
    let sub = a.on("iso.*", f).unwrap();
    assert_eq!(b.emit(&IsoPing).handled(), 0);
    assert_eq!(n.load(Ordering::Relaxed), 0);
    assert_eq!(a.emit(&IsoPing).handled(), 1);
    drop(sub);
    assert_eq!(a.emit(&IsoPing).handled(), 0);
    drop(a);
    assert_eq!(b.emit(&IsoPing).handled(), 0);
    assert_eq!(n.load(Ordering::Relaxed), 1);
}
