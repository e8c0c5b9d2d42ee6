use staticbus::{Request, plugin};

#[derive(Request)]
#[request(response = u64)]
struct GetPrice;

#[derive(Default)]
struct Pricing;

#[plugin]
impl Pricing {
    // The request by reference, no return type.
    #[responds]
    async fn by_ref(&self, r: &GetPrice) {}

    // No `self`.
    #[responds]
    fn no_self(r: GetPrice) -> Result<u64, std::io::Error> {
        Ok(1)
    }

    // A timeout on a sync responder.
    #[responds(timeout = "1s")]
    fn sync_timeout(&self, r: GetPrice) -> Result<u64, std::io::Error> {
        Ok(1)
    }
}

fn main() {}
