//! Each layer on its own: auth, cache, metrics, tracing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Double, Refuse, build, calls, greet};
use parking_lot::Mutex;
use staticbus::{EventSystem, RequestError};
use staticbus_middleware::{
    AuthError, AuthLayer, CacheLayer, CacheStats, MetricsLayer, TracingLayer,
};

fn auth() -> AuthLayer {
    AuthLayer::new(|token| token == "s3cret")
}

fn rejected_by<E: std::error::Error + 'static>(error: &RequestError) -> Option<&E> {
    match error {
        RequestError::Rejected { source, .. } => source.downcast_ref::<E>(),
        _ => None,
    }
}

#[tokio::test]
async fn auth_passes_a_good_token_and_refuses_a_missing_or_wrong_one() {
    let system = build(EventSystem::builder().request_layer(auth()));
    let ok = system
        .request(greet("ann"))
        .metadata("token", "s3cret")
        .await;
    assert_eq!(ok.ok().as_deref(), Some("hello ann"));
    assert_eq!(calls(&system), 1);

    let missing = system.request(greet("ann")).await.err();
    let missing = missing.as_ref().and_then(rejected_by::<AuthError>);
    assert_eq!(missing, Some(&AuthError::Missing { request: "greet" }));

    let wrong = system
        .request(Double(2))
        .metadata("token", "guess")
        .await
        .err();
    let wrong = wrong.as_ref().and_then(rejected_by::<AuthError>);
    assert_eq!(wrong, Some(&AuthError::Invalid { request: "double" }));
    // Neither refused request reached the responder.
    assert_eq!(calls(&system), 1);
}

#[tokio::test]
async fn cache_answers_a_repeated_request_without_the_responder() {
    let cache = CacheLayer::new(Duration::from_secs(60), 100);
    let system = build(EventSystem::builder().request_layer(cache.clone()));
    for _ in 0..3 {
        let answer = system.request(greet("bob")).await;
        assert_eq!(answer.ok().as_deref(), Some("hello bob"));
    }
    assert_eq!(calls(&system), 1);
    assert_eq!(
        system.request(greet("cy")).await.ok().as_deref(),
        Some("hello cy")
    );
    assert_eq!(calls(&system), 2);
    let stats = CacheStats {
        hits: 2,
        misses: 2,
        uncacheable: 0,
    };
    assert_eq!(cache.stats(), stats);
}

#[tokio::test]
async fn cache_passes_uncacheable_requests_and_failures_through() {
    let cache = CacheLayer::new(Duration::from_secs(60), 100);
    let system = build(EventSystem::builder().request_layer(cache.clone()));
    for _ in 0..2 {
        assert_eq!(system.request(Double(21)).await.ok(), Some(42));
    }
    assert_eq!(calls(&system), 2);
    for _ in 0..2 {
        let failed = system.request(Refuse).await;
        assert!(
            matches!(failed, Err(RequestError::Failed { .. })),
            "{failed:?}"
        );
    }
    assert_eq!(calls(&system), 4);
    assert_eq!(cache.stats().uncacheable, 4);
    assert_eq!(cache.stats().hits, 0);
    assert_eq!(cache.entries(), 0);
}

#[tokio::test]
async fn cache_entries_expire_after_the_ttl() {
    let cache = CacheLayer::new(Duration::from_millis(30), 100);
    let system = build(EventSystem::builder().request_layer(cache.clone()));
    assert!(system.request(greet("dee")).await.is_ok());
    assert!(system.request(greet("dee")).await.is_ok());
    assert_eq!(calls(&system), 1);
    // moka reads the real clock.
    std::thread::sleep(Duration::from_millis(60));
    assert!(system.request(greet("dee")).await.is_ok());
    assert_eq!(calls(&system), 2);
    assert_eq!(cache.stats().misses, 2);
}

#[tokio::test]
async fn cache_keeps_at_most_max_entries() {
    let cache = CacheLayer::new(Duration::from_secs(60), 2);
    let system = build(EventSystem::builder().request_layer(cache.clone()));
    for name in ["a", "b", "c", "d", "e"] {
        assert!(system.request(greet(name)).await.is_ok());
    }
    assert!(cache.entries() <= 2, "{} entries", cache.entries());
}

#[tokio::test]
async fn metrics_count_calls_outcomes_and_latency_per_request() {
    let metrics = MetricsLayer::new();
    let system = build(EventSystem::builder().request_layer(metrics.clone()));
    assert!(system.request(greet("eve")).await.is_ok());
    assert!(system.request(Double(1)).await.is_ok());
    assert!(system.request(Refuse).await.is_err());
    assert!(system.request(Refuse).await.is_err());

    let snapshot = metrics.handle().snapshot();
    assert_eq!(snapshot.len(), 3);
    let greet = metrics.handle().of("greet");
    assert_eq!((greet.calls, greet.successes, greet.failures), (1, 1, 0));
    let refuse = snapshot["refuse"];
    assert_eq!((refuse.calls, refuse.successes, refuse.failures), (2, 0, 2));
    assert_eq!(metrics.metrics()["double"].calls, 1);
    assert_eq!(metrics.handle().of("never").calls, 0);
}

/// A subscriber that keeps each span's name and fields and each event's fields, as text.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!(" {}={}", field.name(), value));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        let mut lines = self.0.lock();
        lines.push(fields.0);
        tracing::span::Id::from_u64(lines.len() as u64)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("event {}", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn tracing_opens_a_span_per_request_and_logs_its_outcome() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let system = build(EventSystem::builder().request_layer(TracingLayer::new()));
    assert!(system.request(greet("fay")).await.is_ok());
    assert!(system.request(Refuse).await.is_err());

    let lines = recorder.0.lock().clone();
    let spans: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("span request"))
        .collect();
    assert_eq!(spans.len(), 2, "{lines:#?}");
    assert!(spans[0].contains("request=greet"), "{}", spans[0]);
    assert!(spans[0].contains("plugin=greeter"), "{}", spans[0]);
    assert!(
        spans[0].contains("method=") && spans[0].contains("Greeter::greet"),
        "{}",
        spans[0]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("event DEBUG") && l.contains("outcome=ok"))
    );
    let failed = lines.iter().find(|l| l.starts_with("event WARN"));
    assert!(failed.is_some_and(|l| l.contains("outcome=error") && l.contains("no such greeting")));
}
