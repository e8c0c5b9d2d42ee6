use staticbus::{Request, plugin};

#[derive(Request)]
#[request(response = u64)]
struct GetPrice;

#[derive(Request)]
#[request(response = u64)]
struct GetStock;

#[derive(Default)]
struct Pricing;

#[plugin]
impl Pricing {
    // A rejected request goes back to its caller: there is no event to dead-letter.
    #[responds(circuit_breaker(failures = 3, dead_letter = true))]
    async fn price(&self, _: GetPrice) -> Result<u64, std::io::Error> {
        Ok(1)
    }

    // The breaker's own rules hold on responders too.
    #[responds(circuit_breaker(failures = 0))]
    async fn stock(&self, _: GetStock) -> Result<u64, std::io::Error> {
        Ok(1)
    }
}

fn main() {}
