//! How a store writes: its durability mode, its group commit, its limits.

use std::time::Duration;

use crate::error::StoreError;
use crate::upcast::Upcasters;

/// When an acknowledged append is safe, and against what.
///
/// Every mode acknowledges an append only after the transaction holding it committed, so an
/// acknowledged event survives the **process** crashing in all three; they differ on a crash
/// of the **machine** (power loss, kernel panic) and in what they cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Each append is its own transaction, synced to disk (`synchronous = FULL`) before it is
    /// acknowledged: survives power loss; one disk sync per append (the slowest).
    PerEvent,
    /// Appends queued together are committed in one transaction (group commit: up to
    /// `batch_events` events, after `batch_delay`), synced to disk before any of them is
    /// acknowledged: survives power loss; one disk sync per batch. The default.
    #[default]
    PerBatch,
    /// Group commit as `PerBatch`, with `synchronous = NORMAL` in WAL mode: a commit is
    /// written to the write-ahead log but not synced; the log is synced when SQLite
    /// checkpoints it. Survives the process crashing (the operating system has the data),
    /// may lose the last batches on power loss; never corrupts the store.
    Interval,
}

/// The options of [`Store::open_with`](crate::Store::open_with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    pub(crate) durability: Durability,
    pub(crate) batch_events: usize,
    pub(crate) batch_delay: Duration,
    pub(crate) max_event_bytes: usize,
    pub(crate) busy_timeout: Duration,
    pub(crate) queue: usize,
    pub(crate) upcasters: Upcasters,
    pub(crate) retention: Option<crate::retention::Retention>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::PerBatch,
            batch_events: 512,
            batch_delay: Duration::ZERO,
            max_event_bytes: 16 * 1024 * 1024,
            busy_timeout: Duration::from_secs(5),
            queue: 4096,
            upcasters: Upcasters::new(),
            retention: None,
        }
    }
}

impl StoreOptions {
    /// The defaults: `PerBatch`, batches of at most 512 events of what is queued (no extra
    /// wait), events of at most 16 MiB, a 5 s busy timeout, 4096 appends queued.
    pub fn new() -> Self {
        StoreOptions::default()
    }

    /// The durability mode (default [`Durability::PerBatch`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// A batch is committed once it holds this many events (default 512; at least 1).
    pub fn batch_events(mut self, events: usize) -> Self {
        self.batch_events = events;
        self
    }

    /// How long the writer waits for more appends after the first one of a batch. Default
    /// zero: it commits what is queued at once, and what arrives while it commits (a disk
    /// sync) makes the next batch, so batches grow with the load by themselves and a lone
    /// append waits for nothing. A delay trades latency for fewer syncs when appenders are
    /// many and each waits for its answer before the next. Any duration is valid.
    pub fn batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = delay;
        self
    }

    /// The largest payload plus metadata one event may carry (default 16 MiB; at least 1).
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// How long a statement waits for another process's lock before failing with
    /// [`Locked`](StoreError::Locked) (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many appends may wait for the writer (default 4096; at least 1): an append beyond
    /// waits for room.
    pub fn queue(mut self, appends: usize) -> Self {
        self.queue = appends;
        self
    }

    /// The upcasters a load applies to older event payloads, and
    /// [`Store::upcast`](crate::Store::upcast) to any event read (default: none).
    pub fn upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Removes old events by age, count or size ([`Retention`](crate::Retention)), applied
    /// by the writer after commits at most every `Retention::every`, and on
    /// [`Store::apply_retention`](crate::Store::apply_retention). Default: none.
    pub fn retention(mut self, retention: crate::retention::Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let invalid = |option, reason: &str| {
            Err(StoreError::InvalidOption {
                option,
                reason: reason.to_owned(),
            })
        };
        if self.batch_events == 0 {
            return invalid("batch_events", "must be at least 1");
        }
        if self.max_event_bytes == 0 {
            return invalid("max_event_bytes", "must be at least 1");
        }
        if self.queue == 0 {
            return invalid("queue", "must be at least 1");
        }
        self.upcasters.check()
    }
}
