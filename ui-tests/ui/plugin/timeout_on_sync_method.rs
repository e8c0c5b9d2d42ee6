use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Audit;

#[plugin]
impl Audit {
    #[on(timeout = "5s")]
    fn record(&self, e: &OrderPlaced) {
        let _ = e.id;
    }

    #[on(timeout = "5 parsecs")]
    async fn archive(&self, e: &OrderPlaced) {
        let _ = e.id;
    }
}

fn main() {}
