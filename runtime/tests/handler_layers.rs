//! Async handlers through the system's `tower` handler layers (`handler_layer`): the order of
//! the stack, a layer's own error (a failure, dead-lettered), a layer that never becomes
//! ready (the handler's timeout, no hang), tower's own limits really holding calls back,
//! retries (each attempt through the stack), sync handlers (never through it), and the same
//! handler outcomes with and without layers. On Tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    BoxError, BoxFuture, HandlerEnvelope, HandlerError, HandlerFailed, HandlerResult,
    HandlerService, ImplementationType, Retry, SubscribeOptions,
};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

type Log = Arc<Mutex<Vec<String>>>;

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

fn event(topic: &str) -> DynamicEvent {
    DynamicEvent::builder(topic).build().expect("valid topic")
}

/// The only failure of a publish.
fn only_failure(result: Result<Published, Error>) -> HandlerError {
    match result {
        Err(Error::Handlers(mut errors)) if errors.errors.len() == 1 => errors.errors.remove(0),
        other => panic!("expected one handler's failure, got {other:?}"),
    }
}

/// A layer that writes down each call it sees (`<name> <event> <handler> #<attempt>`) and
/// how it ended (`<name> ok` / `<name> handler failed` / `<name> error`).
#[derive(Clone)]
struct Record {
    name: &'static str,
    log: Log,
}

struct Recorded {
    name: &'static str,
    log: Log,
    inner: HandlerService,
}

impl Layer<HandlerService> for Record {
    type Service = Recorded;
    fn layer(&self, inner: HandlerService) -> Recorded {
        Recorded {
            name: self.name,
            log: Arc::clone(&self.log),
            inner,
        }
    }
}

impl<'a> Service<HandlerEnvelope<'a>> for Recorded {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'a, HandlerResult>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, envelope: HandlerEnvelope<'a>) -> Self::Future {
        let (name, log) = (self.name, Arc::clone(&self.log));
        let handler = envelope.handler().name();
        let short = handler.rsplit("::").next().unwrap_or_default().to_owned();
        let plugin = envelope
            .plugin()
            .map(|p| format!(" [{p}]"))
            .unwrap_or_default();
        log.lock().unwrap().push(format!(
            "{name} {} {short}{plugin} #{}",
            envelope.event(),
            envelope.attempt()
        ));
        let future = self.inner.call(envelope);
        Box::pin(async move {
            let result = future.await;
            let ended = match &result {
                Ok(()) => "ok",
                Err(e) if e.is::<HandlerFailed>() => "handler failed",
                Err(_) => "error",
            };
            log.lock().unwrap().push(format!("{name} {ended}"));
            result
        })
    }
}

fn record(name: &'static str, log: &Log) -> Record {
    Record {
        name,
        log: Arc::clone(log),
    }
}

#[derive(StaticEvent, Debug)]
#[event(name = "layers.order")]
struct Ordered(u32);

#[handler]
async fn free_handler(e: &Ordered) {
    // The future borrows the event the publish holds.
    tokio::task::yield_now().await;
    assert_eq!(e.0, 7);
}

#[derive(Default)]
struct Shop;

#[plugin(name = "layers-shop")]
impl Shop {
    #[on(priority = -1)]
    async fn after(&self, e: &Ordered) {
        assert_eq!(e.0, 7);
    }
}

#[tokio::test(start_paused = true)]
async fn layers_apply_in_the_order_given_the_first_outermost() {
    let log = Log::default();
    let system = EventSystem::builder()
        .handler_layer(record("outer", &log))
        .handler_layer(record("inner", &log))
        .build()
        .unwrap();
    let seen = Arc::clone(&log);
    let _sub = system
        .on_async("layers.dynamic", move |_: Arc<DynamicEvent>| {
            let seen = Arc::clone(&seen);
            async move { seen.lock().unwrap().push("handler".to_owned()) }
        })
        .unwrap();
    system
        .publish_dynamic(event("layers.dynamic"))
        .await
        .unwrap();
    let subscription = system.list_subscriptions()[0].id;
    assert_eq!(
        entries(&log),
        [
            format!("outer layers.dynamic subscription {subscription} (layers.dynamic) #1"),
            format!("inner layers.dynamic subscription {subscription} (layers.dynamic) #1"),
            "handler".to_owned(),
            "inner ok".to_owned(),
            "outer ok".to_owned(),
        ]
    );

    // Static handlers, a free one and a plugin's (in dispatch order): from the tables, with
    // borrowed events, and installed as subscriptions under ZeroCopy.
    log.lock().unwrap().clear();
    system.publish(Ordered(7)).await.unwrap();
    let zero_copy = EventSystem::builder()
        .implementation(ImplementationType::ZeroCopy)
        .handler_layer(record("outer", &log))
        .handler_layer(record("inner", &log))
        .build()
        .unwrap();
    zero_copy.publish(Ordered(7)).await.unwrap();
    let once = [
        "outer layers.order free_handler #1",
        "inner layers.order free_handler #1",
        "inner ok",
        "outer ok",
        "outer layers.order after [layers-shop] #1",
        "inner layers.order after [layers-shop] #1",
        "inner ok",
        "outer ok",
    ];
    assert_eq!(entries(&log), [once, once].concat());
}

