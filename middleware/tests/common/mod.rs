//! The plugin every middleware test asks: a cacheable lookup, an uncacheable one, a slow one,
//! a failing one and a panicking one, each call counted in the plugin.

#![allow(dead_code, reason = "each test binary uses some of it")]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use staticbus::{EventSystem, EventSystemBuilder, Request, plugin};

/// Cacheable: `Serialize`, its response `Clone`; callable by name (`Deserialize`).
#[derive(Request, Serialize, Deserialize, Debug, Clone)]
#[request(response = String, name = "greet")]
pub(crate) struct Greet {
    pub(crate) name: String,
}

/// Not cacheable: not `Serialize`.
#[derive(Request)]
#[request(response = u64, name = "double")]
pub(crate) struct Double(pub(crate) u64);

#[derive(Request)]
#[request(response = &'static str, name = "slow")]
pub(crate) struct Slow(pub(crate) Duration);

#[derive(Request)]
#[request(response = (), name = "refuse")]
pub(crate) struct Refuse;

#[derive(Request)]
#[request(response = (), name = "explode")]
pub(crate) struct Explode;

#[derive(Default)]
pub(crate) struct Greeter {
    pub(crate) calls: AtomicU64,
    in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
}

#[plugin(name = "greeter")]
impl Greeter {
    #[responds]
    fn greet(&self, r: Greet) -> Result<String, std::io::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(format!("hello {}", r.name))
    }

    #[responds]
    fn double(&self, r: Double) -> Result<u64, std::io::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(r.0 * 2)
    }

    #[responds]
    async fn slow(&self, r: Slow) -> Result<&'static str, std::io::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(r.0).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok("done")
    }

    #[responds]
    fn refuse(&self, _: Refuse) -> Result<(), std::io::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Err(std::io::Error::other("no such greeting"))
    }

    #[responds]
    async fn explode(&self, _: Explode) -> Result<(), std::io::Error> {
        panic!("greeting table corrupt");
    }
}

/// How many times the system's responders were called.
pub(crate) fn calls(system: &EventSystem) -> u64 {
    system
        .plugin::<Greeter>()
        .map_or(0, |g| g.calls.load(Ordering::Relaxed))
}

pub(crate) fn build(builder: EventSystemBuilder) -> EventSystem {
    match builder.build() {
        Ok(system) => system,
        Err(error) => panic!("build: {error}"),
    }
}

pub(crate) fn greet(name: &str) -> Greet {
    Greet {
        name: name.to_owned(),
    }
}
