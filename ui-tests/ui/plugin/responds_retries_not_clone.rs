use staticbus::{Request, plugin};

#[derive(Request)]
#[request(response = u64)]
struct GetPrice;

#[derive(Default)]
struct Pricing;

#[plugin]
impl Pricing {
    // Each retry needs its own copy of the request.
    #[responds(retries = 3)]
    async fn price(&self, _: GetPrice) -> Result<u64, std::io::Error> {
        Ok(1)
    }
}

fn main() {}
