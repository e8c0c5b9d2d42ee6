//! The pipeline layer, above the system: chains of stages run on an item, each phase
//! announced as a static event, and a batch processor that collects items for a sink.
//!
//! A [`Pipeline`] is a list of [`Stage`]s with unique names, fixed by its builder. Running it
//! on an item passes the item by value from stage to stage; each stage first says whether it
//! can handle the item ([`Stage::can_handle`]: a stage that cannot is skipped, announcing
//! nothing), then processes it, and its [`StageOutcome`] either hands the item on or stops the
//! chain early (a success). A stage that fails, or panics, ends the run with a
//! [`PipelineError::StageFailed`], unless its [`Retry`](crate::Retry) policy tries it again:
//! the delays are drawn with full jitter below the policy's ceilings, from the pipeline's own
//! seedable generator, and the attempts stop as the bus's do (the retries spent, a
//! [`Permanent`](crate::Permanent) error, or the next delay ending past `max_elapsed`, counted
//! from the phase's first attempt). A retried stage gets a clone of the item for each
//! attempt, so only [`PipelineBuilder::stage_with_retry`] asks for `T: Clone`.
//!
//! A run publishes nine static events (`chain.started`, `phase.started`, ...,
//! `chain.completed` / `chain.failed`: [`Pipeline`] documents their order) through
//! [`EventSystem::publish`](crate::EventSystem::publish), so that `#[handler]`s and dynamic
//! subscribers of those names both see them. Each is awaited before the run goes on, so its
//! handlers see a run's events in order. One that fails to publish (a handler's error, a
//! system shut down) is logged at `warn` and never fails the run: the events report a run,
//! they do not steer it.
//!
//! A [`BatchProcessor`] collects pushed items in a background task and hands them to its
//! sink in batches: when `batch_size` items are pending, when the oldest pending item has
//! waited `flush_interval`, and at [`shutdown`](BatchProcessor::shutdown), which flushes
//! everything pushed before it. A flush is split into consecutive batches of at most
//! `max_batch_size` (the sum of the items' weights). An item the processor accepted is
//! delivered or reported: a sink's failure hands its batch back, kept for the report.

mod batch;
mod error;
mod events;
mod run;
mod stage;

pub use batch::{BatchBuilder, BatchProcessor, BatchReport, FailedBatch, PushError, SinkError};
pub use error::{BatchError, PipelineError};
pub use events::{
    ChainCompleted, ChainFailed, ChainStarted, PhaseCompleted, PhaseFailed, PhaseFinalFailure,
    PhaseRetrySuccess, PhaseRetrying, PhaseStarted,
};
pub use run::{PhaseOutcome, PhaseRun, Pipeline, PipelineBuilder, PipelineRun};
pub use stage::{FnStage, Stage, StageContext, StageFuture, StageOutcome, stage_fn};
