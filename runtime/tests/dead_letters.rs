//! Dead letters: every handler call that fails for good (static or dynamic, sync or async,
//! an error, a panic, a timeout, after its retries) leaves one letter with the event, the
//! handler, the attempts and both errors; the bounded queue keeps the most recent ones and
//! counts the rest; each is announced on `staticbus.dead_letter`; `redrive` sends letters
//! back to their handler, `purge` removes them.
//!
//! The panics print through the default panic hook (to the test's captured output).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    BoxError, DEAD_LETTER_TOPIC, DeadLetter, DeadLetterReason, DropReason, HandlerRef, Retry,
};

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

fn numbered(topic: &str, n: u64) -> DynamicEvent {
    DynamicEvent::builder(topic)
        .value(n)
        .build()
        .expect("valid topic")
}

fn static_name(letter: &DeadLetter) -> &'static str {
    match letter.handler() {
        HandlerRef::Static(info) => info.function(),
        other => panic!("expected a static handler, got {}", other.name()),
    }
}

// ---- static handlers ---------------------------------------------------------------------

#[derive(StaticEvent, Debug, Clone, PartialEq)]
#[event(name = "letters.invoice")]
struct Invoice(u64);

static INVOICES_UP: AtomicBool = AtomicBool::new(false);
static INVOICES_BILLED: AtomicU64 = AtomicU64::new(0);

