use staticbus::plugin;

struct Settings {
    port: u16,
}

struct Server;

#[plugin]
impl Server {
    #[init]
    fn init(config: Settings) -> Result<Self, std::io::Error> {
        let _ = config.port;
        Ok(Server)
    }
}

fn main() {}
