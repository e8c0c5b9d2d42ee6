//! The batch processor: flushes on size, on interval (on tokio's paused clock: exact), at
//! shutdown (everything pushed before it, also what was still queued), split at the maximum
//! size; a failing or panicking sink's batch is reported, never lost silently; push waits
//! while the queue is full (bounded memory); the builder's errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use staticbus::{BatchError, BatchProcessor, HandlerPanic, PushError, SinkError};
use tokio::time::Instant;

/// What a sink received: each batch with when it came (since the test's start).
type Log<T> = Arc<Mutex<Vec<(Duration, Vec<T>)>>>;

/// A sink that records every batch in `log`.
fn recording<T: Send + 'static>(
    start: Instant,
    log: &Log<T>,
) -> impl Fn(Vec<T>) -> std::future::Ready<Result<(), SinkError<T>>> + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |batch| {
        log.lock().unwrap().push((start.elapsed(), batch));
        std::future::ready(Ok(()))
    }
}

fn batches<T: Clone>(log: &Log<T>) -> Vec<Vec<T>> {
    log.lock().unwrap().iter().map(|(_, b)| b.clone()).collect()
}

fn times<T>(log: &Log<T>) -> Vec<Duration> {
    log.lock().unwrap().iter().map(|(at, _)| *at).collect()
}