#[handler]
fn bill(e: &Invoice) -> Result<(), BoxError> {
    if !INVOICES_UP.load(Ordering::SeqCst) {
        return Err(format!("billing is down for invoice {}", e.0).into());
    }
    INVOICES_BILLED.fetch_add(e.0, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn a_failing_static_handler_leaves_a_letter_with_a_copy_that_redrives() {
    let system = EventSystem::builder().build().unwrap();
    let emitted = system.emit(&Invoice(7));
    assert_eq!(emitted.errors().len(), 1);
    assert!(
        emitted.errors()[0].dead_lettered,
        "the report says it became a letter"
    );
    assert!(system.publish(Invoice(8)).await.is_err());

    let letters = system.dead_letters();
    assert_eq!(letters.len(), 2);
    let first = &letters[0];
    assert_eq!((first.seq(), first.topic()), (1, "letters.invoice"));
    assert!(
        static_name(first).ends_with("bill"),
        "{}",
        static_name(first)
    );
    assert!(first.is_static());
    assert_eq!(first.downcast_ref::<Invoice>(), Some(&Invoice(7)));
    assert_eq!(first.attempts(), 1);
    assert_eq!(first.reason(), DeadLetterReason::Failed);
    assert_eq!(first.error(), "billing is down for invoice 7");
    assert_eq!(first.first_error(), None);
    assert_eq!(letters[1].downcast_ref::<Invoice>(), Some(&Invoice(8)));

    INVOICES_UP.store(true, Ordering::SeqCst);
    let redriven = system.redrive(|l| l.topic() == "letters.invoice").await;
    assert_eq!((redriven.taken, redriven.succeeded), (2, 2));
    assert_eq!(INVOICES_BILLED.load(Ordering::SeqCst), 15);
    assert!(system.dead_letters().is_empty());
    let stats = system.dead_letter_stats();
    assert_eq!((stats.buried, stats.held, stats.redriven), (2, 0, 2));
    assert_eq!(system.metrics().dead_letters, stats);
}

/// Not `Clone`: its letters carry no copy.
#[derive(StaticEvent, Debug)]
#[event(name = "letters.opaque")]
struct Opaque(#[allow(dead_code)] u64);

#[handler]
fn refuse_opaque(_: &Opaque) -> Result<(), BoxError> {
    Err("refused".into())
}

#[tokio::test]
async fn a_letter_without_a_copy_of_its_event_stays_in_the_queue_on_redrive() {
    let system = EventSystem::builder().build().unwrap();
    assert!(!system.emit(&Opaque(1)).is_ok());
    let letter = &system.dead_letters()[0];
    assert_eq!(letter.topic(), "letters.opaque");
    assert!(letter.event().is_none());
    assert_eq!(letter.error(), "refused");

    let redriven = system.redrive(|_| true).await;
    assert_eq!((redriven.taken, redriven.unavailable), (1, 1));
    assert_eq!(system.dead_letters().len(), 1, "put back");
    assert_eq!(system.dead_letter_stats().redriven, 0);
}

#[derive(StaticEvent, Debug, Clone, PartialEq)]
#[event(name = "letters.async")]
struct Shipment(u64);

#[handler(retries = 2, backoff = "constant", base = "1ms")]
async fn ship(e: &Shipment) -> Result<(), BoxError> {
    Err(format!("no truck for {}", e.0).into())
}

#[tokio::test(start_paused = true)]
async fn a_retried_async_static_handler_leaves_one_letter_with_both_errors() {
    let system = EventSystem::builder().retry_seed(3).build().unwrap();
    assert!(system.publish(Shipment(4)).await.is_err());
    let letters = system.dead_letters();
    assert_eq!(letters.len(), 1, "one letter after the last attempt");
    assert_eq!(letters[0].attempts(), 3);
    assert_eq!(letters[0].error(), "no truck for 4");
    assert_eq!(letters[0].first_error(), Some("no truck for 4"));
    assert_eq!(letters[0].downcast_ref::<Shipment>(), Some(&Shipment(4)));
}

// ---- dynamic subscriptions ---------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn panics_timeouts_and_errors_of_subscriptions_are_dead_lettered_with_their_reason() {
    let system = EventSystem::builder().retry_seed(5).build().unwrap();
    let panics = system
        .on("jobs.run", |_: &EventRef<'_>| -> Result<(), BoxError> {
            panic!("the job broke")
        })
        .unwrap();
    let slow = system
        .on_async_with(
            "jobs.run",
            SubscribeOptions::new().timeout(Duration::from_millis(5)),
            |_: Arc<DynamicEvent>| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
        )
        .unwrap();
    let failing = system
        .on_async_with(
            "jobs.run",
            SubscribeOptions::new().retry(Retry::exponential(2, Duration::from_millis(1))),
            |_: Arc<DynamicEvent>| async { Err::<(), BoxError>("no".into()) },
        )
        .unwrap();
    let healthy = system.on("jobs.run", |_: &EventRef<'_>| {}).unwrap();

    assert!(
        system
            .publish_dynamic(numbered("jobs.run", 9))
            .await
            .is_err()
    );
    let letters = system.dead_letters();
    let of = |id| {
        letters
            .iter()
            .find(|l| matches!(l.handler(), HandlerRef::Subscription { id: i, .. } if *i == id))
    };
    let panicked = of(panics.id()).expect("the panic's letter");
    assert!(panicked.panicked());
    assert_eq!(panicked.error(), "panicked: the job broke");
    assert_eq!(panicked.downcast_ref::<u64>(), Some(&9));
    assert_eq!(
        of(slow.id()).expect("the timeout's letter").reason(),
        DeadLetterReason::TimedOut
    );
    let failed = of(failing.id()).expect("the failure's letter");
    assert_eq!(
        (failed.reason(), failed.attempts()),
        (DeadLetterReason::Failed, 3)
    );
    assert!(of(healthy.id()).is_none());
    assert_eq!(letters.len(), 3);
    assert_eq!(system.dead_letter_stats().buried, 3);
}

#[tokio::test]
async fn letters_are_announced_to_sync_and_pull_subscribers_of_their_topic() {
    let system = EventSystem::builder().build().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let _watch = {
        let seen = Arc::clone(&seen);
        system
            .on(DEAD_LETTER_TOPIC, move |e: &EventRef<'_>| {
                let letter = e.downcast_ref::<DeadLetter>().expect("a letter");
                seen.fetch_add(letter.seq(), Ordering::SeqCst);
            })
            .unwrap()
    };
    let inbox = system.subscribe_topic("staticbus.*").unwrap();
    let _async = system
        .on_async(DEAD_LETTER_TOPIC, |_: Arc<DynamicEvent>| async {})
        .unwrap();
    let _broken = system
        .on("orders.*", |_: &EventRef<'_>| -> Result<(), BoxError> {
            Err("no stock".into())
        })
        .unwrap();

    system.emit_dynamic(&event("orders.placed"));
    assert!(system.publish_dynamic(event("orders.paid")).await.is_err());

    assert_eq!(seen.load(Ordering::SeqCst), 1 + 2);
    let received = inbox.try_receive().unwrap().expect("the first letter");
    let json = received.json_value().unwrap();
    assert_eq!(json["topic"], "orders.placed");
    assert_eq!(json["reason"], "failed");
    assert_eq!(json["error"], "no stock");
    assert_eq!(json["attempts"], 1);
    assert!(json["handler"].as_str().unwrap().contains("orders.*"));
    let second = inbox.try_receive().unwrap().expect("the second letter");
    assert_eq!(
        second.downcast_ref::<DeadLetter>().unwrap().topic(),
        "orders.paid"
    );

    let topic = &system.metrics().topics[DEAD_LETTER_TOPIC];
    assert_eq!(topic.published, 2);
    assert_eq!(
        topic.delivered, 4,
        "the sync and the pull subscriber, twice"
    );
    assert_eq!(
        topic.dropped(DropReason::NotOwned),
        2,
        "the async one, not awaited"
    );
}

