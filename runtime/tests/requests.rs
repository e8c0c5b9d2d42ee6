//! Typed requests between plugins: each request type answered by its one `#[responds]`
//! method, every way a request can fail told apart.

use std::time::Duration;

use staticbus::{
    EventSystem, HandlerContext, Permanent, PluginContext, Request, RequestError, plugin,
};

#[derive(Debug, Clone, PartialEq)]
struct Price {
    cents: u64,
    currency: &'static str,
}

#[derive(Request, Debug)]
#[request(response = Price)]
struct GetPrice {
    sku: &'static str,
}

#[derive(Request)]
#[request(response = u64, name = "stock.count")]
struct CountStock(&'static str);

#[derive(Request)]
#[request(response = ())]
struct Explode;

#[derive(Request)]
#[request(response = ())]
struct Refuse;

#[derive(Request)]
#[request(response = ())]
struct ExplodeNow;

#[derive(Request)]
#[request(response = &'static str)]
struct Slow(Duration);

#[derive(Request)]
#[request(response = &'static str)]
struct SlowDefault;

#[derive(Request)]
#[request(response = u8)]
struct Audited;

#[derive(Request, Clone)]
#[request(response = u32)]
struct Flaky {
    fail_first: u32,
}

#[derive(Request, Clone)]
#[request(response = u32)]
struct Doomed;

static FLAKY_CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static DOOMED_CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[derive(Default)]
struct Pricing;

#[plugin(name = "pricing")]
impl Pricing {
    #[responds]
    async fn price(&self, r: GetPrice, ctx: &HandlerContext<'_>) -> Result<Price, std::io::Error> {
        tokio::task::yield_now().await;
        assert_eq!(ctx.topic(), "GetPrice");
        Ok(Price {
            cents: r.sku.len() as u64 * 100,
            currency: "EUR",
        })
    }

    #[responds]
    fn count(&self, r: CountStock) -> Result<u64, std::io::Error> {
        Ok(r.0.len() as u64)
    }

    #[responds]
    async fn explode(&self, _: Explode) -> Result<(), std::io::Error> {
        panic!("pricing table corrupt");
    }

    // A sync responder answers in its thunk, with no future: its panic is caught there.
    #[responds]
    fn explode_now(&self, _: ExplodeNow) -> Result<(), std::io::Error> {
        panic!("pricing table gone");
    }

    #[responds]
    fn refuse(&self, _: Refuse) -> Result<(), Permanent> {
        Err(Permanent::new(std::io::Error::other("sku unknown")))
    }

    #[responds]
    async fn slow(&self, r: Slow) -> Result<&'static str, std::io::Error> {
        tokio::time::sleep(r.0).await;
        Ok("done")
    }

    #[responds(retries = 3, base = "1ms")]
    async fn flaky(&self, r: Flaky, ctx: &HandlerContext<'_>) -> Result<u32, std::io::Error> {
        let call = FLAKY_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        assert_eq!(ctx.topic(), "Flaky");
        if call <= r.fail_first {
            return Err(std::io::Error::other(format!("attempt {call} failed")));
        }
        Ok(call)
    }

    #[responds(retries = 5, backoff = "constant", base = "1ms")]
    fn doomed(&self, _: Doomed) -> Result<u32, Permanent> {
        DOOMED_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(Permanent::new(std::io::Error::other("never")))
    }

    #[responds(timeout = "50ms")]
    async fn slow_default(&self, _: SlowDefault) -> Result<&'static str, std::io::Error> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok("done")
    }
}

#[derive(Default)]
struct Audit;

#[plugin(name = "audit")]
impl Audit {
    #[start]
    async fn start(&self, ctx: &PluginContext) -> Result<(), RequestError> {
        // A plugin asks another one through its context.
        let price = ctx.system().request(GetPrice { sku: "abc" }).await?;
        assert_eq!(price.cents, 300);
        Ok(())
    }

    #[responds]
    fn audited(&self, _: Audited) -> Result<u8, std::io::Error> {
        Ok(7)
    }
}

