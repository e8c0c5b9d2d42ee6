use staticbus::plugin;

#[derive(Default)]
struct Billing;

#[plugin(name = "billing", version = "1.2")]
impl Billing {}

fn main() {}
