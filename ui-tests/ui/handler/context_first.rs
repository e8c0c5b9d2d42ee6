use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[handler]
fn log_order(ctx: &HandlerContext<'_>, placed: &OrderPlaced) {
    let _ = (ctx.topic(), placed.id);
}

fn main() {}
