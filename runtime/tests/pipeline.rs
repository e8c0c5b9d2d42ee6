//! Pipelines: the exact sequence of events a run publishes (stages that continue, stop the
//! chain, are skipped, fail, are retried on the seeded jitter schedule, panic), the run's
//! report, the builder's errors, and that the events reach static handlers as well as
//! dynamic subscribers. On tokio's paused clock: durations and delays are exact.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    BoxError, ChainCompleted, ChainFailed, ChainStarted, HandlerPanic, Permanent, PhaseCompleted,
    PhaseFailed, PhaseFinalFailure, PhaseOutcome, PhaseRetrySuccess, PhaseRetrying, PhaseStarted,
    Pipeline, PipelineError, Retry, Stage, StageContext, StageFuture, StageOutcome, stage_fn,
};
use tokio::time::Instant;

const SEED: u64 = 11;

fn system() -> EventSystem {
    EventSystem::builder().build().expect("a system")
}

/// One line per event, with what identifies it, and the pipeline and session it carries
/// (checked against the run's by [`Recorder::lines`]).
fn describe(e: &EventRef<'_>) -> (String, String, String) {
    macro_rules! line {
        ($e:expr, $($format:tt)*) => {
            (format!($($format)*), $e.pipeline.clone(), $e.session.clone())
        };
    }
    if let Some(e) = e.downcast_ref::<ChainStarted>() {
        return line!(e, "chain.started ({} stages)", e.stages);
    }
    if let Some(e) = e.downcast_ref::<PhaseStarted>() {
        return line!(e, "phase.started {} #{}", e.phase, e.attempt);
    }
    if let Some(e) = e.downcast_ref::<PhaseCompleted>() {
        let (p, a, d) = (&e.phase, e.attempt, e.duration);
        let stop = if e.stopped { " stop" } else { "" };
        return line!(e, "phase.completed {p} #{a} in {d:?}{stop}");
    }
    if let Some(e) = e.downcast_ref::<PhaseFailed>() {
        let (p, a, d, x) = (&e.phase, e.attempt, e.duration, &e.error);
        return line!(e, "phase.failed {p} #{a} in {d:?}: {x}");
    }
    if let Some(e) = e.downcast_ref::<PhaseRetrying>() {
        let (p, a, d) = (&e.phase, e.attempt, e.delay);
        return line!(e, "phase.retrying {p} #{a} after {d:?}");
    }
    if let Some(e) = e.downcast_ref::<PhaseRetrySuccess>() {
        let (p, a, d) = (&e.phase, e.attempt, e.duration);
        return line!(e, "phase.retry_success {p} #{a} in {d:?}");
    }
    if let Some(e) = e.downcast_ref::<PhaseFinalFailure>() {
        let (p, a, d, x) = (&e.phase, e.attempt, e.duration, &e.error);
        return line!(e, "phase.final_failure {p} #{a} in {d:?}: {x}");
    }
    if let Some(e) = e.downcast_ref::<ChainCompleted>() {
        let d = e.duration;
        let by = match &e.stopped_by {
            Some(stage) => format!(", stopped by {stage}"),
            None => String::new(),
        };
        return line!(e, "chain.completed in {d:?}{by}");
    }
    if let Some(e) = e.downcast_ref::<ChainFailed>() {
        let (p, a, d, x) = (&e.phase, e.attempt, e.duration, &e.error);
        return line!(e, "chain.failed at {p} #{a} in {d:?}: {x}");
    }
    panic!("not a pipeline event: {}", e.topic());
}

/// Every pipeline event a system publishes, seen by dynamic subscribers of `chain.*` and
/// `phase.*`.
struct Recorder {
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    _subscriptions: [Subscription; 2],
}

