//! Fault injection: 10,000 events to four async handlers, one healthy, one panicking on every
//! 10th event, one overrunning its timeout on every 7th, one always failing (2 retries). The
//! healthy one gets every event; every failure is reported and counted exactly as the
//! injection implies: reports (every other publish reported handler by handler), metrics
//! and dead letters agree. On tokio's paused clock, so
//! the delays cost no real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    DEAD_LETTER_TOPIC, DeadLetterReason, HandlerRef, OutcomeKind, Retry, SubscribeOptions,
};

const EVENTS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
#[error("always fails")]
struct AlwaysFails;

fn number(event: &DynamicEvent) -> u64 {
    event.downcast_ref::<u64>().copied().unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn every_failure_of_ten_thousand_events_is_accounted_for() {
    let system = EventSystem::builder()
        .retry_seed(1)
        .dead_letter_capacity(20_000)
        .build()
        .unwrap();
    let announced = Arc::new(AtomicU64::new(0));
    let _watch = {
        let announced = Arc::clone(&announced);
        system
            .on(DEAD_LETTER_TOPIC, move |_: &EventRef<'_>| {
                announced.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap()
    };
    let healthy = Arc::new(AtomicU64::new(0));
    let failing_calls = Arc::new(AtomicU64::new(0));
    let _healthy = {
        let healthy = Arc::clone(&healthy);
        system
            .on_async("fault.*", move |_: Arc<DynamicEvent>| {
                let healthy = Arc::clone(&healthy);
                async move {
                    healthy.fetch_add(1, Ordering::Relaxed);
                }
            })
            .unwrap()
    };
    let _panics = system
        .on_async("fault.*", |e: Arc<DynamicEvent>| async move {
            if number(&e).is_multiple_of(10) {
                std::panic::panic_any(format!("event {}", number(&e)));
            }
        })
        .unwrap();
    let _slow = system
        .on_async_with(
            "fault.*",
            SubscribeOptions::new().timeout(Duration::from_millis(10)),
            |e: Arc<DynamicEvent>| async move {
                if number(&e).is_multiple_of(7) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        )
        .unwrap();
    let _failing = {
        let calls = Arc::clone(&failing_calls);
        system
            .on_async_with(
                "fault.*",
                SubscribeOptions::new().retry(Retry::constant(2, Duration::from_millis(1))),
                move |_: Arc<DynamicEvent>| {
                    let calls = Arc::clone(&calls);
                    async move {
                        calls.fetch_add(1, Ordering::Relaxed);
                        Err::<(), _>(AlwaysFails)
                    }
                },
            )
            .unwrap()
    };

    let (mut panics, mut timeouts, mut failures) = (0u64, 0u64, 0u64);
    for n in 1..=EVENTS {
        let event = DynamicEvent::builder("fault.run").value(n).build().unwrap();
        // Every other publish is reported: its report must say, handler by handler, what the
        // injection implies, and give the same result as an unreported publish.
        let result = if n % 2 == 0 {
            system.publish_dynamic(event).await
        } else {
            let report = system.publish_dynamic(event).reported().await;
            let expected = [
                OutcomeKind::Succeeded,
                match n % 10 {
                    0 => OutcomeKind::Panicked,
                    _ => OutcomeKind::Succeeded,
                },
                match n % 7 {
                    0 => OutcomeKind::TimedOut,
                    _ => OutcomeKind::Succeeded,
                },
                OutcomeKind::Failed,
            ];
            let kinds: Vec<_> = report.handlers().iter().map(|o| o.kind()).collect();
            assert_eq!(kinds, expected, "event {n}: {report}");
            let attempts: Vec<_> = report.handlers().iter().map(|o| o.attempts()).collect();
            assert_eq!(attempts, [1, 1, 1, 3], "event {n}");
            let lettered = report.dead_lettered();
            assert_eq!(
                lettered,
                4 - report.count(OutcomeKind::Succeeded),
                "event {n}"
            );
            report.into_result()
        };
        match result {
            Err(Error::Handlers(errors)) => {
                for error in &errors.errors {
                    if error.panic().is_some() {
                        panics += 1;
                        assert_eq!(error.attempts, 1);
                    } else if error.timeout().is_some() {
                        timeouts += 1;
                    } else {
                        failures += 1;
                        assert_eq!(error.attempts, 3, "two retries, then the last failure");
                    }
                }
            }
            other => panic!("event {n}: the failing handler always fails, got {other:?}"),
        }
    }

    let (expected_panics, expected_timeouts) = (EVENTS / 10, EVENTS / 7);
    assert_eq!(healthy.load(Ordering::Relaxed), EVENTS);
    assert_eq!(
        (panics, timeouts, failures),
        (expected_panics, expected_timeouts, EVENTS)
    );
    assert_eq!(failing_calls.load(Ordering::Relaxed), 3 * EVENTS);
    let metrics = system.metrics();
    let t = &metrics.topics["fault.run"];
    assert_eq!(t.published, EVENTS);
    assert_eq!(t.matched, 4 * EVENTS);
    assert_eq!(t.failed, expected_panics + expected_timeouts + EVENTS);
    assert_eq!(t.timed_out, expected_timeouts);
    assert_eq!(t.delivered + t.failed + t.dropped_total(), t.matched);

    // One dead letter per failed call, by the handler and the reason the injection implies.
    let letters = system.dead_letters();
    let by = |id: staticbus::SubscriptionId, reason| {
        letters
            .iter()
            .filter(|l| {
                matches!(l.handler(), HandlerRef::Subscription { id: i, .. } if *i == id)
                    && l.reason() == reason
            })
            .count() as u64
    };
    assert_eq!(
        by(_panics.id(), DeadLetterReason::Panicked),
        expected_panics
    );
    assert_eq!(
        by(_slow.id(), DeadLetterReason::TimedOut),
        expected_timeouts
    );
    assert_eq!(by(_failing.id(), DeadLetterReason::Failed), EVENTS);
    assert!(letters.iter().all(|l| l.attempts()
        == if l.reason() == DeadLetterReason::Failed {
            3
        } else {
            1
        }));
    assert_eq!(letters.len() as u64, t.failed);
    let stats = system.dead_letter_stats();
    assert_eq!((stats.buried, stats.overflowed), (t.failed, 0));
    assert_eq!(announced.load(Ordering::Relaxed), t.failed);
    // Per handler, the same counts again.
    let of = |sub: &Subscription| {
        let name = format!("subscription {} (fault.*)", sub.id());
        metrics.handlers.iter().find(|h| h.handler == name).cloned()
    };
    let panicked = of(&_panics).expect("the panicking handler's counts");
    assert_eq!(
        (panicked.failed, panicked.panicked, panicked.dead_lettered),
        (expected_panics, expected_panics, expected_panics)
    );
    let slow = of(&_slow).expect("the slow handler's counts");
    assert_eq!(
        (slow.failed, slow.timed_out),
        (expected_timeouts, expected_timeouts)
    );
    let failing = of(&_failing).expect("the failing handler's counts");
    assert_eq!(
        (
            failing.failed,
            failing.retried,
            failing.dead_lettered,
            failing.rejected
        ),
        (EVENTS, 2 * EVENTS, EVENTS, 0)
    );
    assert!(
        of(&_healthy).is_none(),
        "nothing went wrong with the healthy one"
    );
    let announcements = &metrics.topics[DEAD_LETTER_TOPIC];
    assert_eq!(announcements.published, t.failed);
    assert_eq!(metrics.total.published, EVENTS + t.failed);
}
