//! The table's fast-path pointer, and the invoke step.

use std::sync::atomic::{AtomicU64, Ordering};

use super::table::StaticRef;
use super::{Call, Host, StaticEvent, registry};
use crate::prelude::*;

#[derive(StaticEvent)]
#[event(name = "linked.tests.fast")]
struct Fast(u64);

static SEEN: AtomicU64 = AtomicU64::new(0);

#[handler]
fn add(e: &Fast) {
    SEEN.fetch_add(e.0, Ordering::Relaxed);
}

fn host() -> Host {
    Host::new(registry().plan(), (), Default::default(), None)
}

#[test]
fn fast_path_follows_dynamic_refs() {
    let table = Fast::__TABLE;
    let core = table.core();
    let host = host();
    core.prepare();
    let emitted = table
        .try_emit(&host, &Call::ROOT, &Fast(2))
        .expect("built, nothing owed: the fast path is open");
    assert_eq!(emitted.handled(), 1);

    core.dynamic_ref(true);
    assert!(
        table.try_emit(&host, &Call::ROOT, &Fast(100)).is_none(),
        "a matching dynamic subscription closes it"
    );
    core.dynamic_ref(true);
    core.dynamic_ref(false);
    assert!(core.fast().is_none(), "one system still matches");
    core.dynamic_ref(false);
    let emitted = table
        .try_emit(&host, &Call::ROOT, &Fast(3))
        .expect("no system matches any more: open again");
    assert_eq!(emitted.handled(), 1);
    assert_eq!(SEEN.load(Ordering::Relaxed), 5);
}

#[derive(StaticEvent)]
#[event(name = "linked.tests.untyped")]
struct Untyped(u64);

static UNTYPED: AtomicU64 = AtomicU64::new(0);

#[handler]
fn add_untyped(e: &Untyped) {
    UNTYPED.fetch_add(e.0, Ordering::Relaxed);
}

#[test]
fn an_untyped_table_calls_its_handlers_with_its_own_type_only() {
    let table = Untyped::__TABLE.core();
    let host = host();
    let view = StaticRef::checked(table, &Untyped(7)).expect("an `Untyped` for its table");
    assert_eq!(view.emit(&host, &Call::ROOT).handled(), 1);
    assert!(
        StaticRef::checked(table, &Warned).is_none(),
        "a value of another type is refused"
    );
    let decls = registry().handlers_of(table.desc().type_id());
    let [decl] = decls else {
        panic!("`Untyped` has one handler, found {}", decls.len())
    };
    assert!(decl.call_sync(&host, &Call::ROOT, &Untyped(11)).is_some());
    assert!(decl.call_sync(&host, &Call::ROOT, &17u64).is_none());
    assert!(
        decl.call_async(&host, &Call::ROOT, std::sync::Arc::new(Untyped(1)))
            .is_none(),
        "a sync handler has no future"
    );
    assert_eq!(
        UNTYPED.load(Ordering::Relaxed),
        18,
        "7 and 11, nothing else"
    );
}

#[derive(StaticEvent)]
#[event(name = "linked.tests.warned")]
struct Warned;

#[handler]
async fn later(_: &Warned) {}

#[test]
fn a_table_with_async_handlers_opens_its_fast_path_after_the_warning() {
    let table = Warned::__TABLE;
    let core = table.core();
    core.prepare();
    assert!(core.fast().is_none(), "the warning is owed");
    assert!(core.take_warning());
    assert!(!core.take_warning(), "warned once");
    let emitted = table
        .try_emit(&host(), &Call::ROOT, &Warned)
        .expect("nothing owed any more");
    assert_eq!((emitted.handled(), emitted.skipped_async()), (0, 1));
}

#[tokio::test]
async fn an_async_handler_runs_through_its_untyped_entry() {
    let table = Warned::__TABLE.core();
    let host = host();
    let decls = registry().handlers_of(table.desc().type_id());
    let [decl] = decls else {
        panic!("`Warned` has one handler, found {}", decls.len())
    };
    let call = Call::ROOT;
    let future = decl
        .call_async(&host, &call, std::sync::Arc::new(Warned))
        .expect("an async handler of `Warned`");
    assert!(future.await.is_ok());
    assert!(
        decl.call_async(&host, &call, std::sync::Arc::new(Untyped(1)))
            .is_none()
    );
    let view = StaticRef::checked(table, &Warned).expect("typed");
    assert_eq!(view.publish(&host, &call, None, |d| d).await.0, 1);
}

#[test]
fn a_child_call_is_caused_by_its_parent_and_keeps_the_flow() {
    let root = Call::ROOT.child(Some("e1"));
    assert_eq!((root.causation, root.correlation), (Some("e1"), Some("e1")));
    let grandchild = root.child(Some("e2"));
    assert_eq!(
        (
            grandchild.causation,
            grandchild.correlation,
            grandchild.attempt
        ),
        (Some("e2"), Some("e1"), 1)
    );
    let from_static = root.child(None);
    assert_eq!(
        (from_static.causation, from_static.correlation),
        (None, Some("e1"))
    );
}