impl Recorder {
    fn new(system: &EventSystem) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscribe = |pattern| {
            let seen = Arc::clone(&seen);
            system
                .on(pattern, move |e: &EventRef<'_>| {
                    seen.lock().unwrap().push(describe(e));
                })
                .expect("a valid pattern")
        };
        let subscriptions = [subscribe("chain.*"), subscribe("phase.*")];
        Recorder {
            seen,
            _subscriptions: subscriptions,
        }
    }

    /// The lines so far, each event checked to carry `pipeline` and `session`.
    fn lines(&self, pipeline: &str, session: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|(line, p, s)| {
                assert_eq!((p.as_str(), s.as_str()), (pipeline, session), "{line}");
                line.clone()
            })
            .collect()
    }
}

/// A stage that sleeps `d`, then adds `n`.
fn add_after(name: &str, n: u64, d: Duration) -> impl Stage<u64> + use<> {
    stage_fn(name, move |x: u64| async move {
        tokio::time::sleep(d).await;
        Ok(StageOutcome::Continue(x + n))
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_run_announces_every_phase_in_order_with_its_duration() {
    let system = system();
    let recorder = Recorder::new(&system);
    let pipeline = Pipeline::builder()
        .name("sums")
        .stage(add_after("one", 1, ms(10)))
        .stage(add_after("two", 2, ms(20)))
        .stage(add_after("three", 3, ms(30)))
        .build()
        .unwrap();
    assert_eq!(pipeline.name(), "sums");
    assert_eq!(
        pipeline.stages().collect::<Vec<_>>(),
        ["one", "two", "three"]
    );

    let run = pipeline.run_session(&system, "s-1", 100).await.unwrap();
    assert_eq!(run.item, 106);
    assert_eq!(run.session, "s-1");
    assert_eq!(run.stopped_by, None);
    assert_eq!(run.duration, ms(60));
    let phases: Vec<_> = run
        .phases
        .iter()
        .map(|p| (p.phase.as_str(), p.outcome, p.attempts, p.duration))
        .collect();
    assert_eq!(
        phases,
        [
            ("one", PhaseOutcome::Continued, 1, ms(10)),
            ("two", PhaseOutcome::Continued, 1, ms(20)),
            ("three", PhaseOutcome::Continued, 1, ms(30)),
        ]
    );
    assert_eq!(
        recorder.lines("sums", "s-1"),
        [
            "chain.started (3 stages)",
            "phase.started one #1",
            "phase.completed one #1 in 10ms",
            "phase.started two #1",
            "phase.completed two #1 in 20ms",
            "phase.started three #1",
            "phase.completed three #1 in 30ms",
            "chain.completed in 60ms",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stage_that_stops_the_chain_ends_the_run_there_successfully() {
    let system = system();
    let recorder = Recorder::new(&system);
    let later = Arc::new(AtomicUsize::new(0));
    let ran = Arc::clone(&later);
    let pipeline = Pipeline::builder()
        .name("stops")
        .stage(add_after("first", 1, ms(5)))
        .stage(stage_fn("gate", |x: u64| async move {
            Ok(if x > 10 {
                StageOutcome::Stop(x)
            } else {
                StageOutcome::Continue(x)
            })
        }))
        .stage(stage_fn("never", move |x: u64| {
            ran.fetch_add(1, Ordering::SeqCst);
            async move { Ok(StageOutcome::Continue(x)) }
        }))
        .build()
        .unwrap();

    let run = pipeline.run_session(&system, "s", 20).await.unwrap();
    assert_eq!((run.item, run.stopped_by.as_deref()), (21, Some("gate")));
    assert_eq!(
        later.load(Ordering::SeqCst),
        0,
        "no stage after the stop runs"
    );
    let outcomes: Vec<_> = run.phases.iter().map(|p| p.outcome).collect();
    assert_eq!(outcomes, [PhaseOutcome::Continued, PhaseOutcome::Stopped]);
    assert_eq!(
        recorder.lines("stops", "s"),
        [
            "chain.started (3 stages)",
            "phase.started first #1",
            "phase.completed first #1 in 5ms",
            "phase.started gate #1",
            "phase.completed gate #1 in 0ns stop",
            "chain.completed in 5ms, stopped by gate",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stage_that_cannot_handle_the_item_is_skipped_without_an_event() {
    let system = system();
    let recorder = Recorder::new(&system);
    let pipeline = Pipeline::builder()
        .name("skips")
        .stage(add_after("a", 1, ms(1)))
        .stage(
            stage_fn("evens_only", |x: u64| async move {
                Ok(StageOutcome::Continue(x * 100))
            })
            .when(|x: &u64| x.is_multiple_of(2)),
        )
        .stage(add_after("c", 1, ms(1)))
        .build()
        .unwrap();

    // 2 + 1 is odd: the middle stage is skipped.
    let run = pipeline.run_session(&system, "odd", 2).await.unwrap();
    assert_eq!(run.item, 4);
    let phases: Vec<_> = run
        .phases
        .iter()
        .map(|p| (p.phase.as_str(), p.outcome, p.attempts))
        .collect();
    assert_eq!(
        phases,
        [
            ("a", PhaseOutcome::Continued, 1),
            ("evens_only", PhaseOutcome::Skipped, 0),
            ("c", PhaseOutcome::Continued, 1),
        ]
    );
    assert_eq!(
        recorder.lines("skips", "odd"),
        [
            "chain.started (3 stages)",
            "phase.started a #1",
            "phase.completed a #1 in 1ms",
            "phase.started c #1",
            "phase.completed c #1 in 1ms",
            "chain.completed in 2ms",
        ]
    );

    // 1 + 1 is even: it runs.
    assert_eq!(pipeline.run(&system, 1).await.unwrap().item, 201);
}

#[derive(Debug, thiserror::Error)]
#[error("attempt {0} failed")]
struct Flaky(u32);

/// Fails its first `failures` attempts (after `work` each), checking that each attempt gets
/// the item unchanged and the context's attempt number.
struct FlakyStage {
    failures: u32,
    work: Duration,
    calls: AtomicU32,
    permanent: bool,
}

impl FlakyStage {
    fn new(failures: u32, work: Duration) -> FlakyStage {
        FlakyStage {
            failures,
            work,
            calls: AtomicU32::new(0),
            permanent: false,
        }
    }
}

impl Stage<Vec<u64>> for FlakyStage {
    fn name(&self) -> &str {
        "flaky"
    }

    fn process<'a>(
        &'a self,
        mut item: Vec<u64>,
        ctx: &'a StageContext,
    ) -> StageFuture<'a, Vec<u64>> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            assert_eq!(ctx.attempt(), call, "the context counts attempts");
            assert_eq!((ctx.phase(), ctx.pipeline()), ("flaky", "retries"));
            assert_eq!(item, [1, 2], "every attempt gets the item as it came");
            tokio::time::sleep(self.work).await;
            item.push(99); // changes its own clone only
            if call <= self.failures {
                let error = Flaky(call);
                return Err(if self.permanent {
                    Permanent::new(error).into()
                } else {
                    BoxError::from(error)
                });
            }
            Ok(StageOutcome::Continue(item))
        })
    }
}

/// The delays a pipeline seeded with `SEED` draws for `retry`'s first `n` retries.
fn expected_delays(retry: &Retry, n: u32) -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    (1..=n)
        .map(|k| {
            let ceiling = u64::try_from(retry.ceiling(k).as_nanos()).unwrap();
            Duration::from_nanos(rng.u64(0..=ceiling))
        })
        .collect()
}

/// How long a sleep of `d` takes: tokio's timer ticks in milliseconds, and a sleep ends at
/// the first tick at or after it (every sleep here starts on a tick).
fn slept(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_retried_stage_announces_each_attempt_on_the_jittered_schedule() {
    let system = system();
    let recorder = Recorder::new(&system);
    let retry = Retry::exponential(3, ms(100));
    let pipeline = Pipeline::builder()
        .name("retries")
        .retry_seed(SEED)
        .stage_with_retry(FlakyStage::new(2, ms(10)), retry)
        .stage(stage_fn("after", |mut v: Vec<u64>| async move {
            v.push(7);
            Ok(StageOutcome::Continue(v))
        }))
        .build()
        .unwrap();

    let start = Instant::now();
    let run = pipeline
        .run_session(&system, "r", vec![1, 2])
        .await
        .unwrap();
    let delays = expected_delays(&retry, 2);
    let phase = ms(30) + slept(delays[0]) + slept(delays[1]);
    assert_eq!(start.elapsed(), phase);
    assert_eq!(run.item, [1, 2, 99, 7]);
    assert_eq!((run.phases[0].attempts, run.phases[0].duration), (3, phase));
    assert_eq!(
        recorder.lines("retries", "r"),
        [
            "chain.started (2 stages)".to_owned(),
            "phase.started flaky #1".to_owned(),
            "phase.failed flaky #1 in 10ms: attempt 1 failed".to_owned(),
            format!("phase.retrying flaky #2 after {:?}", delays[0]),
            "phase.started flaky #2".to_owned(),
            "phase.failed flaky #2 in 10ms: attempt 2 failed".to_owned(),
            format!("phase.retrying flaky #3 after {:?}", delays[1]),
            "phase.started flaky #3".to_owned(),
            format!("phase.retry_success flaky #3 in {phase:?}"),
            format!("phase.completed flaky #3 in {phase:?}"),
            "phase.started after #1".to_owned(),
            "phase.completed after #1 in 0ns".to_owned(),
            format!("chain.completed in {phase:?}"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stage_that_fails_for_good_fails_the_run_and_no_later_stage_runs() {
    let system = system();
    let recorder = Recorder::new(&system);
    let retry = Retry::constant(1, ms(50));
    let later = Arc::new(AtomicUsize::new(0));
    let ran = Arc::clone(&later);
    let pipeline = Pipeline::builder()
        .name("retries")
        .retry_seed(SEED)
        .stage_with_retry(FlakyStage::new(5, ms(10)), retry)
        .stage(stage_fn("never", move |v: Vec<u64>| {
            ran.fetch_add(1, Ordering::SeqCst);
            async move { Ok(StageOutcome::Continue(v)) }
        }))
        .build()
        .unwrap();

    let error = pipeline
        .run_session(&system, "f", vec![1, 2])
        .await
        .unwrap_err();
    let PipelineError::StageFailed {
        pipeline: name,
        session,
        phase,
        attempts,
        source,
    } = &error
    else {
        panic!("not a stage failure: {error}");
    };
    assert_eq!(
        (name.as_str(), session.as_str(), phase.as_str(), *attempts),
        ("retries", "f", "flaky", 2)
    );
    assert_eq!(source.to_string(), "attempt 2 failed");
    assert_eq!(
        error.to_string(),
        "stage `flaky` of pipeline `retries` failed after 2 attempt(s) (session f): attempt 2 failed"
    );
    assert_eq!(later.load(Ordering::SeqCst), 0);
    let delay = expected_delays(&retry, 1)[0];
    let phase = ms(20) + slept(delay);
    assert_eq!(
        recorder.lines("retries", "f"),
        [
            "chain.started (2 stages)".to_owned(),
            "phase.started flaky #1".to_owned(),
            "phase.failed flaky #1 in 10ms: attempt 1 failed".to_owned(),
            format!("phase.retrying flaky #2 after {delay:?}"),
            "phase.started flaky #2".to_owned(),
            "phase.failed flaky #2 in 10ms: attempt 2 failed".to_owned(),
            format!("phase.final_failure flaky #2 in {phase:?}: attempt 2 failed"),
            format!("chain.failed at flaky #2 in {phase:?}: attempt 2 failed"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_not_retried() {
    let system = system();
    let recorder = Recorder::new(&system);
    let mut stage = FlakyStage::new(1, ms(10));
    stage.permanent = true;
    let pipeline = Pipeline::builder()
        .name("retries")
        .stage_with_retry(stage, Retry::constant(5, ms(50)))
        .build()
        .unwrap();

    let error = pipeline.run_session(&system, "p", vec![1, 2]).await;
    assert!(matches!(
        error,
        Err(PipelineError::StageFailed { attempts: 1, .. })
    ));
    let failed = "attempt 1 failed (permanent: not retried)";
    assert_eq!(
        recorder.lines("retries", "p"),
        [
            "chain.started (1 stages)".to_owned(),
            "phase.started flaky #1".to_owned(),
            format!("phase.failed flaky #1 in 10ms: {failed}"),
            format!("phase.final_failure flaky #1 in 10ms: {failed}"),
            format!("chain.failed at flaky #1 in 10ms: {failed}"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn no_retry_is_made_whose_delay_would_end_past_max_elapsed() {
    let system = system();
    let retry = Retry::constant(10, ms(100)).max_elapsed(ms(250));
    let pipeline = Pipeline::builder()
        .name("retries")
        .retry_seed(SEED)
        .stage_with_retry(FlakyStage::new(u32::MAX, ms(10)), retry)
        .build()
        .unwrap();

    // The attempts the policy allows: each takes 10ms, each retry's delay must end by 250ms.
    let delays = expected_delays(&retry, 10);
    let (mut attempts, mut elapsed) = (1, ms(10));
    for delay in delays {
        if elapsed + delay > ms(250) {
            break;
        }
        elapsed += slept(delay) + ms(10);
        attempts += 1;
    }
    assert!(
        (2..11).contains(&attempts),
        "the limit cuts the retries short"
    );

    let start = Instant::now();
    let error = pipeline.run_session(&system, "m", vec![1, 2]).await;
    assert!(
        matches!(error, Err(PipelineError::StageFailed { attempts: a, .. }) if a == attempts),
        "{attempts} attempts expected"
    );
    assert_eq!(start.elapsed(), elapsed);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_stage_fails_its_phase() {
    let system = system();
    let recorder = Recorder::new(&system);
    let pipeline = Pipeline::builder()
        .name("panics")
        .stage(stage_fn("broken", |_: u64| async move {
            if true {
                panic!("the stage broke");
            }
            Ok(StageOutcome::Continue(0))
        }))
        .build()
        .unwrap();

    let error = pipeline.run_session(&system, "x", 1).await.unwrap_err();
    let PipelineError::StageFailed { source, .. } = &error else {
        panic!("not a stage failure: {error}");
    };
    let panic = source.downcast_ref::<HandlerPanic>().expect("a panic");
    assert_eq!(panic.message(), "the stage broke");
    assert_eq!(
        recorder.lines("panics", "x"),
        [
            "chain.started (1 stages)",
            "phase.started broken #1",
            "phase.failed broken #1 in 0ns: panicked: the stage broke",
            "phase.final_failure broken #1 in 0ns: panicked: the stage broke",
            "chain.failed at broken #1 in 0ns: panicked: the stage broke",
        ]
    );
}

#[tokio::test]
async fn a_failing_announcement_does_not_fail_the_run() {
    let system = system();
    let _failing = system
        .on("phase.started", |_: &EventRef<'_>| {
            Err::<(), _>(std::io::Error::other("the listener broke"))
        })
        .unwrap();
    let pipeline = Pipeline::builder()
        .stage(add_after("one", 1, Duration::ZERO))
        .build()
        .unwrap();
    assert_eq!(pipeline.name(), "pipeline", "the default name");
    assert_eq!(pipeline.run(&system, 1).await.unwrap().item, 2);

    // Nor does a system that is shut down: its publishes fail, the run does not.
    system.shutdown(Duration::from_secs(1)).await;
    assert_eq!(pipeline.run(&system, 1).await.unwrap().item, 2);
}

#[tokio::test]
async fn each_run_gets_a_fresh_session_id() {
    let system = system();
    let pipeline = Pipeline::builder()
        .stage(add_after("one", 1, Duration::ZERO))
        .build()
        .unwrap();
    let a = pipeline.run(&system, 1).await.unwrap().session;
    let b = pipeline.run(&system, 1).await.unwrap().session;
    assert_ne!(a, b);
    // A UUID in its hyphenated form.
    assert_eq!(a.len(), 36);
    assert_eq!(a.matches('-').count(), 4);
}

static STATIC_SEEN: AtomicUsize = AtomicUsize::new(0);

#[handler]
fn count_completed_runs(e: &ChainCompleted) {
    if e.pipeline == "static-seen" {
        STATIC_SEEN.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn static_handlers_see_the_events_too() {
    let system = system();
    let pipeline = Pipeline::builder()
        .name("static-seen")
        .stage(add_after("one", 1, Duration::ZERO))
        .build()
        .unwrap();
    pipeline.run(&system, 1).await.unwrap();
    pipeline.run(&system, 2).await.unwrap();
    assert_eq!(STATIC_SEEN.load(Ordering::SeqCst), 2);
}

#[test]
fn a_run_is_send() {
    fn assert_send<F: Send>(_: &F) {}
    let system = system();
    let pipeline = Pipeline::builder()
        .stage(add_after("one", 1, Duration::ZERO))
        .build()
        .unwrap();
    let run = pipeline.run(&system, 1);
    assert_send(&run);
}

fn noop(name: &str) -> impl Stage<u64> + use<> {
    add_after(name, 0, Duration::ZERO)
}

#[test]
fn the_builder_refuses_what_cannot_run_with_a_clear_message() {
    let none = Pipeline::<u64>::builder()
        .name("empty")
        .build()
        .unwrap_err();
    assert!(matches!(none, PipelineError::NoStages { .. }));
    assert_eq!(
        none.to_string(),
        "pipeline `empty` has no stages: add one with `stage` or `stage_with_retry`"
    );

    let twice = Pipeline::builder()
        .name("twice")
        .stage(noop("a"))
        .stage(noop("b"))
        .stage_with_retry(noop("a"), Retry::constant(1, ms(1)))
        .build()
        .unwrap_err();
    assert!(matches!(
        twice,
        PipelineError::DuplicateStage {
            first: 0,
            second: 2,
            ..
        }
    ));
    assert_eq!(
        twice.to_string(),
        "pipeline `twice` has two stages named `a` (at 0 and 2, from 0): stage names must be \
         unique, they name the phases in the events"
    );

    let unnamed = Pipeline::builder()
        .name("p")
        .stage(noop("a"))
        .stage(noop(""))
        .build()
        .unwrap_err();
    assert!(matches!(
        unnamed,
        PipelineError::EmptyStageName { index: 1, .. }
    ));

    let nameless = Pipeline::builder().name("").stage(noop("a")).build();
    assert!(matches!(nameless, Err(PipelineError::EmptyName)));
}

#[tokio::test(start_paused = true)]
async fn huge_retry_policies_are_valid() {
    // Saturating ceilings, bounded by max_elapsed: no overflow, no panic.
    let system = system();
    let retry = Retry::exponential(u32::MAX, Duration::MAX).max_elapsed(ms(1));
    let pipeline = Pipeline::builder()
        .retry_seed(SEED)
        .stage_with_retry(
            stage_fn("fails", |_: u64| async move {
                Err::<StageOutcome<u64>, _>("no".into())
            }),
            retry,
        )
        .build()
        .unwrap();
    let error = pipeline.run(&system, 1).await.unwrap_err();
    assert!(matches!(
        error,
        PipelineError::StageFailed { attempts: 1, .. }
    ));
}

#[test]
fn the_nine_events_are_linked_under_their_names() {
    let names: Vec<_> = staticbus::registry()
        .events()
        .iter()
        .map(|e| e.name())
        .filter(|name| name.starts_with("chain.") || name.starts_with("phase."))
        .collect();
    assert_eq!(
        names,
        [
            "chain.completed",
            "chain.failed",
            "chain.started",
            "phase.completed",
            "phase.failed",
            "phase.final_failure",
            "phase.retry_success",
            "phase.retrying",
            "phase.started",
        ]
    );
    assert!(staticbus::registry().problems().is_empty());
}
