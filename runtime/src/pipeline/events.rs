//! The nine static events a pipeline run publishes, in the order the module documentation
//! gives. Each carries the pipeline's name and the run's session id; a phase event, the
//! phase (its stage's name) and the attempt. Durations are measured on tokio's clock (a
//! paused clock in tests gives exact figures).
//!
//! They are `#[non_exhaustive]`: read them (`#[handler] fn f(e: &PhaseFailed)`, or
//! `EventRef::downcast_ref` in a dynamic subscriber); only a pipeline makes them. Each is
//! `Serialize`, so a dynamic subscriber can read it as JSON too.

use std::time::Duration;

use serde::Serialize;

use crate::StaticEvent;

/// A run started: the first event of every run.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "chain.started")]
#[non_exhaustive]
pub struct ChainStarted {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// How many stages the pipeline has.
    pub stages: usize,
}

/// An attempt of a phase started: its stage can handle the item and is about to process it.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "phase.started")]
#[non_exhaustive]
pub struct PhaseStarted {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The phase: its stage's name.
    pub phase: String,
    /// The attempt, from 1.
    pub attempt: u32,
}

/// A phase succeeded (at `attempt`): the item goes to the next stage, or the chain stops.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "phase.completed")]
#[non_exhaustive]
pub struct PhaseCompleted {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The phase: its stage's name.
    pub phase: String,
    /// The attempt that succeeded (the phase's number of attempts).
    pub attempt: u32,
    /// The whole phase: every attempt and the delays between them.
    pub duration: Duration,
    /// The stage stopped the chain: no later stage runs.
    pub stopped: bool,
}

/// An attempt of a phase failed (an error, or a panic). A `phase.retrying` follows when it is
/// tried again, else a `phase.final_failure`.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "phase.failed")]
#[non_exhaustive]
pub struct PhaseFailed {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The phase: its stage's name.
    pub phase: String,
    /// The attempt that failed.
    pub attempt: u32,
    /// That attempt's.
    pub duration: Duration,
    /// The attempt's error, as text.
    pub error: String,
}

/// A failed phase is tried again, after `delay`.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "phase.retrying")]
#[non_exhaustive]
pub struct PhaseRetrying {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The phase: its stage's name.
    pub phase: String,
    /// The attempt to come (2 for the first retry).
    pub attempt: u32,
    /// How long the run waits before it (drawn with full jitter below the policy's ceiling).
    pub delay: Duration,
    /// Since the phase's first attempt started.
    pub duration: Duration,
}

/// A phase succeeded on a retry (`attempt` > 1); its `phase.completed` follows.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "phase.retry_success")]
#[non_exhaustive]
pub struct PhaseRetrySuccess {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The phase: its stage's name.
    pub phase: String,
    /// The attempt that succeeded.
    pub attempt: u32,
    /// The whole phase: every attempt and the delays between them.
    pub duration: Duration,
}

/// A phase failed for good: no retry policy, its retries spent, a
/// [`Permanent`](crate::Permanent) error, or `max_elapsed` reached. `chain.failed` follows.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "phase.final_failure")]
#[non_exhaustive]
pub struct PhaseFinalFailure {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The phase: its stage's name.
    pub phase: String,
    /// The last attempt (the phase's number of attempts).
    pub attempt: u32,
    /// The whole phase: every attempt and the delays between them.
    pub duration: Duration,
    /// The last attempt's error, as text.
    pub error: String,
}

/// A run succeeded: every stage that could handle the item did, or one stopped the chain.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "chain.completed")]
#[non_exhaustive]
pub struct ChainCompleted {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The whole run.
    pub duration: Duration,
    /// The stage that stopped the chain early, if one did.
    pub stopped_by: Option<String>,
}

/// A run failed: a phase failed for good (its `phase.final_failure` came just before).
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "chain.failed")]
#[non_exhaustive]
pub struct ChainFailed {
    /// The pipeline's name.
    pub pipeline: String,
    /// The run's session id.
    pub session: String,
    /// The phase that failed.
    pub phase: String,
    /// Its attempts.
    pub attempt: u32,
    /// The whole run.
    pub duration: Duration,
    /// The phase's last error, as text.
    pub error: String,
}
