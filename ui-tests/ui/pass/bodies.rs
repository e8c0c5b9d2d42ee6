//! The macros keep function bodies as written (they parse signatures only): bodies with inner
//! attributes, nested blocks, closures, `async`, labels and macros; impl blocks with constants,
//! types, macro items and helper methods of every kind next to `#[on]` methods.

use std::sync::atomic::{AtomicU64, Ordering};

use staticbus::prelude::*;

#[derive(StaticEvent, Clone)]
pub struct Tick {
    pub n: u64,
}

static SEEN: AtomicU64 = AtomicU64::new(0);

#[handler]
fn counted(e: &Tick) {
    #![allow(clippy::let_and_return)]
    let add = |x: u64| -> u64 {
        let doubled = { x * 2 };
        doubled / 2
    };
    'outer: for i in 0..3 {
        if i == 1 {
            continue 'outer;
        }
    }
    SEEN.fetch_add(add(e.n), Ordering::Relaxed);
}

#[handler]
async fn later(e: &Tick) -> Result<(), std::io::Error> {
    let n = async { e.n }.await;
    SEEN.fetch_add(n, Ordering::Relaxed);
    Ok(())
}

macro_rules! helper {
    ($name:ident) => {
        fn $name(&self) -> u64 {
            self.total.load(Ordering::Relaxed)
        }
    };
}

#[derive(Default)]
struct Totals {
    total: AtomicU64,
}

#[plugin]
impl Totals {
    const STEP: u64 = 1;

    #[on]
    fn tick(&self, e: &Tick) {
        #![allow(unused_variables)]
        let unused = { Self::STEP };
        self.total.fetch_add(e.n * Self::double(Self::STEP) / 2, Ordering::Relaxed);
    }

    const fn double(x: u64) -> u64 {
        x * 2
    }

    /// # Safety
    /// None needed: an `unsafe fn` among the helpers.
    unsafe fn raw(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn generic<T: Into<u64>>(&self, x: T) -> u64
    where
        T: Copy,
    {
        x.into()
    }

    helper!(read);
}

fn main() {
    let system = EventSystem::builder().build().unwrap();
    assert_eq!(system.emit(&Tick { n: 5 }).handled(), 2);
    assert_eq!(SEEN.load(Ordering::Relaxed), 5);
    let totals = system.plugin::<Totals>().unwrap();
    assert_eq!(totals.read(), 5);
    // SAFETY: `raw` has no precondition.
    assert_eq!(unsafe { totals.raw() }, 5);
    assert_eq!(totals.generic(3u8), 3);
}
