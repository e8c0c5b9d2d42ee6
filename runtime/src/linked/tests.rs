//! The table's fast-path pointer, and the invoke step.

use std::sync::atomic::{AtomicU64, Ordering};

use super::table::TableControl;
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
    Host::new(registry().plan(), ())
}

#[test]
fn fast_path_follows_dynamic_refs() {
    let table = Fast::__table();
    let host = host();
    // Not built: no fast path yet.
    table.prepare();
    let fast = table
        .fast()
        .expect("built, nothing owed: the fast path is open");
    assert_eq!(fast.emit(&host, &Call::ROOT, &Fast(2)).handled(), 1);

    table.dynamic_ref(true);
    assert!(
        table.fast().is_none(),
        "a matching dynamic subscription closes it"
    );
    table.dynamic_ref(true);
    table.dynamic_ref(false);
    assert!(table.fast().is_none(), "one system still matches");
    table.dynamic_ref(false);
    let fast = table
        .fast()
        .expect("no system matches any more: open again");
    assert_eq!(fast.emit(&host, &Call::ROOT, &Fast(3)).handled(), 1);
    assert_eq!(SEEN.load(Ordering::Relaxed), 5);
}

#[derive(StaticEvent)]
#[event(name = "linked.tests.warned")]
struct Warned;

#[handler]
async fn later(_: &Warned) {}

#[test]
fn a_table_with_async_handlers_opens_its_fast_path_after_the_warning() {
    let table = Warned::__table();
    table.prepare();
    assert!(table.fast().is_none(), "the warning is owed");
    assert!(table.take_warning());
    assert!(!table.take_warning(), "warned once");
    let fast = table.fast().expect("nothing owed any more");
    let emitted = fast.emit(&host(), &Call::ROOT, &Warned);
    assert_eq!((emitted.handled(), emitted.skipped_async()), (0, 1));
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
