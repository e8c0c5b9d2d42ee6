//! Free-function handlers: default, positive and negative priorities, `Result` returns.

use std::fmt;
use std::sync::Mutex;

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

static ORDER: Mutex<Vec<&str>> = Mutex::new(Vec::new());

#[handler(priority = -10)]
fn last(e: &OrderPlaced) {
    let _ = e.id;
    ORDER.lock().unwrap().push("last");
}

#[handler]
fn middle(_: &OrderPlaced) {
    ORDER.lock().unwrap().push("middle");
}

#[handler(priority = 10)]
fn first(_e: &OrderPlaced) {
    ORDER.lock().unwrap().push("first");
}

#[derive(Debug)]
struct TooLarge(u64);

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order {} is too large", self.0)
    }
}

impl std::error::Error for TooLarge {}

#[handler(priority = -2147483648)]
fn check(e: &OrderPlaced) -> Result<(), TooLarge> {
    if e.id > 100 {
        Err(TooLarge(e.id))
    } else {
        Ok(())
    }
}

fn main() {
    let system = EventSystem::builder().build().unwrap();
    let emitted = system.emit(&OrderPlaced { id: 1 });
    assert_eq!((emitted.handled(), emitted.errors().len()), (4, 0));
    assert_eq!(*ORDER.lock().unwrap(), ["first", "middle", "last"]);

    let emitted = system.emit(&OrderPlaced { id: 500 });
    assert_eq!((emitted.handled(), emitted.errors().len()), (3, 1));
    assert_eq!(
        emitted.errors()[0].source.to_string(),
        "order 500 is too large"
    );
}
