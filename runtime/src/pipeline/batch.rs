//! [`BatchProcessor`]: items pushed into a bounded queue, collected by a background task,
//! handed to a sink in batches (on size, on interval, at shutdown), split at a maximum size.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::linked::BoxError;

use super::error::BatchError;
use crate::linked::invoke::caught;

/// How many items a flush waits for, unless set.
const DEFAULT_BATCH_SIZE: usize = 100;
/// How long the oldest pending item waits at most, unless set.
const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How many pushed items may wait for the collector, unless set.
const DEFAULT_CAPACITY: usize = 1024;

/// What the sink is, once boxed: one call per batch.
type Sink<T> = Box<dyn Fn(Vec<T>) -> SinkFuture<T> + Send + Sync>;
type SinkFuture<T> = Pin<Box<dyn Future<Output = Result<(), SinkError<T>>> + Send>>;
/// An item's weight, for `max_batch_size`.
type Weigh<T> = Box<dyn Fn(&T) -> usize + Send + Sync>;

/// Collects items and hands them to a sink in batches: when `batch_size` items are pending,
/// when the oldest pending one has waited `flush_interval`, and at
/// [`shutdown`](Self::shutdown), which flushes everything pushed before it. Each flush is
/// split into consecutive batches of at most `max_batch_size`, if set. Batches reach the
/// sink one at a time, in the order the items were pushed.
///
/// No item it accepted is lost silently: each is in a batch the sink took, or in a
/// [`FailedBatch`] (what the sink handed back with its error, or the count of what it
/// did not, if it kept or dropped the items, or panicked), counted in the [`BatchReport`].
///
/// Memory is bounded: [`push`](Self::push) waits while `capacity` items wait for the
/// collector (which takes none while the sink runs), so at most `capacity + batch_size` items
/// are held at once, besides the failed batches kept for the report
/// ([`take_failures`](Self::take_failures) drains them).
///
/// A background task on the Tokio runtime `build` is called on does the collecting. Dropped
/// without `shutdown`, the processor's task still flushes what was pushed, then ends (nobody
/// sees the report; sink failures are logged at `warn` either way).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use staticbus::BatchProcessor;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let written = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&written);
/// let processor = BatchProcessor::builder()
///     .batch_size(3)
///     .flush_interval(Duration::from_millis(200))
///     .build(move |batch: Vec<u32>| {
///         let sink = Arc::clone(&sink);
///         async move {
///             sink.lock().unwrap().push(batch);
///             Ok(())
///         }
///     })?;
/// for n in 1..=7 {
///     processor.push(n).await?;
/// }
/// let report = processor.shutdown().await; // flushes the 7th
/// assert_eq!(*written.lock().unwrap(), [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
/// assert_eq!((report.flushed_batches, report.flushed_items, report.lost), (3, 7, 0));
/// # Ok(()) }
/// ```
pub struct BatchProcessor<T> {
    queue: mpsc::Sender<(T, usize)>,
    collector: JoinHandle<()>,
    shared: Arc<Shared<T>>,
    weigh: Option<Weigh<T>>,
}

