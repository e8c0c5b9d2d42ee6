use staticbus::{PluginContext, plugin};

struct Store;

#[plugin]
impl Store {
    // `self` on a constructor, and no return type.
    #[init]
    async fn init(&self, _ctx: &PluginContext) {}

    // No `self` on `#[start]`.
    #[start]
    async fn start(_ctx: &PluginContext) {}

    // A configuration value on `#[shutdown]`, and `&mut self`.
    #[shutdown]
    fn shutdown(&mut self, timeout: u64) {}
}

fn main() {}
