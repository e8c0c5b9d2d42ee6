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
    fn placed(&self, ctx: &HandlerContext<'_>, e: &OrderPlaced) {
        let _ = (ctx.topic(), e.id);
    }
}

fn main() {}
