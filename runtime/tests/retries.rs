//! Retries of failed handler calls (async, and sync under `publish`): full-jitter delays from the system's seeded
//! generator (so the schedule is exact), permanent errors not retried, `max_elapsed`, and the
//! attempt count in the failure record. On tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{BoxError, Permanent, Retry, SubscribeOptions};
use tokio::time::Instant;

const SEED: u64 = 7;

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

#[derive(Debug, thiserror::Error)]
#[error("attempt {0} failed")]
struct Flaky(usize);

/// One attempt's future.
type Attempt = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// An async handler recording when each attempt started (since `start`), failing the first
/// `failures` attempts (with a `Permanent` error if `permanent`).
fn flaky(
    start: Instant,
    failures: usize,
    permanent: bool,
    log: &Arc<Mutex<Vec<Duration>>>,
) -> impl Fn(Arc<DynamicEvent>) -> Attempt + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |_| {
        let log = Arc::clone(&log);
        Box::pin(async move {
            let attempt = {
                let mut log = log.lock().unwrap();
                log.push(start.elapsed());
                log.len()
            };
            if attempt <= failures {
                let error = Flaky(attempt);
                return Err(if permanent {
                    Permanent::new(error).into()
                } else {
                    error.into()
                });
            }
            Ok(())
        })
    }
}

/// The delays the system's generator draws for `retry`'s first `n` retries.
fn expected_delays(retry: &Retry, n: u32) -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    (1..=n)
        .map(|k| {
            let ceiling = u64::try_from(retry.ceiling(k).as_nanos()).unwrap();
            Duration::from_nanos(rng.u64(0..=ceiling))
        })
        .collect()
}

