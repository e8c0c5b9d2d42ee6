use staticbus::prelude::*;

#[plugin]
#[derive(Default)]
struct Audit;

fn main() {}
