//! The NATS JetStream transport: one stream holding the bridged subjects (`<prefix>.>`),
//! with a duplicate window so that a publish retried with the same id is stored once; one
//! durable pull consumer per group; a second stream for the dead letters.
//!
//! The duplicate window defaults to 2 minutes (JetStream's own default): it must cover the
//! longest a publish can be retried after its first try (the bridge's retry policy,
//! `max_elapsed` included) plus the time a lost acknowledgement takes to be noticed (the
//! publish timeout); longer only costs the server memory for the ids it remembers.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

use crate::transport::{Delivery, GroupSpec, Outgoing, Stored, Transport, TransportError};

/// How the JetStream side is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// The server (`nats://127.0.0.1:4222`).
    pub url: String,
    /// The stream of bridged events.
    pub stream: String,
    /// The subjects it holds: `<prefix>.>`.
    pub prefix: String,
    /// The stream of dead letters, holding `<dead_letter_prefix>.>`.
    pub dead_letter_stream: String,
    /// Where dead letters are published: `<dead_letter_prefix>.<group>.<event name>`.
    pub dead_letter_prefix: String,
    /// How long the server remembers a message id to drop a duplicate (see the module doc).
    pub duplicate_window: Duration,
    /// How long a publish waits for its acknowledgement before it fails (and is retried).
    pub publish_timeout: Duration,
    /// The idle heartbeat of a group's pull requests: two missed, and its subscription is
    /// made again.
    pub heartbeat: Duration,
}

impl NatsConfig {
    /// The server at `url`, events under `events.>` in stream `STATICBUS`, dead letters
    /// under `deadletter.>` in `STATICBUS_DEAD_LETTERS`, a 2-minute duplicate window.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            stream: "STATICBUS".to_owned(),
            prefix: "events".to_owned(),
            dead_letter_stream: "STATICBUS_DEAD_LETTERS".to_owned(),
            dead_letter_prefix: "deadletter".to_owned(),
            duplicate_window: Duration::from_secs(120),
            publish_timeout: Duration::from_secs(5),
            heartbeat: Duration::from_secs(5),
        }
    }

    /// The subjects' prefix (`events`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The stream's name (`STATICBUS`) and the dead letters' (`<name>_DEAD_LETTERS`).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self.dead_letter_stream = format!("{}_DEAD_LETTERS", self.stream);
        self
    }

    /// The dead letters' subject prefix (`deadletter`).
    pub fn dead_letter_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.dead_letter_prefix = prefix.into();
        self
    }

    /// The duplicate window (2 minutes).
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// How long a publish waits for its acknowledgement (5 s).
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// The pull requests' idle heartbeat (5 s; more than zero, at most 15 s: half the
    /// pull requests' 30 s expiry).
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Whether every duration is one the server and the client can keep: the error names
    /// the option otherwise.
    fn check(&self) -> Result<(), TransportError> {
        let nanos = |d: Duration| d.as_nanos() <= i64::MAX as u128;
        let problem = if !nanos(self.duplicate_window) {
            Some((
                "duplicate_window",
                "at most what the server counts in nanoseconds",
            ))
        } else if self.publish_timeout.is_zero() {
            Some((
                "publish_timeout",
                "more than zero (every publish would time out)",
            ))
        } else if self.heartbeat.is_zero() || self.heartbeat > Duration::from_secs(15) {
            Some((
                "heartbeat",
                "more than zero and at most 15 s (half the pull requests' 30 s expiry)",
            ))
        } else {
            None
        };
        match problem {
            Some((option, rule)) => Err(TransportError::permanent(
                format!("configure NATS: `{option}`"),
                format!("must be {rule}"),
            )),
            None => Ok(()),
        }
    }
}

