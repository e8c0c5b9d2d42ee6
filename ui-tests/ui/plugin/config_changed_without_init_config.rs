use std::collections::BTreeMap;

use staticbus::plugin;

struct Limits;

#[plugin]
impl Limits {
    // Reads no configuration...
    #[init]
    fn init() -> Result<Self, std::io::Error> {
        Ok(Limits)
    }

    // ...so there is none to be told of.
    #[config_changed]
    fn reconfigure(&self, config: BTreeMap<String, u32>) {
        let _ = config;
    }
}

fn main() {}