#[test]
fn retry_ceilings_saturate_for_any_retry_number_and_duration() {
    use super::Retry;
    use std::time::Duration;
    let exponential = Retry::exponential(u32::MAX, Duration::from_millis(50));
    assert_eq!(exponential.ceiling(0), Duration::from_millis(50));
    assert_eq!(exponential.ceiling(1), Duration::from_millis(50));
    assert_eq!(exponential.ceiling(2), Duration::from_millis(100));
    assert_eq!(
        exponential.ceiling(32),
        Duration::from_millis(50) * (1 << 31)
    );
    assert_eq!(exponential.ceiling(33), Duration::MAX);
    assert_eq!(exponential.ceiling(u32::MAX), Duration::MAX);
    let capped = exponential.max_delay(Duration::from_secs(5));
    assert_eq!(capped.ceiling(u32::MAX), Duration::from_secs(5));
    assert_eq!(
        Retry::exponential(1, Duration::ZERO).ceiling(40),
        Duration::ZERO
    );
    assert_eq!(
        Retry::exponential(1, Duration::MAX).ceiling(3),
        Duration::MAX
    );
    let constant = Retry::constant(3, Duration::from_millis(7));
    assert_eq!(constant.ceiling(1), constant.ceiling(1000));
}

#[derive(StaticEvent, Debug)]
#[event(name = "linked.tests.uncaught")]
struct Uncaught(bool);

/// A thunk that does not catch its own panics: what a crate of handlers built with debug
/// assertions on registers (`HandlerFn::Sync`).
fn uncaught_thunk(_: &Host, _: &Call<'_>, event: &Uncaught) -> super::HandlerResult {
    assert!(!event.0, "asked to panic");
    Ok(())
}

::staticbus::__private::HANDLERS! {
    #![linkme_macro = ::staticbus::__private::HANDLERS]
    #[allow(unsafe_code)]
    static UNCAUGHT: super::HandlerDecl = super::HandlerDecl::new::<Uncaught>(
        super::HandlerFn::Sync(uncaught_thunk),
        super::HandlerMeta {
            plugin: None,
            function: "linked::tests::uncaught_thunk",
            priority: 0,
            timeout: None,
            retry: None,
            breaker: None,
            detached: None,
            file: file!(),
            line: line!(),
        },
    );
}

/// Emits `panicking` on a system of its own, after `quiet`: the quiet one is handled, the
/// panicking one comes back as its handler's only failure, a caught panic.
fn assert_isolated<E: StaticEvent>(quiet: &E, panicking: &E) {
    let system = EventSystem::builder().build().expect("a system");
    assert_eq!(system.emit(quiet).handled(), 1);
    let emitted = system.emit(panicking);
    assert_eq!(emitted.handled(), 0);
    let [error] = emitted.errors() else {
        panic!("one failure, got {:?}", emitted.errors())
    };
    assert!(
        error.panic().is_some(),
        "a caught panic, in every build: {error}"
    );
}

#[test]
fn a_single_handler_that_does_not_catch_its_panics_is_still_isolated() {
    let core = Uncaught::__TABLE.core();
    core.prepare();
    assert!(
        core.fast().is_some(),
        "the walk catches: the fast path is open"
    );
    // Optimised builds call a table's single handler bare, which would let this panic
    // through `emit` if it were called that way: such a thunk is walked, not called bare.
    assert_isolated(&Uncaught(false), &Uncaught(true));
}

#[derive(StaticEvent, Debug)]
#[event(name = "linked.tests.caught")]
struct Caught(bool);

#[handler]
fn caught_panics(event: &Caught) {
    assert!(!event.0, "asked to panic");
}

#[test]
fn a_generated_handler_takes_the_fast_path_and_its_panic_is_caught() {
    let core = Caught::__TABLE.core();
    core.prepare();
    assert!(
        core.fast().is_some(),
        "the macros' thunks may be called bare"
    );
    assert_isolated(&Caught(false), &Caught(true));
}

/// `Serialize` and `Clone`: both probes find their function.
#[derive(StaticEvent, Clone, serde::Serialize)]
#[event(name = "linked.tests.probed")]
struct Probed(u64);

/// Neither: both fall back to none.
#[derive(StaticEvent)]
#[event(name = "linked.tests.unprobed")]
struct Unprobed;

/// `Clone`, with a field that owns memory: its copy is a deep one, made through the
/// type-erased copier (run under Miri by `scripts/test.sh`).
#[derive(StaticEvent, Clone)]
#[event(name = "linked.tests.owning")]
struct Owning(String);

/// `Clone` only, and `Serialize` only.
#[derive(StaticEvent, Clone)]
#[event(name = "linked.tests.cloned")]
struct Cloned;

#[derive(StaticEvent, serde::Serialize)]
#[event(name = "linked.tests.serialized")]
struct Serialized;

#[test]
fn the_derives_probes_find_exactly_the_traits_a_type_implements() {
    let found = |p: super::Probes| (p.json.is_some(), p.clone.is_some());
    assert_eq!(found(Probed::__PROBES), (true, true));
    assert_eq!(found(Unprobed::__PROBES), (false, false));
    assert_eq!(found(Cloned::__PROBES), (false, true));
    assert_eq!(found(Serialized::__PROBES), (true, false));

    // And what they found works: a JSON encoding, a copy that is the event's.
    let desc = Probed::__TABLE.core().desc();
    let json = desc.json().expect("Serialize")(&Probed(7)).expect("encodes");
    assert_eq!(json, serde_json::json!(7));
    let copy = desc.copy(&Probed(8)).expect("Clone");
    assert_eq!(copy.downcast_ref::<Probed>().map(|p| p.0), Some(8));
    assert!(
        desc.copy(&Unprobed).is_none(),
        "not of the description's type"
    );
    let original = Owning("dead letter".to_owned());
    let copy = Owning::__TABLE
        .core()
        .desc()
        .copy(&original)
        .expect("Clone");
    drop(original);
    assert_eq!(
        copy.downcast_ref::<Owning>().map(|o| o.0.as_str()),
        Some("dead letter")
    );
}