#[tokio::test]
async fn a_failing_subscriber_of_dead_letters_makes_none() {
    let system = EventSystem::builder().build().unwrap();
    let _loop = system
        .on(
            DEAD_LETTER_TOPIC,
            |_: &EventRef<'_>| -> Result<(), BoxError> { Err("cannot store it".into()) },
        )
        .unwrap();
    let _broken = system
        .on("tasks", |_: &EventRef<'_>| -> Result<(), BoxError> {
            Err("broken".into())
        })
        .unwrap();
    system.emit_dynamic(&event("tasks"));
    assert_eq!(system.dead_letter_stats().buried, 1);
    assert_eq!(system.metrics().topics[DEAD_LETTER_TOPIC].failed, 1);
}

#[tokio::test]
async fn the_queue_keeps_the_most_recent_letters_and_counts_the_overflow() {
    let system = EventSystem::builder()
        .dead_letter_capacity(2)
        .build()
        .unwrap();
    let _broken = system
        .on("tasks", |e: &EventRef<'_>| -> Result<(), BoxError> {
            Err(format!("task {}", e.downcast_ref::<u64>().unwrap()).into())
        })
        .unwrap();
    for n in 1..=5 {
        system.emit_dynamic(&numbered("tasks", n));
    }
    let held: Vec<u64> = system.dead_letters().iter().map(|l| l.seq()).collect();
    assert_eq!(held, [4, 5]);
    let stats = system.dead_letter_stats();
    assert_eq!(
        (stats.buried, stats.held, stats.capacity, stats.overflowed),
        (5, 2, 2, 3)
    );

    let none = EventSystem::builder()
        .dead_letter_capacity(0)
        .build()
        .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let _watch = {
        let seen = Arc::clone(&seen);
        none.on(DEAD_LETTER_TOPIC, move |_: &EventRef<'_>| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap()
    };
    let _broken = none
        .on("tasks", |_: &EventRef<'_>| -> Result<(), BoxError> {
            Err("x".into())
        })
        .unwrap();
    none.emit_dynamic(&event("tasks"));
    assert!(none.dead_letters().is_empty());
    assert_eq!(none.dead_letter_stats().overflowed, 1);
    assert_eq!(seen.load(Ordering::SeqCst), 1, "still announced");
}

