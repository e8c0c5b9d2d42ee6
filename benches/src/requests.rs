//! What a typed request costs: `system.request(r).await` to an inline responder (an async
//! method that answers without waiting), against the same async function called directly,
//! and against what users would write by hand: a `tokio::sync::oneshot` round trip through a
//! spawned task; and the same request by name with JSON (`call`). Each in batches of
//! [`REQUEST_BATCH`], awaited in one task (`block_on`).

use std::hint::black_box;

use staticbus::{EventSystem, Request, plugin};

/// Requests per timed iteration.
pub const REQUEST_BATCH: usize = 1000;

/// The request: a product's quantity to price.
#[derive(Request, Debug, Clone, Copy, serde::Deserialize)]
#[request(response = u64, name = "bench.quote")]
pub struct Quote {
    /// How many.
    pub quantity: u64,
}

/// Prices quotes: the responder, and the body every variant runs.
#[derive(Default)]
pub struct Quoter {
    cents: u64,
}

impl Quoter {
    /// The price of a quote: what every variant computes.
    pub async fn price(&self, q: Quote) -> u64 {
        black_box(q.quantity) * (black_box(self.cents) + 250)
    }
}

#[plugin(name = "bench-quoter", version = "0.0.0")]
impl Quoter {
    #[responds]
    async fn quote(&self, q: Quote) -> Result<u64, std::convert::Infallible> {
        Ok(self.price(q).await)
    }
}

/// `n` typed requests in one task; the sum of the answers.
pub fn request_batch(rt: &tokio::runtime::Runtime, system: &EventSystem, n: usize) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        for i in 0..n {
            let quote = Quote { quantity: i as u64 };
            sum += system.request(black_box(quote)).await.unwrap_or(0);
        }
        sum
    })
}

/// `n` calls by name (`system.call("bench-quoter", "quote", json)`) in one task.
pub fn call_batch(rt: &tokio::runtime::Runtime, system: &EventSystem, n: usize) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        for i in 0..n {
            let args = serde_json::json!({ "quantity": i as u64 });
            let answer = system.call("bench-quoter", "quote", black_box(args)).await;
            sum += answer.ok().and_then(|v| v.as_u64()).unwrap_or(0);
        }
        sum
    })
}

/// `n` direct calls of the same async function in one task.
pub fn direct_batch(rt: &tokio::runtime::Runtime, quoter: &Quoter, n: usize) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        for i in 0..n {
            let quote = Quote { quantity: i as u64 };
            sum += black_box(quoter).price(black_box(quote)).await;
        }
        sum
    })
}

/// `n` hand-written round trips: each request's answer computed in a spawned task and sent
/// back through a `oneshot` channel.
pub fn oneshot_batch(rt: &tokio::runtime::Runtime, n: usize) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        for i in 0..n {
            let quote = Quote { quantity: i as u64 };
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let quoter = Quoter::default();
                let _ = tx.send(quoter.price(black_box(quote)).await);
            });
            sum += rx.await.unwrap_or(0);
        }
        sum
    })
}
