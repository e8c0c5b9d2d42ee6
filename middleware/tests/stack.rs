//! The stack: layers in the order given (first outermost), a layer that never becomes ready,
//! tower's own layers, and how errors come back.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{Explode, Greeter, Refuse, Slow, build, calls, greet};
use parking_lot::Mutex;
use staticbus::{
    AnyResponse, BoxError, CallError, EventSystem, Layer, RequestEnvelope, RequestError, Service,
};
use staticbus_middleware::{AuthError, AuthLayer, CacheLayer, ResponseFuture};

/// Records its name when a request comes in and when its outcome goes out.
#[derive(Clone)]
struct Recording {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl<S> Layer<S> for Recording {
    type Service = RecordingService<S>;
    fn layer(&self, inner: S) -> RecordingService<S> {
        RecordingService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
struct RecordingService<S> {
    inner: S,
    layer: Recording,
}

impl<S> Service<RequestEnvelope> for RecordingService<S>
where
    S: Service<RequestEnvelope, Response = AnyResponse, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = AnyResponse;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, envelope: RequestEnvelope) -> ResponseFuture {
        let layer = self.layer.clone();
        layer.log.lock().push(format!("{} in", layer.name));
        let future = self.inner.call(envelope);
        Box::pin(async move {
            let outcome = future.await;
            layer.log.lock().push(format!("{} out", layer.name));
            outcome
        })
    }
}

#[tokio::test]
async fn layers_run_in_the_order_given_the_first_outermost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let layer = |name| Recording {
        name,
        log: Arc::clone(&log),
    };
    let system = build(
        EventSystem::builder()
            .request_layer(layer("a"))
            .request_layer(layer("b"))
            .request_layer(layer("c")),
    );
    assert!(system.request(greet("gus")).await.is_ok());
    let order = log.lock().clone();
    assert_eq!(order, ["a in", "b in", "c in", "c out", "b out", "a out"]);
}

fn auth() -> AuthLayer {
    AuthLayer::new(|token| token == "s3cret")
}

#[tokio::test]
async fn auth_outside_the_cache_refuses_what_the_cache_holds() {
    let cache = CacheLayer::new(Duration::from_secs(60), 100);
    let system = build(
        EventSystem::builder()
            .request_layer(auth())
            .request_layer(cache.clone()),
    );
    let first = system
        .request(greet("hal"))
        .metadata("token", "s3cret")
        .await;
    assert_eq!(first.ok().as_deref(), Some("hello hal"));
    let again = system.request(greet("hal")).await;
    let refused = match &again {
        Err(RequestError::Rejected { source, .. }) => source.downcast_ref::<AuthError>(),
        _ => None,
    };
    assert_eq!(refused, Some(&AuthError::Missing { request: "greet" }));
    assert_eq!(cache.stats().hits, 0);
}

#[tokio::test]
async fn cache_outside_auth_answers_an_unauthenticated_repeat() {
    let cache = CacheLayer::new(Duration::from_secs(60), 100);
    let system = build(
        EventSystem::builder()
            .request_layer(cache.clone())
            .request_layer(auth()),
    );
    let first = system
        .request(greet("ida"))
        .metadata("token", "s3cret")
        .await;
    assert_eq!(first.ok().as_deref(), Some("hello ida"));
    let again = system.request(greet("ida")).await;
    assert_eq!(again.ok().as_deref(), Some("hello ida"));
    assert_eq!(cache.stats().hits, 1);
    assert_eq!(calls(&system), 1);
    // A request the cache does not hold still meets the auth layer.
    let other = system.request(greet("jo")).await;
    assert!(
        matches!(other, Err(RequestError::Rejected { .. })),
        "{other:?}"
    );
}