impl<T> fmt::Debug for BatchProcessor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchProcessor")
            .field("accepted", &self.shared.accepted.load(Ordering::Relaxed))
            .field(
                "flushed_items",
                &self.shared.flushed_items.load(Ordering::Relaxed),
            )
            .field(
                "failed_items",
                &self.shared.failed_items.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

/// What the processor and its collector share: the counts, and the failed batches.
struct Shared<T> {
    accepted: AtomicU64,
    flushed_batches: AtomicU64,
    flushed_items: AtomicU64,
    failed_batches: AtomicU64,
    failed_items: AtomicU64,
    failures: parking_lot::Mutex<Vec<FailedBatch<T>>>,
}

/// Configures a [`BatchProcessor`]; [`build`](Self::build) checks it and starts the
/// collector.
pub struct BatchBuilder<T> {
    batch_size: usize,
    flush_interval: Duration,
    max_batch_size: Option<usize>,
    weigh: Option<Weigh<T>>,
    capacity: usize,
}

impl<T> fmt::Debug for BatchBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_batch_size", &self.max_batch_size)
            .field("weigh", &self.weigh.is_some())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T: Send + 'static> BatchBuilder<T> {
    /// Flush once this many items are pending (100 unless set; at least 1).
    pub fn batch_size(mut self, items: usize) -> Self {
        self.batch_size = items;
        self
    }

    /// Flush what is pending once the oldest pending item has waited this long, counted from
    /// when the collector took it (1 s unless set; above zero; one too long to be a deadline,
    /// such as `Duration::MAX`, never flushes on time).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// The most a batch handed to the sink may weigh: a flush is split into consecutive
    /// batches, each as full as this allows; an item heavier than this goes alone. An item
    /// weighs 1 unless [`weigh`](Self::weigh) says otherwise, so without it this is a
    /// number of items. At least 1; no maximum unless set.
    pub fn max_batch_size(mut self, size: usize) -> Self {
        self.max_batch_size = Some(size);
        self
    }

    /// An item's weight for [`max_batch_size`](Self::max_batch_size) (its size in bytes,
    /// say), computed once, by [`push`](BatchProcessor::push) (a panic in it unwinds there,
    /// and the item is not taken). Needs `max_batch_size`.
    pub fn weigh(mut self, weigh: impl Fn(&T) -> usize + Send + Sync + 'static) -> Self {
        self.weigh = Some(Box::new(weigh));
        self
    }

    /// How many pushed items may wait for the collector before [`push`](BatchProcessor::push)
    /// waits too (1024 unless set; at least 1, at most `tokio::sync::Semaphore::MAX_PERMITS`).
    pub fn capacity(mut self, items: usize) -> Self {
        self.capacity = items;
        self
    }

    /// Checks the configuration and starts the collector on the current Tokio runtime.
    /// `sink` gets each batch, in order, one call at a time; it returns `Ok(())` when it took
    /// the batch, else a [`SinkError`] (with the items it did not take, if it can give them
    /// back). A panicking sink fails its batch (the items are gone, and counted).
    pub fn build<F, Fut>(self, sink: F) -> Result<BatchProcessor<T>, BatchError>
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SinkError<T>>> + Send + 'static,
    {
        self.check()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BatchError::NoRuntime)?;
        let (queue, received) = mpsc::channel(self.capacity);
        let shared = Arc::new(Shared {
            accepted: AtomicU64::new(0),
            flushed_batches: AtomicU64::new(0),
            flushed_items: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            failed_items: AtomicU64::new(0),
            failures: parking_lot::Mutex::new(Vec::new()),
        });
        let collector = Collector {
            received,
            sink: Box::new(move |batch| Box::pin(sink(batch))),
            shared: Arc::clone(&shared),
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            max_batch_size: self.max_batch_size,
        };
        Ok(BatchProcessor {
            queue,
            collector: runtime.spawn(collector.run()),
            shared,
            weigh: self.weigh,
        })
    }

    fn check(&self) -> Result<(), BatchError> {
        let invalid = |option, reason: &str| {
            Err(BatchError::InvalidOption {
                option,
                reason: reason.to_owned(),
            })
        };
        if self.batch_size == 0 {
            return invalid(
                "batch_size",
                "a batch of 0 items is never due: use 1 or more",
            );
        }
        if self.flush_interval.is_zero() {
            return invalid(
                "flush_interval",
                "a zero interval is not an interval: use one above zero (or batch_size(1) to \
                 flush every item at once)",
            );
        }
        if self.max_batch_size == Some(0) {
            return invalid(
                "max_batch_size",
                "no batch can be empty: use 1 or more (an item heavier than it goes alone)",
            );
        }
        if self.weigh.is_some() && self.max_batch_size.is_none() {
            return invalid(
                "weigh",
                "weights only split batches at max_batch_size: set max_batch_size too",
            );
        }
        if self.capacity == 0 {
            return invalid("capacity", "the queue needs room for at least 1 item");
        }
        if self.capacity > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(BatchError::InvalidOption {
                option: "capacity",
                reason: format!(
                    "at most {} items can wait in the queue",
                    tokio::sync::Semaphore::MAX_PERMITS
                ),
            });
        }
        Ok(())
    }
}

