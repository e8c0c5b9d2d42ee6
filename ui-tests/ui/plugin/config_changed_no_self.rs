use std::collections::BTreeMap;

use staticbus::plugin;

struct Limits;

#[plugin]
impl Limits {
    #[init]
    fn init(config: BTreeMap<String, u32>) -> Result<Self, std::io::Error> {
        let _ = config;
        Ok(Limits)
    }

    // No `&self`: the system tells the instance it holds.
    #[config_changed]
    async fn reconfigure(config: BTreeMap<String, u32>) {
        let _ = config;
    }
}

fn main() {}
