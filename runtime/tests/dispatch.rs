//! Behaviour of static dispatch: order, errors, async handlers, event shapes, plugin instances.
//!
//! Tests run in parallel and share statics: each test has its own event type and counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use staticbus::prelude::*;
use staticbus::{HandlerKind, registry};

// ---- deterministic order -------------------------------------------------------------------

#[derive(StaticEvent)]
#[event(name = "test.ordered")]
struct Ordered;

static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn record(name: &'static str) {
    ORDER.lock().unwrap().push(name);
}

// Declared out of order on purpose: neither source nor link order may matter.
#[derive(Default)]
struct Beta;

#[plugin(name = "beta")]
impl Beta {
    #[on]
    fn m2(&self, _: &Ordered) {
        record("beta::m2");
    }
    #[on]
    fn m1(&self, _: &Ordered) {
        record("beta::m1");
    }
}

#[handler]
fn z_free(_: &Ordered) {
    record("z_free");
}

#[derive(Default)]
struct Alpha;

#[plugin(name = "alpha")]
impl Alpha {
    #[on(priority = -5)]
    fn low(&self, _: &Ordered) {
        record("alpha::low");
    }
    #[on]
    fn m(&self, _: &Ordered) {
        record("alpha::m");
    }
    #[on(priority = 50)]
    async fn later(&self, _: &Ordered) {
        tokio::task::yield_now().await;
        record("alpha::later");
    }
}

#[handler]
fn a_free(_: &Ordered) {
    record("a_free");
}

#[handler(priority = 100)]
fn high(_: &Ordered) {
    record("high");
}

const PUBLISH_ORDER: [&str; 8] = [
    "high",         // priority 100
    "alpha::later", // priority 50 (async)
    "a_free",       // priority 0: free functions first, by path
    "z_free",
    "alpha::m", // then plugins by name, then by method path
    "beta::m1",
    "beta::m2",
    "alpha::low", // priority -5
];

#[tokio::test]
async fn handlers_run_by_priority_then_plugin_then_path() {
    let system = EventSystem::builder().build().unwrap();

    system.publish(Ordered).await.unwrap();
    let published = std::mem::take(&mut *ORDER.lock().unwrap());
    assert_eq!(published, PUBLISH_ORDER);

    let emitted = system.emit(&Ordered);
    let sync_only: Vec<_> = PUBLISH_ORDER
        .into_iter()
        .filter(|h| *h != "alpha::later")
        .collect();
    assert_eq!(*ORDER.lock().unwrap(), sync_only);
    assert_eq!((emitted.handled(), emitted.skipped_async()), (7, 1));
}

#[test]
fn registry_lists_handlers_in_dispatch_order() {
    let event = registry().event("test.ordered").expect("registered");
    assert!(event.type_name().ends_with("::Ordered"));
    let listed: Vec<String> = event
        .handlers()
        .iter()
        .map(|h| {
            let f = h.function().rsplit("::").next().unwrap();
            match h.plugin() {
                Some(p) => format!("{p}::{f}"),
                None => f.to_owned(),
            }
        })
        .collect();
    assert_eq!(listed, PUBLISH_ORDER);
    let later = event.handlers()[1];
    assert_eq!(later.kind(), HandlerKind::Async);
    assert_eq!(later.priority(), 50);
    assert_eq!(later.plugin(), Some("alpha"));
    assert!(later.file().ends_with("dispatch.rs"));
    assert!(later.line() > 0);
    assert_eq!(later.event_name(), "test.ordered");
}

// ---- handler errors ------------------------------------------------------------------------

#[derive(StaticEvent)]
struct Charge(u64);

#[derive(Debug)]
struct Declined(u64);

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "charge of {} declined", self.0)
    }
}
impl std::error::Error for Declined {}

static CHARGED: AtomicU64 = AtomicU64::new(0);

#[handler(priority = 1)]
fn decline_big(c: &Charge) -> Result<(), Declined> {
    if c.0 > 100 {
        Err(Declined(c.0))
    } else {
        Ok(())
    }
}

#[handler]
fn book(c: &Charge) {
    CHARGED.fetch_add(c.0, Ordering::Relaxed);
}

#[handler(priority = -1)]
async fn audit_charge(c: &Charge) -> Result<(), std::io::Error> {
    if c.0 == 13 {
        Err(std::io::Error::other("unlucky"))
    } else {
        Ok(())
    }
}

