use staticbus::Request;

#[derive(Request)]
struct GetPrice {
    sku: String,
}

#[derive(Request)]
#[request(respons = u64)]
struct GetStock;

fn main() {}
