//! [`Pipeline`], its builder, and a run: stage after stage, each phase announced, retried
//! by its policy, reported ([`PipelineRun`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::linked::invoke::next_delay;
use crate::linked::{BoxError, Retry, StaticEvent};
use crate::system::EventSystem;

use super::error::PipelineError;
use super::events::{
    ChainCompleted, ChainFailed, ChainStarted, PhaseCompleted, PhaseFailed, PhaseFinalFailure,
    PhaseRetrySuccess, PhaseRetrying, PhaseStarted,
};
use super::stage::{Stage, StageContext, StageOutcome};
use crate::linked::invoke::caught;

/// The name of a pipeline not given one.
const DEFAULT_NAME: &str = "pipeline";

/// A chain of [`Stage`]s run on one item at a time, each phase announced as a static event
/// (in the order [below](#events)), stages with a [`Retry`] policy tried again when they
/// fail.
///
/// Built once ([`Pipeline::builder`]), run any number of times, also concurrently (`run`
/// takes `&self`): a run's state is its own. Runs on any [`EventSystem`]; the system only
/// carries the events.
///
/// # Events
///
/// ```text
/// chain.started
///   for each stage that can handle the item:
///     phase.started(1)
///     while an attempt k fails and is retried:
///       phase.failed(k)  phase.retrying(k + 1)  phase.started(k + 1)
///     succeeded at attempt k:  [phase.retry_success(k), if k > 1]  phase.completed(k)
///     failed for good at k:    phase.failed(k)  phase.final_failure(k)  chain.failed  (end)
/// chain.completed            (after the last stage, or the one that stopped the chain)
/// ```
///
/// A stage that cannot handle the item is skipped without an event. Each event is published
/// (and its handlers run) before the run goes on; one that fails to publish is logged at
/// `warn` and does not fail the run.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use staticbus::prelude::*;
/// use staticbus::{Pipeline, PipelineError, StageOutcome, stage_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = EventSystem::builder().build()?;
/// let phases = Arc::new(AtomicUsize::new(0));
/// let seen = Arc::clone(&phases);
/// let _phases = system.on("phase.completed", move |_: &EventRef<'_>| {
///     seen.fetch_add(1, Ordering::Relaxed);
/// })?;
///
/// let pipeline = Pipeline::builder()
///     .name("amounts")
///     .stage(stage_fn("validate", |n: u64| async move {
///         if n == 0 {
///             return Err("zero is not an amount".into());
///         }
///         Ok(StageOutcome::Continue(n))
///     }))
///     .stage(stage_fn("cap", |n: u64| async move {
///         Ok(if n > 100 { StageOutcome::Stop(100) } else { StageOutcome::Continue(n) })
///     }))
///     .stage(stage_fn("double", |n: u64| async move { Ok(StageOutcome::Continue(n * 2)) }))
///     .build()?;
///
/// assert_eq!(pipeline.run(&system, 21).await?.item, 42);
/// let capped = pipeline.run(&system, 500).await?;
/// assert_eq!((capped.item, capped.stopped_by.as_deref()), (100, Some("cap")));
/// assert_eq!(phases.load(Ordering::Relaxed), 5); // 3 phases, then 2
///
/// let failed = pipeline.run(&system, 0).await.unwrap_err();
/// assert!(matches!(failed, PipelineError::StageFailed { ref phase, .. } if phase == "validate"));
/// # Ok(()) }
/// ```
pub struct Pipeline<T> {
    name: Arc<str>,
    stages: Box<[Slot<T>]>,
    /// Draws the jitter of retry delays.
    jitter: parking_lot::Mutex<fastrand::Rng>,
}

/// One stage as the pipeline holds it: its name read once, its retry policy.
struct Slot<T> {
    name: Arc<str>,
    stage: Box<dyn Stage<T>>,
    retry: Option<Retrying<T>>,
}

impl<T> Slot<T> {
    fn new(stage: Box<dyn Stage<T>>, retry: Option<Retrying<T>>) -> Self {
        Slot {
            name: Arc::from(stage.name()),
            stage,
            retry,
        }
    }
}

/// A stage's retry policy, with the clone each attempt gets of the item (taken where
/// `T: Clone` is known, so that only stages with retries need it).
struct Retrying<T> {
    policy: Retry,
    clone: fn(&T) -> T,
}