#[tokio::test]
async fn calls_by_name_go_through_the_same_layers_with_their_metadata() {
    let cache = CacheLayer::new(Duration::from_secs(60), 100);
    let system = build(
        EventSystem::builder()
            .request_layer(auth())
            .request_layer(cache.clone()),
    );
    let args = || serde_json::json!({ "name": "kim" });
    let refused = system.call("greeter", "greet", args()).await;
    let auth_error = match &refused {
        Err(CallError::Request(RequestError::Rejected { source, .. })) => {
            source.downcast_ref::<AuthError>()
        }
        _ => None,
    };
    assert_eq!(
        auth_error,
        Some(&AuthError::Missing { request: "greet" }),
        "{refused:?}"
    );
    assert_eq!(calls(&system), 0);

    for _ in 0..2 {
        let answer = system
            .call("greeter", "greet", args())
            .metadata("token", "s3cret")
            .await;
        assert_eq!(answer.ok(), Some(serde_json::json!("hello kim")));
    }
    // The second call was answered by the cache, inside the auth layer.
    assert_eq!(calls(&system), 1);
    assert_eq!(cache.stats().hits, 1);
}

/// A layer whose service is never ready (and never wakes its caller).
#[derive(Clone)]
struct NeverReady;

impl<S> Layer<S> for NeverReady {
    type Service = NeverReady;
    fn layer(&self, _: S) -> NeverReady {
        NeverReady
    }
}

impl Service<RequestEnvelope> for NeverReady {
    type Response = AnyResponse;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Pending
    }
    fn call(&mut self, _: RequestEnvelope) -> ResponseFuture {
        unreachable!("never ready, never called")
    }
}

#[tokio::test(start_paused = true)]
async fn a_layer_never_ready_times_out() {
    let system = build(
        EventSystem::builder()
            .request_timeout(Duration::from_secs(2))
            .request_layer(NeverReady),
    );
    let answer = system.request(greet("kim")).await;
    assert!(
        matches!(answer, Err(RequestError::Timeout { request: "greet", after, .. }) if after == Duration::from_secs(2)),
        "{answer:?}"
    );
    let answer = system
        .request(greet("kim"))
        .timeout(Duration::from_millis(5))
        .await;
    assert!(
        matches!(answer, Err(RequestError::Timeout { after, .. }) if after == Duration::from_millis(5)),
        "{answer:?}"
    );
    assert_eq!(calls(&system), 0);
}

#[tokio::test(start_paused = true)]
async fn towers_timeout_layer_works_in_the_stack() {
    let system = build(
        EventSystem::builder()
            .request_layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(10))),
    );
    let fast = system.request(Slow(Duration::from_millis(1))).await;
    assert_eq!(fast.ok(), Some("done"));
    let slow = system.request(Slow(Duration::from_secs(1))).await;
    let elapsed = match &slow {
        Err(RequestError::Rejected { source, .. }) => source.is::<tower::timeout::error::Elapsed>(),
        _ => false,
    };
    assert!(elapsed, "{slow:?}");
}

#[tokio::test(start_paused = true)]
async fn towers_concurrency_limit_holds_requests_to_one_at_a_time() {
    let system =
        build(EventSystem::builder().request_layer(tower::limit::ConcurrencyLimitLayer::new(1)));
    let one = system.request(Slow(Duration::from_millis(10)));
    let two = system.request(Slow(Duration::from_millis(10)));
    let three = system.request(Slow(Duration::from_millis(10)));
    let (one, two, three) = tokio::join!(one.into_future(), two.into_future(), three.into_future());
    assert_eq!([one.ok(), two.ok(), three.ok()], [Some("done"); 3]);
    let greeter = system.plugin::<Greeter>();
    assert_eq!(
        greeter.map(|g| g.max_in_flight.load(Ordering::SeqCst)),
        Some(1)
    );
}

#[tokio::test]
async fn responder_errors_and_panics_come_back_as_without_layers() {
    let system = build(EventSystem::builder().request_layer(auth()));
    let failed = system.request(Refuse).metadata("token", "s3cret").await;
    match failed {
        Err(RequestError::Failed {
            request, source, ..
        }) => {
            assert_eq!(request, "refuse");
            assert_eq!(source.to_string(), "no such greeting");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let panicked = system.request(Explode).metadata("token", "s3cret").await;
    match panicked {
        Err(RequestError::Panicked { panic, .. }) => {
            assert_eq!(panic.message(), "greeting table corrupt");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
}
