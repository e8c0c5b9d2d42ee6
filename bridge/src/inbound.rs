//! Inbound: a consumer group's messages delivered to the local system. Each message is
//! decoded, checked against the dedup window, published locally with the origin header
//! (`publish_dynamic`, or `publish_as::<E>` for a static type the bridge imports, so that
//! `E`'s static handlers get it as an `E`; either returns once every local handler
//! finished, their own retries included), and then settled: acknowledged when the handlers
//! succeeded; refused for later (`nak`, with a delay drawn by the retry formula: full
//! jitter under the backoff's ceiling for this delivery) when one failed; given up on when the error is permanent or the
//! delivery was the last one (`term`, after the message was published to the dead-letter
//! subject). A long handling sends progress acknowledgements, so the broker waits.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use staticbus::{Error, EventSystem, Pattern, Permanent, Retry, Topic};
use tokio::sync::watch;

use crate::bridge::{Counters, Group, Imports};
use crate::codec::{CAUSATION, CORRELATION, Codec, ID, ORIGIN};
use crate::dedup::Handled;
use crate::transport::{Delivery, GroupSpec, Outgoing, Transport};

/// The header of a dead letter saying why it was given up on.
pub const DEAD_LETTER_REASON: &str = "staticbus-dead-letter-reason";
/// The header of a dead letter naming the group that gave up on it.
pub const DEAD_LETTER_GROUP: &str = "staticbus-dead-letter-group";
/// The header of a dead letter giving the subject it came on.
pub const DEAD_LETTER_SUBJECT: &str = "staticbus-dead-letter-subject";

/// What becomes of a message.
enum Verdict {
    /// Handled (or nothing to handle): acknowledged.
    Ack,
    /// Refused for later, delivered again after the delay.
    Nak(Duration),
    /// Dead-lettered (why), then terminated.
    GiveUp(String),
}

/// What a group member's loop needs.
pub(crate) struct Member<T: Transport> {
    pub(crate) system: EventSystem,
    pub(crate) transport: Arc<T>,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) prefix: Arc<str>,
    pub(crate) dead_letter_prefix: Arc<str>,
    pub(crate) origin: Arc<str>,
    pub(crate) group: Group,
    pub(crate) pattern: Pattern,
    /// The last topic the pattern was asked about, and its answer: a group's messages
    /// mostly share a few topics, and a glob's match is a regex search.
    pub(crate) last_match: parking_lot::Mutex<Option<(Topic, bool)>>,
    /// The static types delivered as themselves.
    pub(crate) imports: Arc<Imports>,
    pub(crate) handled: Handled,
    pub(crate) counters: Arc<Counters>,
    pub(crate) rng: parking_lot::Mutex<fastrand::Rng>,
}

impl<T: Transport> Member<T> {
    /// Whether the group's pattern matches `topic` (the last answer kept).
    fn for_group(&self, topic: &Topic) -> bool {
        let mut last = self.last_match.lock();
        match &*last {
            Some((seen, matched)) if seen == topic => *matched,
            _ => {
                let matched = self.pattern.matches_topic(topic);
                *last = Some((topic.clone(), matched));
                matched
            }
        }
    }

    /// The group as the transport creates it: the pattern as a subject filter where the
    /// broker's wildcards say the same (`*` a segment, a trailing `**` the rest), else every
    /// subject of the prefix, filtered here.
    pub(crate) fn spec(&self) -> GroupSpec {
        GroupSpec {
            name: self.group.name.clone(),
            filter: filter_subject(&self.prefix, &self.pattern),
            ack_wait: self.group.ack_wait,
            // One more than the group's: a message whose last delivery was never settled (its
            // member died) comes once more, to be dead-lettered rather than dropped.
            max_deliver: self.group.max_deliver.saturating_add(1),
        }
    }