/// Lets the collector run (the tests run on one thread).
async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn a_full_batch_is_flushed_at_once() {
    let start = Instant::now();
    let log = Log::default();
    let processor = BatchProcessor::builder()
        .batch_size(3)
        .flush_interval(HOUR)
        .build(recording(start, &log))
        .unwrap();
    for n in 1..=7u32 {
        processor.push(n).await.unwrap();
    }
    settle().await;
    assert_eq!(batches(&log), [vec![1, 2, 3], vec![4, 5, 6]]);
    assert_eq!(times(&log), [Duration::ZERO, Duration::ZERO]);

    let report = processor.shutdown().await;
    assert_eq!(batches(&log), [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "shutdown waits for no interval"
    );
    assert_eq!(
        (
            report.accepted,
            report.flushed_batches,
            report.flushed_items
        ),
        (7, 3, 7)
    );
    assert_eq!(
        (report.failed_batches, report.failed_items, report.lost),
        (0, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_partial_batch_is_flushed_once_its_oldest_item_has_waited_the_interval() {
    let start = Instant::now();
    let log = Log::default();
    let processor = BatchProcessor::builder()
        .batch_size(10)
        .flush_interval(ms(100))
        .build(recording(start, &log))
        .unwrap();
    processor.push(1u32).await.unwrap();
    processor.push(2).await.unwrap();
    tokio::time::sleep(ms(40)).await;
    processor.push(3).await.unwrap();
    tokio::time::sleep(ms(59)).await;
    settle().await;
    assert!(batches(&log).is_empty(), "not due at 99ms");

    tokio::time::sleep(ms(1)).await;
    settle().await;
    assert_eq!(batches(&log), [vec![1, 2, 3]]);
    assert_eq!(
        times(&log),
        [ms(100)],
        "due 100ms after the oldest item came"
    );

    // The next batch's interval starts with its own first item.
    tokio::time::sleep(ms(50)).await;
    processor.push(4).await.unwrap();
    tokio::time::sleep(ms(200)).await;
    settle().await;
    assert_eq!(times(&log), [ms(100), ms(250)]);

    // Nothing pending: no empty batch, ever.
    tokio::time::sleep(HOUR).await;
    let report = processor.shutdown().await;
    assert_eq!(batches(&log), [vec![1, 2, 3], vec![4]]);
    assert_eq!((report.flushed_batches, report.flushed_items), (2, 4));
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_everything_pushed_also_what_is_still_queued() {
    let start = Instant::now();
    let log = Log::default();
    let processor = BatchProcessor::builder()
        .batch_size(3)
        .flush_interval(HOUR)
        .capacity(8)
        .build(recording(start, &log))
        .unwrap();
    // Never yielding: the collector has taken none of them.
    for n in 1..=8u32 {
        processor.try_push(n).unwrap();
    }
    assert!(batches(&log).is_empty());

    let report = processor.shutdown().await;
    assert_eq!(batches(&log), [vec![1, 2, 3], vec![4, 5, 6], vec![7, 8]]);
    assert_eq!(
        (report.accepted, report.flushed_items, report.lost),
        (8, 8, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_flush_is_split_at_the_maximum_size_a_heavier_item_alone() {
    let start = Instant::now();
    let log = Log::default();
    let processor = BatchProcessor::builder()
        .batch_size(6)
        .flush_interval(HOUR)
        .max_batch_size(10)
        .weigh(|s: &String| s.len())
        .build(recording(start, &log))
        .unwrap();
    for s in ["aaaa", "bbbb", "cc", "dddddddddddd", "e", "ffffffffff"] {
        processor.push(s.to_owned()).await.unwrap();
    }
    settle().await;
    let weights: Vec<Vec<usize>> = batches(&log)
        .iter()
        .map(|b| b.iter().map(String::len).collect())
        .collect();
    assert_eq!(weights, [vec![4, 4, 2], vec![12], vec![1], vec![10]]);
    let report = processor.shutdown().await;
    assert_eq!((report.flushed_batches, report.flushed_items), (4, 6));
}

#[tokio::test(start_paused = true)]
async fn without_weights_the_maximum_size_counts_items_also_at_shutdown() {
    let start = Instant::now();
    let log = Log::default();
    let processor = BatchProcessor::builder()
        .batch_size(5)
        .flush_interval(HOUR)
        .max_batch_size(2)
        .build(recording(start, &log))
        .unwrap();
    for n in 1..=8u32 {
        processor.push(n).await.unwrap();
    }
    let report = processor.shutdown().await;
    // A flush of 5 on size, split in 2 + 2 + 1; then the last 3 at shutdown, in 2 + 1.
    assert_eq!(
        batches(&log),
        [vec![1, 2], vec![3, 4], vec![5], vec![6, 7], vec![8]]
    );
    assert_eq!(report.flushed_batches, 5);
}

#[tokio::test(start_paused = true)]
async fn a_failing_sink_hands_its_batch_back_and_a_panicking_one_is_counted() {
    let taken = Log::default();
    let kept = Arc::clone(&taken);
    let processor = BatchProcessor::builder()
        .batch_size(2)
        .flush_interval(HOUR)
        .build(move |batch: Vec<u32>| {
            let kept = Arc::clone(&kept);
            async move {
                if batch.contains(&3) {
                    return Err(SinkError::new(batch, "the store is down"));
                }
                if batch.contains(&5) {
                    panic!("the sink broke");
                }
                kept.lock().unwrap().push((Duration::ZERO, batch));
                Ok(())
            }
        })
        .unwrap();
    for n in 1..=7 {
        processor.push(n).await.unwrap();
    }
    settle().await;
    // The collector goes on after a failure and after a panic.
    assert_eq!(batches(&taken), [vec![1, 2]]);
    let early = processor.take_failures();
    assert_eq!(early.len(), 2);
    assert_eq!((early[0].items.as_slice(), early[0].size), (&[3, 4][..], 2));
    assert_eq!(early[0].error.to_string(), "the store is down");
    assert!(
        early[1].items.is_empty(),
        "a panicking sink gives nothing back"
    );
    let panic = early[1].error.downcast_ref::<HandlerPanic>().unwrap();
    assert_eq!((panic.message(), early[1].size), ("the sink broke", 2));

    processor.push(3).await.unwrap(); // with the 7: a batch, that fails
    let report = processor.shutdown().await;
    assert_eq!(batches(&taken), [vec![1, 2]]);
    assert_eq!(
        report.failed.len(),
        1,
        "taken failures are not reported twice"
    );
    assert_eq!(report.failed[0].items, [7, 3]);
    assert_eq!(
        (report.accepted, report.flushed_items, report.failed_items),
        (8, 2, 6)
    );
    assert_eq!((report.failed_batches, report.lost), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn push_waits_while_the_queue_is_full() {
    let start = Instant::now();
    let log = Log::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let sink = {
        let gate = Arc::clone(&gate);
        let record = recording(start, &log);
        move |batch: Vec<u32>| {
            let gate = Arc::clone(&gate);
            let recorded = record(batch);
            async move {
                let _open = gate.acquire().await.expect("never closed");
                recorded.await
            }
        }
    };
    let processor = BatchProcessor::builder()
        .batch_size(2)
        .flush_interval(HOUR)
        .capacity(2)
        .build(sink)
        .unwrap();
    // 1 and 2 go to the sink, which waits; 3 and 4 fill the queue.
    for n in 1..=4 {
        processor.push(n).await.unwrap();
        settle().await;
    }
    assert!(matches!(processor.try_push(5), Err(PushError::Full(5))));
    let waited = tokio::time::timeout(HOUR, processor.push(5)).await;
    assert!(waited.is_err(), "push waits for room");

    gate.add_permits(10);
    let report = processor.shutdown().await;
    assert_eq!(batches(&log), [vec![1, 2], vec![3, 4]]);
    assert_eq!((report.accepted, report.flushed_items), (4, 4));
}

#[tokio::test(start_paused = true)]
async fn an_interval_too_long_for_a_deadline_never_flushes_on_time() {
    let start = Instant::now();
    let log = Log::default();
    let processor = BatchProcessor::builder()
        .batch_size(10)
        .flush_interval(Duration::MAX)
        .build(recording(start, &log))
        .unwrap();
    processor.push(1u32).await.unwrap();
    tokio::time::sleep(HOUR * 24 * 365).await;
    settle().await;
    assert!(batches(&log).is_empty());
    processor.shutdown().await;
    assert_eq!(batches(&log), [vec![1]]);
}

#[tokio::test(start_paused = true)]
async fn a_processor_dropped_without_shutdown_still_flushes() {
    let start = Instant::now();
    let log = Log::default();
    let processor = BatchProcessor::builder()
        .batch_size(10)
        .flush_interval(HOUR)
        .build(recording(start, &log))
        .unwrap();
    processor.push(1u32).await.unwrap();
    processor.push(2).await.unwrap();
    drop(processor);
    settle().await;
    assert_eq!(batches(&log), [vec![1, 2]]);
}

fn reason(result: Result<BatchProcessor<u32>, BatchError>) -> (&'static str, String) {
    match result {
        Err(BatchError::InvalidOption { option, reason }) => (option, reason),
        Err(other) => panic!("not an invalid option: {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[tokio::test]
async fn the_builder_refuses_invalid_options_with_a_clear_message() {
    let sink = |_: Vec<u32>| async { Ok(()) };
    let build = |b: staticbus::BatchBuilder<u32>| b.build(sink);
    let builder = BatchProcessor::<u32>::builder;

    let (option, why) = reason(build(builder().batch_size(0)));
    assert_eq!(option, "batch_size");
    assert_eq!(why, "a batch of 0 items is never due: use 1 or more");
    let error = build(builder().flush_interval(Duration::ZERO)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid option `flush_interval`: a zero interval is not an interval")
    );
    assert_eq!(
        reason(build(builder().max_batch_size(0))).0,
        "max_batch_size"
    );
    assert_eq!(reason(build(builder().weigh(|_| 1))).0, "weigh");
    assert_eq!(reason(build(builder().capacity(0))).0, "capacity");
    assert_eq!(reason(build(builder().capacity(usize::MAX))).0, "capacity");

    // The extremes that are valid.
    let extremes = builder()
        .batch_size(usize::MAX)
        .max_batch_size(usize::MAX)
        .weigh(|_| usize::MAX)
        .flush_interval(Duration::from_nanos(1));
    let processor = build(extremes).unwrap();
    processor.push(1).await.unwrap();
    processor.push(2).await.unwrap();
    let report = processor.shutdown().await;
    assert_eq!(report.flushed_items, 2);
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let built = BatchProcessor::<u32>::builder().build(|_| async { Ok(()) });
    let error = built.unwrap_err();
    assert!(matches!(error, BatchError::NoRuntime));
    assert!(error.to_string().contains("Tokio runtime"), "{error}");
}
