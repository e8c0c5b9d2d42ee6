use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

// Every misuse of the retry keys is reported, each on its own token.
#[handler(retries = "three")]
async fn not_a_number(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(retries = 2, backoff = "fibonacci")]
async fn unknown_backoff(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(base = "50ms", max_delay = "5s")]
async fn no_retries(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(retries = 2, max_elapsed = "a while")]
async fn bad_duration(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