#[tokio::test]
async fn handler_errors_are_collected_and_the_rest_still_run() {
    let system = EventSystem::builder().build().unwrap();

    let emitted = system.emit(&Charge(500));
    assert_eq!(emitted.handled(), 1);
    assert_eq!(emitted.errors().len(), 1);
    assert!(!emitted.is_ok());
    let failure = &emitted.errors()[0];
    assert!(failure.handler.name().ends_with("::decline_big"));
    assert_eq!(failure.source.to_string(), "charge of 500 declined");
    let err = emitted.into_result::<Charge>().unwrap_err();
    assert_eq!(err.event, "charge");
    assert!(err.to_string().contains("charge of 500 declined"), "{err}");

    assert!(system.emit(&Charge(5)).into_result::<Charge>().is_ok());

    let published = system.publish(Charge(13)).await.unwrap_err();
    let Error::Handlers(failed) = published else {
        panic!("{published}")
    };
    assert_eq!(failed.errors.len(), 1);
    assert!(failed.errors[0].handler.name().ends_with("::audit_charge"));
    assert_eq!(CHARGED.load(Ordering::Relaxed), 500 + 5 + 13);

    let declined = system.publish(Charge(513)).await.unwrap_err().to_string();
    assert_eq!(
        declined,
        "1 handler(s) of event \"charge\" failed: \
         dispatch::decline_big returned an error: charge of 513 declined"
    );
    assert_eq!(system.publish(Charge(1)).await.unwrap().handled(), 3);
}

// ---- async handlers and the emit warning ---------------------------------------------------

#[derive(StaticEvent)]
struct Slow;

static SLOW_SEEN: AtomicU64 = AtomicU64::new(0);

#[handler]
async fn slow(_: &Slow) {
    tokio::task::yield_now().await;
    SLOW_SEEN.fetch_add(1, Ordering::Relaxed);
}

/// A minimal `tracing` subscriber that keeps the message of every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                use fmt::Write;
                let _ = write!(self.0, "{}={:?} ", field.name(), value);
            }
        }
        let mut line = format!("{} ", event.metadata().level());
        event.record(&mut Message(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn emit_skips_async_handlers_says_so_and_warns_once() {
    let system = EventSystem::builder().build().unwrap();
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        for _ in 0..3 {
            let emitted = system.emit(&Slow);
            assert_eq!((emitted.handled(), emitted.skipped_async()), (0, 1));
        }
    });
    let warnings: Vec<String> = capture
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains("event=\"slow\""))
        .cloned()
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("publish"), "{}", warnings[0]);
    assert_eq!(SLOW_SEEN.load(Ordering::Relaxed), 0);

    assert_eq!(system.publish(Slow).await.unwrap().handled(), 1);
    assert_eq!(SLOW_SEEN.load(Ordering::Relaxed), 1);
}

/// An event of its own, so that this test never runs `slow` while the one above counts its
/// calls (tests of one binary run in parallel).
#[derive(StaticEvent)]
struct SlowToo;

