//! Benchmark support: the events and handlers the criterion benches dispatch.
//!
//! Every mechanism runs the same handler body, [`record`], on the same event shape, so that the
//! benches compare dispatch and nothing else:
//!
//! | mechanism        | entry point                                   | counter it adds to      |
//! |------------------|-----------------------------------------------|-------------------------|
//! | direct call      | [`direct_call`]                               | [`DIRECT`]              |
//! | 1 free fn        | [`emit`] of [`OneFree`]                       | [`FREE`]                |
//! | 1 plugin method  | [`emit`] of [`OnePlugin`]                     | [`OneMethod::total`]    |
//! | 8 handlers       | [`emit`] of [`EightMixed`]                    | [`EIGHT`], the plugins  |
//! | TypeId map       | [`TypeIdMap::emit`] of [`OneFree`]            | [`MAP`]                 |
//!
//! The dynamic bus has its own shared pieces, every mechanism again running [`record`], adding
//! the payload length of the same [`dyn_event`] (read with [`payload_value`]):
//!
//! | mechanism              | entry point                                  | counter it adds to |
//! |------------------------|----------------------------------------------|--------------------|
//! | push, 1 or 8 globs     | [`emit_dynamic`] on a [`DynamicPush`]        | [`DYN_PUSH`]       |
//! | String map, 1 or 8     | [`StringMap::emit`]                          | [`STRING_MAP`]     |
//! | channels, 1P/1C        | [`run_batch`] of a producer and a consumer   | [`CHANNEL`]        |
//!
//! The criterion binary (`benches/dispatch.rs`) times them; `src/bin/callgrind_driver.rs` runs
//! one of them N times so that `scripts/instructions.sh` can count instructions per event.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use staticbus::prelude::*;

mod channels;
mod dynamic;
mod reliability;
mod requests;

pub use channels::*;
pub use dynamic::*;
pub use reliability::*;
pub use requests::*;

/// The handler body every mechanism runs: adds `value` to `counter`.
///
/// A relaxed load and a relaxed store rather than `fetch_add`: the benches run on one thread,
/// and a `lock`-prefixed add (~20 cycles) would swamp the few nanoseconds of dispatch being
/// compared.
#[inline(always)]
pub fn record(counter: &AtomicU64, value: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(value),
        Ordering::Relaxed,
    );
}

/// Sum of the values [`direct_call`] saw.
pub static DIRECT: AtomicU64 = AtomicU64::new(0);
/// Sum of the values the free handler of [`OneFree`] saw.
pub static FREE: AtomicU64 = AtomicU64::new(0);
/// Sum of the values the four free handlers of [`EightMixed`] saw.
pub static EIGHT: AtomicU64 = AtomicU64::new(0);
/// Sum of the values the [`TypeIdMap`] handler saw.
pub static MAP: AtomicU64 = AtomicU64::new(0);
/// Sum of the values taken off the `tokio::sync::broadcast` channel.
pub static BROADCAST: AtomicU64 = AtomicU64::new(0);

/// Handled by exactly one free `#[handler]` function; also the payload of the baselines.
#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "bench.one.free")]
pub struct OneFree {
    /// What the handler adds to its counter.
    pub value: u64,
}

/// Handled by exactly one `#[on]` method, of [`OneMethod`].
#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "bench.one.plugin")]
pub struct OnePlugin {
    /// What the handler adds to its counter.
    pub value: u64,
}

/// Handled by eight sync handlers: four free functions, two methods of [`EightLeft`] and two
/// of [`EightRight`].
#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "bench.eight.mixed")]
pub struct EightMixed {
    /// What each handler adds to its counter.
    pub value: u64,
}

/// The honest floor: the handler body behind one call the optimiser cannot remove.
#[inline(never)]
pub fn direct_call(e: &OneFree) {
    record(&DIRECT, e.value);
}

/// `system.publish(e).await` polled once with `cx`, as an executor polls it (with the task's
/// context, made once per task, not per publish): with only sync handlers it finishes in that
/// poll (this panics otherwise). Returns how many handlers ran.
#[inline]
pub fn publish_now<E: StaticEvent>(
    system: &EventSystem,
    e: E,
    cx: &mut std::task::Context<'_>,
) -> usize {
    let mut publish = std::pin::pin!(system.publish(e));
    match publish.as_mut().poll(cx) {
        std::task::Poll::Ready(Ok(published)) => published.handled(),
        std::task::Poll::Ready(Err(err)) => panic!("publish failed: {err}"),
        std::task::Poll::Pending => panic!("a publish to sync handlers only never waits"),
    }
}

/// `system.emit(e)`, returning how many handlers ran (the caller looks at the result, as a
/// real one would; the benches and the callgrind driver both go through here).
#[inline]
pub fn emit<E: StaticEvent>(system: &EventSystem, e: &E) -> usize {
    system.emit(e).handled()
}

