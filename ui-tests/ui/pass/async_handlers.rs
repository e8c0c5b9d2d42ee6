//! Async handlers, free and in plugins, with and without `Result`.

use std::future::{Future, ready};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

static SEEN: AtomicU64 = AtomicU64::new(0);

#[handler]
async fn notify(e: &OrderPlaced) {
    ready(()).await;
    SEEN.fetch_add(e.id, Ordering::Relaxed);
}

#[handler(priority = -1)]
async fn archive(e: &OrderPlaced) -> Result<(), Never> {
    ready(()).await;
    SEEN.fetch_add(10 * e.id, Ordering::Relaxed);
    Ok(())
}

#[derive(Default)]
struct Mailer {
    sent: AtomicU64,
}

#[plugin]
impl Mailer {
    #[on(priority = -5)]
    async fn placed(&self, e: &OrderPlaced) {
        ready(()).await;
        self.sent.fetch_add(e.id, Ordering::Relaxed);
    }
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn main() {
    let system = EventSystem::builder().build().unwrap();
    let emitted = system.emit(&OrderPlaced { id: 1 });
    assert_eq!((emitted.handled(), emitted.skipped_async()), (0, 3));

    let published = block_on(system.publish(OrderPlaced { id: 2 })).unwrap();
    assert_eq!(published.handled(), 3);
    assert_eq!(SEEN.load(Ordering::Relaxed), 22);
    assert_eq!(
        system
            .plugin::<Mailer>()
            .unwrap()
            .sent
            .load(Ordering::Relaxed),
        2
    );
}