/// A connection to a NATS server with JetStream, set up for the bridge.
#[derive(Clone)]
pub struct Nats {
    js: jetstream::Context,
    config: NatsConfig,
}

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Nats {
    /// Connects (retrying while the server is not up yet; reconnecting by itself later) and
    /// creates the two streams if they do not exist.
    ///
    /// # Errors
    ///
    /// A [`TransportError`] naming what failed: an option out of its range (before any
    /// connection), the connection (a bad URL), or a stream (JetStream not enabled, a
    /// stream of that name with other subjects).
    pub async fn connect(config: NatsConfig) -> Result<Nats, TransportError> {
        config.check()?;
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .map_err(|e| TransportError::new(format!("connect to {}", config.url), e))?;
        let mut js = jetstream::new(client);
        js.set_timeout(config.publish_timeout);
        let streams = [
            (&config.stream, &config.prefix, config.duplicate_window),
            (
                &config.dead_letter_stream,
                &config.dead_letter_prefix,
                config.duplicate_window,
            ),
        ];
        for (name, prefix, duplicate_window) in streams {
            js.get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{prefix}.>")],
                duplicate_window,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| TransportError::new(format!("create stream `{name}`"), e))?;
        }
        Ok(Nats { js, config })
    }

    /// How it was set up.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    async fn send(&self, message: Outgoing) -> Result<Stored, TransportError> {
        // Only the subject (a reference-counted `Subject`) is held with the publish's
        // future: the rest of the message moves into the publish.
        let Outgoing {
            subject,
            id,
            headers: named,
            payload,
        } = message;
        let subject = async_nats::Subject::from(subject);
        let operation = || format!("publish to `{subject}`");
        let headers =
            nats_headers(named).map_err(|reason| TransportError::permanent(operation(), reason))?;
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload)
            .headers(headers)
            .message_id(id);
        let failed = |e: jetstream::context::PublishError| TransportError::new(operation(), e);
        let ack = self.js.send_publish(subject.clone(), publish).await;
        let ack = ack.map_err(failed)?.await.map_err(failed)?;
        Ok(Stored {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}

impl Transport for Nats {
    type Delivery = NatsDelivery;

    fn publish(
        &self,
        message: Outgoing,
    ) -> impl Future<Output = Result<Stored, TransportError>> + Send {
        self.send(message)
    }

    async fn consume(
        &self,
        group: GroupSpec,
    ) -> Result<BoxStream<'static, Result<NatsDelivery, TransportError>>, TransportError> {
        let stream =
            self.js.get_stream(&self.config.stream).await.map_err(|e| {
                TransportError::new(format!("open stream `{}`", self.config.stream), e)
            })?;
        let config = consumer::pull::Config {
            durable_name: Some(group.name.clone()),
            filter_subject: group.filter.clone(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: group.ack_wait,
            max_deliver: i64::from(group.max_deliver),
            ..Default::default()
        };
        // The messages, as one stream that subscribes again whenever its subscription
        // fails or ends (a restarted server, missed heartbeats, the consumer deleted:
        // `get_or_create_consumer` makes it again): the error is handed on (the member
        // counts it), then the next poll subscribes. No task of its own, no channel: the
        // member polls the subscription directly.
        let subscriber = Arc::new(Subscriber {
            stream,
            config,
            name: Arc::from(group.name.as_str()),
            heartbeat: self.config.heartbeat,
        });
        // The first subscription now, so that a bad group fails here, not in the stream.
        let state = Consuming::Messages(Box::new(subscriber.subscribe().await?));
        let stream = futures_util::stream::unfold(state, move |mut state| {
            // One reference count per message, nothing copied.
            let subscriber = Arc::clone(&subscriber);
            async move {
                loop {
                    match state {
                        Consuming::Subscribe(after) => {
                            if !after.is_zero() {
                                tokio::time::sleep(after).await;
                            }
                            match subscriber.subscribe().await {
                                Ok(messages) => state = Consuming::Messages(Box::new(messages)),
                                Err(error) => {
                                    let again = Consuming::Subscribe(Duration::from_millis(250));
                                    return Some((Err(error), again));
                                }
                            }
                        }
                        Consuming::Messages(mut messages) => match messages.next().await {
                            Some(Ok(message)) => {
                                let delivery = NatsDelivery::new(message);
                                return Some((Ok(delivery), Consuming::Messages(messages)));
                            }
                            Some(Err(e)) => {
                                let name = &subscriber.name;
                                let error = TransportError::new(format!("consume `{name}`"), e);
                                let again = Consuming::Subscribe(Duration::from_millis(100));
                                return Some((Err(error), again));
                            }
                            None => state = Consuming::Subscribe(Duration::from_millis(100)),
                        },
                    }
                }
            }
        });
        Ok(stream.boxed())
    }
}

/// `headers` as the client's map; a name or value the protocol cannot carry (a name with a
/// colon, space or control character, a value with a line break: the client would panic
/// on them) is an error naming it.
fn nats_headers(headers: crate::transport::Headers) -> Result<async_nats::HeaderMap, String> {
    use std::str::FromStr as _;
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers {
        let key = async_nats::header::HeaderName::from_str(&name).ok();
        let Some(key) = key.filter(|_| !name.is_empty()) else {
            return Err(format!("header name {name:?} cannot be sent to NATS"));
        };
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(format!(
                "the value of header `{name}` has a line break: NATS headers cannot carry it"
            ));
        }
        map.insert(key, async_nats::HeaderValue::from(value));
    }
    Ok(map)
}

