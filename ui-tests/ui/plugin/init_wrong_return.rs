use staticbus::plugin;

struct Store;

#[plugin]
impl Store {
    #[init]
    fn init() -> Store {
        Store
    }
}

fn main() {}
