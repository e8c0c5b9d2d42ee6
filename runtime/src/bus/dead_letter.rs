//! Dead letters: a handler's call that failed for good (after its last attempt) leaves a
//! [`DeadLetter`], kept in the system's bounded queue and announced on the topic
//! [`DEAD_LETTER_TOPIC`].
//!
//! A letter is made where the failure is counted (the walk's [`Tally`], the static tables'
//! failure path through the `Host`), so every handler failure of every kind of dispatch
//! makes exactly one. Everything here runs only on failure: a dispatch in which nothing
//! fails never reaches this module.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::ser::SerializeStruct;

use crate::dynamic::{DynamicEvent, EventRef, Payload, Topic, rfc3339};
use crate::linked::{
    BoxError, Call, CircuitOpen, EventDesc, HandlerError, HandlerPanic, HandlerRef, HandlerTimeout,
    Host, TableCore, registry,
};

use super::Bus;

/// The topic every dead letter is announced on. Subscribe to it like any topic; the payload
/// is the [`DeadLetter`] (`event.downcast_ref::<DeadLetter>()`, or its JSON).
///
/// Failures of the handlers of this topic make no dead letters (that would loop).
pub const DEAD_LETTER_TOPIC: &str = "staticbus.dead_letter";

/// How many dead letters a system keeps unless told otherwise
/// ([`dead_letter_capacity`](crate::EventSystemBuilder::dead_letter_capacity)).
pub const DEFAULT_DEAD_LETTER_CAPACITY: usize = 1024;

/// Why a handler's call became a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// It returned an error (on its last attempt).
    Failed,
    /// It panicked (on its last attempt).
    Panicked,
    /// It ran out of its timeout (on its last attempt).
    TimedOut,
    /// Its circuit breaker was open: the call was not made (only with
    /// [`CircuitBreaker::dead_letter_rejected`](crate::CircuitBreaker::dead_letter_rejected)).
    CircuitOpen,
}

impl DeadLetterReason {
    /// `"failed"`, `"panicked"`, `"timed_out"` or `"circuit_open"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Failed => "failed",
            DeadLetterReason::Panicked => "panicked",
            DeadLetterReason::TimedOut => "timed_out",
            DeadLetterReason::CircuitOpen => "circuit_open",
        }
    }

    fn of(error: &BoxError) -> DeadLetterReason {
        if error.is::<HandlerPanic>() {
            DeadLetterReason::Panicked
        } else if error.is::<HandlerTimeout>() {
            DeadLetterReason::TimedOut
        } else if error.is::<CircuitOpen>() {
            DeadLetterReason::CircuitOpen
        } else {
            DeadLetterReason::Failed
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One handler's call that failed for good: the event, who failed on it, how, and after
/// how many attempts.
///
/// The event is a copy: a dynamic event as it was published (its payload shared, not
/// copied), a static event as a [`DynamicEvent`] under its name whose payload is a clone of
/// the value (`letter.downcast_ref::<OrderPlaced>()`). A static event whose type is not
/// `Clone` cannot be copied: its letter has no [`event`](Self::event) and cannot be
/// redriven; derive `Clone` on event types whose failures you want to replay.
pub struct DeadLetter {
    seq: u64,
    topic: Box<str>,
    event: Option<DynamicEvent>,
    /// The table of a static event's type, for a redrive to a static handler or a view of
    /// the value as the static event it is.
    table: Option<&'static TableCore>,
    handler: HandlerRef,
    attempts: u32,
    error: String,
    first_error: Option<String>,
    reason: DeadLetterReason,
    time: SystemTime,
}

impl DeadLetter {
    /// Its number: 1 for a system's first dead letter, then increasing.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event's topic (a static event's name).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The event; `None` for a static event whose type is not `Clone`.
    pub fn event(&self) -> Option<&DynamicEvent> {
        self.event.as_ref()
    }

    /// The event's value, if it is a `T`: a static event, or a dynamic event's value payload.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.event.as_ref()?.downcast_ref()
    }

    /// Whether the event is a static event.
    pub fn is_static(&self) -> bool {
        self.table.is_some()
    }

    /// The handler that failed.
    pub fn handler(&self) -> &HandlerRef {
        &self.handler
    }

    /// Calls made: 1, plus its retries.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last attempt's error, as it displays.
    pub fn error(&self) -> &str {
        &self.error
    }

    /// The first attempt's error, when the call was retried.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }

    /// Why the last attempt failed.
    pub fn reason(&self) -> DeadLetterReason {
        self.reason
    }

    /// Whether the last attempt panicked.
    pub fn panicked(&self) -> bool {
        self.reason == DeadLetterReason::Panicked
    }

    /// When the failure was buried.
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// The event as its handler saw it: the static event's value, or the dynamic event.
    pub(crate) fn view(&self) -> Option<EventRef<'_>> {
        let event = self.event.as_ref()?;
        match (self.table, event.payload().as_value()) {
            (Some(table), Some(value)) => Some(EventRef::from_static(table.desc(), value.as_any())),
            _ => Some(EventRef::dynamic_ref(event)),
        }
    }

    /// The table of the static event, for a redrive.
    pub(crate) fn table(&self) -> Option<&'static TableCore> {
        self.table
    }
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("seq", &self.seq)
            .field("topic", &self.topic)
            .field("handler", &self.handler.name())
            .field("reason", &self.reason)
            .field("attempts", &self.attempts)
            .field("error", &self.error)
            .field("first_error", &self.first_error)
            .field("has_event", &self.event.is_some())
            .finish()
    }
}

