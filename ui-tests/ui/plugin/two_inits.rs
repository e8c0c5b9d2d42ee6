use staticbus::{PluginContext, plugin};

struct Store;

#[plugin]
impl Store {
    #[init]
    async fn init(_ctx: &PluginContext) -> Result<Self, std::io::Error> {
        Ok(Store)
    }

    #[init]
    async fn again(_ctx: &PluginContext) -> Result<Self, std::io::Error> {
        Ok(Store)
    }
}

fn main() {}
