use staticbus::plugin;

#[derive(Default)]
struct Billing;

#[plugin(name = "billing", depends_on = ["storage >= one", ">= 1.0", "sto/rage", 7])]
impl Billing {}

#[derive(Default)]
struct Audit;

#[plugin(depends_on = "storage")]
impl Audit {}

fn main() {}
