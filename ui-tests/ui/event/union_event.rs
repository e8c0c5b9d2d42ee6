use staticbus::prelude::*;

#[derive(StaticEvent)]
union Raw {
    int: u64,
    float: f64,
}

fn main() {}
