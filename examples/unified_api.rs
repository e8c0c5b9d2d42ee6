//! One application, two implementations: the same code runs on the static fast path (link-time
//! tables) and on the zero-copy dynamic bus, gets the same results, and prints both throughputs.
//!
//! `cargo run --release --example unified_api`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use staticbus::prelude::*;

#[derive(StaticEvent, Debug, Clone, Copy)]
#[event(name = "media.packet")]
struct Packet {
    stream: u32,
    bytes: u64,
}

/// Counts bytes per stream: a plugin with a sync handler.
#[derive(Default)]
struct Meter {
    bytes: AtomicU64,
}

#[plugin(name = "meter", version = "1.0.0")]
impl Meter {
    #[on(priority = 10)]
    fn packet(&self, p: &Packet) {
        self.bytes.fetch_add(p.bytes, Ordering::Relaxed);
    }
}

static PACKETS: AtomicU64 = AtomicU64::new(0);

#[handler]
fn count(_: &Packet) {
    PACKETS.fetch_add(1, Ordering::Relaxed);
}

/// The application: identical whatever the implementation.
async fn application(system: &EventSystem, packets: u64) -> Result<(u64, Duration), Error> {
    // A dynamic subscriber sees the static event under its name.
    let seen = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&seen);
    let _audit = system.on("media.*", move |e: &EventRef<'_>| {
        if let Some(p) = e.downcast_ref::<Packet>() {
            s.fetch_add(u64::from(p.stream), Ordering::Relaxed);
        }
    })?;

    let start = Instant::now();
    for i in 0..packets {
        system.emit(&Packet {
            stream: 1,
            bytes: i % 1500,
        });
    }
    let elapsed = start.elapsed();
    for i in 0..10 {
        system
            .publish(Packet {
                stream: 2,
                bytes: i,
            })
            .await?;
    }
    let meter = system.plugin::<Meter>().expect("linked");
    let checksum = meter.bytes.load(Ordering::Relaxed) + seen.load(Ordering::Relaxed);
    Ok((checksum, elapsed))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    const PACKETS_PER_RUN: u64 = 2_000_000;
    let mut checksums = Vec::new();
    for implementation in [
        ImplementationType::StaticFastPath,
        ImplementationType::ZeroCopy,
    ] {
        let system = EventSystem::builder()
            .implementation(implementation)
            .build()?;
        let (checksum, elapsed) = application(&system, PACKETS_PER_RUN).await?;
        let rate = PACKETS_PER_RUN as f64 / elapsed.as_secs_f64();
        println!(
            "{implementation:?}: {PACKETS_PER_RUN} emits in {elapsed:?} = {:.1}M events/s \
             (3 handlers each); checksum {checksum}",
            rate / 1e6
        );
        checksums.push(checksum);
    }
    assert_eq!(
        checksums[0], checksums[1],
        "both implementations compute the same"
    );
    println!(
        "same results on both implementations; {} packets counted in total",
        PACKETS.load(Ordering::Relaxed)
    );
    Ok(())
}
