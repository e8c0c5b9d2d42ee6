use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Audit;

#[plugin]
impl Plugin for Audit {
    #[on]
    fn placed(&self, e: &OrderPlaced) {
        let _ = e.id;
    }
}

fn main() {}
