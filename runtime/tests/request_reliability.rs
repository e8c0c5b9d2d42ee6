//! Requests through the reliability mechanisms handlers have: the attempt count in every
//! failure, panics retried as failures, a timeout over all attempts, and circuit breakers on
//! `#[responds]`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use staticbus::{CircuitState, EventSystem, Permanent, Request, RequestError, plugin};

#[derive(Request, Clone)]
#[request(response = u32)]
struct Flaky {
    fail_first: u32,
}

#[derive(Request, Clone)]
#[request(response = u32)]
struct Doomed;

#[derive(Request, Clone)]
#[request(response = u32)]
struct Shaky {
    panic_first: u32,
}

#[derive(Request, Clone)]
#[request(response = u32)]
struct Stubborn;

#[derive(Request)]
#[request(response = u32)]
struct Once;

#[derive(Request)]
#[request(response = &'static str)]
struct Inventory;

static FLAKY: AtomicU32 = AtomicU32::new(0);
static DOOMED: AtomicU32 = AtomicU32::new(0);
static SHAKY: AtomicU32 = AtomicU32::new(0);
static STUBBORN: AtomicU32 = AtomicU32::new(0);
/// Each test's system has its own: the inventory's state is per instance (the tests run
/// at once).
#[derive(Default)]
struct Backend {
    inventory_calls: AtomicU32,
    inventory_up: AtomicBool,
}

#[plugin(name = "backend")]
impl Backend {
    #[responds(retries = 3, backoff = "constant", base = "1ms")]
    async fn flaky(&self, r: Flaky) -> Result<u32, std::io::Error> {
        let call = FLAKY.fetch_add(1, SeqCst) + 1;
        if call <= r.fail_first {
            return Err(std::io::Error::other(format!("attempt {call} failed")));
        }
        Ok(call)
    }

    #[responds(retries = 5, backoff = "constant", base = "1ms")]
    fn doomed(&self, _: Doomed) -> Result<u32, Permanent> {
        DOOMED.fetch_add(1, SeqCst);
        Err(Permanent::new(std::io::Error::other("never")))
    }

    #[responds(retries = 2, backoff = "constant", base = "1ms")]
    async fn shaky(&self, r: Shaky) -> Result<u32, std::io::Error> {
        let call = SHAKY.fetch_add(1, SeqCst) + 1;
        if call <= r.panic_first {
            panic!("shaky attempt {call}");
        }
        Ok(call)
    }

    // Each attempt fails after 10 ms, and is made again at once (up to 100 times): only
    // the request's timeout ends it.
    #[responds(retries = 100, backoff = "constant", base = "1ns")]
    async fn stubborn(&self, _: Stubborn) -> Result<u32, std::io::Error> {
        STUBBORN.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err(std::io::Error::other("still no"))
    }

    #[responds]
    fn once(&self, _: Once) -> Result<u32, std::io::Error> {
        Err(std::io::Error::other("no"))
    }

    #[responds(circuit_breaker(failures = 2, reset = "1s"))]
    async fn inventory(&self, _: Inventory) -> Result<&'static str, std::io::Error> {
        self.inventory_calls.fetch_add(1, SeqCst);
        if !self.inventory_up.load(SeqCst) {
            return Err(std::io::Error::other("inventory down"));
        }
        Ok("42 in stock")
    }
}

fn backend(system: &EventSystem) -> &Backend {
    match system.plugin::<Backend>() {
        Some(backend) => backend,
        None => panic!("the backend plugin is made"),
    }
}

fn system() -> EventSystem {
    match EventSystem::builder().retry_seed(11).build() {
        Ok(system) => system,
        Err(error) => panic!("build: {error}"),
    }
}

#[tokio::test]
async fn every_failure_carries_its_attempt_count() {
    let system = system();
    FLAKY.store(0, SeqCst);
    assert_eq!(system.request(Flaky { fail_first: 2 }).await.ok(), Some(3));

    FLAKY.store(0, SeqCst);
    let err = system.request(Flaky { fail_first: 10 }).await.unwrap_err();
    assert!(
        matches!(&err, RequestError::Failed { attempts: 4, source, .. } if source.to_string() == "attempt 4 failed"),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 4);
    assert!(err.to_string().contains("failed after 4 attempts"), "{err}");

    // Not retried: a `Permanent` error, and a responder without `retries`.
    let err = system.request(Doomed).await.unwrap_err();
    assert_eq!((err.attempts(), DOOMED.load(SeqCst)), (1, 1), "{err}");
    let err = system.request(Once).await.unwrap_err();
    assert!(
        matches!(err, RequestError::Failed { attempts: 1, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("attempts"), "{err}");
}

#[tokio::test]
async fn a_panic_is_a_failure_that_is_retried() {
    let system = system();
    SHAKY.store(0, SeqCst);
    // Panics on the first attempt, answers on the second.
    assert_eq!(system.request(Shaky { panic_first: 1 }).await.ok(), Some(2));

    SHAKY.store(0, SeqCst);
    let err = system.request(Shaky { panic_first: 9 }).await.unwrap_err();
    match &err {
        RequestError::Panicked {
            panic, attempts, ..
        } => {
            assert_eq!(panic.message(), "shaky attempt 3");
            assert_eq!(*attempts, 3);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_timeout_bounds_all_attempts_and_counts_them() {
    let system = system();
    STUBBORN.store(0, SeqCst);
    let err = system
        .request(Stubborn)
        .timeout(Duration::from_millis(35))
        .await
        .unwrap_err();
    // Attempts at 0, 10, 20 and 30 ms (each retried at once, 1 ns later); the fourth was
    // cancelled at 35 ms.
    assert!(
        matches!(err, RequestError::Timeout { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(STUBBORN.load(SeqCst), 4);
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_rejects_requests_without_calling_the_responder() {
    let system = system();
    for _ in 0..2 {
        let err = system.request(Inventory).await.unwrap_err();
        assert!(matches!(err, RequestError::Failed { .. }), "{err}");
    }
    // Two consecutive failures opened it: the third is rejected, the responder not called.
    let err = system.request(Inventory).await.unwrap_err();
    assert!(
        matches!(
            err,
            RequestError::CircuitOpen {
                state: CircuitState::Open,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 0);
    assert_eq!(backend(&system).inventory_calls.load(SeqCst), 2);
    let circuit = |system: &EventSystem| {
        let metrics = system.metrics();
        let found = metrics
            .circuits
            .iter()
            .find(|c| c.handler.ends_with("Backend::inventory"))
            .cloned();
        found.map(|c| (c.state, c.rejected, c.opened))
    };
    assert_eq!(circuit(&system), Some((CircuitState::Open, 1, 1)));

    // After `reset`, one probe goes through; it succeeds and closes the circuit.
    tokio::time::advance(Duration::from_secs(1)).await;
    backend(&system).inventory_up.store(true, SeqCst);
    assert_eq!(system.request(Inventory).await.ok(), Some("42 in stock"));
    assert_eq!(circuit(&system), Some((CircuitState::Closed, 1, 1)));
    assert_eq!(system.request(Inventory).await.ok(), Some("42 in stock"));
    assert_eq!(backend(&system).inventory_calls.load(SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_the_circuit_again() {
    let system = system();
    for _ in 0..2 {
        let _ = system.request(Inventory).await;
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    // The probe fails: open again, for another `reset`.
    let err = system.request(Inventory).await.unwrap_err();
    assert!(matches!(err, RequestError::Failed { .. }), "{err}");
    let err = system.request(Inventory).await.unwrap_err();
    assert!(matches!(err, RequestError::CircuitOpen { .. }), "{err}");
}
