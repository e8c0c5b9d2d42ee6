use std::rc::Rc;

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
    items: Rc<Vec<String>>,
}

fn main() {}
