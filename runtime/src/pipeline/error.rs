//! What can go wrong building or running a pipeline ([`PipelineError`]) and building a batch
//! processor ([`BatchError`]).

use crate::linked::BoxError;

/// A pipeline that cannot be built, or a run that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// `build()` of a pipeline without a stage.
    #[error("pipeline `{pipeline}` has no stages: add one with `stage` or `stage_with_retry`")]
    NoStages {
        /// The pipeline's name.
        pipeline: String,
    },
    /// `name("")`.
    #[error("a pipeline's name cannot be empty: it names every run in the events")]
    EmptyName,
    /// A stage whose [`name`](crate::Stage::name) is empty.
    #[error(
        "stage {index} of pipeline `{pipeline}` has an empty name: a stage's name names its phase"
    )]
    EmptyStageName {
        /// The pipeline's name.
        pipeline: String,
        /// The stage's position, from 0.
        index: usize,
    },
    /// Two stages with one name.
    #[error(
        "pipeline `{pipeline}` has two stages named `{stage}` (at {first} and {second}, from 0): \
         stage names must be unique, they name the phases in the events"
    )]
    DuplicateStage {
        /// The pipeline's name.
        pipeline: String,
        /// The name both stages have.
        stage: String,
        /// The first one's position, from 0.
        first: usize,
        /// The second one's.
        second: usize,
    },
    /// A stage failed for good (after its retries, if it has a policy): the run ended there.
    #[error(
        "stage `{phase}` of pipeline `{pipeline}` failed after {attempts} attempt(s) \
         (session {session}): {source}"
    )]
    StageFailed {
        /// The pipeline's name.
        pipeline: String,
        /// The run's session id.
        session: String,
        /// The stage that failed.
        phase: String,
        /// Its attempts.
        attempts: u32,
        /// The last attempt's error (a [`HandlerPanic`](crate::HandlerPanic) if it panicked).
        #[source]
        source: BoxError,
    },
}

/// A batch processor that cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A builder option is invalid, alone or with another one.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        /// The builder method at fault.
        option: &'static str,
        /// Why, and what to do instead.
        reason: String,
    },
    /// `build` was called outside a Tokio runtime, which the processor's task needs.
    #[error(
        "a batch processor runs a task on a Tokio runtime: build it from inside one \
         (an async fn under #[tokio::main], or Runtime::block_on / enter)"
    )]
    NoRuntime,
}