impl<T> fmt::Debug for Pipeline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stages: Vec<&str> = self.stages.iter().map(|s| &*s.name).collect();
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("stages", &stages)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Pipeline`]: its name, its stages in order (each with an optional retry
/// policy), the seed of its retry delays. [`build`](Self::build) checks it all.
pub struct PipelineBuilder<T> {
    name: String,
    stages: Vec<Slot<T>>,
    retry_seed: Option<u64>,
}

impl<T> fmt::Debug for PipelineBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stages: Vec<&str> = self.stages.iter().map(|s| &*s.name).collect();
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field("stages", &stages)
            .field("retry_seed", &self.retry_seed)
            .finish()
    }
}

impl<T: Send + 'static> PipelineBuilder<T> {
    /// The pipeline's name, in every event and error (`"pipeline"` unless set).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a stage, after those added before; it runs once per item (no retry).
    pub fn stage(mut self, stage: impl Stage<T> + 'static) -> Self {
        self.stages.push(Slot::new(Box::new(stage), None));
        self
    }

    /// Seeds the jitter of retry delays, so that a run's schedule is reproducible (random
    /// unless set).
    pub fn retry_seed(mut self, seed: u64) -> Self {
        self.retry_seed = Some(seed);
        self
    }

    /// Checks the configuration: at least one stage, a name, stage names non-empty and
    /// unique. Never panics.
    pub fn build(self) -> Result<Pipeline<T>, PipelineError> {
        if self.name.is_empty() {
            return Err(PipelineError::EmptyName);
        }
        if self.stages.is_empty() {
            return Err(PipelineError::NoStages {
                pipeline: self.name,
            });
        }
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.stages.len());
        for (index, slot) in self.stages.iter().enumerate() {
            let name = &*slot.name;
            if name.is_empty() {
                return Err(PipelineError::EmptyStageName {
                    pipeline: self.name,
                    index,
                });
            }
            if let Some(&first) = seen.get(name) {
                return Err(PipelineError::DuplicateStage {
                    stage: name.to_owned(),
                    pipeline: self.name,
                    first,
                    second: index,
                });
            }
            seen.insert(name, index);
        }
        drop(seen);
        Ok(Pipeline {
            name: Arc::from(self.name),
            stages: self.stages.into_boxed_slice(),
            jitter: parking_lot::Mutex::new(match self.retry_seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            }),
        })
    }
}

impl<T: Clone + Send + 'static> PipelineBuilder<T> {
    /// Adds a stage tried again by `retry` when it fails: each attempt gets a clone of the
    /// item (so this needs `T: Clone`, [`stage`](Self::stage) does not), and waits a delay
    /// drawn uniformly from zero to [`Retry::ceiling`]. No attempt is made past the policy's
    /// retries, after a [`Permanent`](crate::Permanent) error, or when its delay would end
    /// past `max_elapsed` (from the phase's first attempt).
    pub fn stage_with_retry(mut self, stage: impl Stage<T> + 'static, retry: Retry) -> Self {
        let retry = Retrying {
            policy: retry,
            clone: T::clone,
        };
        self.stages.push(Slot::new(Box::new(stage), Some(retry)));
        self
    }
}

/// What a successful run came to: the item, and what each stage did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineRun<T> {
    /// The item, as the last stage that ran handed it on (or stopped the chain with).
    pub item: T,
    /// The run's session id.
    pub session: String,
    /// One entry per stage reached, in order (the stages after one that stopped the chain
    /// have none).
    pub phases: Vec<PhaseRun>,
    /// The stage that stopped the chain early, if one did.
    pub stopped_by: Option<String>,
    /// The whole run, announcements included.
    pub duration: Duration,
}

impl<T> PipelineRun<T> {
    /// The item.
    pub fn into_item(self) -> T {
        self.item
    }
}

/// One stage's part in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhaseRun {
    /// The stage's name.
    pub phase: String,
    /// What it did.
    pub outcome: PhaseOutcome,
    /// Its attempts (0 when skipped).
    pub attempts: u32,
    /// The whole phase: every attempt and the delays between them (zero when skipped).
    pub duration: Duration,
}

/// What a stage did in a run that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhaseOutcome {
    /// It handed the item on.
    Continued,
    /// It stopped the chain.
    Stopped,
    /// It could not handle the item ([`Stage::can_handle`]): not run.
    Skipped,
}

/// A phase that failed for good.
struct Failure {
    attempts: u32,
    error: BoxError,
}

/// The announcements of one run: the system and the names every event carries.
struct Notes<'r> {
    system: &'r EventSystem,
    pipeline: &'r str,
    session: &'r str,
}

impl Notes<'_> {
    /// Publishes `event`; a failure to is logged, never the run's.
    async fn publish<E: StaticEvent>(&self, event: E) {
        if let Err(error) = self.system.publish(event).await {
            tracing::warn!(
                pipeline = self.pipeline,
                session = self.session,
                event = E::NAME,
                %error,
                "a pipeline event failed to publish; the run goes on"
            );
        }
    }

    fn pipeline(&self) -> String {
        self.pipeline.to_owned()
    }

    fn session(&self) -> String {
        self.session.to_owned()
    }
}

impl<T: Send + 'static> Pipeline<T> {
    /// Starts configuring a pipeline of items of type `T`.
    pub fn builder() -> PipelineBuilder<T> {
        PipelineBuilder {
            name: DEFAULT_NAME.to_owned(),
            stages: Vec::new(),
            retry_seed: None,
        }
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its stages' names, in order.
    pub fn stages(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|s| &*s.name)
    }

    /// Runs the stages on `item` under a fresh session id (a random UUID), announcing each
    /// phase on `system`. The run's report, or the stage that failed for good.
    pub async fn run(
        &self,
        system: &EventSystem,
        item: T,
    ) -> Result<PipelineRun<T>, PipelineError> {
        let session = uuid::Uuid::new_v4().to_string();
        self.run_session(system, session, item).await
    }

    /// [`run`](Self::run) under the session id `session` (any string: the caller's
    /// correlation id, say).
    pub async fn run_session(
        &self,
        system: &EventSystem,
        session: impl Into<String>,
        item: T,
    ) -> Result<PipelineRun<T>, PipelineError> {
        let session: Arc<str> = Arc::from(session.into());
        let notes = Notes {
            system,
            pipeline: &self.name,
            session: &session,
        };
        let started = Instant::now();
        let stages = self.stages.len();
        let event = ChainStarted {
            pipeline: notes.pipeline(),
            session: notes.session(),
            stages,
        };
        notes.publish(event).await;
        let mut item = item;
        let mut phases = Vec::with_capacity(stages);
        let mut stopped_by = None;
        for slot in &self.stages {
            if !slot.stage.can_handle(&item) {
                phases.push(PhaseRun {
                    phase: slot.name.to_string(),
                    outcome: PhaseOutcome::Skipped,
                    attempts: 0,
                    duration: Duration::ZERO,
                });
                continue;
            }
            let mut ctx = StageContext {
                system: system.clone(),
                pipeline: Arc::clone(&self.name),
                session: Arc::clone(&session),
                phase: Arc::clone(&slot.name),
                attempt: 1,
            };
            let phase_started = Instant::now();
            match self.phase(slot, item, &mut ctx, &notes).await {
                Ok(outcome) => {
                    let stop = outcome.is_stop();
                    phases.push(PhaseRun {
                        phase: slot.name.to_string(),
                        outcome: if stop {
                            PhaseOutcome::Stopped
                        } else {
                            PhaseOutcome::Continued
                        },
                        attempts: ctx.attempt,
                        duration: phase_started.elapsed(),
                    });
                    item = outcome.into_item();
                    if stop {
                        stopped_by = Some(slot.name.to_string());
                        break;
                    }
                }
                Err(Failure { attempts, error }) => {
                    let event = ChainFailed {
                        pipeline: notes.pipeline(),
                        session: notes.session(),
                        phase: slot.name.to_string(),
                        attempt: attempts,
                        duration: started.elapsed(),
                        error: error.to_string(),
                    };
                    notes.publish(event).await;
                    return Err(PipelineError::StageFailed {
                        pipeline: notes.pipeline(),
                        session: notes.session(),
                        phase: slot.name.to_string(),
                        attempts,
                        source: error,
                    });
                }
            }
        }
        let event = ChainCompleted {
            pipeline: notes.pipeline(),
            session: notes.session(),
            duration: started.elapsed(),
            stopped_by: stopped_by.clone(),
        };
        notes.publish(event).await;
        Ok(PipelineRun {
            item,
            session: session.to_string(),
            phases,
            stopped_by,
            duration: started.elapsed(),
        })
    }

    /// One stage's phase: its attempts (one, or as many as its policy allows) and their
    /// announcements. `ctx.attempt` ends as the number of attempts made.
    async fn phase(
        &self,
        slot: &Slot<T>,
        item: T,
        ctx: &mut StageContext,
        notes: &Notes<'_>,
    ) -> Result<StageOutcome<T>, Failure> {
        let started = Instant::now();
        let Some(retry) = &slot.retry else {
            let result = attempt(slot, item, ctx, notes).await;
            return self.settle(result, ctx, started, notes).await;
        };
        loop {
            let result = attempt(slot, (retry.clone)(&item), ctx, notes).await;
            let error = match result {
                Ok(outcome) => return self.settle(Ok(outcome), ctx, started, notes).await,
                Err(error) => error,
            };
            let jitter = |ceiling| self.jitter(ceiling);
            let Some(delay) = next_delay(&retry.policy, ctx.attempt, &error, Some(started), jitter)
            else {
                return self.settle(Err(error), ctx, started, notes).await;
            };
            // `next_delay` refuses a retry at `u32::MAX` attempts: this cannot overflow.
            let next = ctx.attempt.saturating_add(1);
            let event = PhaseRetrying {
                pipeline: notes.pipeline(),
                session: notes.session(),
                phase: slot.name.to_string(),
                attempt: next,
                delay,
                duration: started.elapsed(),
            };
            notes.publish(event).await;
            tokio::time::sleep(delay).await;
            ctx.attempt = next;
        }
    }

    /// A phase's end: announced as a success (after a retry's, if it took more than one
    /// attempt) or as a final failure.
    async fn settle(
        &self,
        result: Result<StageOutcome<T>, BoxError>,
        ctx: &StageContext,
        started: Instant,
        notes: &Notes<'_>,
    ) -> Result<StageOutcome<T>, Failure> {
        let phase = || ctx.phase.to_string();
        match result {
            Ok(outcome) => {
                if ctx.attempt > 1 {
                    let event = PhaseRetrySuccess {
                        pipeline: notes.pipeline(),
                        session: notes.session(),
                        phase: phase(),
                        attempt: ctx.attempt,
                        duration: started.elapsed(),
                    };
                    notes.publish(event).await;
                }
                let event = PhaseCompleted {
                    pipeline: notes.pipeline(),
                    session: notes.session(),
                    phase: phase(),
                    attempt: ctx.attempt,
                    duration: started.elapsed(),
                    stopped: outcome.is_stop(),
                };
                notes.publish(event).await;
                Ok(outcome)
            }
            Err(error) => {
                let event = PhaseFinalFailure {
                    pipeline: notes.pipeline(),
                    session: notes.session(),
                    phase: phase(),
                    attempt: ctx.attempt,
                    duration: started.elapsed(),
                    error: error.to_string(),
                };
                notes.publish(event).await;
                Err(Failure {
                    attempts: ctx.attempt,
                    error,
                })
            }
        }
    }

    /// A retry's delay: drawn uniformly from zero to `ceiling` (full jitter), from the
    /// pipeline's seeded generator.
    fn jitter(&self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.jitter.lock().u64(0..=nanos))
    }
}

/// One attempt: announced, run (a panic is its failure), and announced as failed if it was.
async fn attempt<T: Send + 'static>(
    slot: &Slot<T>,
    item: T,
    ctx: &StageContext,
    notes: &Notes<'_>,
) -> Result<StageOutcome<T>, BoxError> {
    let event = PhaseStarted {
        pipeline: notes.pipeline(),
        session: notes.session(),
        phase: slot.name.to_string(),
        attempt: ctx.attempt,
    };
    notes.publish(event).await;
    let began = Instant::now();
    let result = match caught(|| slot.stage.process(item, ctx)).await {
        Ok(result) => result,
        Err(panic) => Err(Box::new(panic) as BoxError),
    };
    if let Err(error) = &result {
        let event = PhaseFailed {
            pipeline: notes.pipeline(),
            session: notes.session(),
            phase: slot.name.to_string(),
            attempt: ctx.attempt,
            duration: began.elapsed(),
            error: error.to_string(),
        };
        notes.publish(event).await;
    }
    result
}