    /// Takes the group's messages until `stop` turns true, at most `max_in_flight` handled
    /// at once; returns when every message taken is settled.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let messages = match self.transport.consume(self.spec()).await {
            Ok(messages) => messages,
            Err(error) => {
                tracing::error!(group = %self.group.name, %error, "staticbus-bridge: cannot consume");
                return;
            }
        };
        // One task, `max_in_flight` loops polled together, each taking the next message
        // and handling it: no task, and no future allocated, per message. After the stop,
        // the stream ends and each loop finishes the message it took.
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let messages = tokio::sync::Mutex::new(Box::pin(messages.take_until(stopped)));
        let taker = || async {
            loop {
                let next = messages.lock().await.next().await;
                match next {
                    Some(Ok(delivery)) => self.handle(delivery).await,
                    Some(Err(error)) => {
                        self.counters
                            .transport_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(group = %self.group.name, %error, "staticbus-bridge: consuming");
                    }
                    None => break,
                }
            }
        };
        futures_util::future::join_all((0..self.group.max_in_flight).map(|_| taker())).await;
    }

    /// Decides what becomes of one message, then settles it. (The decision borrows the
    /// delivery and the settlement takes it: one await point holds it, so the future
    /// polled per message stays small; the rare paths are boxed.)
    async fn handle(&self, delivery: T::Delivery) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        let verdict = self.decide(&delivery).await;
        // A failure to settle names the message (the transport's error says which).
        let group = &*self.group.name;
        match verdict {
            Verdict::Ack => settle(delivery.ack().await, group),
            Verdict::Nak(delay) => {
                self.counters.nacked.fetch_add(1, Ordering::Relaxed);
                settle(Box::pin(delivery.nak(delay)).await, group);
            }
            Verdict::GiveUp(why) => Box::pin(self.give_up(delivery, &why)).await,
        }
    }

    async fn decide(&self, delivery: &T::Delivery) -> Verdict {
        let counters = &self.counters;
        let subject = delivery.subject();
        let topic = self.topic(subject).unwrap_or(subject);
        // It came in from the broker: never exported back.
        let mut headers = delivery.headers();
        // Where it sits in its flow: its handlers continue it.
        let mut flow = staticbus::Flow::default();
        let (mut id_header, mut has_origin) = (None, false);
        for &(name, value) in &headers {
            match name {
                CAUSATION => flow.causation = Some(value),
                CORRELATION => flow.correlation = Some(value),
                ID => id_header = Some(value),
                ORIGIN => has_origin = true,
                _ => {}
            }
        }
        if !has_origin {
            headers.push((ORIGIN, &self.origin));
        }
        let event = self.codec.decode(topic, &headers, delivery.payload());
        drop(headers);
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                counters.malformed.fetch_add(1, Ordering::Relaxed);
                return Verdict::GiveUp(error.to_string());
            }
        };
        if !self.for_group(event.topic()) {
            counters.not_for_group.fetch_add(1, Ordering::Relaxed);
            return Verdict::Ack;
        }
        if delivery.attempt() > self.group.max_deliver {
            return Verdict::GiveUp(format!(
                "{} deliveries without a settlement (its members stopped while handling it)",
                delivery.attempt() - 1
            ));
        }
        // The id, borrowed from the message where the codec took it from its header.
        let id: std::borrow::Cow<'_, str> = match id_header {
            Some(id) if id == event.id() => id.into(),
            _ => event.id().to_owned().into(),
        };
        match self.handled.contains(&id).await {
            Ok(true) => {
                counters.duplicates.fetch_add(1, Ordering::Relaxed);
                return Verdict::Ack;
            }
            Ok(false) => {}
            Err(error) => {
                // Not handled unchecked: it comes again (and, after `max_deliver`, goes to
                // the dead letters).
                tracing::warn!(%subject, %error, "staticbus-bridge: the dedup store cannot be read");
                counters.dedup_errors.fetch_add(1, Ordering::Relaxed);
                return Verdict::Nak(self.delay(delivery.attempt()));
            }
        }
        let result = {
            let publish = match self.imports.get(event.topic().as_str()) {
                Some(import) => {
                    futures_util::future::Either::Left(import(&self.system, flow, event))
                }
                None => {
                    futures_util::future::Either::Right(self.system.publish_dynamic_in(flow, event))
                }
            };
            tokio::pin!(publish);
            // The timer is armed only when the publish is still pending after a first poll.
            let every = (self.group.ack_wait / 2).max(Duration::from_millis(10));
            loop {
                match tokio::time::timeout(every, &mut publish).await {
                    Ok(result) => break result,
                    Err(_) => {
                        counters.progress.fetch_add(1, Ordering::Relaxed);
                        settle(Box::pin(delivery.progress()).await, subject);
                    }
                }
            }
        };
        match result {
            Ok(_) => {
                if let Err(error) = self.handled.insert(&id, subject).await {
                    tracing::warn!(%subject, %error, "staticbus-bridge: the dedup store cannot be written");
                    counters.dedup_errors.fetch_add(1, Ordering::Relaxed);
                }
                counters.handled.fetch_add(1, Ordering::Relaxed);
                Verdict::Ack
            }
            // This member is going away: another one takes it.
            Err(Error::Shutdown) => Verdict::Nak(Duration::ZERO),
            Err(error) => {
                let permanent = match &error {
                    Error::Handlers(failures) => failures
                        .errors
                        .iter()
                        .any(|failure| failure.source.is::<Permanent>()),
                    _ => true,
                };
                if permanent {
                    Verdict::GiveUp(format!("permanent: {error}"))
                } else if delivery.attempt() >= self.group.max_deliver {
                    Verdict::GiveUp(format!("after {} deliveries: {error}", delivery.attempt()))
                } else {
                    Verdict::Nak(self.delay(delivery.attempt()))
                }
            }
        }
    }

    /// Publishes the message to the dead-letter subject, then terminates it (if the dead
    /// letter cannot be stored, the message is refused for later instead: never lost).
    async fn give_up(&self, delivery: T::Delivery, why: &str) {
        let subject = delivery.subject().to_owned();
        let mut headers: crate::transport::Headers = delivery
            .headers()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        headers.insert(
            DEAD_LETTER_REASON.to_owned(),
            why.replace(['\r', '\n'], " "),
        );
        headers.insert(DEAD_LETTER_GROUP.to_owned(), self.group.name.clone());
        headers.insert(DEAD_LETTER_SUBJECT.to_owned(), subject.clone());
        let topic = self.topic(&subject).unwrap_or("unknown");
        let id = headers
            .get(crate::codec::ID)
            .cloned()
            .unwrap_or_else(|| format!("{subject}-{}", delivery.attempt()));
        let letter = Outgoing {
            subject: format!("{}.{}.{topic}", self.dead_letter_prefix, self.group.name),
            id: format!("{}:{id}", self.group.name),
            headers,
            payload: delivery.payload().clone(),
        };
        match self.transport.publish(letter).await {
            Ok(_) => {
                self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                settle(delivery.term().await, &subject);
            }
            Err(error) => {
                tracing::warn!(%error, "staticbus-bridge: a dead letter could not be published");
                self.counters.nacked.fetch_add(1, Ordering::Relaxed);
                let delay = self.delay(delivery.attempt());
                settle(delivery.nak(delay).await, &subject);
            }
        }
    }

    /// The event name a subject of the bridge's prefix carries (`events.order.placed`:
    /// `order.placed`).
    fn topic<'s>(&self, subject: &'s str) -> Option<&'s str> {
        subject
            .strip_prefix(&*self.prefix)
            .and_then(|s| s.strip_prefix('.'))
    }

    /// The delay before delivery `attempt + 1`: full jitter under the ceiling of retry
    /// `attempt` (the local retry formula).
    fn delay(&self, attempt: u32) -> Duration {
        jitter(&self.group.retry, attempt, &mut self.rng.lock())
    }
}

