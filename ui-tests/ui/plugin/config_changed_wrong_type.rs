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

    // Not the type `#[init]` reads.
    #[config_changed]
    fn reconfigure(&self, config: BTreeMap<String, String>) {
        let _ = config;
    }
}

fn main() {}
