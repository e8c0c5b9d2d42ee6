use staticbus::prelude::*;

#[derive(StaticEvent)]
struct InvoiceSent;

// `replay` takes `true` or `false`.
#[handler(replay = "no")]
fn email(_: &InvoiceSent) {}

fn main() {}
