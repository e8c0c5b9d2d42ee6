//! Plugins as components: three plugins with dependencies, configured from a TOML file, made
//! in dependency order by `start()`, stopped in reverse by `shutdown()`; a fourth disabled in
//! the file, whose handlers never run; requests to a plugin, typed and by name, through a
//! middleware stack (metrics, auth, a `tower` concurrency limit, a cache).
//!
//! `cargo run --example plugins`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use staticbus::prelude::*;
use staticbus::{PluginContext, PluginStarted, PluginState, Request, RequestError};
use staticbus_middleware::{AuthError, AuthLayer, CacheLayer, MetricsLayer};

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "order.placed")]
struct OrderPlaced {
    net_cents: u64,
}

#[derive(Deserialize)]
struct StorageConfig {
    path: String,
    shards: u32,
}

/// Where orders are kept (here: a counter of the totals it was given).
struct Storage {
    path: String,
    shards: u32,
    stored: AtomicU64,
}

#[plugin(name = "storage", version = "1.4.0")]
impl Storage {
    #[init]
    async fn init(config: StorageConfig) -> Result<Self, std::io::Error> {
        println!(
            "storage: opening {} with {} shards",
            config.path, config.shards
        );
        Ok(Storage {
            path: config.path,
            shards: config.shards,
            stored: AtomicU64::new(0),
        })
    }

    #[shutdown]
    async fn close(&self) {
        println!(
            "storage: closing {} ({} cents stored)",
            self.path,
            self.stored.load(Ordering::Relaxed)
        );
    }
}

#[derive(Deserialize)]
struct PricingConfig {
    currency: String,
    vat_percent: u64,
}

/// Asks pricing for the gross price of a net amount (`Serialize`: the cache keys it;
/// `Deserialize`: callable by name).
#[derive(Request, Serialize, Deserialize)]
#[request(response = u64)]
struct GrossPrice {
    net_cents: u64,
}

/// Adds VAT to each order and hands the gross total to storage.
struct Pricing {
    currency: String,
    vat_percent: u64,
}

#[plugin(name = "pricing", version = "2.1.0", depends_on = ["storage >= 1.2"])]
impl Pricing {
    #[init]
    async fn init(ctx: &PluginContext, config: PricingConfig) -> Result<Self, std::io::Error> {
        // Its dependency is made first: it can be used here.
        let storage = ctx.system().plugin::<Storage>().map(|s| s.shards);
        println!(
            "pricing: {} at {}% VAT, storage has {storage:?} shards",
            config.currency, config.vat_percent
        );
        Ok(Pricing {
            currency: config.currency,
            vat_percent: config.vat_percent,
        })
    }

    #[responds]
    fn gross(&self, r: GrossPrice) -> Result<u64, std::num::TryFromIntError> {
        Ok(r.net_cents * (100 + self.vat_percent) / 100)
    }

    #[on]
    fn placed(&self, e: &OrderPlaced, ctx: &HandlerContext<'_>) {
        let gross = e.net_cents * (100 + self.vat_percent) / 100;
        if let Some(storage) = ctx.plugin::<Storage>() {
            storage.stored.fetch_add(gross, Ordering::Relaxed);
        }
    }
}

/// Starts last, stops first; reacts to the other plugins' `plugin.started`.
#[derive(Default)]
struct Api;

#[plugin(name = "api", version = "0.3.0", depends_on = ["pricing ^2", "cache?"])]
impl Api {
    #[start]
    async fn listen(&self, ctx: &PluginContext) {
        let currency = ctx.system().plugin::<Pricing>().map(|p| p.currency.clone());
        println!("api: listening, prices in {currency:?}");
    }

    #[shutdown]
    async fn stop(&self) {
        println!("api: no longer listening");
    }

    #[on]
    fn started(&self, e: &PluginStarted) {
        println!("api: saw plugin.started for {}", e.plugin);
    }
}

/// Disabled in plugins.toml: never made, its handler skipped.
#[derive(Default)]
struct Audit;

#[plugin(name = "audit")]
impl Audit {
    #[on]
    fn placed(&self, _: &OrderPlaced) {
        unreachable!("audit is disabled in plugins.toml");
    }
}

#[tokio::main]
async fn main() -> Result<(), staticbus::Error> {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins.toml");
    // Requests pass the layers in the order given, the first outermost: metrics count every
    // request, auth refuses those without a good token, tower's limit bounds how many run at
    // once, and the cache answers repeats (only authenticated ones reach it).
    let metrics = MetricsLayer::new();
    let counts = metrics.handle();
    let cache = CacheLayer::new(Duration::from_secs(60), 1_000);
    let system = EventSystem::builder()
        .config_file(config)
        .request_layer(metrics)
        .request_layer(AuthLayer::new(|token| token == "s3cret"))
        .request_layer(tower::limit::ConcurrencyLimitLayer::new(64))
        .request_layer(cache.clone())
        .start()
        .await?;

    for status in system.plugins() {
        println!(
            "{:8} {:6} {:11} depends on {:?}",
            status.name(),
            status.version(),
            status.state.to_string(),
            status.depends_on()
        );
    }
    let order: Vec<_> = system.plugins().iter().map(|p| p.name()).collect();
    assert_eq!(order, ["storage", "pricing", "api", "audit"]);
    assert_eq!(system.plugins()[3].state, PluginState::Disabled);

    for net in [1_000, 2_500] {
        let emitted = system.emit(&OrderPlaced { net_cents: net });
        assert_eq!(emitted.handled(), 1, "pricing handles it; audit is skipped");
    }
    let stored = system
        .plugin::<Storage>()
        .map(|s| s.stored.load(Ordering::Relaxed));
    assert_eq!(stored, Some(4_200));

    // Requests to pricing, typed and by name, through the stack.
    let refused = system.request(GrossPrice { net_cents: 500 }).await;
    let auth_error = match &refused {
        Err(RequestError::Rejected { source, .. }) => source.downcast_ref::<AuthError>(),
        _ => None,
    };
    println!(
        "without a token: {}",
        refused
            .as_ref()
            .map_or_else(ToString::to_string, u64::to_string)
    );
    assert_eq!(
        auth_error,
        Some(&AuthError::Missing {
            request: "GrossPrice"
        })
    );
    for _ in 0..2 {
        let gross = system
            .request(GrossPrice { net_cents: 500 })
            .metadata("token", "s3cret")
            .await;
        assert_eq!(gross.ok(), Some(600));
    }
    let by_name = system
        .call(
            "pricing",
            "gross",
            serde_json::json!({ "net_cents": 1_000 }),
        )
        .metadata("token", "s3cret")
        .await;
    println!("pricing.gross(1000) by name: {by_name:?}");
    assert_eq!(by_name.ok(), Some(serde_json::json!(1_200)));
    let stats = cache.stats();
    let gross = counts.of("GrossPrice");
    println!(
        "GrossPrice: {} requests, {} answered, {} refused; cache: {} hit, {} misses",
        gross.calls, gross.successes, gross.failures, stats.hits, stats.misses
    );
    // The second request for 500 came from the cache; the refused one never reached it.
    assert_eq!((gross.calls, gross.successes, gross.failures), (4, 3, 1));
    assert_eq!((stats.hits, stats.misses), (1, 2));

    let report = system.shutdown(Duration::from_secs(1)).await;
    let stopped = report
        .plugins
        .iter()
        .filter(|p| p.state == PluginState::Stopped)
        .count();
    assert_eq!(stopped, 3);
    println!("stopped {stopped} plugins in reverse order");
    Ok(())
}
