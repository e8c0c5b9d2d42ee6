//! One producer process and two worker processes of one consumer group, through NATS
//! JetStream: each job is handled by one of the workers; each prints what it handled, and
//! the producer the totals.
//!
//! ```text
//! cargo run -p staticbus-bridge --example cluster            # starts its own nats-server
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p staticbus-bridge --example cluster
//! ```
//!
//! Without `NATS_URL` it starts `nats-server` (Debian package `nats-server`) on a free port
//! with a temporary store, and stops it at the end.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use staticbus::prelude::*;
use staticbus_bridge::nats::{Nats, NatsConfig};
use staticbus_bridge::{Bridge, Group};

const JOBS: usize = 200;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let (name, url) = (args[2].clone(), args[3].clone());
        return runtime.block_on(worker(&name, &url));
    }
    let (url, _server) = match std::env::var("NATS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = common::NatsServer::start().ok_or(
                "no nats-server: install it (apt-get install nats-server) or set NATS_URL",
            )?;
            (server.url(), Some(server))
        }
    };
    runtime.block_on(producer(&url))
}

/// Starts the two workers, publishes the jobs, then `cluster.done`; prints the totals.
async fn producer(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let mut workers = Vec::new();
    for name in ["worker-1", "worker-2"] {
        let mut child = Command::new(&exe)
            .args(["worker", name, url])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        // Wait until it joined its groups.
        for line in lines.by_ref() {
            if line? == "ready" {
                break;
            }
        }
        workers.push((name, child, lines));
    }
    let system = EventSystem::builder().build()?;
    let nats = Nats::connect(NatsConfig::new(url)).await?;
    let bridge = Bridge::builder(&system, nats)
        .export("job.*")
        .export("cluster.*")
        .start()
        .await?;
    for n in 0..JOBS {
        let job = DynamicEvent::builder("job.run")
            .id(format!("job-{n}"))
            .json(&serde_json::json!({ "n": n }))
            .build()?;
        system.publish_dynamic(job).await?;
    }
    while bridge.stats().exported < JOBS as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    system
        .publish_dynamic(DynamicEvent::builder("cluster.done").build()?)
        .await?;

    let mut total = 0;
    for (name, mut child, lines) in workers {
        for line in lines {
            let line = line?;
            println!("{line}");
            if let Some(count) = line.strip_prefix(&format!("{name} total ")) {
                total += count.parse::<usize>()?;
            }
        }
        child.wait()?;
    }
    println!(
        "{JOBS} jobs published, {total} handled by the group, {} exported",
        bridge.stats().exported
    );
    bridge.shutdown().await;
    system.shutdown(Duration::from_secs(5)).await;
    if total != JOBS {
        return Err(format!("the group handled {total} jobs, not {JOBS}").into());
    }
    Ok(())
}

/// A member of group `workers` (the jobs) and of its own group (`cluster.done`: every
/// worker hears it); prints each job it handles, then its total once done and idle.
async fn worker(name: &str, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let system = EventSystem::builder().build()?;
    let handled = Arc::new(AtomicU64::new(0));
    let last = Arc::new(parking_lot::Mutex::new(Instant::now()));
    let (count, at, me) = (Arc::clone(&handled), Arc::clone(&last), name.to_owned());
    let _jobs = system.on(
        "job.*",
        move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| {
            count.fetch_add(1, Ordering::Relaxed);
            *at.lock() = Instant::now();
            println!("{me} handled {}", ctx.event_id().unwrap_or_default());
        },
    )?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let done_tx = parking_lot::Mutex::new(Some(done_tx));
    let _done = system.on("cluster.done", move |_: &EventRef<'_>| {
        if let Some(tx) = done_tx.lock().take() {
            let _ = tx.send(());
        }
    })?;
    let nats = Nats::connect(NatsConfig::new(url)).await?;
    let bridge = Bridge::builder(&system, nats)
        .group(Group::new("workers", "job.*"))
        .group(Group::new(format!("control-{name}"), "cluster.done"))
        .start()
        .await?;
    println!("ready");
    done_rx.await?;
    // Done was published after every job was stored: wait until no job came for 300 ms.
    while last.lock().elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bridge.shutdown().await;
    println!("{name} total {}", handled.load(Ordering::Relaxed));
    Ok(())
}
