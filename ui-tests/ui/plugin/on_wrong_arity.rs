use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Audit;

#[plugin]
impl Audit {
    #[on]
    fn placed(&self) {}
}

fn main() {}
