//! Circuit breakers on subscriptions: a handler that keeps failing is no longer called
//! (its calls rejected, reported and counted) until its reset has passed and a probe
//! succeeds; every change of state is announced on `staticbus.circuit.*` and shows in
//! `metrics().circuits`. On Tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    BoxError, CircuitBreaker, CircuitChange, CircuitState, DeadLetterReason, DropReason,
    EventSubscriber,
};

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

/// A handler failing while `down`, counting its calls.
struct Flaky {
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

impl Flaky {
    fn new() -> Flaky {
        Flaky {
            down: Arc::new(AtomicBool::new(true)),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    fn handler(&self) -> impl Fn(&EventRef<'_>) -> Result<(), BoxError> + Send + Sync + 'static {
        let (down, calls) = (Arc::clone(&self.down), Arc::clone(&self.calls));
        move |_: &EventRef<'_>| {
            calls.fetch_add(1, Ordering::SeqCst);
            if down.load(Ordering::SeqCst) {
                return Err("backend down".into());
            }
            Ok(())
        }
    }
}

/// The states announced so far, in order.
fn changes(inbox: &EventSubscriber<DynamicEvent>) -> Vec<(String, CircuitState)> {
    let mut seen = Vec::new();
    while let Ok(Some(event)) = inbox.try_receive() {
        let change = event.downcast_ref::<CircuitChange>().expect("a change");
        seen.push((event.topic().to_string(), change.state));
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_sync_handler_opens_after_its_failures_rejects_then_probes_and_closes() {
    let system = EventSystem::builder().build().unwrap();
    let inbox = system.subscribe_topic("staticbus.circuit.*").unwrap();
    let flaky = Flaky::new();
    let options = SubscribeOptions::new()
        .circuit_breaker(CircuitBreaker::consecutive(3).reset(Duration::from_millis(100)));
    let _guarded = system.on_with("orders", options, flaky.handler()).unwrap();
    let healthy = Arc::new(AtomicU64::new(0));
    let _healthy = {
        let healthy = Arc::clone(&healthy);
        system
            .on("orders", move |_: &EventRef<'_>| {
                healthy.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
    };

    for _ in 0..3 {
        let emitted = system.emit_dynamic(&event("orders"));
        assert!(
            emitted.errors()[0].circuit_open().is_none(),
            "made, and failed"
        );
    }
    assert_eq!(
        changes(&inbox),
        [("staticbus.circuit.opened".to_owned(), CircuitState::Open)]
    );

    // Open: not called, rejected, reported, counted.
    for _ in 0..5 {
        let emitted = system.emit_dynamic(&event("orders"));
        let error = &emitted.errors()[0];
        assert_eq!(
            error.circuit_open().expect("rejected").state(),
            CircuitState::Open
        );
        assert_eq!(error.attempts, 0);
        assert!(
            error.to_string().contains("rejected: its circuit is open"),
            "{error}"
        );
    }
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        healthy.load(Ordering::SeqCst),
        8,
        "the other handler ran every time"
    );

    // After the reset, one probe: it fails, so it opens again.
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(
        system.emit_dynamic(&event("orders")).errors()[0]
            .circuit_open()
            .is_none()
    );
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        changes(&inbox),
        [
            (
                "staticbus.circuit.half_open".to_owned(),
                CircuitState::HalfOpen
            ),
            ("staticbus.circuit.opened".to_owned(), CircuitState::Open),
        ]
    );

    // Mended: the next probe closes it, and calls go through again.
    flaky.down.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(system.emit_dynamic(&event("orders")).is_ok());
    assert!(system.emit_dynamic(&event("orders")).is_ok());
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 6);
    assert_eq!(
        changes(&inbox),
        [
            (
                "staticbus.circuit.half_open".to_owned(),
                CircuitState::HalfOpen
            ),
            ("staticbus.circuit.closed".to_owned(), CircuitState::Closed),
        ]
    );

    let metrics = system.metrics();
    let orders = &metrics.topics["orders"];
    assert_eq!(orders.dropped(DropReason::CircuitOpen), 5);
    assert_eq!(orders.failed, 4);
    assert_eq!(
        orders.delivered + orders.failed + orders.dropped_total(),
        orders.matched
    );
    // The static handlers of this test binary that have a breaker are listed too.
    let ours: Vec<_> = metrics
        .circuits
        .iter()
        .filter(|c| c.handler.starts_with("subscription"))
        .collect();
    assert_eq!(ours.len(), 1);
    let circuit = ours[0];
    assert_eq!(
        (circuit.state, circuit.rejected, circuit.opened),
        (CircuitState::Closed, 5, 2)
    );
    assert!(circuit.handler.contains("orders"), "{}", circuit.handler);
    assert_eq!(
        system.dead_letter_stats().buried,
        4,
        "failures only: rejections are not letters"
    );
}

#[tokio::test(start_paused = true)]
async fn an_async_handler_behind_a_ratio_breaker_and_rejections_as_dead_letters() {
    let system = EventSystem::builder().build().unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let breaker = CircuitBreaker::ratio(0.5, Duration::from_secs(10), 4)
        .reset(Duration::from_secs(1))
        .dead_letter_rejected(true);
    let _guarded = {
        let calls = Arc::clone(&calls);
        system
            .on_async_with(
                "payments",
                SubscribeOptions::new().circuit_breaker(breaker),
                move |e: Arc<DynamicEvent>| {
                    let calls = Arc::clone(&calls);
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        match e.downcast_ref::<u64>() {
                            Some(n) if n % 2 == 0 => Err::<(), BoxError>("declined".into()),
                            _ => Ok(()),
                        }
                    }
                },
            )
            .unwrap()
    };
    let publish = |n: u64| {
        system.publish_dynamic(DynamicEvent::builder("payments").value(n).build().unwrap())
    };
    // 1 ok, 2 failed, 3 ok, 4 failed: half of four calls.
    for n in 1..=4 {
        let _ = publish(n).await;
    }
    match publish(5).await {
        Err(Error::Handlers(errors)) => {
            assert!(errors.errors[0].circuit_open().is_some());
            assert!(
                errors.errors[0].dead_lettered,
                "asked: dead_letter_rejected(true)"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let letters = system.dead_letters();
    let reasons: Vec<DeadLetterReason> = letters.iter().map(|l| l.reason()).collect();
    assert_eq!(
        reasons,
        [
            DeadLetterReason::Failed,
            DeadLetterReason::Failed,
            DeadLetterReason::CircuitOpen
        ]
    );
    assert_eq!(letters[2].attempts(), 0);

    // A rejected letter redriven: the operator's call, made whatever the circuit's state.
    let redriven = system
        .redrive(|l| l.reason() == DeadLetterReason::CircuitOpen)
        .await;
    assert_eq!(redriven.succeeded, 1, "{redriven:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_pull_subscriber_cannot_have_a_breaker() {
    let system = EventSystem::builder().build().unwrap();
    let options = SubscribeOptions::new().circuit_breaker(CircuitBreaker::consecutive(1));
    match system.subscribe_topic_with("orders", options) {
        Err(Error::InvalidConfig { option, .. }) => {
            assert_eq!(option, "SubscribeOptions::circuit_breaker")
        }
        other => panic!("expected InvalidConfig, got {:?}", other.map(|_| ())),
    }
}

// ---- static handlers ---------------------------------------------------------------------

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "breakers.ping")]
struct Ping;

static PING_DOWN: AtomicBool = AtomicBool::new(true);
static PING_CALLS: AtomicU64 = AtomicU64::new(0);

#[handler(circuit_breaker(failures = 2, reset = "50ms"))]
fn guarded_ping(_: &Ping) -> Result<(), BoxError> {
    PING_CALLS.fetch_add(1, Ordering::SeqCst);
    if PING_DOWN.load(Ordering::SeqCst) {
        return Err("ping backend down".into());
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_static_handler_behind_its_attribute_opens_rejects_and_closes_per_system() {
    let system = EventSystem::builder().build().unwrap();
    let inbox = system.subscribe_topic("staticbus.circuit.*").unwrap();
    assert!(!system.emit(&Ping).is_ok());
    assert!(system.publish(Ping).await.is_err());
    assert_eq!(
        changes(&inbox),
        [("staticbus.circuit.opened".to_owned(), CircuitState::Open)]
    );
    let emitted = system.emit(&Ping);
    assert_eq!(
        emitted.errors()[0].circuit_open().map(|o| o.state()),
        Some(CircuitState::Open)
    );
    assert!(matches!(
        system.publish(Ping).await,
        Err(Error::Handlers(e)) if e.errors[0].circuit_open().is_some()
    ));
    assert_eq!(
        PING_CALLS.load(Ordering::SeqCst),
        2,
        "rejected calls are not made"
    );

    // Another system has a breaker of its own, closed.
    let other = EventSystem::builder().build().unwrap();
    assert!(other.emit(&Ping).errors()[0].circuit_open().is_none());
    assert_eq!(PING_CALLS.load(Ordering::SeqCst), 3);

    PING_DOWN.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_millis(50)).await;
    assert!(system.emit(&Ping).is_ok(), "the probe");
    assert!(system.emit(&Ping).is_ok());
    assert_eq!(
        changes(&inbox),
        [
            (
                "staticbus.circuit.half_open".to_owned(),
                CircuitState::HalfOpen
            ),
            ("staticbus.circuit.closed".to_owned(), CircuitState::Closed),
        ]
    );
    let circuits = system.metrics().circuits;
    let ping = circuits
        .iter()
        .find(|c| c.handler.ends_with("guarded_ping"))
        .expect("listed");
    assert_eq!(
        (ping.state, ping.rejected, ping.opened),
        (CircuitState::Closed, 2, 1)
    );
}

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "breakers.keys")]
struct Keys;

/// The issue's own example of the keys.
#[handler(circuit_breaker(
    failures = 5,
    window = "30s",
    min_calls = 10,
    reset = "30s",
    probes = 1
))]
async fn windowed(_: &Keys) {}

#[derive(Default)]
struct Billing;

#[plugin]
impl Billing {
    #[on(circuit_breaker(ratio = 0.5, window = "1m", min_calls = 4, dead_letter = true))]
    fn charge(&self, _: &Keys) {}
}

#[test]
fn the_attribute_keys_make_the_policy() {
    let registry = staticbus::registry();
    let event = registry.event("breakers.keys").expect("registered");
    let policy = |suffix: &str| {
        let info = event
            .handlers()
            .iter()
            .find(|h| h.function().ends_with(suffix))
            .expect("the handler");
        *info.circuit_breaker().expect("a breaker")
    };
    assert_eq!(
        policy("windowed"),
        CircuitBreaker::within(5, Duration::from_secs(30), 10)
            .reset(Duration::from_secs(30))
            .probes(1)
    );
    assert_eq!(
        policy("charge"),
        CircuitBreaker::ratio(0.5, Duration::from_secs(60), 4).dead_letter_rejected(true)
    );
}