#[handler]
async fn slow_too(_: &SlowToo) {
    tokio::task::yield_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_future_is_send() {
    let system = EventSystem::builder().build().unwrap();
    let task = tokio::spawn(async move { system.publish(SlowToo).await.map(|p| p.handled()) });
    assert_eq!(task.await.unwrap().unwrap(), 1);
}

// ---- event shapes --------------------------------------------------------------------------

#[derive(StaticEvent)]
struct TupleEvent(u64, u64);

#[derive(StaticEvent)]
struct UnitEvent;

#[derive(StaticEvent)]
enum EnumEvent {
    Add(u64),
    Reset,
}

#[derive(StaticEvent)]
struct HTTPRequestSent {
    bytes: u64,
}

static SHAPES: AtomicU64 = AtomicU64::new(0);

#[handler]
fn on_tuple(e: &TupleEvent) {
    SHAPES.fetch_add(e.0 * e.1, Ordering::Relaxed);
}

#[handler]
fn on_unit(_: &UnitEvent) {
    SHAPES.fetch_add(1000, Ordering::Relaxed);
}

#[handler]
fn on_enum(e: &EnumEvent) {
    match e {
        EnumEvent::Add(n) => SHAPES.fetch_add(*n, Ordering::Relaxed),
        EnumEvent::Reset => SHAPES.fetch_add(10_000, Ordering::Relaxed),
    };
}

#[handler]
fn on_http(e: &HTTPRequestSent) {
    SHAPES.fetch_add(e.bytes * 100_000, Ordering::Relaxed);
}

#[test]
fn every_event_shape_dispatches() {
    let system = EventSystem::builder().build().unwrap();
    assert_eq!(system.emit(&TupleEvent(3, 4)).handled(), 1);
    assert_eq!(system.emit(&UnitEvent).handled(), 1);
    assert_eq!(system.emit(&EnumEvent::Add(5)).handled(), 1);
    assert_eq!(system.emit(&EnumEvent::Reset).handled(), 1);
    assert_eq!(system.emit(&HTTPRequestSent { bytes: 2 }).handled(), 1);
    assert_eq!(
        SHAPES.load(Ordering::Relaxed),
        12 + 1000 + 5 + 10_000 + 200_000
    );
}

#[test]
fn default_names_are_dotted_type_names() {
    assert_eq!(TupleEvent::NAME, "tuple.event");
    assert_eq!(UnitEvent::NAME, "unit.event");
    assert_eq!(EnumEvent::NAME, "enum.event");
    assert_eq!(HTTPRequestSent::NAME, "http.request.sent");
    assert_eq!(Ordered::NAME, "test.ordered");
    let names: Vec<_> = registry().events().iter().map(|e| e.name()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "registry lists events by name");
    assert!(registry().problems().is_empty());
}

// ---- plugin instances ----------------------------------------------------------------------

#[derive(StaticEvent)]
struct Visit;

#[derive(Default)]
struct Visitors {
    count: AtomicU64,
}

#[plugin(name = "visitors", version = "2.1.0")]
impl Visitors {
    #[on]
    fn visit(&self, _: &Visit) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn each_system_has_its_own_plugin_instances() {
    let first = EventSystem::builder().build().unwrap();
    let second = EventSystem::builder().build().unwrap();
    first.emit(&Visit);
    first.emit(&Visit);
    second.emit(&Visit);
    let count = |s: &EventSystem| {
        s.plugin::<Visitors>()
            .unwrap()
            .count
            .load(Ordering::Relaxed)
    };
    assert_eq!((count(&first), count(&second)), (2, 1));
    assert_eq!(count(&first.clone()), 2, "clones share instances");

    let info = registry()
        .plugins()
        .find(|p| p.name() == "visitors")
        .unwrap();
    assert_eq!(info.version(), "2.1.0");
    assert!(info.type_name().ends_with("::Visitors"));
    assert_eq!(<Visitors as Plugin>::NAME, "visitors");
}

#[test]
fn plugin_defaults_name_to_type_and_version_to_crate() {
    assert_eq!(<Beta as Plugin>::NAME, "beta");
    let _ = Alpha;
    assert_eq!(<Sorted as Plugin>::NAME, "Sorted");
    assert_eq!(<Sorted as Plugin>::VERSION, env!("CARGO_PKG_VERSION"));
}

#[derive(Default)]
struct Sorted;

#[plugin]
impl Sorted {}

#[test]
fn registry_display_names_every_handler() {
    let text = registry().to_string();
    for needle in [
        "test.ordered",
        "[alpha]",
        "priority 100",
        "async",
        "dispatch.rs:",
        "visitors 2.1.0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

// ---- other error types ---------------------------------------------------------------------

#[derive(StaticEvent)]
struct Note(&'static str);

#[handler]
fn note_message(n: &Note) -> Result<(), String> {
    if n.0.is_empty() {
        Err("empty note".to_owned())
    } else {
        Ok(())
    }
}

#[handler]
fn note_boxed(n: &Note) -> Result<(), staticbus::BoxError> {
    if n.0.len() > 5 {
        Err(format!("note {:?} is too long", n.0).into())
    } else {
        Ok(())
    }
}

#[test]
fn string_and_boxed_errors_are_collected_too() {
    let system = EventSystem::builder().build().unwrap();
    assert!(system.emit(&Note("hi")).is_ok());
    let messages: Vec<String> = system
        .emit(&Note(""))
        .errors()
        .iter()
        .map(|e| e.source.to_string())
        .collect();
    assert_eq!(messages, ["empty note"]);
    let messages: Vec<String> = system
        .emit(&Note("too long"))
        .errors()
        .iter()
        .map(|e| e.source.to_string())
        .collect();
    assert_eq!(messages, ["note \"too long\" is too long"]);
}

// ---- several failures in one emit ----------------------------------------------------------

#[derive(StaticEvent)]
struct Flaky;

static FLAKY_OK: AtomicU64 = AtomicU64::new(0);

#[handler(priority = 3)]
fn flaky_first(_: &Flaky) -> Result<(), String> {
    Err("first".into())
}

#[handler(priority = 2)]
fn flaky_ok(_: &Flaky) {
    FLAKY_OK.fetch_add(1, Ordering::Relaxed);
}

#[handler(priority = 1)]
fn flaky_second(_: &Flaky) -> Result<(), String> {
    Err("second".into())
}

#[handler]
fn flaky_last_ok(_: &Flaky) {
    FLAKY_OK.fetch_add(10, Ordering::Relaxed);
}

#[test]
fn every_failure_is_collected_in_order_and_the_rest_still_run() {
    let system = EventSystem::builder().build().unwrap();
    let emitted = system.emit(&Flaky);
    let messages: Vec<String> = emitted
        .errors()
        .iter()
        .map(|e| e.source.to_string())
        .collect();
    assert_eq!(messages, ["first", "second"]);
    assert_eq!(emitted.handled(), 2);
    assert_eq!(FLAKY_OK.load(Ordering::Relaxed), 11);
}
