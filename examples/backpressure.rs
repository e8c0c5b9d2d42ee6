//! Each backpressure strategy against a consumer ten times slower than its producer, with the
//! exact accounting: delivered + dropped + failed = published x subscribers.
//!
//! `cargo run --example backpressure`

use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{BackpressureDecision, DropReason};

async fn run(name: &str, strategy: BackpressureStrategy) -> Result<(), Error> {
    let system = EventSystem::builder()
        .channel_capacity(16)
        .global_buffer_size(32)
        .backpressure_strategy(strategy)
        .default_timeout(Duration::from_millis(1))
        .build()?;
    let slow = system.subscribe_topic("sensor.*")?;

    let consumer = tokio::spawn(async move {
        let mut received = 0u64;
        // One event per millisecond: ten times slower than the producer below.
        while let Ok(_event) = slow.receive().await {
            received += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        received
    });

    let mut refused = 0;
    for i in 0..1000u64 {
        let event = DynamicEvent::builder("sensor.reading").value(i).build()?;
        match system.publish_dynamic(event).await {
            Ok(_) => {}
            Err(e) if e.is_backpressure() => refused += 1,
            Err(e) => return Err(e),
        }
        if i % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(1)).await; // ten events per millisecond
        }
    }
    system.shutdown(Duration::from_secs(1)).await;
    let received = consumer.await.expect("consumer task");
    let t = system.metrics().total;
    println!(
        "{name:<11} published {:>4}  delivered {:>4}  evicted {:>4}  rejected {:>4}  timed out {:>4}  \
         failed {}  (publish errors: {refused}, consumer got {received})",
        t.published,
        t.delivered,
        t.dropped(DropReason::Evicted),
        t.dropped(DropReason::Rejected),
        t.dropped(DropReason::TimedOut),
        t.failed,
    );
    assert_eq!(t.delivered + t.dropped_total() + t.failed, t.matched);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run("Block", BackpressureStrategy::Block).await?;
    run("DropOldest", BackpressureStrategy::DropOldest).await?;
    run("DropNewest", BackpressureStrategy::DropNewest).await?;
    run(
        "Custom",
        BackpressureStrategy::custom(|ctx| {
            // Keep the newest readings for a full buffer; reject when the global budget is the limit.
            if ctx.buffered >= ctx.capacity {
                BackpressureDecision::DropOldest
            } else {
                BackpressureDecision::DropNewest
            }
        }),
    )
    .await?;
    Ok(())
}
