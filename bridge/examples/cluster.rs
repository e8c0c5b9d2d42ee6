//! One producer process and two worker processes of one consumer group, through NATS
//! JetStream: each job is handled by one of the workers; each prints what it handled, and
//! the producer the totals.
//!
//! A job is a static event (`Job`), handled by the `#[on]` method of the `worker` plugin:
//! the producer exports it (`export_static`) and, in its own process, disables the plugin
//! by configuration (`enabled = false`); each worker imports it (`import_static`), so the
//! plugin's handler gets a `Job`, as if it had been published there.
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
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use staticbus::prelude::*;
use staticbus_bridge::nats::{Nats, NatsConfig};
use staticbus_bridge::{Bridge, Group};

const JOBS: usize = 200;

/// A job for the workers.
#[derive(StaticEvent, serde::Serialize, serde::Deserialize)]
#[event(name = "job.run")]
struct Job {
    n: usize,
}

/// This process's name, for what the worker prints.
static NAME: OnceLock<String> = OnceLock::new();

/// A worker process's side: counts and prints each job it handles.
struct Worker {
    handled: AtomicU64,
    last: parking_lot::Mutex<Instant>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            handled: AtomicU64::new(0),
            last: parking_lot::Mutex::new(Instant::now()),
        }
    }
}

#[plugin(name = "worker", version = "1.0.0")]
impl Worker {
    #[on]
    fn run(&self, job: &Job, ctx: &HandlerContext<'_>) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        *self.last.lock() = Instant::now();
        let name = NAME.get().map_or("?", String::as_str);
        let id = ctx.event_id().unwrap_or_default();
        println!("{name} handled job {} (event {id})", job.n);
    }
}

/// The producer's configuration: the `worker` plugin off in its process.
#[derive(serde::Serialize)]
struct ProducerConfig {
    plugins: Plugins,
}

#[derive(serde::Serialize)]
struct Plugins {
    worker: Enabled,
}

#[derive(serde::Serialize)]
struct Enabled {
    enabled: bool,
}

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
    let off = ProducerConfig {
        plugins: Plugins {
            worker: Enabled { enabled: false },
        },
    };
    let system = EventSystem::builder().config(&off).build()?;
    let nats = Nats::connect(NatsConfig::new(url)).await?;
    let bridge = Bridge::builder(&system, nats)
        .export_static::<Job>()
        .export("cluster.*")
        .start()
        .await?;
    for n in 0..JOBS {
        system.publish(Job { n }).await?;
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
    let _ = NAME.set(name.to_owned());
    let system = EventSystem::builder().build()?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let done_tx = parking_lot::Mutex::new(Some(done_tx));
    let _done = system.on("cluster.done", move |_: &EventRef<'_>| {
        if let Some(tx) = done_tx.lock().take() {
            let _ = tx.send(());
        }
    })?;
    let nats = Nats::connect(NatsConfig::new(url)).await?;
    let bridge = Bridge::builder(&system, nats)
        .import_static::<Job>()
        .group(Group::new("workers", "job.*"))
        .group(Group::new(format!("control-{name}"), "cluster.done"))
        .start()
        .await?;
    println!("ready");
    done_rx.await?;
    // Done was published after every job was stored: wait until no job came for 300 ms.
    let worker = system
        .plugin::<Worker>()
        .ok_or("the worker plugin is linked")?;
    while worker.last.lock().elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bridge.shutdown().await;
    println!("{name} total {}", worker.handled.load(Ordering::Relaxed));
    Ok(())
}
