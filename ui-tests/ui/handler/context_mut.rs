use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[handler]
fn log_order(placed: &OrderPlaced, ctx: &mut HandlerContext<'_>) {
    let _ = (ctx.topic(), placed.id);
}

fn main() {}