/// A dead letter as JSON, for untyped subscribers of [`DEAD_LETTER_TOPIC`]: `seq`, `topic`,
/// `handler` (its name), `reason`, `attempts`, `error`, `first_error`, `time` (RFC 3339)
/// and `event` (its payload as JSON, `null` if it has none that encodes).
impl serde::Serialize for DeadLetter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.view().and_then(|view| view.json_value().ok());
        let mut s = serializer.serialize_struct("DeadLetter", 9)?;
        s.serialize_field("seq", &self.seq)?;
        s.serialize_field("topic", &*self.topic)?;
        s.serialize_field("handler", &*self.handler.name())?;
        s.serialize_field("reason", self.reason.as_str())?;
        s.serialize_field("attempts", &self.attempts)?;
        s.serialize_field("error", &self.error)?;
        s.serialize_field("first_error", &self.first_error)?;
        s.serialize_field("time", &rfc3339(self.time))?;
        s.serialize_field("event", &event)?;
        s.end()
    }
}

/// The dead-letter queue's counts, in [`MetricsSnapshot::dead_letters`](crate::MetricsSnapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterStats {
    /// Dead letters made since the system started (each also announced).
    pub buried: u64,
    /// Letters the queue holds now.
    pub held: usize,
    /// The most it holds ([`dead_letter_capacity`](crate::EventSystemBuilder::dead_letter_capacity)).
    pub capacity: usize,
    /// Letters pushed out of a full queue (the oldest go first).
    pub overflowed: u64,
    /// Letters taken out by a redrive (whatever the handler did with them then).
    pub redriven: u64,
    /// Letters removed by a purge.
    pub purged: u64,
}

/// A system's dead letters: the most recent `capacity`, oldest first.
pub(crate) struct DeadLetters {
    capacity: usize,
    held: parking_lot::Mutex<VecDeque<Arc<DeadLetter>>>,
    buried: AtomicU64,
    overflowed: AtomicU64,
    redriven: AtomicU64,
    purged: AtomicU64,
}

impl DeadLetters {
    pub(crate) fn new(capacity: usize) -> DeadLetters {
        DeadLetters {
            capacity,
            held: parking_lot::Mutex::new(VecDeque::new()),
            buried: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
            redriven: AtomicU64::new(0),
            purged: AtomicU64::new(0),
        }
    }

    /// Keeps `letter`, pushing the oldest out if the queue is full.
    fn keep(&self, letter: Arc<DeadLetter>) {
        let mut held = self.held.lock();
        held.push_back(letter);
        self.trim(held);
    }

    /// Pushes the oldest letters out of `held` while it holds more than the capacity,
    /// counting them.
    fn trim(&self, mut held: parking_lot::MutexGuard<'_, VecDeque<Arc<DeadLetter>>>) {
        let over = held.len().saturating_sub(self.capacity);
        held.drain(..over);
        drop(held);
        self.overflowed.fetch_add(over as u64, Ordering::Relaxed);
    }

    /// Every letter held, oldest first.
    pub(crate) fn list(&self) -> Vec<Arc<DeadLetter>> {
        self.held.lock().iter().cloned().collect()
    }

    /// Takes out the letters `filter` selects (oldest first); `redrive`: they are counted
    /// as redriven, else as purged.
    pub(crate) fn take(
        &self,
        mut filter: impl FnMut(&DeadLetter) -> bool,
        redrive: bool,
    ) -> Vec<Arc<DeadLetter>> {
        let mut held = self.held.lock();
        let mut taken = Vec::new();
        held.retain(|letter| {
            let selected = filter(letter);
            if selected {
                taken.push(Arc::clone(letter));
            }
            !selected
        });
        drop(held);
        let count = if redrive {
            &self.redriven
        } else {
            &self.purged
        };
        count.fetch_add(taken.len() as u64, Ordering::Relaxed);
        taken
    }

    /// Puts back a letter a redrive could not deliver, in its place by number (the oldest
    /// is pushed out if that overfills the queue); it counts as redriven no more.
    pub(crate) fn put_back(&self, letter: Arc<DeadLetter>) {
        self.redriven.fetch_sub(1, Ordering::Relaxed);
        let mut held = self.held.lock();
        let at = held.partition_point(|held| held.seq < letter.seq);
        held.insert(at, letter);
        self.trim(held);
    }

