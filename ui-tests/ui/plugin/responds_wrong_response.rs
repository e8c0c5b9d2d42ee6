use staticbus::{Request, plugin};

#[derive(Request)]
#[request(response = u64)]
struct GetPrice;

#[derive(Default)]
struct Pricing;

#[plugin]
impl Pricing {
    #[responds]
    async fn price(&self, _: GetPrice) -> Result<String, std::io::Error> {
        Ok(String::new())
    }
}

fn main() {}
