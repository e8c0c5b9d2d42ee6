//! Plugins: default name and version, explicit ones, several `#[on]` methods, plain methods.

use std::sync::atomic::{AtomicU64, Ordering};

use staticbus::prelude::*;

#[derive(StaticEvent)]
pub struct OrderPlaced {
    pub id: u64,
}

#[derive(StaticEvent)]
struct Shutdown;

#[derive(Default)]
struct Audit {
    revenue: AtomicU64,
}

#[plugin]
impl Audit {
    #[on]
    fn placed(&self, e: &OrderPlaced) {
        self.revenue.fetch_add(e.id, Ordering::Relaxed);
    }

    #[on(priority = -3)]
    fn shutdown(&self, _: &Shutdown) {}

    fn revenue(&self) -> u64 {
        self.revenue.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Metrics;

#[plugin(name = "metrics", version = "2.1.0")]
impl Metrics {
    #[on(priority = 100)]
    pub fn placed(&self, _: &OrderPlaced) {}
}

fn main() {
    assert_eq!(<Audit as Plugin>::NAME, "Audit");
    assert_eq!(<Audit as Plugin>::VERSION, env!("CARGO_PKG_VERSION"));
    assert_eq!(<Metrics as Plugin>::NAME, "metrics");
    assert_eq!(<Metrics as Plugin>::VERSION, "2.1.0");

    let system = EventSystem::builder().build().unwrap();
    assert_eq!(system.emit(&OrderPlaced { id: 7 }).handled(), 2);
    assert_eq!(system.emit(&Shutdown).handled(), 1);
    assert_eq!(system.plugin::<Audit>().unwrap().revenue(), 7);
}