impl<T: Send + 'static> BatchProcessor<T> {
    /// Starts configuring a processor of items of type `T`.
    pub fn builder() -> BatchBuilder<T> {
        BatchBuilder {
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_batch_size: None,
            weigh: None,
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// Hands `item` to the collector, waiting while its queue is full. `Err` gives the item
    /// back: [`PushError::Closed`] once the collector has ended, which only happens before
    /// [`shutdown`](Self::shutdown) if its runtime shut down.
    pub async fn push(&self, item: T) -> Result<(), PushError<T>> {
        let weight = self.weight(&item);
        match self.queue.send((item, weight)).await {
            Ok(()) => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::SendError((item, _))) => Err(PushError::Closed(item)),
        }
    }

    /// [`push`](Self::push) without waiting: [`PushError::Full`] (the item back) when the
    /// queue has no room.
    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let weight = self.weight(&item);
        match self.queue.try_send((item, weight)) {
            Ok(()) => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full((item, _))) => Err(PushError::Full(item)),
            Err(mpsc::error::TrySendError::Closed((item, _))) => Err(PushError::Closed(item)),
        }
    }

    /// The batches the sink failed so far, taken out (the report then has only the later
    /// ones; its counts have them all).
    pub fn take_failures(&self) -> Vec<FailedBatch<T>> {
        std::mem::take(&mut *self.shared.failures.lock())
    }

    /// Stops taking items, flushes everything pushed before (in batches of `batch_size`,
    /// split at `max_batch_size`), waits for the sink's last call, and reports.
    pub async fn shutdown(self) -> BatchReport<T> {
        let BatchProcessor {
            queue,
            collector,
            shared,
            ..
        } = self;
        // The collector takes what the queue holds, flushes it, and ends when it is empty.
        drop(queue);
        if let Err(error) = collector.await {
            tracing::warn!(%error, "a batch processor's collector ended early");
        }
        let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let accepted = count(&shared.accepted);
        let flushed_items = count(&shared.flushed_items);
        let failed_items = count(&shared.failed_items);
        BatchReport {
            accepted,
            flushed_batches: count(&shared.flushed_batches),
            flushed_items,
            failed_batches: count(&shared.failed_batches),
            failed_items,
            failed: std::mem::take(&mut *shared.failures.lock()),
            lost: accepted.saturating_sub(flushed_items.saturating_add(failed_items)),
        }
    }

    fn weight(&self, item: &T) -> usize {
        self.weigh.as_ref().map_or(1, |weigh| weigh(item))
    }
}

/// The background task: takes items from the queue, flushes on size and on time, and at
/// the end (the queue closed and empty) flushes the rest.
struct Collector<T> {
    received: mpsc::Receiver<(T, usize)>,
    sink: Sink<T>,
    shared: Arc<Shared<T>>,
    batch_size: usize,
    flush_interval: Duration,
    max_batch_size: Option<usize>,
}

