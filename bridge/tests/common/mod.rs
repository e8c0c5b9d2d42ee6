//! A NATS server of the test's own (JetStream, a temporary store directory, a free port),
//! stopped when dropped; restartable on the same port and data. `./scripts/test.sh`
//! installs `nats-server` (Debian's package) and sets `STATICBUS_REQUIRE_NATS`; without
//! it, a test finding no server binary says so loudly and passes without running.

#![allow(dead_code, reason = "each test file uses a part")]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use staticbus::prelude::*;
use staticbus_bridge::nats::{Nats, NatsConfig};
use staticbus_bridge::{Bridge, Group};

pub(crate) struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// A running server, or `None` (after a loud message) when `nats-server` is not
    /// installed and the test command did not require it.
    pub(crate) fn start() -> Option<NatsServer> {
        if Command::new("nats-server")
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var_os("STATICBUS_REQUIRE_NATS").is_some() {
                panic!("nats-server is required (STATICBUS_REQUIRE_NATS) but not installed");
            }
            eprintln!(
                "\n*** SKIPPED: nats-server is not installed; ./scripts/test.sh installs it \
                 (Debian package nats-server) ***\n"
            );
            return None;
        }
        let root = std::env::var_os("STATICBUS_NATS_TMP").map(PathBuf::from);
        let temp = match &root {
            Some(root) => {
                std::fs::create_dir_all(root).expect("the servers' directory");
                tempfile::tempdir_in(root)
            }
            None => tempfile::tempdir(),
        }
        .expect("a temporary directory");
        let port = free_port();
        let mut server = NatsServer {
            child: None,
            port,
            dir: temp.path().to_owned(),
            _temp: Some(temp),
        };
        server.run();
        Some(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would: `kill -9`).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same data.
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.run();
    }

    fn run(&mut self) {
        let log = std::fs::File::create(self.dir.join("server.log")).expect("a log file");
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("data"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Waits until `done` holds, checking every 10 ms, for at most `limit`.
pub(crate) async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// Systems and group members the tests share.

/// The ids of the events a recorder saw, in order.
pub(crate) type Seen = Arc<Mutex<Vec<String>>>;

/// A system with the default options.
pub(crate) fn system() -> EventSystem {
    EventSystem::builder().build().unwrap()
}

/// Records the ids of `pattern`'s events handled on `system`.
pub(crate) fn recorder(system: &EventSystem, pattern: &str) -> Seen {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let sub = system
        .on(
            pattern,
            move |_: &EventRef<'_>, ctx: &HandlerContext<'_>| {
                log.lock()
                    .unwrap()
                    .push(ctx.event_id().unwrap_or_default().to_owned());
            },
        )
        .unwrap();
    std::mem::forget(sub);
    seen
}

/// A NATS transport to `server`, its heartbeats every second.
pub(crate) async fn nats(server: &NatsServer) -> Nats {
    Nats::connect(NatsConfig::new(server.url()).heartbeat(Duration::from_secs(1)))
        .await
        .unwrap()
}

/// A system recording the ids of `pattern`'s events, a member of `group` on `pattern`.
pub(crate) async fn member(
    server: &NatsServer,
    group: Group,
    pattern: &str,
) -> (EventSystem, Seen, Bridge) {
    let consumer = system();
    let seen = recorder(&consumer, pattern);
    let bridge = Bridge::builder(&consumer, nats(server).await)
        .group(group)
        .start()
        .await
        .unwrap();
    (consumer, seen, bridge)
}

/// Event `job.run` number `n` (id `job-<n>`).
pub(crate) fn job(n: usize) -> DynamicEvent {
    DynamicEvent::builder("job.run")
        .id(format!("job-{n}"))
        .json(&serde_json::json!({ "n": n }))
        .build()
        .unwrap()
}

/// The ids seen so far.
pub(crate) fn ids(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap().clone()
}
