//! What the bus does when handlers misbehave, with the counts: 1,000 events to four async
//! handlers, one healthy, one panicking on every 10th event, one overrunning its timeout on
//! every 7th, one returning an error on every 5th (tried twice). The healthy one gets all
//! 1,000; every failure is reported and counted exactly: delivered + failed = published x
//! handlers, and each failure is one dead letter. Then the picky handler is mended and its
//! dead letters redriven to it. Then, on a second system, a handler behind a circuit breaker
//! and a detached handler, each publish reported handler by handler.
//!
//! `cargo run --example reliability`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    BoxError, CircuitBreaker, DEAD_LETTER_TOPIC, DeadLetterReason, HandlerError, Retry,
    SubscribeOptions,
};

#[derive(Debug, thiserror::Error)]
#[error("event {0} is not welcome")]
struct Unwelcome(u64);

/// The event's number.
fn number(event: &DynamicEvent) -> u64 {
    event.downcast_ref::<u64>().copied().unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Quiet the default panic hook for the panics this example causes on purpose.
    std::panic::set_hook(Box::new(|_| {}));
    let system = EventSystem::builder()
        .handler_timeout(Duration::from_millis(20))
        .build()?;

    let healthy = Arc::new(AtomicU64::new(0));
    let _healthy = {
        let healthy = Arc::clone(&healthy);
        system.on_async("job.*", move |_: Arc<DynamicEvent>| {
            let healthy = Arc::clone(&healthy);
            async move {
                healthy.fetch_add(1, Ordering::Relaxed);
            }
        })?
    };
    let _panicky = system.on_async("job.*", |e: Arc<DynamicEvent>| async move {
        if number(&e).is_multiple_of(10) {
            panic!("cannot handle job {}", number(&e));
        }
    })?;
    let _slow = system.on_async_with(
        "job.*",
        SubscribeOptions::new().timeout(Duration::from_millis(5)),
        |e: Arc<DynamicEvent>| async move {
            if number(&e).is_multiple_of(7) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )?;
    let mended = Arc::new(AtomicBool::new(false));
    let _picky = {
        let mended = Arc::clone(&mended);
        system.on_async_with(
            "job.*",
            SubscribeOptions::new().retry(Retry::constant(1, Duration::from_millis(1))),
            move |e: Arc<DynamicEvent>| {
                let mended = mended.load(Ordering::Relaxed);
                async move {
                    match number(&e) % 5 {
                        0 if !mended => Err(Unwelcome(number(&e))),
                        _ => Ok(()),
                    }
                }
            },
        )?
    };
    // Every dead letter is announced on its topic, here into a pull subscriber.
    let letters = system.subscribe_topic(DEAD_LETTER_TOPIC)?;

    let (mut panics, mut timeouts, mut errors) = (0u64, 0u64, 0u64);
    let mut first: Option<String> = None;
    for n in 1..=1000u64 {
        let event = DynamicEvent::builder("job.run").value(n).build()?;
        if let Err(Error::Handlers(failures)) = system.publish_dynamic(event).await {
            for failure in &failures.errors {
                count(failure, &mut panics, &mut timeouts, &mut errors);
            }
            first.get_or_insert_with(|| failures.to_string());
        }
    }

    let t = system.metrics().topics["job.run"].clone();
    println!(
        "healthy handler ran {} times",
        healthy.load(Ordering::Relaxed)
    );
    println!("failures reported: {panics} panics, {timeouts} timeouts, {errors} errors");
    println!(
        "metrics: published {}  matched {}  delivered {}  failed {} (of which timed out {})",
        t.published, t.matched, t.delivered, t.failed, t.timed_out
    );
    println!("first report: {}", first.unwrap_or_default());

    let held = system.dead_letters();
    let of = |reason| held.iter().filter(|l| l.reason() == reason).count();
    let (dead_panics, dead_timeouts, dead_errors) = (
        of(DeadLetterReason::Panicked),
        of(DeadLetterReason::TimedOut),
        of(DeadLetterReason::Failed),
    );
    let announced = letters.try_receive_batch(usize::MAX)?.len();
    println!(
        "dead letters: {dead_panics} panicked, {dead_timeouts} timed out, {dead_errors} failed \
         (each after {} attempts); {announced} announced on {DEAD_LETTER_TOPIC}",
        held.iter()
            .find(|l| l.reason() == DeadLetterReason::Failed)
            .map_or(0, |l| l.attempts())
    );

    mended.store(true, Ordering::Relaxed);
    let redriven = system
        .redrive(|l| l.reason() == DeadLetterReason::Failed)
        .await;
    let stats = system.dead_letter_stats();
    println!(
        "redrive after the fix: {} taken, {} succeeded; {} letters left",
        redriven.taken, redriven.succeeded, stats.held
    );
    // What went wrong, per handler (the healthy one has no row).
    let handlers = system.metrics().handlers;
    for h in &handlers {
        println!(
            "  {}: failed {} (panicked {}, timed out {}), retried {}, dead letters {}",
            h.handler, h.failed, h.panicked, h.timed_out, h.retried, h.dead_lettered
        );
    }

    assert_eq!(healthy.load(Ordering::Relaxed), 1000);
    assert_eq!((panics, timeouts, errors), (100, 142, 200));
    assert_eq!(t.failed, panics + timeouts + errors);
    assert_eq!(t.timed_out, timeouts);
    assert_eq!(t.delivered + t.failed, t.matched);
    assert_eq!(t.matched, 4 * 1000);
    assert_eq!((dead_panics, dead_timeouts, dead_errors), (100, 142, 200));
    assert_eq!(announced, held.len());
    assert_eq!((redriven.taken, redriven.succeeded), (200, 200));
    assert_eq!(stats.held, 242);
    assert_eq!(handlers.len(), 3);
    assert_eq!(handlers.iter().map(|h| h.failed).sum::<u64>(), 442);
    assert_eq!(handlers.iter().map(|h| h.retried).sum::<u64>(), 200);
    breaker_and_detached().await
}

/// A sync handler that always fails, behind a breaker opening after 5 consecutive failures,
/// and a detached handler, which `publish` does not wait for: 100 events.
async fn breaker_and_detached() -> Result<(), Error> {
    let system = EventSystem::builder().build()?;
    let breaker = CircuitBreaker::consecutive(5).reset(Duration::from_secs(3600));
    let _guarded = system.on_with(
        "order.*",
        SubscribeOptions::new().circuit_breaker(breaker),
        |_: &EventRef<'_>| -> Result<(), BoxError> { Err("payment backend down".into()) },
    )?;
    let shipped = Arc::new(AtomicU64::new(0));
    let _shipping = {
        let shipped = Arc::clone(&shipped);
        system.on_async_with(
            "order.*",
            SubscribeOptions::new().detached().buffer_capacity(200),
            move |_: Arc<DynamicEvent>| {
                let shipped = Arc::clone(&shipped);
                async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    shipped.fetch_add(1, Ordering::Relaxed);
                }
            },
        )?
    };
    // Each publish reported handler by handler: what its call did, or why it was not made.
    let started = std::time::Instant::now();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut sixth = None;
    for n in 1..=100u64 {
        let event = DynamicEvent::builder("order.placed").value(n).build()?;
        let report = system.publish_dynamic(event).reported().await;
        for outcome in report.handlers() {
            *outcomes.entry(format!("{:?}", outcome.kind())).or_default() += 1;
        }
        if n == 6 {
            sixth = Some(report.to_string());
        }
    }
    let published_in = started.elapsed();
    println!("the 6th publish's report: {}", sixth.unwrap_or_default());
    println!("outcomes of 100 reported publishes: {outcomes:?}");
    let report = system.shutdown(Duration::from_secs(10)).await;

    let metrics = system.metrics();
    let circuit = &metrics.circuits[0];
    println!(
        "breaker: {} after {} failures, {} calls rejected; 100 publishes took {published_in:?}, \
         the detached handler then shipped {} (shutdown drained: {})",
        circuit.state,
        metrics.handlers[0].failed,
        circuit.rejected,
        shipped.load(Ordering::Relaxed),
        report.drained
    );
    assert_eq!((circuit.opened, circuit.rejected), (1, 95));
    assert_eq!(
        (metrics.handlers[0].failed, metrics.handlers[0].rejected),
        (5, 95)
    );
    assert!(report.drained, "{report:?}");
    assert_eq!(shipped.load(Ordering::Relaxed), 100);
    let expected = [("Failed", 5), ("Queued", 100), ("Rejected", 95)];
    assert_eq!(outcomes, expected.map(|(k, n)| (k.to_owned(), n)).into());
    let t = &metrics.topics["order.placed"];
    assert_eq!(t.delivered + t.failed + t.dropped_total(), t.matched);
    Ok(())
}

/// Tells a panic, a timeout and a returned error apart.
fn count(failure: &HandlerError, panics: &mut u64, timeouts: &mut u64, errors: &mut u64) {
    if failure.panic().is_some() {
        *panics += 1;
    } else if failure.timeout().is_some() {
        *timeouts += 1;
    } else {
        *errors += 1;
    }
}