#[tokio::test]
async fn redrive_calls_the_subscription_again_and_a_new_failure_is_a_new_letter() {
    let system = EventSystem::builder().build().unwrap();
    let up = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let _sync = {
        let (up, done) = (Arc::clone(&up), Arc::clone(&done));
        system
            .on(
                "work.sync",
                move |e: &EventRef<'_>| -> Result<(), BoxError> {
                    if !up.load(Ordering::SeqCst) {
                        return Err("down".into());
                    }
                    done.fetch_add(*e.downcast_ref::<u64>().unwrap(), Ordering::SeqCst);
                    Ok(())
                },
            )
            .unwrap()
    };
    let _async = {
        let (up, done) = (Arc::clone(&up), Arc::clone(&done));
        system
            .on_async("work.async", move |e: Arc<DynamicEvent>| {
                let (up, done) = (Arc::clone(&up), Arc::clone(&done));
                async move {
                    if !up.load(Ordering::SeqCst) {
                        return Err::<(), BoxError>("down".into());
                    }
                    done.fetch_add(*e.downcast_ref::<u64>().unwrap(), Ordering::SeqCst);
                    Ok(())
                }
            })
            .unwrap()
    };
    let gone = system
        .on("work.gone", |_: &EventRef<'_>| -> Result<(), BoxError> {
            Err("down".into())
        })
        .unwrap();

    system.emit_dynamic(&numbered("work.sync", 1));
    assert!(
        system
            .publish_dynamic(numbered("work.async", 10))
            .await
            .is_err()
    );
    system.emit_dynamic(&numbered("work.gone", 100));
    gone.unsubscribe();

    // Still down: both fail again, each a new letter; the gone one stays.
    let again = system.redrive(|_| true).await;
    assert_eq!(
        (again.taken, again.failed, again.unavailable),
        (3, 2, 1),
        "{again:?}"
    );
    assert_eq!(again.errors.len(), 2);
    let seqs: Vec<u64> = system.dead_letters().iter().map(|l| l.seq()).collect();
    assert_eq!(
        seqs,
        [3, 4, 5],
        "the gone one in its place, then the new ones"
    );

    up.store(true, Ordering::SeqCst);
    let redriven = system.redrive(|l| l.topic() != "work.gone").await;
    assert_eq!((redriven.taken, redriven.succeeded), (2, 2));
    assert_eq!(done.load(Ordering::SeqCst), 11);
    assert_eq!(system.dead_letters().len(), 1);

    assert_eq!(system.purge_dead_letters(|l| l.topic() == "work.gone"), 1);
    let stats = system.dead_letter_stats();
    assert_eq!(
        (stats.buried, stats.held, stats.redriven, stats.purged),
        (5, 0, 4, 1)
    );
}

#[derive(StaticEvent, Debug, Clone, PartialEq)]
#[event(name = "letters.seen")]
struct Seen(u64);

#[tokio::test]
async fn a_static_event_redriven_to_a_subscription_is_seen_as_the_static_event() {
    let system = EventSystem::builder().build().unwrap();
    let up = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let _sub = {
        let (up, seen) = (Arc::clone(&up), Arc::clone(&seen));
        system
            .on(
                "letters.seen",
                move |e: &EventRef<'_>| -> Result<(), BoxError> {
                    assert!(e.is_static());
                    if !up.load(Ordering::SeqCst) {
                        return Err("later".into());
                    }
                    seen.fetch_add(e.downcast_ref::<Seen>().unwrap().0, Ordering::SeqCst);
                    Ok(())
                },
            )
            .unwrap()
    };
    assert!(!system.emit(&Seen(6)).is_ok());
    let letter = &system.dead_letters()[0];
    assert!(letter.is_static());
    assert_eq!(letter.downcast_ref::<Seen>(), Some(&Seen(6)));

    up.store(true, Ordering::SeqCst);
    assert_eq!(system.redrive(|_| true).await.succeeded, 1);
    assert_eq!(seen.load(Ordering::SeqCst), 6);
}
