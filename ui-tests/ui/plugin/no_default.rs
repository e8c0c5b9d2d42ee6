use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

struct Audit {
    threshold: u64,
}

#[plugin]
impl Audit {
    #[on]
    fn placed(&self, e: &OrderPlaced) {
        let _ = e.id > self.threshold;
    }
}

fn main() {}
