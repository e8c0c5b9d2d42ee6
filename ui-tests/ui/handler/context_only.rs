use staticbus::prelude::*;

#[handler]
fn log_anything(ctx: &HandlerContext<'_>) {
    let _ = ctx.topic();
}

fn main() {}