#[handler]
fn one_free(e: &OneFree) {
    record(&FREE, e.value);
}

/// The plugin whose single `#[on]` method handles [`OnePlugin`].
#[derive(Debug, Default)]
pub struct OneMethod {
    /// Sum of the values it saw.
    pub total: AtomicU64,
}

#[plugin(name = "bench-one-method", version = "0.0.0")]
impl OneMethod {
    #[on]
    fn one_plugin(&self, e: &OnePlugin) {
        record(&self.total, e.value);
    }
}

#[handler(priority = 4)]
fn eight_a(e: &EightMixed) {
    record(&EIGHT, e.value);
}

#[handler(priority = 3)]
fn eight_b(e: &EightMixed) {
    record(&EIGHT, e.value);
}

#[handler(priority = -3)]
fn eight_c(e: &EightMixed) {
    record(&EIGHT, e.value);
}

#[handler(priority = -4)]
fn eight_d(e: &EightMixed) {
    record(&EIGHT, e.value);
}

/// First plugin handling [`EightMixed`] (two methods).
#[derive(Debug, Default)]
pub struct EightLeft {
    /// Sum of the values its methods saw.
    pub total: AtomicU64,
}

#[plugin(name = "bench-eight-left", version = "0.0.0")]
impl EightLeft {
    #[on(priority = 2)]
    fn first(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }

    #[on(priority = -1)]
    fn second(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }
}

/// Second plugin handling [`EightMixed`] (two methods).
#[derive(Debug, Default)]
pub struct EightRight {
    /// Sum of the values its methods saw.
    pub total: AtomicU64,
}

#[plugin(name = "bench-eight-right", version = "0.0.0")]
impl EightRight {
    #[on(priority = 1)]
    fn first(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }

    #[on(priority = -2)]
    fn second(&self, e: &EightMixed) {
        record(&self.total, e.value);
    }
}

/// A handler as the runtime-registration baseline stores it.
pub type AnyHandler = Box<dyn Fn(&dyn Any)>;

/// The usual runtime-registration baseline: handlers boxed under their event's `TypeId` in a
/// std `HashMap` (SipHash), the event passed as `&dyn Any` and downcast by each handler.
#[derive(Default)]
pub struct TypeIdMap {
    handlers: HashMap<TypeId, Vec<AnyHandler>>,
}

impl TypeIdMap {
    /// The baseline the benches use: one handler of [`OneFree`] that adds into [`MAP`].
    pub fn with_one_handler() -> Self {
        let mut map = TypeIdMap::default();
        map.on(|e: &OneFree| record(&MAP, e.value));
        map
    }

    /// Registers `f` for events of type `E`.
    pub fn on<E: Any>(&mut self, f: impl Fn(&E) + 'static) {
        self.handlers
            .entry(TypeId::of::<E>())
            .or_default()
            .push(Box::new(move |e: &dyn Any| {
                if let Some(e) = e.downcast_ref::<E>() {
                    f(e);
                }
            }));
    }

    /// Calls every handler of `E` and returns how many there were.
    #[inline]
    pub fn emit<E: Any>(&self, e: &E) -> usize {
        let Some(list) = self.handlers.get(&TypeId::of::<E>()) else {
            return 0;
        };
        for handler in list {
            handler(e);
        }
        list.len()
    }
}

/// Builds the system and checks, once, that every mechanism reaches its handlers, so that a
/// handler the linker dropped fails loudly instead of being timed as a free no-op.
pub fn checked_system() -> Result<EventSystem, staticbus::Error> {
    let system = EventSystem::builder().build()?;
    let (free, plugin, eight) = (7, 11, 13);

    let before = FREE.load(Ordering::Relaxed);
    assert_eq!(
        emit(&system, &OneFree { value: free }),
        1,
        "OneFree handlers"
    );
    assert_eq!(FREE.load(Ordering::Relaxed) - before, free);

    let one = system.plugin::<OneMethod>().expect("OneMethod is linked");
    let before = one.total.load(Ordering::Relaxed);
    assert_eq!(
        emit(&system, &OnePlugin { value: plugin }),
        1,
        "OnePlugin handlers"
    );
    assert_eq!(one.total.load(Ordering::Relaxed) - before, plugin);

    let left = system.plugin::<EightLeft>().expect("EightLeft is linked");
    let right = system.plugin::<EightRight>().expect("EightRight is linked");
    let sum = || {
        EIGHT.load(Ordering::Relaxed)
            + left.total.load(Ordering::Relaxed)
            + right.total.load(Ordering::Relaxed)
    };
    let before = sum();
    assert_eq!(
        emit(&system, &EightMixed { value: eight }),
        8,
        "EightMixed handlers"
    );
    assert_eq!(sum() - before, 8 * eight);

    Ok(system)
}