impl<T: Send + 'static> Collector<T> {
    async fn run(mut self) {
        let mut pending: Vec<(T, usize)> = Vec::new();
        // When the oldest pending item is due (`None`: nothing pending, or never).
        let mut due: Option<Instant> = None;
        loop {
            let next = match due {
                // `timeout_at` polls the queue first: items already there are taken before
                // the deadline is looked at.
                Some(at) => match tokio::time::timeout_at(at, self.received.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        due = None;
                        self.flush(std::mem::take(&mut pending)).await;
                        continue;
                    }
                },
                None => self.received.recv().await,
            };
            let Some(entry) = next else { break };
            if pending.is_empty() {
                due = Instant::now().checked_add(self.flush_interval);
            }
            pending.push(entry);
            if pending.len() >= self.batch_size {
                due = None;
                self.flush(std::mem::take(&mut pending)).await;
            }
        }
        self.flush(pending).await;
    }

    /// Hands `pending` to the sink, in consecutive batches of at most `max_batch_size`.
    async fn flush(&self, pending: Vec<(T, usize)>) {
        for batch in split(pending, self.max_batch_size) {
            self.deliver(batch).await;
        }
    }

    /// One sink call, counted either way.
    async fn deliver(&self, batch: Vec<T>) {
        let size = batch.len();
        let failure = match caught(|| (self.sink)(batch)).await {
            Ok(Ok(())) => {
                self.shared.flushed_batches.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .flushed_items
                    .fetch_add(to_u64(size), Ordering::Relaxed);
                return;
            }
            Ok(Err(SinkError { items, error })) => FailedBatch { items, size, error },
            Err(panic) => FailedBatch {
                items: Vec::new(),
                size,
                error: Box::new(panic),
            },
        };
        tracing::warn!(
            size,
            returned = failure.items.len(),
            error = %failure.error,
            "a batch sink failed; the batch is kept for the processor's report"
        );
        self.shared.failed_batches.fetch_add(1, Ordering::Relaxed);
        self.shared
            .failed_items
            .fetch_add(to_u64(size), Ordering::Relaxed);
        self.shared.failures.lock().push(failure);
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `pending` (items with their weights) as consecutive batches, each weighing at most `max`
/// (an item heavier than `max` alone); one batch without a maximum. Never an empty batch.
fn split<T>(pending: Vec<(T, usize)>, max: Option<usize>) -> Vec<Vec<T>> {
    if pending.is_empty() {
        return Vec::new();
    }
    let Some(max) = max else {
        return vec![pending.into_iter().map(|(item, _)| item).collect()];
    };
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut weight = 0usize;
    for (item, w) in pending {
        if !current.is_empty() && weight.saturating_add(w) > max {
            batches.push(std::mem::take(&mut current));
            weight = 0;
        }
        current.push(item);
        weight = weight.saturating_add(w);
    }
    batches.push(current);
    batches
}

/// A sink's refusal of a batch: the error, and the items it gives back (all of them, some,
/// or none if it cannot).
pub struct SinkError<T> {
    items: Vec<T>,
    error: BoxError,
}

impl<T> SinkError<T> {
    /// The sink did not take `items` (give back the batch, or what is left of it).
    pub fn new(items: Vec<T>, error: impl Into<BoxError>) -> Self {
        SinkError {
            items,
            error: error.into(),
        }
    }

    /// The sink failed and gives nothing back (the report still counts the batch's items).
    pub fn without_items(error: impl Into<BoxError>) -> Self {
        SinkError::new(Vec::new(), error)
    }
}

impl<T> fmt::Debug for SinkError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkError")
            .field("items", &self.items.len())
            .field("error", &self.error)
            .finish()
    }
}

impl<T> fmt::Display for SinkError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the sink refused a batch ({} items back): {}",
            self.items.len(),
            self.error
        )
    }
}

impl<T> std::error::Error for SinkError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

/// A batch the sink failed.
#[non_exhaustive]
pub struct FailedBatch<T> {
    /// What the sink gave back ([`SinkError::new`]): all of the batch, part, or none.
    pub items: Vec<T>,
    /// How many items the batch had.
    pub size: usize,
    /// The sink's error (a [`HandlerPanic`](crate::HandlerPanic) if it panicked).
    pub error: BoxError,
}

impl<T> fmt::Debug for FailedBatch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedBatch")
            .field("items", &self.items.len())
            .field("size", &self.size)
            .field("error", &self.error)
            .finish()
    }
}

/// What a processor did, from [`shutdown`](BatchProcessor::shutdown):
/// `accepted = flushed_items + failed_items + lost`.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchReport<T> {
    /// Items `push` and `try_push` took.
    pub accepted: u64,
    /// Batches the sink took.
    pub flushed_batches: u64,
    /// Their items.
    pub flushed_items: u64,
    /// Batches the sink failed (also those [`take_failures`](BatchProcessor::take_failures)
    /// took).
    pub failed_batches: u64,
    /// Their items.
    pub failed_items: u64,
    /// The failed batches not taken before.
    pub failed: Vec<FailedBatch<T>>,
    /// Items taken but neither flushed nor failed: 0, unless the collector's runtime shut
    /// down before it was done.
    pub lost: u64,
}

/// Why [`push`](BatchProcessor::push) or [`try_push`](BatchProcessor::try_push) did not take
/// an item; it comes back.
pub enum PushError<T> {
    /// The queue is full (`try_push` only).
    Full(T),
    /// The collector has ended.
    Closed(T),
}

impl<T> PushError<T> {
    /// The item that was not taken.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(item) | PushError::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
            PushError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PushError::Full(_) => "the batch processor's queue is full",
            PushError::Closed(_) => "the batch processor's collector has ended",
        })
    }
}

impl<T> std::error::Error for PushError<T> {}
