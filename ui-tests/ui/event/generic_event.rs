use staticbus::prelude::*;

#[derive(StaticEvent)]
struct Envelope<T> {
    payload: T,
}

fn main() {}