/// A delay drawn uniformly from zero to the ceiling of retry `k` of `retry`.
pub(crate) fn jitter(retry: &Retry, k: u32, rng: &mut fastrand::Rng) -> Duration {
    let ceiling = retry.ceiling(k.max(1)).min(Duration::from_secs(3600));
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.u64(0..=nanos))
}

/// The broker subject filter for `pattern` under `prefix`.
pub(crate) fn filter_subject(prefix: &str, pattern: &Pattern) -> String {
    let all = format!("{prefix}.>");
    if pattern.kind() == staticbus::PatternKind::Regex {
        return all;
    }
    let source = pattern.as_str();
    let segments: Vec<&str> = source.split('.').collect();
    let mut subject = Vec::with_capacity(segments.len());
    for (n, segment) in segments.iter().enumerate() {
        let last = n + 1 == segments.len();
        match *segment {
            "*" => subject.push("*"),
            "**" if last => subject.push(">"),
            s if !s.is_empty() && !s.contains(['*', '?', '[', ']', '{', '}', '>']) => {
                subject.push(s);
            }
            _ => return all,
        }
    }
    format!("{prefix}.{}", subject.join("."))
}

/// Logs a settlement that failed (`context`: the group, or the message's subject).
fn settle(result: Result<(), crate::transport::TransportError>, context: &str) {
    if let Err(error) = result {
        // The broker delivers it again after `ack_wait`; dedup keeps a handled one once.
        tracing::warn!(%context, %error, "staticbus-bridge: settling a message failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_subject_filters_where_the_wildcards_agree() {
        let f = |p: &str| filter_subject("events", &Pattern::parse(p).unwrap());
        assert_eq!(f("order.placed"), "events.order.placed");
        assert_eq!(f("order.*"), "events.order.*");
        assert_eq!(f("order.**"), "events.order.>");
        assert_eq!(f("order.**.v2"), "events.>");
        assert_eq!(f("or?er.*"), "events.>");
        assert_eq!(f("^order\\..*$"), "events.>");
    }

    #[test]
    fn redelivery_delays_stay_under_the_ceiling_and_follow_the_seed() {
        let retry =
            Retry::exponential(5, Duration::from_millis(100)).max_delay(Duration::from_secs(1));
        let mut a = fastrand::Rng::with_seed(7);
        let mut b = fastrand::Rng::with_seed(7);
        for k in 1..=6 {
            let d = jitter(&retry, k, &mut a);
            assert!(d <= retry.ceiling(k), "{d:?}");
            assert_eq!(d, jitter(&retry, k, &mut b));
        }
    }
}
