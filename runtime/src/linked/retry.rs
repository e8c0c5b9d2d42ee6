//! Retries of a failed handler call: the policy ([`Retry`]), the errors that are not
//! retried ([`Permanent`]), and the seeded jitter that spaces the attempts.

use std::fmt;
use std::time::Duration;

use super::handler::BoxError;

/// How a failed handler call is tried again: up to `retries` more times, each after a delay
/// drawn with full jitter, uniformly from zero to the backoff's ceiling. An async handler is
/// retried wherever it runs (`publish`); a sync one by `publish` (which awaits the delays),
/// never by `emit`, which never waits: there its call is made once.
///
/// Before retry `k` (attempt `k + 1`) the ceiling is `min(max_delay, base * 2^(k-1))` for
/// [`exponential`](Retry::exponential), `base` for [`constant`](Retry::constant). A retry
/// whose delay would end past `max_elapsed` (from the first attempt's start; for a sync
/// handler, from its end) is not made. An
/// error wrapped in [`Permanent`] is never retried. Each attempt runs under the handler's
/// timeout, if it has one. The failure the publish reports is the last attempt's, with the
/// number of attempts ([`HandlerError::attempts`](crate::HandlerError::attempts)).
///
/// ```
/// use std::time::Duration;
/// use staticbus::Retry;
///
/// let retry = Retry::exponential(3, Duration::from_millis(50))
///     .max_delay(Duration::from_secs(5))
///     .max_elapsed(Duration::from_secs(30));
/// assert_eq!(retry.ceiling(1), Duration::from_millis(50));
/// assert_eq!(retry.ceiling(3), Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    retries: u32,
    exponential: bool,
    base: Duration,
    max_delay: Duration,
    max_elapsed: Option<Duration>,
}

impl Retry {
    /// Up to `retries` more attempts, the delay's ceiling doubling from `base` (no maximum:
    /// set one with [`max_delay`](Self::max_delay)).
    pub const fn exponential(retries: u32, base: Duration) -> Self {
        Retry {
            retries,
            exponential: true,
            base,
            max_delay: Duration::MAX,
            max_elapsed: None,
        }
    }

    /// Up to `retries` more attempts, each after a delay drawn from zero to `delay`.
    pub const fn constant(retries: u32, delay: Duration) -> Self {
        Retry {
            retries,
            exponential: false,
            base: delay,
            max_delay: Duration::MAX,
            max_elapsed: None,
        }
    }

    /// The largest delay's ceiling.
    pub const fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// No retry whose delay would end later than this after the first attempt started.
    pub const fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// Retries at most.
    pub const fn retries(&self) -> u32 {
        self.retries
    }

    /// The ceiling of the delay before retry `k` (counted from 1): what the jitter draws
    /// below. Saturates: any `k` and any durations are valid.
    pub fn ceiling(&self, k: u32) -> Duration {
        let ceiling = if self.exponential {
            let doublings = k.saturating_sub(1);
            match 1u32.checked_shl(doublings) {
                Some(factor) => self.base.saturating_mul(factor),
                None if self.base.is_zero() => Duration::ZERO,
                None => Duration::MAX,
            }
        } else {
            self.base
        };
        ceiling.min(self.max_delay)
    }

    /// The most a whole run of attempts may take, if limited.
    pub(crate) fn max_elapsed_limit(&self) -> Option<Duration> {
        self.max_elapsed
    }
}

/// An error no retry can mend (bad input, a refused request): return it wrapped, and the
/// call is not tried again.
///
/// ```
/// use staticbus::{BoxError, Permanent};
///
/// fn check(amount: i64) -> Result<(), BoxError> {
///     if amount < 0 {
///         return Err(Permanent::new(format!("negative amount {amount}")).into());
///     }
///     Ok(())
/// }
/// assert!(check(-1).unwrap_err().is::<Permanent>());
/// ```
#[derive(Debug)]
pub struct Permanent(BoxError);

impl Permanent {
    /// `error`, marked as not worth retrying.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Permanent(error.into())
    }

    /// The error it wraps.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (permanent: not retried)", self.0)
    }
}

impl std::error::Error for Permanent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