/// Why [`Gate`] turned a call away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("denied by the gate")]
struct Denied;

/// A layer that fails every call with [`Denied`], in `poll_ready` or in `call`, or holds
/// every call back forever (`poll_ready` never ready, and never wakes its task).
#[derive(Clone, Copy)]
enum Gate {
    DenyReady,
    DenyCall,
    Never,
}

struct Gated(Gate, HandlerService);

impl Layer<HandlerService> for Gate {
    type Service = Gated;
    fn layer(&self, inner: HandlerService) -> Gated {
        Gated(*self, inner)
    }
}

impl<'a> Service<HandlerEnvelope<'a>> for Gated {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'a, HandlerResult>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self.0 {
            Gate::DenyReady => Poll::Ready(Err(Box::new(Denied))),
            Gate::DenyCall => self.1.poll_ready(cx),
            Gate::Never => Poll::Pending,
        }
    }

    fn call(&mut self, envelope: HandlerEnvelope<'a>) -> Self::Future {
        match self.0 {
            Gate::DenyCall => Box::pin(std::future::ready(Err(Box::new(Denied) as BoxError))),
            _ => self.1.call(envelope),
        }
    }
}

/// An async subscription on `topic` counting its calls (in its future: the layers hold back
/// the future, not the closure that makes it).
fn counted(system: &EventSystem, topic: &str, options: SubscribeOptions) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let sub = system
        .on_async_with(topic, options, move |_: Arc<DynamicEvent>| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    std::mem::forget(sub);
    calls
}

#[tokio::test(start_paused = true)]
async fn a_layers_error_is_the_handlers_failure_and_is_dead_lettered() {
    for gate in [Gate::DenyReady, Gate::DenyCall] {
        let system = EventSystem::builder().handler_layer(gate).build().unwrap();
        let calls = counted(&system, "layers.denied", SubscribeOptions::new());

        let error = only_failure(system.publish_dynamic(event("layers.denied")).await);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the handler was not called"
        );
        let rejected = error.layer_rejected().expect("a layer's rejection");
        assert_eq!(rejected.error().downcast_ref::<Denied>(), Some(&Denied));
        assert!(error.timeout().is_none() && error.panic().is_none());
        assert!(error.dead_lettered);
        assert!(
            error
                .to_string()
                .ends_with("rejected by a handler layer: denied by the gate"),
            "{error}"
        );

        let letters = system.dead_letters();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].topic(), "layers.denied");
        assert_eq!(
            letters[0].error(),
            "rejected by a handler layer: denied by the gate"
        );
        let metrics = system.metrics();
        let handler = &metrics.handlers[0];
        assert_eq!((handler.failed, handler.layer_rejected), (1, 1));
        assert_eq!(metrics.topics["layers.denied"].failed, 1);
    }
}

#[derive(StaticEvent, Debug)]
#[event(name = "layers.held")]
struct Held;

#[handler]
async fn held(_: &Held) {
    panic!("never called: its layer is never ready");
}

