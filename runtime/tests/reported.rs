//! Reported publishes: `publish(..).reported()` says, handler by handler and in dispatch
//! order, what happened (succeeded, failed, panicked, timed out, rejected by an open circuit,
//! queued for or refused by a detached handler), with the attempts and the dead letters; and
//! its `into_result` is what the same publish returns unreported. On tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    BackpressureStrategy, BoxError, CircuitBreaker, DropReason, HandlerOutcome, HandlerRef,
    OutcomeKind, PublishReport, SubscribeOptions,
};

#[derive(Debug, thiserror::Error)]
#[error("flaky attempt {0}")]
struct Flaky(u32);

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

fn kinds(report: &PublishReport) -> Vec<OutcomeKind> {
    report.handlers().iter().map(HandlerOutcome::kind).collect()
}

// Static handlers of one event, in their declared order: one healthy, one that succeeds on
// its second attempt, one that panics, one async that overruns its timeout.

#[derive(StaticEvent, Clone, Debug)]
#[event(name = "reported.order")]
struct Order;

#[handler(priority = 4)]
fn order_healthy(_: &Order) {}

static ORDER_FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// The `Order` handlers are linked once for the whole test binary, and `order_flaky`'s
/// attempts alternate on one counter: the two tests that publish `Order` take this lock, so
/// one test's attempts never interleave with the other's (tests run on parallel threads).
static ORDER_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[handler(priority = 3, retries = 2, backoff = "constant", base = "10ms")]
fn order_flaky(_: &Order) -> Result<(), Flaky> {
    let attempt = ORDER_FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if attempt % 2 == 1 {
        return Err(Flaky(attempt));
    }
    Ok(())
}

#[handler(priority = 2)]
fn order_panics(_: &Order) {
    panic!("the order handler broke");
}