fn system() -> EventSystem {
    EventSystem::builder().retry_seed(SEED).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_failing_call_is_retried_on_the_jittered_exponential_schedule() {
    let system = system();
    let retry =
        Retry::exponential(3, Duration::from_millis(100)).max_delay(Duration::from_millis(250));
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let _flaky = system
        .on_async_with(
            "r.x",
            SubscribeOptions::new().retry(retry),
            flaky(start, 2, false, &log),
        )
        .unwrap();
    let published = system.publish_dynamic(event("r.x")).await.unwrap();
    assert_eq!(published.handled(), 1, "the third attempt succeeded");

    // Tokio's timer ticks in milliseconds: a sleep ends at the first tick at or after it.
    let delays: Vec<Duration> = expected_delays(&retry, 2)
        .into_iter()
        .map(|d| Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap()))
        .collect();
    let attempts = log.lock().unwrap().clone();
    assert_eq!(attempts, [Duration::ZERO, delays[0], delays[0] + delays[1]]);
    assert_eq!(
        (retry.ceiling(1), retry.ceiling(2), retry.ceiling(3)),
        (
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(250)
        )
    );
    let metrics = system.metrics();
    assert_eq!((metrics.total.delivered, metrics.total.failed), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_last_attempt_is_the_reported_failure_with_the_attempt_count() {
    let system = system();
    let retry = Retry::constant(2, Duration::from_millis(10));
    let log = Arc::new(Mutex::new(Vec::new()));
    let _always = system
        .on_async_with(
            "r.y",
            SubscribeOptions::new().retry(retry),
            flaky(Instant::now(), 99, false, &log),
        )
        .unwrap();
    match system.publish_dynamic(event("r.y")).await {
        Err(Error::Handlers(errors)) => {
            let error = &errors.errors[0];
            assert_eq!(error.attempts, 3);
            assert_eq!(error.source.to_string(), "attempt 3 failed");
            let first = error.first_error.as_ref().map(ToString::to_string);
            assert_eq!(first.as_deref(), Some("attempt 1 failed"));
        }
        other => panic!("expected the last attempt's failure, got {other:?}"),
    }
    assert_eq!(log.lock().unwrap().len(), 3);
    let metrics = system.metrics();
    assert_eq!(
        metrics.total.failed, 1,
        "one failed call, however many attempts"
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_not_retried_and_max_elapsed_stops_early() {
    let system = system();
    let log = Arc::new(Mutex::new(Vec::new()));
    let retry = Retry::constant(5, Duration::from_millis(10));
    let _permanent = system
        .on_async_with(
            "r.p",
            SubscribeOptions::new().retry(retry),
            flaky(Instant::now(), 99, true, &log),
        )
        .unwrap();
    match system.publish_dynamic(event("r.p")).await {
        Err(Error::Handlers(errors)) => {
            assert_eq!(errors.errors[0].attempts, 1);
            assert!(errors.errors[0].first_error.is_none(), "tried once");
            assert!(errors.errors[0].source.is::<Permanent>());
        }
        other => panic!("expected the permanent failure, got {other:?}"),
    }
    assert_eq!(log.lock().unwrap().len(), 1);

    // A minute of retries, each up to 10 s later, within 15 s: the schedule decides how many.
    let retry = Retry::constant(60, Duration::from_secs(10)).max_elapsed(Duration::from_secs(15));
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let _bounded = system
        .on_async_with(
            "r.e",
            SubscribeOptions::new().retry(retry),
            flaky(start, 99, false, &log),
        )
        .unwrap();
    let attempts = match system.publish_dynamic(event("r.e")).await {
        Err(Error::Handlers(errors)) => errors.errors[0].attempts,
        other => panic!("expected a failure, got {other:?}"),
    };
    let started = log.lock().unwrap().clone();
    assert_eq!(started.len(), attempts as usize);
    assert!(attempts < 61, "max_elapsed stopped the retries");
    assert!(started.last().copied().unwrap_or_default() <= Duration::from_secs(15));
}

#[tokio::test]
async fn a_retry_on_a_pull_subscriber_is_refused() {
    let system = system();
    let retry = SubscribeOptions::new().retry(Retry::constant(1, Duration::ZERO));
    match system.subscribe_topic_with("r.pull", retry).map(drop) {
        Err(Error::InvalidConfig { option, .. }) => assert_eq!(option, "SubscribeOptions::retry"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

/// A sync handler recording when each attempt was made (since `start`), failing the first
/// `failures` attempts.
fn flaky_sync(
    start: Instant,
    failures: usize,
    log: &Arc<Mutex<Vec<Duration>>>,
) -> impl Fn(&EventRef<'_>) -> Result<(), BoxError> + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |_| {
        let attempt = {
            let mut log = log.lock().unwrap();
            log.push(start.elapsed());
            log.len()
        };
        if attempt <= failures {
            return Err(Flaky(attempt).into());
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_sync_subscription_is_retried_by_publish_on_the_same_schedule_and_once_by_emit() {
    let system = system();
    let retry = Retry::exponential(3, Duration::from_millis(100));
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let options = SubscribeOptions::new().retry(retry);
    let _sub = system
        .on_with("r.sync", options, flaky_sync(start, 2, &log))
        .unwrap();
    let later = Arc::new(Mutex::new(0));
    let _after = {
        let later = Arc::clone(&later);
        system
            .on("r.sync", move |_: &EventRef<'_>| {
                *later.lock().unwrap() += 1
            })
            .unwrap()
    };

    let published = system.publish_dynamic(event("r.sync")).await.unwrap();
    assert_eq!(
        published.handled(),
        2,
        "the retried one, then the next handler"
    );
    // Tokio's timer ticks in milliseconds, as above.
    let delays: Vec<Duration> = expected_delays(&retry, 2)
        .into_iter()
        .map(|d| Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap()))
        .collect();
    let started = log.lock().unwrap().clone();
    assert_eq!(started, [Duration::ZERO, delays[0], delays[0] + delays[1]]);
    assert_eq!(*later.lock().unwrap(), 1);

    // `emit` never waits: one attempt, and its failure is final.
    log.lock().unwrap().clear();
    let log_start = Instant::now();
    let emitted = system.emit_dynamic(&event("r.sync"));
    assert_eq!(log_start.elapsed(), Duration::ZERO);
    assert_eq!(emitted.handled() + emitted.errors().len(), 2);
    assert_eq!(log.lock().unwrap().len(), 1, "made once");
}

// ---- the attribute -------------------------------------------------------------------------

#[derive(StaticEvent, Debug)]
#[event(name = "retries.attr")]
struct Charge(u64);

static CHARGE_LOG: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// Fails the first `e.0` attempts.
#[handler(retries = 4, backoff = "constant", base = "30ms", max_elapsed = "1m")]
async fn charge(e: &Charge) -> Result<(), Flaky> {
    let attempt = {
        let mut log = CHARGE_LOG.lock().unwrap();
        log.push(Duration::ZERO);
        log.len()
    };
    if attempt as u64 <= e.0 {
        return Err(Flaky(attempt));
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_attribute_retries_a_static_handler_with_its_policy() {
    let info = staticbus::registry()
        .event("retries.attr")
        .expect("registered")
        .handlers()[0];
    assert_eq!(
        info.retry().copied(),
        Some(Retry::constant(4, Duration::from_millis(30)).max_elapsed(Duration::from_secs(60)))
    );
    let system = system();
    let start = Instant::now();
    system.publish(Charge(2)).await.unwrap();
    assert_eq!(
        CHARGE_LOG.lock().unwrap().len(),
        3,
        "failed twice, then succeeded"
    );
    assert!(
        start.elapsed() <= Duration::from_millis(2 * 30 + 2),
        "two constant delays"
    );

    CHARGE_LOG.lock().unwrap().clear();
    match system.publish(Charge(99)).await {
        Err(Error::Handlers(errors)) => {
            let error = &errors.errors[0];
            assert_eq!(error.attempts, 5);
            let first = error.first_error.as_ref().map(ToString::to_string);
            assert_eq!(first.as_deref(), Some("attempt 1 failed"));
        }
        other => panic!("expected the last of 5 attempts to fail, got {other:?}"),
    }
}

#[derive(StaticEvent, Debug)]
#[event(name = "retries.sync_attr")]
struct Stamp(u64);

static STAMP_CALLS: Mutex<u64> = Mutex::new(0);

/// Fails the first `e.0` attempts of each event (counted across events: reset per test).
#[handler(retries = 2, backoff = "constant", base = "10ms")]
fn stamp(e: &Stamp) -> Result<(), Flaky> {
    let attempt = {
        let mut calls = STAMP_CALLS.lock().unwrap();
        *calls += 1;
        *calls
    };
    if attempt <= e.0 {
        return Err(Flaky(attempt as usize));
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_sync_static_handler_is_retried_by_publish_and_called_once_by_emit() {
    let system = system();
    let start = Instant::now();
    system.publish(Stamp(2)).await.unwrap();
    assert_eq!(
        *STAMP_CALLS.lock().unwrap(),
        3,
        "failed twice, then succeeded"
    );
    assert!(
        start.elapsed() <= Duration::from_millis(2 * 10 + 2),
        "two constant delays"
    );

    *STAMP_CALLS.lock().unwrap() = 0;
    let emitted = system.emit(&Stamp(1));
    assert_eq!(
        *STAMP_CALLS.lock().unwrap(),
        1,
        "emit never waits: one attempt"
    );
    assert_eq!(emitted.errors()[0].attempts, 1);

    *STAMP_CALLS.lock().unwrap() = 0;
    match system.publish(Stamp(99)).await {
        Err(Error::Handlers(errors)) => assert_eq!(errors.errors[0].attempts, 3),
        other => panic!("expected the last of 3 attempts to fail, got {other:?}"),
    }
    assert_eq!(
        system.dead_letters().len(),
        2,
        "emit's failure and publish's last"
    );
}
