//! The plugin arena: every system keeps one instance of each plugin in one allocation, each at
//! its type's offset. Sizes, alignments, zero-sized plugins, drops and a panicking constructor.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use staticbus::prelude::*;

#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "instances.poke")]
struct Poke(u64);

/// A zero-sized plugin; it counts in a static.
#[derive(Default)]
struct Empty;

static EMPTY_POKES: AtomicU64 = AtomicU64::new(0);

#[plugin(name = "instances-a-empty", version = "0.0.0")]
impl Empty {
    #[on]
    fn poke(&self, e: &Poke) {
        EMPTY_POKES.fetch_add(e.0, Ordering::Relaxed);
    }
}

/// A plugin aligned well beyond what an allocator gives by default.
#[derive(Default)]
#[repr(align(128))]
struct Aligned {
    sum: AtomicU64,
}

#[plugin(name = "instances-b-aligned", version = "0.0.0")]
impl Aligned {
    #[on]
    fn poke(&self, e: &Poke) {
        self.sum.fetch_add(e.0, Ordering::Relaxed);
    }
}

/// A plugin with a byte-sized field after the aligned one, and a drop that is counted.
struct Counted {
    tag: u8,
    sum: AtomicU64,
}

static COUNTED_LIVE: AtomicUsize = AtomicUsize::new(0);

impl Default for Counted {
    fn default() -> Self {
        COUNTED_LIVE.fetch_add(1, Ordering::SeqCst);
        Counted {
            tag: 7,
            sum: AtomicU64::new(0),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        COUNTED_LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[plugin(name = "instances-c-counted", version = "0.0.0")]
impl Counted {
    #[on]
    fn poke(&self, e: &Poke) {
        self.sum
            .fetch_add(e.0 * u64::from(self.tag), Ordering::Relaxed);
    }
}

/// Built last (its name sorts last); its constructor panics while `FRAGILE` is set.
#[derive(Debug)]
struct Fragile {
    name: String,
}

static FRAGILE: AtomicBool = AtomicBool::new(false);

impl Default for Fragile {
    fn default() -> Self {
        assert!(
            !FRAGILE.load(Ordering::SeqCst),
            "fragile plugin refuses to start"
        );
        Fragile {
            name: "fragile".repeat(3),
        }
    }
}

#[plugin(name = "instances-d-fragile", version = "0.0.0")]
impl Fragile {
    #[on]
    fn poke(&self, _: &Poke) {
        assert_eq!(self.name.len(), 21);
    }
}

/// The tests share the statics above: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn every_plugin_is_placed_aligned_and_reached_by_its_methods() {
    let _serial = serial();
    let system = EventSystem::builder().build().unwrap();
    let aligned = system.plugin::<Aligned>().unwrap();
    assert_eq!(
        std::ptr::from_ref(aligned).addr() % 128,
        0,
        "aligned for its type"
    );
    let counted = system.plugin::<Counted>().unwrap();
    assert_eq!(counted.tag, 7, "constructed with Default");
    assert!(
        system.plugin::<Empty>().is_some(),
        "zero-sized plugins have a place too"
    );
    assert_eq!(
        system.plugin::<Fragile>().unwrap().name,
        "fragilefragilefragile"
    );

    let before = EMPTY_POKES.load(Ordering::Relaxed);
    assert_eq!(system.emit(&Poke(3)).handled(), 4);
    assert_eq!(aligned.sum.load(Ordering::Relaxed), 3);
    assert_eq!(counted.sum.load(Ordering::Relaxed), 21);
    assert_eq!(EMPTY_POKES.load(Ordering::Relaxed) - before, 3);
}

#[test]
fn systems_do_not_share_instances_and_drop_each_once() {
    let _serial = serial();
    let live = COUNTED_LIVE.load(Ordering::SeqCst);
    let first = EventSystem::builder().build().unwrap();
    let second = EventSystem::builder().build().unwrap();
    assert_eq!(COUNTED_LIVE.load(Ordering::SeqCst), live + 2);

    first.emit(&Poke(1));
    second.emit(&Poke(10));
    second.emit(&Poke(10));
    let sum = |s: &EventSystem| s.plugin::<Aligned>().unwrap().sum.load(Ordering::Relaxed);
    assert_eq!((sum(&first), sum(&second)), (1, 20));

    let clone = first.clone();
    drop(first);
    assert_eq!(
        COUNTED_LIVE.load(Ordering::SeqCst),
        live + 2,
        "a clone keeps them"
    );
    drop(clone);
    assert_eq!(COUNTED_LIVE.load(Ordering::SeqCst), live + 1);
    drop(second);
    assert_eq!(COUNTED_LIVE.load(Ordering::SeqCst), live);
}

#[test]
fn a_panicking_constructor_drops_the_instances_built_before_it() {
    let _serial = serial();
    let live = COUNTED_LIVE.load(Ordering::SeqCst);
    FRAGILE.store(true, Ordering::SeqCst);
    let built = catch_unwind(AssertUnwindSafe(|| EventSystem::builder().build()));
    FRAGILE.store(false, Ordering::SeqCst);
    let panic = built.expect_err("the constructor's panic reaches the caller");
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    assert_eq!(message, Some("fragile plugin refuses to start"));
    assert_eq!(
        COUNTED_LIVE.load(Ordering::SeqCst),
        live,
        "the plugin built before the panic was dropped"
    );

    // Nothing is left half-built: the next system is whole.
    let system = EventSystem::builder().build().unwrap();
    assert_eq!(system.emit(&Poke(1)).handled(), 4);
}
