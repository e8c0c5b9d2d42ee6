//! The bridge: its builder (what is exported, which groups are joined, the policies), the
//! running bridge (its counts, its shutdown).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use staticbus::{
    BoxFuture, DynamicEvent, Error, EventSystem, Flow, Pattern, Published, Retry, StaticEvent,
    Subscription,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::codec::{Codec, JsonCodec};
use crate::dedup::Handled;
use crate::inbound::Member;
use crate::transport::Transport;

/// A problem with the bridge's setup, found by [`BridgeBuilder::start`].
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A pattern that does not parse.
    #[error("`{pattern}` is not a topic pattern: {source}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        source: staticbus::PatternError,
    },
    /// An option out of its range.
    #[error("invalid bridge option `{option}`: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// The system refused a subscription (it is shut down).
    #[error("the system refused the export of `{pattern}`: {source}")]
    Subscribe {
        /// The exported pattern.
        pattern: String,
        /// The system's error.
        source: staticbus::Error,
    },
    /// Two groups of one bridge with the same name.
    #[error("group `{0}` is joined twice")]
    DuplicateGroup(String),
}

/// How a message of an imported static type is published locally: as that type, in the
/// flow it comes from ([`EventSystem::publish_as_in`]).
pub(crate) type ImportFn =
    for<'a> fn(&'a EventSystem, Flow<'a>, DynamicEvent) -> BoxFuture<'a, Result<Published, Error>>;

/// The imported static types, by name.
pub(crate) type Imports = HashMap<&'static str, ImportFn>;

/// [`ImportFn`] for `E`.
fn import<'a, E: StaticEvent + serde::de::DeserializeOwned>(
    system: &'a EventSystem,
    flow: Flow<'a>,
    event: DynamicEvent,
) -> BoxFuture<'a, Result<Published, Error>> {
    Box::pin(system.publish_as_in::<E>(flow, event))
}

/// Messages in flight at most, per export and per group member (each a call of the export,
/// or a loop of the member's task, holding its message): more is a mistake that would
/// exhaust memory.
const MAX_IN_FLIGHT: usize = 65_536;

/// How exported events are published.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportOptions {
    /// Messages published and not yet acknowledged, at most.
    pub(crate) max_unacked: usize,
    /// Events waiting for a publisher, at most (then the system's backpressure applies).
    pub(crate) queue: usize,
    /// How a failed publish is retried.
    pub(crate) retry: Retry,
}

/// A consumer group this bridge is a member of: the events of `pattern` published to the
/// broker by anyone, each handled by one member of the group.
#[derive(Debug, Clone)]
pub struct Group {
    pub(crate) name: String,
    pub(crate) pattern: String,
    pub(crate) max_in_flight: usize,
    pub(crate) ack_wait: Duration,
    pub(crate) max_deliver: u32,
    pub(crate) retry: Retry,
    pub(crate) dedup_capacity: usize,
    pub(crate) dedup_window: Duration,
    #[cfg(feature = "store")]
    pub(crate) dedup_store: Option<staticbus_store::Store>,
}

impl Group {
    /// Group `name` taking the events whose topics match `pattern`: 64 in flight at once,
    /// a 30 s `ack_wait`, at most 5 deliveries, redelivery delays of the retry formula from
    /// 100 ms doubling up to 10 s, a dedup window of 100,000 ids over 10 minutes.
    pub fn new(name: impl Into<String>, pattern: impl Into<String>) -> Self {
        Group {
            name: name.into(),
            pattern: pattern.into(),
            max_in_flight: 64,
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            retry: Retry::exponential(4, Duration::from_millis(100))
                .max_delay(Duration::from_secs(10)),
            dedup_capacity: 100_000,
            dedup_window: Duration::from_secs(600),
            #[cfg(feature = "store")]
            dedup_store: None,
        }
    }

    /// Messages handled at once, at most (at least 1, at most 65,536).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// How long the broker waits for a settlement before it delivers a message again
    /// (progress acknowledgements are sent every half of it while handlers run). More than
    /// zero, and at most what the broker counts in nanoseconds (about 292 years).
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// Deliveries of one message at most (at least 1): after the last, it is dead-lettered.
    pub fn max_deliver(mut self, n: u32) -> Self {
        self.max_deliver = n;
        self
    }

    /// The delays before redeliveries: full jitter under `retry`'s ceiling for the
    /// delivery that failed (its retry count is not used: `max_deliver` bounds them).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The dedup window: `capacity` ids at most, each for `window`.
    pub fn dedup(mut self, capacity: usize, window: Duration) -> Self {
        self.dedup_capacity = capacity;
        self.dedup_window = window;
        self
    }

