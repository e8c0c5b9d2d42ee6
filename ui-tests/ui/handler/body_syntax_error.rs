//! A syntax error in a handler's or a plugin method's body is the compiler's to report: the
//! macros keep bodies as written, so each error is reported, on its token.

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct Tick {
    n: u64,
}

#[handler]
fn on_tick(e: &Tick) {
    let x = e.n +;
    println!("{x}");
}

#[derive(Default)]
struct Counter;

#[plugin]
impl Counter {
    #[on]
    fn tick(&self, e: &Tick) {
        let y = e.n +;
    }
}

fn main() {}