fn disabled(names: &[&str]) -> toml::Table {
    let mut text = String::new();
    for name in names {
        text.push_str(&format!("[plugins.{name}]\nenabled = false\n"));
    }
    toml::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_request_reaches_its_responder() {
    let system = EventSystem::builder().start().await.unwrap();
    let price = system.request(GetPrice { sku: "abcd" }).await.unwrap();
    assert_eq!(
        price,
        Price {
            cents: 400,
            currency: "EUR"
        }
    );
    assert_eq!(system.request(CountStock("xyz")).await.unwrap(), 3);
    assert_eq!(system.request(Audited).await.unwrap(), 7);
    assert_eq!(<CountStock as Request>::NAME, "stock.count");
}

#[tokio::test]
async fn a_failing_responder_is_failed_with_its_error() {
    let system = EventSystem::builder().start().await.unwrap();
    let err = system.request(Refuse).await.unwrap_err();
    let RequestError::Failed {
        request,
        responder,
        source,
        attempts: 1,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*request, "Refuse");
    assert!(responder.ends_with("Pricing::refuse"), "{responder}");
    assert!(source.to_string().contains("sku unknown"), "{source}");
}

#[tokio::test]
async fn a_panicking_responder_is_panicked() {
    let system = EventSystem::builder().start().await.unwrap();
    let err = system.request(Explode).await.unwrap_err();
    assert!(
        matches!(&err, RequestError::Panicked { panic, .. } if panic.message() == "pricing table corrupt"),
        "{err}"
    );
    let err = system.request(ExplodeNow).await.unwrap_err();
    assert!(
        matches!(&err, RequestError::Panicked { panic, attempts: 1, .. } if panic.message() == "pricing table gone"),
        "{err}"
    );
    assert_eq!(
        system.request(CountStock("sku-1")).await.unwrap(),
        5,
        "still answering"
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_come_from_the_call_the_responder_or_the_system() {
    let system = EventSystem::builder()
        .request_timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    // The system's default.
    let err = system
        .request(Slow(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Timeout { after, .. } if after == Duration::from_millis(100)),
        "{err}"
    );
    // The call's own.
    let done = system
        .request(Slow(Duration::from_millis(200)))
        .timeout(Duration::from_millis(300))
        .await;
    assert_eq!(done.unwrap(), "done");
    // The responder's `#[responds(timeout = "50ms")]`.
    let err = system.request(SlowDefault).await.unwrap_err();
    assert!(
        matches!(err, RequestError::Timeout { after, .. } if after == Duration::from_millis(50)),
        "{err}"
    );
    assert!(err.to_string().contains("timed out after 50ms"), "{err}");
    // Any duration is valid.
    let done = system
        .request(Slow(Duration::from_millis(10)))
        .timeout(Duration::MAX)
        .await;
    assert_eq!(done.unwrap(), "done");
}

#[tokio::test]
async fn a_disabled_plugins_responder_is_no_responder() {
    let system = EventSystem::builder()
        .config(&disabled(&["pricing", "audit"]))
        .start()
        .await
        .unwrap();
    let err = system.request(CountStock("a")).await.unwrap_err();
    let RequestError::NoResponder { request, reason } = &err else {
        panic!("{err}")
    };
    assert_eq!(*request, "stock.count");
    assert!(
        reason.contains("plugin `pricing` is not running"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_stopped_plugins_responder_is_no_responder() {
    let system = EventSystem::builder().start().await.unwrap();
    system.shutdown(Duration::from_secs(1)).await;
    let err = system.request(Audited).await.unwrap_err();
    assert!(matches!(err, RequestError::NoResponder { .. }), "{err}");
}

#[test]
fn the_registry_lists_each_responder() {
    let responders: Vec<_> = staticbus::registry()
        .responders()
        .iter()
        .map(|r| (r.request(), r.plugin()))
        .collect();
    assert!(
        responders.contains(&("GetPrice", "pricing")),
        "{responders:?}"
    );
    assert!(responders.contains(&("Audited", "audit")), "{responders:?}");
    assert_eq!(responders.len(), 10);
}

#[tokio::test]
async fn a_responder_with_retries_is_tried_again_until_it_answers() {
    use std::sync::atomic::Ordering::SeqCst;
    let system = EventSystem::builder().retry_seed(7).start().await.unwrap();
    FLAKY_CALLS.store(0, SeqCst);
    // Fails twice, answers on the third attempt (3 retries allowed).
    assert_eq!(system.request(Flaky { fail_first: 2 }).await.unwrap(), 3);
    // Fails on all four attempts: the last error.
    FLAKY_CALLS.store(0, SeqCst);
    let err = system.request(Flaky { fail_first: 10 }).await.unwrap_err();
    assert!(err.to_string().contains("attempt 4 failed"), "{err}");
    assert_eq!(FLAKY_CALLS.load(SeqCst), 4);
    // A `Permanent` error is not retried.
    let err = system.request(Doomed).await.unwrap_err();
    assert!(matches!(err, RequestError::Failed { .. }), "{err}");
    assert_eq!(DOOMED_CALLS.load(SeqCst), 1);
}

/// A layer that passes every request on as it is.
struct Identity;

impl<S> staticbus::Layer<S> for Identity {
    type Service = S;
    fn layer(&self, inner: S) -> S {
        inner
    }
}

#[tokio::test]
async fn metadata_is_ignored_without_layers() {
    let system = EventSystem::builder().start().await.unwrap();
    let count = system
        .request(CountStock("ab"))
        .metadata("token", "t")
        .await;
    assert_eq!(count.unwrap(), 2);
}

#[tokio::test]
async fn through_a_layer_every_outcome_is_told_apart_as_without() {
    let system = EventSystem::builder()
        .request_layer(Identity)
        .config(&disabled(&["audit"]))
        .start()
        .await
        .unwrap();
    assert_eq!(system.request(CountStock("abc")).await.unwrap(), 3);
    let price = system.request(GetPrice { sku: "ab" }).await.unwrap();
    assert_eq!(price.cents, 200);
    let err = system.request(Refuse).await.unwrap_err();
    assert!(
        matches!(
            err,
            RequestError::Failed {
                request: "Refuse",
                ..
            }
        ),
        "{err}"
    );
    let err = system.request(Explode).await.unwrap_err();
    assert!(matches!(err, RequestError::Panicked { .. }), "{err}");
    let err = system.request(Audited).await.unwrap_err();
    assert!(matches!(err, RequestError::NoResponder { .. }), "{err}");
    let err = system
        .request(Slow(Duration::from_secs(9)))
        .timeout(Duration::from_millis(5));
    let err = err.await.unwrap_err();
    assert!(matches!(err, RequestError::Timeout { .. }), "{err}");
}