    /// Also records the ids this group handled in `store` (feature `store`), so that they
    /// outlive the member: a member with the same store (another process on the same
    /// database file, or this one restarted) acknowledges them without handling them again.
    /// One event per handled id, on stream `bridge.dedup.<group>` (topic
    /// `staticbus.bridge.handled`, event id `<group>:<id>`), appended after the handlers
    /// succeeded and before the acknowledgement; the store's retention bounds how long they
    /// are kept. The memory window is asked first, the store only for an id it does not
    /// know. A store that cannot be read refuses the message for later (it is never
    /// handled unchecked); one that cannot be written is counted in
    /// [`BridgeStats::dedup_errors`] (the message is acknowledged: its handlers ran).
    #[cfg(feature = "store")]
    pub fn dedup_store(mut self, store: staticbus_store::Store) -> Self {
        self.dedup_store = Some(store);
        self
    }
}

/// What the bridge did, counted as it goes.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) exported: AtomicU64,
    pub(crate) export_duplicates: AtomicU64,
    pub(crate) export_errors: AtomicU64,
    pub(crate) not_exported: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) handled: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) nacked: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) not_for_group: AtomicU64,
    pub(crate) progress: AtomicU64,
    pub(crate) transport_errors: AtomicU64,
    pub(crate) dedup_errors: AtomicU64,
}

/// The bridge's counts ([`Bridge::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgeStats {
    /// Events published and acknowledged by the broker.
    pub exported: u64,
    /// Events the broker acknowledged as duplicates (stored once already).
    pub export_duplicates: u64,
    /// Publish attempts that failed (each retried, or dead-lettered by the system).
    pub export_errors: u64,
    /// Events of exported patterns not exported because they came from the broker.
    pub not_exported: u64,
    /// Messages received from the broker, redeliveries included.
    pub received: u64,
    /// Messages whose local handlers succeeded (then acknowledged).
    pub handled: u64,
    /// Messages acknowledged without handling: their event id was handled already.
    pub duplicates: u64,
    /// Messages refused for later (a handler failed; or shutting down).
    pub nacked: u64,
    /// Messages given up on: published to the dead-letter subject, then terminated.
    pub dead_lettered: u64,
    /// Messages that are not events (dead-lettered).
    pub malformed: u64,
    /// Messages of the group's subjects that its pattern does not take (acknowledged).
    pub not_for_group: u64,
    /// Progress acknowledgements sent for long handlings.
    pub progress: u64,
    /// Errors of the transport while consuming (each recovered from by subscribing again).
    pub transport_errors: u64,
    /// Reads or writes of the dedup store that failed ([`Group::dedup_store`]).
    pub dedup_errors: u64,
}

impl Counters {
    fn snapshot(&self) -> BridgeStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BridgeStats {
            exported: get(&self.exported),
            export_duplicates: get(&self.export_duplicates),
            export_errors: get(&self.export_errors),
            not_exported: get(&self.not_exported),
            received: get(&self.received),
            handled: get(&self.handled),
            duplicates: get(&self.duplicates),
            nacked: get(&self.nacked),
            dead_lettered: get(&self.dead_lettered),
            malformed: get(&self.malformed),
            not_for_group: get(&self.not_for_group),
            progress: get(&self.progress),
            transport_errors: get(&self.transport_errors),
            dedup_errors: get(&self.dedup_errors),
        }
    }
}

/// Sets up a [`Bridge`] between `system` and a transport.
pub struct BridgeBuilder<T: Transport> {
    system: EventSystem,
    transport: Arc<T>,
    codec: Arc<dyn Codec>,
    prefix: String,
    dead_letter_prefix: String,
    origin: String,
    exports: Vec<String>,
    imports: Imports,
    export: ExportOptions,
    groups: Vec<Group>,
    seed: Option<u64>,
}