    pub(crate) fn stats(&self) -> DeadLetterStats {
        DeadLetterStats {
            buried: self.buried.load(Ordering::Relaxed),
            held: self.held.lock().len(),
            capacity: self.capacity,
            overflowed: self.overflowed.load(Ordering::Relaxed),
            redriven: self.redriven.load(Ordering::Relaxed),
            purged: self.purged.load(Ordering::Relaxed),
        }
    }
}

/// The table of static event `desc`'s type, from the registry.
fn table_of(desc: &EventDesc) -> Option<&'static TableCore> {
    let info = registry().event(desc.name())?;
    (info.desc().type_id() == desc.type_id()).then(|| info.table())
}

impl Bus {
    /// Buries a subscription's failure on `event` (`None`: moved into a buffer already);
    /// returns the event's topic, for the failure's report.
    #[cold]
    #[inline(never)]
    pub(super) fn bury_view(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: Option<EventRef<'_>>,
        error: &mut HandlerError,
    ) -> String {
        let Some(view) = event else {
            // The event is gone (moved into a buffer): nothing to bury, but the failure counts.
            self.handler_stats.fallen(error, false);
            self.unwind_unless_isolated(error);
            return String::new();
        };
        let topic = view.topic().to_owned();
        let (copy, table) = match (view.static_desc(), view.value_any(), view.dynamic()) {
            (Some(desc), Some(value), _) => (static_copy(desc, desc.copy(value)), table_of(desc)),
            (_, _, Some(dynamic)) => (Some(dynamic.clone()), None),
            _ => (None, None),
        };
        self.bury(host, call, &topic, copy, table, error);
        topic
    }

    /// Buries a static handler's failure on an event of `desc`'s type (`copy`: a copy of it,
    /// if the type is `Clone`).
    #[cold]
    #[inline(never)]
    pub(crate) fn bury_static(
        &self,
        host: &Host,
        call: &Call<'_>,
        desc: &EventDesc,
        copy: Option<Arc<dyn Any + Send + Sync>>,
        error: &mut HandlerError,
    ) {
        let table = table_of(desc);
        let copy = match table {
            Some(table) => static_copy(table.desc(), copy),
            None => None,
        };
        self.bury(host, call, desc.name(), copy, table, error);
    }

    /// Counts the failure for its handler, then makes the dead letter, keeps it and
    /// announces it. A failure of a handler of the dead-letter topic itself makes none (that
    /// would loop), nor does a rejection by an open circuit unless its policy says so.
    fn bury(
        &self,
        host: &Host,
        call: &Call<'_>,
        topic: &str,
        event: Option<DynamicEvent>,
        table: Option<&'static TableCore>,
        error: &mut HandlerError,
    ) {
        // A rejection says itself whether its policy makes a letter of it.
        let rejection = error.source.downcast_ref::<CircuitOpen>();
        let buried = topic != DEAD_LETTER_TOPIC && rejection.is_none_or(|open| open.dead_letter);
        error.dead_lettered = buried;
        self.handler_stats.fallen(error, buried);
        if !buried {
            self.unwind_unless_isolated(error);
            return;
        }
        let letters = &self.dead_letters;
        let letter = Arc::new(DeadLetter {
            seq: letters.buried.fetch_add(1, Ordering::Relaxed) + 1,
            topic: topic.into(),
            event,
            table,
            handler: error.handler.clone(),
            attempts: error.attempts,
            error: error.source.to_string(),
            first_error: error.first_error.as_ref().map(ToString::to_string),
            reason: DeadLetterReason::of(&error.source),
            time: SystemTime::now(),
        });
        letters.keep(Arc::clone(&letter));
        if let Some(persistence) = &self.persistence {
            super::persist::send(persistence, super::persist::durable_letter(&letter));
        }
        self.announce(host, call, DEAD_LETTER_TOPIC, || {
            Payload::shared_serializable(letter)
        });
        self.unwind_unless_isolated(error);
    }

    /// With panic isolation off (`isolate_panics(false)`), a failure that was a panic goes
    /// on unwinding, with its message, once it is counted and buried.
    fn unwind_unless_isolated(&self, error: &HandlerError) {
        if self.settings.isolate_panics {
            return;
        }
        if let Some(panic) = error.source.downcast_ref::<HandlerPanic>() {
            std::panic::resume_unwind(Box::new(panic.message().to_owned()));
        }
    }

    /// Every dead letter held, oldest first.
    pub(crate) fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }
}

/// A static event's copy as a dynamic event under its name (payload: the value, with its
/// JSON encoder).
fn static_copy(
    desc: &'static EventDesc,
    copy: Option<Arc<dyn Any + Send + Sync>>,
) -> Option<DynamicEvent> {
    let payload = Payload::from_parts(copy?, desc.type_name(), desc.json());
    Some(DynamicEvent::from_static(
        Topic::from_static_name(desc.name()),
        payload,
    ))
}
