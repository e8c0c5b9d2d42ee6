use staticbus::prelude::*;

#[derive(StaticEvent)]
struct Événement;

fn main() {}
