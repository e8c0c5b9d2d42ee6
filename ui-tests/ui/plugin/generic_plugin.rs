use std::marker::PhantomData;

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Audit<T> {
    sink: PhantomData<T>,
}

#[plugin]
impl<T: Send + Sync + 'static> Audit<T> {
    #[on]
    fn placed(&self, e: &OrderPlaced) {
        let _ = e.id;
    }
}

fn main() {}