impl<T: Transport> BridgeBuilder<T> {
    /// Subjects under `prefix` (`<prefix>.<event name>`; the transport's stream must hold
    /// them: `NatsConfig::prefix` is the same), default `events`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Dead letters under `<prefix>.<group>.<event name>`, default `deadletter` (outside
    /// the events' prefix, so no group consumes them).
    pub fn dead_letter_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.dead_letter_prefix = prefix.into();
        self
    }

    /// The value of the origin header on events this bridge delivers locally (default: a
    /// name of this process's, `bridge-<pid>-<n>`).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// The codec of the bodies (default [`JsonCodec`]).
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codec = Arc::new(codec);
        self
    }

    /// Exports the events whose topics match `pattern`: dynamic events, and static events
    /// published (`publish`; `emit` lends its event and exports nothing) under a matching
    /// name, encoded by the codec (a static type must be `Serialize`).
    pub fn export(mut self, pattern: impl Into<String>) -> Self {
        self.exports.push(pattern.into());
        self
    }

    /// Exports static event `E` (its `NAME`); `E` must be `Serialize`, so that the codec
    /// can encode it.
    pub fn export_static<E: StaticEvent + serde::Serialize>(self) -> Self {
        self.export(E::NAME)
    }

    /// Delivers the events of static type `E` that this bridge's groups take (by its
    /// `NAME`) as `E`: its static handlers (`#[handler]`, `#[on]`) get the value, read
    /// from the payload by the codec's JSON, as if it had been published here
    /// ([`EventSystem::publish_as`]); dynamic subscribers still get the event, with its id
    /// and headers. Without it, an event is delivered as a dynamic event only, which a
    /// static type's handlers do not see. A payload that does not read as an `E` is a
    /// permanent failure: dead-lettered with the reason, never handled.
    pub fn import_static<E: StaticEvent + serde::de::DeserializeOwned>(mut self) -> Self {
        self.imports.insert(E::NAME, import::<E>);
        self
    }

    /// Messages published and not yet acknowledged, at most (default 256, at least 1, at
    /// most 65,536);
    /// and events waiting for a publisher, at most (default 4,096).
    pub fn max_unacked(mut self, n: usize, queue: usize) -> Self {
        self.export.max_unacked = n;
        self.export.queue = queue;
        self
    }

    /// How a failed publish is retried before the system dead-letters the event (default
    /// 5 retries, from 100 ms doubling up to 5 s).
    pub fn export_retry(mut self, retry: Retry) -> Self {
        self.export.retry = retry;
        self
    }

    /// Joins consumer group `group`.
    pub fn group(mut self, group: Group) -> Self {
        self.groups.push(group);
        self
    }

    /// Seeds the redelivery delays' jitter (tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the setup, subscribes the exports, creates the groups' consumers and starts
    /// consuming. Call it inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`BridgeError`]: a bad pattern or option, a group joined twice, a system shut down;
    /// a transport's failure to create a consumer is logged by the group's task, which
    /// then stops.
    pub async fn start(self) -> Result<Bridge, BridgeError> {
        let invalid = |option, reason: &str| BridgeError::InvalidOption {
            option,
            reason: reason.to_owned(),
        };
        if self.export.max_unacked == 0 {
            return Err(invalid(
                "max_unacked",
                "at least 1 message must be allowed in flight",
            ));
        }
        if self.export.max_unacked > MAX_IN_FLIGHT {
            return Err(BridgeError::InvalidOption {
                option: "max_unacked",
                reason: format!(
                    "{} messages in flight is more than {MAX_IN_FLIGHT} (each is a publish \
                     awaiting its acknowledgement, holding its message)",
                    self.export.max_unacked
                ),
            });
        }
        if self.export.queue == 0 {
            return Err(invalid(
                "max_unacked",
                "the queue must hold at least 1 event",
            ));
        }
        for (option, value) in [
            ("prefix", &self.prefix),
            ("dead_letter_prefix", &self.dead_letter_prefix),
        ] {
            if value.is_empty()
                || value.contains([' ', '*', '>'])
                || value.starts_with('.')
                || value.ends_with('.')
            {
                return Err(BridgeError::InvalidOption {
                    option,
                    reason: format!(
                        "`{value}` is not a subject prefix (dot-separated tokens, no spaces or wildcards)"
                    ),
                });
            }
        }
        if self.prefix == self.dead_letter_prefix {
            return Err(invalid(
                "dead_letter_prefix",
                "must differ from the events' prefix, or groups would consume dead letters",
            ));
        }
        let parse = |pattern: &str| {
            Pattern::parse(pattern).map_err(|source| BridgeError::Pattern {
                pattern: pattern.to_owned(),
                source,
            })
        };
        let mut names = std::collections::BTreeSet::new();
        let mut members = Vec::new();
        let counters = Arc::new(Counters::default());
        let prefix: Arc<str> = Arc::from(self.prefix.as_str());
        let imports = Arc::new(self.imports.clone());
        for group in &self.groups {
            if !names.insert(group.name.clone()) {
                return Err(BridgeError::DuplicateGroup(group.name.clone()));
            }
            if group.max_in_flight == 0 || group.max_deliver == 0 {
                return Err(invalid(
                    "Group",
                    "max_in_flight and max_deliver must be at least 1",
                ));
            }
            if group.max_in_flight > MAX_IN_FLIGHT {
                return Err(BridgeError::InvalidOption {
                    option: "Group::max_in_flight",
                    reason: format!(
                        "{} messages handled at once is more than {MAX_IN_FLIGHT}",
                        group.max_in_flight
                    ),
                });
            }
            // The broker takes it in nanoseconds, as a 64-bit signed integer.
            if group.ack_wait.is_zero() || group.ack_wait.as_nanos() > i64::MAX as u128 {
                return Err(BridgeError::InvalidOption {
                    option: "Group::ack_wait",
                    reason: format!(
                        "{:?} is not a wait the broker can keep: more than zero, at most \
                         about 292 years",
                        group.ack_wait
                    ),
                });
            }
            if group.name.is_empty() || group.name.contains(['.', ' ', '*', '>']) {
                return Err(BridgeError::InvalidOption {
                    option: "Group::new",
                    reason: format!(
                        "group name `{}` must be a single token (no dots, spaces or wildcards)",
                        group.name
                    ),
                });
            }
            let pattern = parse(&group.pattern)?;
            let seed = self
                .seed
                .map_or_else(|| fastrand::u64(..), |s| s ^ members.len() as u64);
            members.push(Arc::new(Member {
                system: self.system.clone(),
                transport: Arc::clone(&self.transport),
                codec: Arc::clone(&self.codec),
                prefix: Arc::clone(&prefix),
                dead_letter_prefix: Arc::from(self.dead_letter_prefix.as_str()),
                origin: Arc::from(self.origin.as_str()),
                group: group.clone(),
                pattern,
                last_match: parking_lot::Mutex::new(None),
                imports: Arc::clone(&imports),
                handled: Handled::of(group),
                counters: Arc::clone(&counters),
                rng: parking_lot::Mutex::new(fastrand::Rng::with_seed(seed)),
            }));
        }
        for name in self.imports.keys() {
            if !members.iter().any(|member| member.pattern.matches(name)) {
                return Err(BridgeError::InvalidOption {
                    option: "import_static",
                    reason: format!(
                        "no group of this bridge takes `{name}`: join a group whose pattern matches it"
                    ),
                });
            }
        }
        let mut exports = Vec::new();
        for pattern in &self.exports {
            parse(pattern)?;
            let subscription = crate::outbound::export(
                &self.system,
                pattern,
                Arc::clone(&self.transport),
                Arc::clone(&self.codec),
                Arc::clone(&prefix),
                &self.export,
                Arc::clone(&counters),
            )
            .map_err(|source| BridgeError::Subscribe {
                pattern: pattern.clone(),
                source,
            })?;
            exports.push(subscription);
        }
        let (stop, stopped) = watch::channel(false);
        let tasks = members
            .into_iter()
            .map(|member| tokio::spawn(member.run(stopped.clone())))
            .collect();
        Ok(Bridge {
            counters,
            exports,
            stop,
            tasks,
        })
    }
}

