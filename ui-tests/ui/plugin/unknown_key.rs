use staticbus::prelude::*;

#[derive(Default)]
struct Audit;

#[plugin(name = "audit", ver = "1.0.0")]
impl Audit {}

fn main() {}
