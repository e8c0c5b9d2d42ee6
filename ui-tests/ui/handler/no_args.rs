use staticbus::prelude::*;

#[handler]
fn on_anything() {}

fn main() {}