#[tokio::test(start_paused = true)]
async fn a_layer_that_never_becomes_ready_is_the_handlers_timeout() {
    let system = EventSystem::builder()
        .handler_layer(Gate::Never)
        .handler_timeout(Duration::from_millis(80))
        .build()
        .unwrap();
    let options = SubscribeOptions::new().timeout(Duration::from_millis(50));
    let calls = counted(&system, "layers.stuck", options);

    // Twice: the first call's turn at the stack ends with its timeout, so the next one gets
    // its own (and its own timeout), never a call stuck behind it.
    for _ in 0..2 {
        let started = Instant::now();
        let error = only_failure(system.publish_dynamic(event("layers.stuck")).await);
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        let timeout = error.timeout().expect("the handler's timeout");
        assert_eq!(timeout.after(), Duration::from_millis(50));
        assert!(error.dead_lettered);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A static handler, under the system's `handler_timeout`.
    let started = Instant::now();
    let error = only_failure(system.publish(Held).await);
    assert_eq!(started.elapsed(), Duration::from_millis(80));
    assert_eq!(
        error.timeout().map(|t| t.after()),
        Some(Duration::from_millis(80))
    );
    assert!(
        error.handler.name().ends_with("::held"),
        "{}",
        error.handler.name()
    );
    assert_eq!(system.dead_letters().len(), 3);
}

/// A detached subscription on `topic` with `workers`, each call taking 10 ms: the most
/// calls that ran at once, and the calls made.
fn sleepy(
    system: &EventSystem,
    topic: &str,
    workers: usize,
) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (most, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let running = Arc::new(AtomicUsize::new(0));
    let (m, c) = (Arc::clone(&most), Arc::clone(&calls));
    let options = SubscribeOptions::new().detached().concurrency(workers);
    let sub = system
        .on_async_with(topic, options, move |_: Arc<DynamicEvent>| {
            let (most, calls, running) = (Arc::clone(&m), Arc::clone(&c), Arc::clone(&running));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                calls.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    std::mem::forget(sub);
    (most, calls)
}

#[tokio::test(start_paused = true)]
async fn towers_concurrency_limit_holds_a_detached_handler_back() {
    for (limit, expected) in [(None, 4), (Some(2), 2)] {
        let mut builder = EventSystem::builder();
        if let Some(limit) = limit {
            builder = builder.handler_layer(tower::limit::ConcurrencyLimitLayer::new(limit));
        }
        let system = builder.build().unwrap();
        let (most, calls) = sleepy(&system, "layers.limited", 4);
        for _ in 0..12 {
            system
                .publish_dynamic(event("layers.limited"))
                .await
                .unwrap();
        }
        let started = Instant::now();
        let report = system.shutdown(Duration::from_secs(10)).await;
        assert!(report.drained, "{report:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 12);
        assert_eq!(most.load(Ordering::SeqCst), expected, "limit {limit:?}");
        // 12 calls of 10 ms, `expected` at a time.
        let rounds = 12 / expected as u32;
        assert_eq!(started.elapsed(), Duration::from_millis(10) * rounds);
    }
}

#[tokio::test(start_paused = true)]
async fn a_layer_that_is_not_clone_works_towers_rate_limit() {
    let system = EventSystem::builder()
        .handler_layer(tower::limit::RateLimitLayer::new(1, Duration::from_secs(1)))
        .build()
        .unwrap();
    let calls = counted(&system, "layers.rated", SubscribeOptions::new());
    let started = Instant::now();
    for _ in 0..3 {
        system.publish_dynamic(event("layers.rated")).await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "one call per second"
    );
}

#[tokio::test(start_paused = true)]
async fn towers_load_shed_rejects_what_the_limit_cannot_take() {
    let system = EventSystem::builder()
        .handler_layer(tower::load_shed::LoadShedLayer::new())
        .handler_layer(tower::limit::ConcurrencyLimitLayer::new(1))
        .build()
        .unwrap();
    let (most, calls) = sleepy(&system, "layers.shed", 2);
    system.publish_dynamic(event("layers.shed")).await.unwrap();
    system.publish_dynamic(event("layers.shed")).await.unwrap();
    let report = system.shutdown(Duration::from_secs(10)).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(
        (calls.load(Ordering::SeqCst), most.load(Ordering::SeqCst)),
        (1, 1)
    );
    let letters = system.dead_letters();
    assert_eq!(letters.len(), 1, "the shed call");
    assert_eq!(
        letters[0].error(),
        "rejected by a handler layer: service overloaded"
    );
    assert_eq!(system.metrics().topics["layers.shed"].failed, 1);
}

#[tokio::test(start_paused = true)]
async fn each_attempt_of_a_retried_call_goes_through_the_layers() {
    let log = Log::default();
    let system = EventSystem::builder()
        .handler_layer(record("layer", &log))
        .retry_seed(7)
        .build()
        .unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&attempts);
    let options = SubscribeOptions::new().retry(Retry::constant(3, Duration::from_millis(5)));
    let _sub = system
        .on_async_with("layers.retried", options, move |_: Arc<DynamicEvent>| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match n {
                    1 | 2 => Err::<(), BoxError>(format!("attempt {n}").into()),
                    _ => Ok(()),
                }
            }
        })
        .unwrap();
    system
        .publish_dynamic(event("layers.retried"))
        .await
        .unwrap();
    let id = system.list_subscriptions()[0].id;
    let call = |n| format!("layer layers.retried subscription {id} (layers.retried) #{n}");
    assert_eq!(
        entries(&log),
        [
            call(1),
            "layer handler failed".to_owned(),
            call(2),
            "layer handler failed".to_owned(),
            call(3),
            "layer ok".to_owned(),
        ]
    );
}

#[derive(StaticEvent, Debug)]
#[event(name = "layers.sync")]
struct Inline;

static INLINE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[handler]
fn inline(_: &Inline) {
    INLINE_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn sync_handlers_never_go_through_the_layers() {
    let log = Log::default();
    let system = EventSystem::builder()
        .handler_layer(record("layer", &log))
        .build()
        .unwrap();
    let dynamic = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dynamic);
    let _sync = system
        .on("layers.sync", move |_: &EventRef<'_>| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(system.emit(&Inline).handled(), 2);
    system.publish(Inline).await.unwrap();
    assert_eq!(system.emit_dynamic(&event("layers.sync")).handled(), 1);
    system.publish_dynamic(event("layers.sync")).await.unwrap();
    assert_eq!(INLINE_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(dynamic.load(Ordering::SeqCst), 4);
    assert!(entries(&log).is_empty(), "{:?}", entries(&log));

    // The layer is there: an async handler of the same system goes through it.
    let _async = system
        .on_async("layers.sync", |_: Arc<DynamicEvent>| async {})
        .unwrap();
    system.publish_dynamic(event("layers.sync")).await.unwrap();
    assert_eq!(entries(&log).len(), 2, "{:?}", entries(&log));
}

#[derive(Debug, thiserror::Error)]
#[error("boom")]
struct Boom;

/// What an async handler's error, panic and overrun come to in `system`: the handler's
/// own error, a `HandlerPanic`, a `HandlerTimeout`, never a layer's.
async fn outcomes(system: &EventSystem) {
    let options = || SubscribeOptions::new().timeout(Duration::from_millis(30));
    let _failing = system
        .on_async_with("layers.fails", options(), |_: Arc<DynamicEvent>| async {
            Err::<(), _>(Boom)
        })
        .unwrap();
    let _panicking = system
        .on_async_with("layers.panics", options(), |_: Arc<DynamicEvent>| async {
            if true {
                panic!("the handler broke");
            }
        })
        .unwrap();
    let _slow = system
        .on_async_with("layers.slow", options(), |_: Arc<DynamicEvent>| async {
            tokio::time::sleep(Duration::from_secs(1)).await
        })
        .unwrap();

    let failed = only_failure(system.publish_dynamic(event("layers.fails")).await);
    assert!(failed.source.is::<Boom>(), "{failed}");
    assert!(
        failed.to_string().ends_with("returned an error: boom"),
        "{failed}"
    );
    let panicked = only_failure(system.publish_dynamic(event("layers.panics")).await);
    assert_eq!(
        panicked.panic().map(|p| p.message()),
        Some("the handler broke")
    );
    let slow = only_failure(system.publish_dynamic(event("layers.slow")).await);
    assert_eq!(
        slow.timeout().map(|t| t.after()),
        Some(Duration::from_millis(30))
    );
    for error in [&failed, &panicked, &slow] {
        assert!(error.layer_rejected().is_none() && error.dead_lettered);
    }
    let metrics = system.metrics();
    assert_eq!(metrics.handlers.len(), 3);
    for handler in &metrics.handlers {
        assert_eq!((handler.failed, handler.layer_rejected), (1, 0));
    }
    assert_eq!(system.dead_letters().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_system_without_handler_layers_is_unchanged() {
    outcomes(&EventSystem::builder().build().unwrap()).await;
}

#[tokio::test(start_paused = true)]
async fn the_handlers_own_outcomes_come_through_the_layers_as_themselves() {
    let log = Log::default();
    let system = EventSystem::builder()
        .handler_layer(record("layer", &log))
        .build()
        .unwrap();
    outcomes(&system).await;
    // The layer saw the error and the panic as the handler's (`HandlerFailed`); the overrun
    // never ended inside it (the whole stack's future was dropped at the deadline).
    let ends: Vec<_> = entries(&log)
        .into_iter()
        .filter(|e| !e.contains(" #"))
        .collect();
    assert_eq!(ends, ["layer handler failed", "layer handler failed"]);
}