/// A running bridge: exports what it was told to, consumes its groups' messages.
pub struct Bridge {
    counters: Arc<Counters>,
    exports: Vec<Subscription>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("stats", &self.stats())
            .field("exports", &self.exports.len())
            .field("groups", &self.tasks.len())
            .finish()
    }
}

impl Bridge {
    /// A bridge between `system` and `transport`: set it up, then
    /// [`start`](BridgeBuilder::start) it.
    pub fn builder<T: Transport>(system: &EventSystem, transport: T) -> BridgeBuilder<T> {
        static BRIDGES: AtomicU64 = AtomicU64::new(0);
        let n = BRIDGES.fetch_add(1, Ordering::Relaxed);
        BridgeBuilder {
            system: system.clone(),
            transport: Arc::new(transport),
            codec: Arc::new(JsonCodec),
            prefix: "events".to_owned(),
            dead_letter_prefix: "deadletter".to_owned(),
            origin: format!("bridge-{}-{n}", std::process::id()),
            exports: Vec::new(),
            imports: Imports::new(),
            export: ExportOptions {
                max_unacked: 256,
                queue: 4096,
                retry: Retry::exponential(5, Duration::from_millis(100))
                    .max_delay(Duration::from_secs(5)),
            },
            groups: Vec::new(),
            seed: None,
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> BridgeStats {
        self.counters.snapshot()
    }

    /// Stops taking messages, waits until every message taken is settled, and stops
    /// exporting (events already queued for export are published by the system's
    /// shutdown, which drains detached queues).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        drop(self.exports);
    }
}
