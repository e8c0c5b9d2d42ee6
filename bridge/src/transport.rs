//! What the bridge asks of a broker: publish a message and learn when it is stored; give a
//! consumer group's messages, each acknowledged, refused for later, or given up on. The
//! bridge (outbound, inbound, dedup, retries) is written against this trait only, so another
//! broker (Kafka, Redis Streams) is another implementation, and the bus is not touched.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;

/// A message's headers: name to value.
pub type Headers = BTreeMap<String, String>;

/// A message for the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where it goes (`<prefix>.<event name>`).
    pub subject: String,
    /// The id the broker deduplicates by (the event id).
    pub id: String,
    /// Its headers (CloudEvents attributes, trace context, origin).
    pub headers: Headers,
    /// Its body.
    pub payload: Bytes,
}

/// The broker stored a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its sequence in the broker's stream.
    pub sequence: u64,
    /// The broker had it already (same id within its duplicate window): stored once.
    pub duplicate: bool,
}

/// A consumer group: one durable consumer on the broker, its messages shared among the
/// members (each handled by one of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The group's name (the durable consumer's).
    pub name: String,
    /// The subjects it takes (the broker's wildcard syntax).
    pub filter: String,
    /// How long the broker waits for an acknowledgement before it delivers the message
    /// again (progress acknowledgements push it back).
    pub ack_wait: Duration,
    /// Deliveries of one message at most; after the last one it is not delivered again.
    pub max_deliver: u32,
}

/// An error of the broker or of the connection to it.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {reason}")]
pub struct TransportError {
    /// What was being done ("publish to `events.order.placed`", "create consumer `billing`").
    pub operation: String,
    /// What went wrong, as the broker's client says it.
    pub reason: String,
    /// Whether trying again cannot help (the message itself is refused, e.g. a header the
    /// broker cannot carry): the export dead-letters it without retrying.
    pub permanent: bool,
}

impl TransportError {
    /// An error of `operation`, which a retry may overcome.
    pub fn new(operation: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        TransportError {
            operation: operation.into(),
            reason: reason.to_string(),
            permanent: false,
        }
    }

    /// An error of `operation` that no retry overcomes (the message is refused).
    pub fn permanent(operation: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        TransportError {
            permanent: true,
            ..TransportError::new(operation, reason)
        }
    }
}

/// A broker the bridge publishes to and consumes from.
pub trait Transport: Send + Sync + 'static {
    /// A message delivered to a group member.
    type Delivery: Delivery;

    /// Publishes `message`; resolves once the broker stored it (its acknowledgement), or
    /// with the error. Calls may overlap: the bridge bounds how many wait at once. Dead
    /// letters go this way too, under the dead-letter subject.
    fn publish(
        &self,
        message: Outgoing,
    ) -> impl Future<Output = Result<Stored, TransportError>> + Send;

    /// The messages of `group`, for as long as the stream is polled: the transport creates
    /// the group's consumer if it does not exist, and recreates its subscription when it
    /// is lost (a restarted server, stopped heartbeats). An `Err` item is reported, and the
    /// stream goes on.
    fn consume(
        &self,
        group: GroupSpec,
    ) -> impl Future<
        Output = Result<BoxStream<'static, Result<Self::Delivery, TransportError>>, TransportError>,
    > + Send;
}

/// One delivery of a message to a group member: settled once, by `ack`, `nak` or `term`
/// (a delivery dropped unsettled is delivered again after the group's `ack_wait`).
pub trait Delivery: Send + Sync + 'static {
    /// Its subject.
    fn subject(&self) -> &str;
    /// Its headers, name and value (the first value of a header given several times).
    fn headers(&self) -> Vec<(&str, &str)>;
    /// Its body.
    fn payload(&self) -> &Bytes;
    /// Which delivery of the message this is: 1 the first time.
    fn attempt(&self) -> u32;
    /// Done: the message is not delivered again.
    fn ack(self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Not done: deliver it again after `delay`.
    fn nak(self, delay: Duration) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Never done: do not deliver it again.
    fn term(self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Still working on it: the broker waits another `ack_wait`.
    fn progress(&self) -> impl Future<Output = Result<(), TransportError>> + Send;
}