/// The delivery count a JetStream reply subject carries (ADR-15: after `$JS.ACK.`, 7 tokens
/// `<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or 9 and
/// more with `<domain>.<account hash>.` first), as async-nats's `Message::info` reads it,
/// without the rest (it parses the sequences and converts the time, per message).
fn delivered(reply: &str) -> Option<u64> {
    let rest = reply.strip_prefix("$JS.ACK.")?.as_bytes();
    // One pass: where the 3rd and 5th tokens start and end, and how many tokens.
    let (mut tokens, mut starts, mut ends) = (1usize, [0usize; 6], [rest.len(); 6]);
    for (at, &byte) in rest.iter().enumerate() {
        if byte == b'.' {
            if tokens <= 5 {
                ends[tokens] = at;
                starts[tokens] = at + 1;
            }
            tokens += 1;
        }
    }
    // Token k (from 1) spans starts[k - 1]..ends[k].
    let token = match tokens {
        7 => 3,
        n if n >= 9 => 5,
        _ => return None,
    };
    let digits = rest.get(starts[token - 1]..ends[token])?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What subscribing (again) to a group's consumer needs.
struct Subscriber {
    stream: stream::Stream,
    config: consumer::pull::Config,
    name: Arc<str>,
    heartbeat: Duration,
}

impl Subscriber {
    /// The group's consumer (made if it is missing) and a pull subscription on it.
    async fn subscribe(&self) -> Result<consumer::pull::Stream, TransportError> {
        let name = &self.name;
        let consumer = self
            .stream
            .get_or_create_consumer::<consumer::pull::Config>(name, self.config.clone())
            .await
            .map_err(|e| TransportError::new(format!("create consumer `{name}`"), e))?;
        consumer
            .stream()
            .heartbeat(self.heartbeat)
            .messages()
            .await
            .map_err(|e| TransportError::new(format!("consume `{name}`"), e))
    }
}

/// Where a group's stream of messages is.
enum Consuming {
    /// To subscribe, after a pause.
    Subscribe(Duration),
    /// Subscribed.
    Messages(Box<consumer::pull::Stream>),
}

/// A message of a group, from JetStream.
pub struct NatsDelivery {
    // Boxed: a message is 408 bytes, and a delivery is moved through each layer of the
    // stream that yields it and into the member's handling (a copy each, per message).
    message: Box<jetstream::Message>,
    attempt: u32,
}

impl NatsDelivery {
    fn new(message: jetstream::Message) -> Self {
        let attempt = message
            .reply
            .as_deref()
            .and_then(delivered)
            .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX));
        NatsDelivery {
            message: Box::new(message),
            attempt,
        }
    }

    async fn settle(&self, kind: AckKind, what: &str) -> Result<(), TransportError> {
        self.message
            .ack_with(kind)
            .await
            .map_err(|e| TransportError::new(format!("{what} `{}`", self.message.subject), e))
    }
}

impl Delivery for NatsDelivery {
    fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        let Some(map) = &self.message.headers else {
            return Vec::new();
        };
        map.iter()
            .filter_map(|(name, values)| Some((name.as_ref(), values.first()?.as_str())))
            .collect()
    }

    fn payload(&self) -> &Bytes {
        &self.message.payload
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    async fn ack(self) -> Result<(), TransportError> {
        self.settle(AckKind::Ack, "ack").await
    }

    async fn nak(self, delay: Duration) -> Result<(), TransportError> {
        self.settle(AckKind::Nak(Some(delay)), "nak").await
    }

    async fn term(self) -> Result<(), TransportError> {
        self.settle(AckKind::Term, "term").await
    }

    async fn progress(&self) -> Result<(), TransportError> {
        self.settle(AckKind::Progress, "progress").await
    }
}

#[cfg(test)]
mod tests {
    use super::{delivered, nats_headers};
    use crate::transport::Headers;

    #[test]
    fn the_delivery_count_is_read_from_both_reply_formats() {
        // ADR-15: the original form, and the one with domain and account hash (with and
        // without the trailing random token).
        assert_eq!(
            delivered("$JS.ACK.STATICBUS.billing.3.120.77.1733140000000000000.5"),
            Some(3)
        );
        assert_eq!(
            delivered("$JS.ACK._.ACCHASH.STATICBUS.billing.2.120.77.1733140000000000000.5"),
            Some(2)
        );
        assert_eq!(
            delivered("$JS.ACK.hub.ACCHASH.STATICBUS.billing.9.120.77.1733140000000000000.5.x1"),
            Some(9)
        );
        for bad in [
            "_INBOX.abc",
            "$JS.ACK.STATICBUS.billing.3",
            "$JS.ACK.STATICBUS.billing.three.120.77.1.5",
            "$JS.ACK.a.b.c.d.e.f.g.h",
        ] {
            assert_eq!(delivered(bad), None, "{bad}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn headers_the_protocol_cannot_carry_are_errors_not_panics() {
        let map = nats_headers(headers(&[("ce-id", "e-1"), ("note", "fine: yes")])).unwrap();
        assert_eq!(map.get("ce-id").map(|v| v.as_str()), Some("e-1"));
        for (name, value, says) in [
            ("note", "two\nlines", "line break"),
            ("note", "a\rb", "line break"),
            ("bad:name", "v", "bad:name"),
            ("with space", "v", "with space"),
            ("", "v", "\"\""),
            ("é", "v", "é"),
        ] {
            let error = nats_headers(headers(&[(name, value)])).unwrap_err();
            assert!(error.contains(says), "{name:?}: {error}");
        }
    }
}