#[handler(priority = 1, timeout = "20ms")]
async fn order_slow(_: &Order) {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_static_publish_reports_each_handler_in_order() {
    let _serial = ORDER_TESTS.lock().await;
    let system = EventSystem::builder().build().unwrap();
    let _pull = system.subscribe::<Order>().unwrap();

    let report = system.publish(Order).reported().await;
    assert_eq!(report.event(), "reported.order");
    assert_eq!(
        kinds(&report),
        [
            OutcomeKind::Succeeded,
            OutcomeKind::Succeeded,
            OutcomeKind::Panicked,
            OutcomeKind::TimedOut
        ],
        "{report}"
    );
    let names: Vec<_> = report
        .handlers()
        .iter()
        .map(|o| o.handler().name().into_owned())
        .collect();
    for (name, expected) in names.iter().zip(["healthy", "flaky", "panics", "slow"]) {
        assert!(name.ends_with(&format!("order_{expected}")), "{name}");
    }
    let attempts: Vec<u32> = report.handlers().iter().map(|o| o.attempts()).collect();
    assert_eq!(attempts, [1, 2, 1, 1]);
    assert!(report.handlers()[1].retried());
    assert_eq!(report.handled(), 2);
    assert_eq!(report.enqueued(), 1, "the pull subscriber");
    assert_eq!(report.dead_lettered(), 2, "the panic and the timeout");
    assert!(report.handlers()[2].dead_lettered() && report.handlers()[3].dead_lettered());
    assert!(!report.is_ok() && report.problem().is_none());
    assert!(
        report
            .outcome(&names[2])
            .is_some_and(|o| o.error().is_some())
    );
    assert!(report.to_string().contains("after 2 attempts"), "{report}");

    // The report's result is the unreported publish's.
    let reported = report.into_result().unwrap_err();
    let plain = system.publish(Order).await.unwrap_err();
    match (reported, plain) {
        (Error::Handlers(a), Error::Handlers(b)) => {
            assert_eq!(a.event, b.event);
            let names = |e: &staticbus::HandlerErrors| {
                e.errors
                    .iter()
                    .map(|e| (e.handler.name(), e.attempts))
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(&a), names(&b));
        }
        other => panic!("expected handler failures from both, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_dynamic_publish_reports_every_kind_of_outcome() {
    let system = EventSystem::builder()
        .handler_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let _ok = system
        .on_with(
            "dyn.*",
            SubscribeOptions::new().priority(9),
            |_: &EventRef<'_>| {},
        )
        .unwrap();
    let _failing = system
        .on_with(
            "dyn.*",
            SubscribeOptions::new().priority(8),
            |_: &EventRef<'_>| -> Result<(), BoxError> { Err("no stock".into()) },
        )
        .unwrap();
    let _slow = system
        .on_async_with(
            "dyn.*",
            SubscribeOptions::new().priority(7),
            |_: Arc<DynamicEvent>| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
            },
        )
        .unwrap();
    let _breaking = system
        .on_with(
            "dyn.*",
            SubscribeOptions::new()
                .priority(6)
                .circuit_breaker(CircuitBreaker::consecutive(1).reset(Duration::from_secs(60))),
            |_: &EventRef<'_>| -> Result<(), BoxError> { Err("down".into()) },
        )
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let _detached = {
        let calls = Arc::clone(&calls);
        system
            .on_async_with(
                "dyn.*",
                SubscribeOptions::new().priority(5).detached(),
                move |_: Arc<DynamicEvent>| {
                    let calls = Arc::clone(&calls);
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                    }
                },
            )
            .unwrap()
    };
    let _pull = system.subscribe_topic("dyn.*").unwrap();

    let first = system.publish_dynamic(event("dyn.a")).reported().await;
    assert_eq!(first.event(), "dyn.a");
    assert_eq!(
        kinds(&first),
        [
            OutcomeKind::Succeeded,
            OutcomeKind::Failed,
            OutcomeKind::TimedOut,
            OutcomeKind::Failed,
            OutcomeKind::Queued
        ],
        "{first}"
    );
    assert_eq!(
        first.enqueued(),
        2,
        "the detached queue and the pull subscriber"
    );
    assert!(matches!(
        first.handlers()[0].handler(),
        HandlerRef::Subscription { id, .. } if *id == _ok.id()
    ));

    // The breaker opened on that failure: the next call is rejected, not made.
    let second = system
        .publish_shared(Arc::new(event("dyn.b")))
        .reported()
        .await;
    assert_eq!(
        second.handlers()[3].kind(),
        OutcomeKind::Rejected,
        "{second}"
    );
    assert_eq!(second.handlers()[3].attempts(), 0);
    assert!(!second.handlers()[3].ran());
    assert!(
        !second.handlers()[3].dead_lettered(),
        "rejections are not letters by default"
    );
    assert_eq!(second.count(OutcomeKind::Succeeded), 1);

    let report = system.shutdown(Duration::from_secs(10)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the detached handler ran for both"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_detached_queue_is_reported_refused_with_the_backpressure_error() {
    let system = EventSystem::builder()
        .backpressure_strategy(BackpressureStrategy::DropNewest)
        .build()
        .unwrap();
    let _detached = system
        .on_async_with(
            "full.q",
            SubscribeOptions::new().detached().buffer_capacity(1),
            |_: Arc<DynamicEvent>| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
        )
        .unwrap();
    let mut reports = Vec::new();
    for _ in 0..3 {
        reports.push(system.publish_dynamic(event("full.q")).reported().await);
    }
    let refused: Vec<_> = reports
        .iter()
        .filter_map(|r| match &r.handlers()[0] {
            HandlerOutcome::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert!(!refused.is_empty(), "{reports:?}");
    assert!(refused.iter().all(|r| *r == DropReason::Rejected));
    for report in &reports {
        let refused = report.handlers()[0].kind() == OutcomeKind::Refused;
        assert_eq!(
            report.problem().is_some_and(Error::is_backpressure),
            refused,
            "{report}"
        );
        assert_eq!(report.enqueued(), usize::from(!refused));
    }
}

#[tokio::test(start_paused = true)]
async fn a_blocked_detached_push_is_settled_when_room_comes() {
    let system = EventSystem::builder()
        .backpressure_strategy(BackpressureStrategy::Block)
        .default_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let _detached = system
        .on_async_with(
            "block.q",
            SubscribeOptions::new().detached().buffer_capacity(1),
            |_: Arc<DynamicEvent>| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
            },
        )
        .unwrap();
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let report = system.publish_dynamic(event("block.q")).reported().await;
        kinds.push(report.handlers()[0].kind());
        if report.handlers()[0].kind() == OutcomeKind::Refused {
            assert!(matches!(
                report.handlers()[0],
                HandlerOutcome::Refused {
                    reason: DropReason::TimedOut,
                    ..
                }
            ));
            assert!(report.problem().is_some_and(Error::is_backpressure));
        }
    }
    assert!(kinds.contains(&OutcomeKind::Queued), "{kinds:?}");
    assert!(
        kinds.contains(&OutcomeKind::Refused),
        "a queue of 1 behind a 10 s call times out within 100 ms: {kinds:?}"
    );
}

#[tokio::test]
async fn problems_that_are_not_a_handlers_are_reported_too() {
    let system = EventSystem::builder().max_payload_bytes(8).build().unwrap();
    let big = DynamicEvent::builder("big.one")
        .bytes(vec![0u8; 64])
        .build()
        .unwrap();
    let report = system.publish_dynamic(big).reported().await;
    assert!(
        matches!(report.problem(), Some(Error::PayloadTooLarge { .. })),
        "{report}"
    );
    assert!(report.handlers().is_empty());
    assert!(matches!(
        report.into_result(),
        Err(Error::PayloadTooLarge { .. })
    ));

    system.shutdown(Duration::from_secs(1)).await;
    let report = system.publish(Order).reported().await;
    assert!(
        matches!(report.problem(), Some(Error::Shutdown)),
        "{report}"
    );
    let report = system.publish_dynamic(event("late")).reported().await;
    assert!(matches!(report.into_result(), Err(Error::Shutdown)));
}

#[tokio::test]
async fn a_publish_with_nothing_wrong_reports_ok_with_the_same_counts() {
    let system = EventSystem::builder().build().unwrap();
    let _a = system.on("fine.*", |_: &EventRef<'_>| {}).unwrap();
    let _b = system
        .on_async("fine.*", |_: Arc<DynamicEvent>| async {})
        .unwrap();
    let _pull = system.subscribe_topic("fine.x").unwrap();
    let report = system.publish_dynamic(event("fine.x")).reported().await;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.count(OutcomeKind::Succeeded), 2);
    let reported = report.into_result().unwrap();
    let plain = system.publish_dynamic(event("fine.x")).await.unwrap();
    assert_eq!(reported, plain);
    assert_eq!((plain.handled(), plain.enqueued()), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_publish_already_polled_reports_its_result() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    let system = EventSystem::builder().build().unwrap();
    let _fine = system.on("polled.x", |_: &EventRef<'_>| {}).unwrap();
    let _late = system
        .on_async("polled.x", |_: Arc<DynamicEvent>| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Err::<(), BoxError>("late failure".into())
        })
        .unwrap();
    let mut publish = system.publish_dynamic(event("polled.x"));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut publish).poll(&mut cx).is_pending());
    let report = publish.reported().await;
    assert_eq!(report.event(), "polled.x");
    assert_eq!(
        kinds(&report),
        [OutcomeKind::Failed],
        "only the failure is listed"
    );
    assert!(report.into_result().is_err());
}

#[tokio::test(start_paused = true)]
async fn both_implementations_report_the_static_handlers_alike() {
    use staticbus::ImplementationType;

    let _serial = ORDER_TESTS.lock().await;
    let mut reports = Vec::new();
    for implementation in [
        ImplementationType::StaticFastPath,
        ImplementationType::ZeroCopy,
    ] {
        let system = EventSystem::builder()
            .implementation(implementation)
            .build()
            .unwrap();
        let report = system.publish(Order).reported().await;
        let outcomes: Vec<_> = report
            .handlers()
            .iter()
            .map(|o| {
                assert!(
                    matches!(o.handler(), HandlerRef::Static(_)),
                    "{implementation:?}: {report}"
                );
                (o.handler().name().into_owned(), o.kind(), o.attempts())
            })
            .collect();
        reports.push(outcomes);
    }
    assert_eq!(reports[0].len(), 4);
    assert_eq!(
        reports[0], reports[1],
        "the same outcomes, in the same order"
    );
}
