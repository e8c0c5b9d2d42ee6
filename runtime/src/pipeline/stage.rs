//! One step of a pipeline: the [`Stage`] trait, what a stage comes to ([`StageOutcome`]),
//! what it is told ([`StageContext`]), and stages made of a name and an async closure
//! ([`stage_fn`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::linked::BoxError;
use crate::system::EventSystem;

/// What [`Stage::process`] returns: a boxed future of the stage's outcome, `Send`, borrowing
/// the stage and its context.
pub type StageFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<StageOutcome<T>, BoxError>> + Send + 'a>>;

/// How a stage that succeeded goes on: hand the item to the next stage, or stop the chain
/// here (the run still succeeds, with this item, and the later stages do not run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome<T> {
    /// The next stage gets the item.
    Continue(T),
    /// The chain ends here, successfully, with the item.
    Stop(T),
}

impl<T> StageOutcome<T> {
    /// The item, however the chain goes on.
    pub fn into_item(self) -> T {
        match self {
            StageOutcome::Continue(item) | StageOutcome::Stop(item) => item,
        }
    }

    /// Whether the chain stops here.
    pub fn is_stop(&self) -> bool {
        matches!(self, StageOutcome::Stop(_))
    }
}

/// One step of a [`Pipeline`](crate::Pipeline): it takes the item by value and hands it on
/// (possibly changed, or stopping the chain), or fails.
///
/// Dyn-compatible: a pipeline holds its stages as `Box<dyn Stage<T>>`. For a stage made of
/// an async closure, see [`stage_fn`]. A stage's error wrapped in
/// [`Permanent`](crate::Permanent) is not retried; a panic in `process` (or in the future it
/// returns) is the attempt's failure, as an error is.
///
/// ```
/// use staticbus::{Stage, StageContext, StageFuture, StageOutcome};
///
/// /// Doubles the number, and stops the chain past a limit.
/// struct Double { limit: u64 }
///
/// impl Stage<u64> for Double {
///     fn name(&self) -> &str { "double" }
///     fn can_handle(&self, n: &u64) -> bool { *n != 0 }
///     fn process<'a>(&'a self, n: u64, ctx: &'a StageContext) -> StageFuture<'a, u64> {
///         Box::pin(async move {
///             let n = n.checked_mul(2).ok_or("overflow")?;
///             assert_eq!(ctx.phase(), "double");
///             Ok(if n > self.limit { StageOutcome::Stop(n) } else { StageOutcome::Continue(n) })
///         })
///     }
/// }
/// ```
pub trait Stage<T>: Send + Sync {
    /// The stage's name: its phase's name in the events and the run's report, unique in its
    /// pipeline. Read once, when the stage is added to a builder.
    fn name(&self) -> &str;

    /// Whether the stage takes this item; a stage that does not is skipped (no attempt, no
    /// event), and the item goes to the next one unchanged. Every item, by default.
    fn can_handle(&self, item: &T) -> bool {
        let _ = item;
        true
    }

    /// Processes the item: one attempt of the stage's phase.
    fn process<'a>(&'a self, item: T, ctx: &'a StageContext) -> StageFuture<'a, T>;
}

/// What a stage's attempt is told: the system the pipeline runs on, the pipeline's name, the
/// run's session, the phase (the stage's name) and the attempt (from 1).
#[derive(Debug, Clone)]
pub struct StageContext {
    pub(crate) system: EventSystem,
    pub(crate) pipeline: Arc<str>,
    pub(crate) session: Arc<str>,
    pub(crate) phase: Arc<str>,
    pub(crate) attempt: u32,
}

impl StageContext {
    /// The system the pipeline runs on (to publish from a stage).
    pub fn system(&self) -> &EventSystem {
        &self.system
    }

    /// The pipeline's name.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The run's session id.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The phase: the stage's name.
    pub fn phase(&self) -> &str {
        &self.phase
    }

    /// Which attempt this is, from 1 (more only for a stage with a retry policy).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// A stage made of a name and an async closure (see [`stage_fn`]), optionally limited to the
/// items a predicate accepts ([`when`](Self::when)).
pub struct FnStage<T, F> {
    name: String,
    process: F,
    when: Option<Accepts<T>>,
}

/// The predicate of [`FnStage::when`].
type Accepts<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// A stage named `name` that runs `process` on each item: an async closure returning the
/// [`StageOutcome`] or an error (anything that converts into a [`BoxError`], as `?` does).
///
/// ```
/// use staticbus::{StageOutcome, stage_fn};
///
/// let trim = stage_fn("trim", |s: String| async move {
///     if s.is_empty() {
///         return Err("empty input".into());
///     }
///     Ok(StageOutcome::Continue(s.trim().to_owned()))
/// })
/// .when(|s: &String| !s.starts_with('#')); // comments skip this stage
/// # let _ = trim;
/// ```
pub fn stage_fn<T, F, Fut>(name: impl Into<String>, process: F) -> FnStage<T, F>
where
    F: Fn(T) -> Fut + Send + Sync,
    Fut: Future<Output = Result<StageOutcome<T>, BoxError>> + Send + 'static,
{
    FnStage {
        name: name.into(),
        process,
        when: None,
    }
}

impl<T, F> FnStage<T, F> {
    /// Only items for which `accepts` is true are processed; the others skip this stage.
    pub fn when(mut self, accepts: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.when = Some(Box::new(accepts));
        self
    }
}

impl<T, F> fmt::Debug for FnStage<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnStage")
            .field("name", &self.name)
            .field("when", &self.when.is_some())
            .finish_non_exhaustive()
    }
}

impl<T, F, Fut> Stage<T> for FnStage<T, F>
where
    F: Fn(T) -> Fut + Send + Sync,
    Fut: Future<Output = Result<StageOutcome<T>, BoxError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn can_handle(&self, item: &T) -> bool {
        self.when.as_ref().is_none_or(|accepts| accepts(item))
    }

    fn process<'a>(&'a self, item: T, _: &'a StageContext) -> StageFuture<'a, T> {
        Box::pin((self.process)(item))
    }
}

/// A boxed stage is a stage (a pipeline's builder takes either).
impl<T, S: Stage<T> + ?Sized> Stage<T> for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn can_handle(&self, item: &T) -> bool {
        (**self).can_handle(item)
    }

    fn process<'a>(&'a self, item: T, ctx: &'a StageContext) -> StageFuture<'a, T> {
        (**self).process(item, ctx)
    }
}
