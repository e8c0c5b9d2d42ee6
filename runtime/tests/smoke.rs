//! Smoke test.
#![allow(missing_docs)]
use std::sync::atomic::{AtomicU64, Ordering};
use staticbus::prelude::*;

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "smoke.order")]
pub struct Order { pub id: u64 }

static FREE: AtomicU64 = AtomicU64::new(0);

#[handler(priority = 5)]
fn free(e: &Order) { FREE.fetch_add(e.id, Ordering::Relaxed); }

#[derive(Default)]
pub struct P { seen: AtomicU64 }

#[plugin(name = "smoke", version = "1.0.0")]
impl P {
    #[on(priority = 10)]
    fn placed(&self, e: &Order) { self.seen.fetch_add(e.id, Ordering::Relaxed); }
    #[on]
    async fn later(&self, e: &Order) { self.seen.fetch_add(100 * e.id, Ordering::Relaxed); }
}

#[tokio::test]
async fn smoke() {
    let s = EventSystem::builder().build().unwrap();
    let r = s.emit(&Order { id: 1 });
    assert_eq!((r.handled, r.skipped_async), (2, 1));
    s.publish(Order { id: 2 }).await.unwrap();
    assert_eq!(s.plugin::<P>().unwrap().seen.load(Ordering::Relaxed), 1 + 2 + 200);
    println!("{}", staticbus::registry());
}
