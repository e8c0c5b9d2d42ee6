use staticbus::init;

#[init]
fn init() {}

fn main() {}
