//! Circuit breakers, per handler and opt-in: the policy ([`CircuitBreaker`]), and the state
//! one handler's breaker is in within one system ([`Breaker`]).
//!
//! Closed: calls go through and their outcomes are counted. Too many failures open it: calls
//! are rejected (not made) until `reset` has passed; then it is half-open and lets `probes`
//! calls through: each succeeding closes it once all have, any failing opens it again.
//! Time is Tokio's clock (`tokio::time::Instant`), so a paused test clock drives it.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// When a handler's circuit opens, and how it closes again.
///
/// Three rules: `failures` consecutive failed calls ([`consecutive`](Self::consecutive));
/// `failures` failed calls over a rolling `window` in which at least `min_calls` calls were
/// made ([`within`](Self::within)); or, over such a window, a fraction `ratio` of the calls
/// failed ([`ratio`](Self::ratio)). Open, it rejects every call until `reset` has passed
/// (default 30 s); then it lets `probes` calls through (default 1): all succeeding close it,
/// one failing opens it again. The window is ten buckets of a tenth of it each.
///
/// As an attribute: `#[on(circuit_breaker(failures = 5))]`,
/// `#[on(circuit_breaker(failures = 5, window = "30s", min_calls = 10, reset = "30s",
/// probes = 1))]`, `#[on(circuit_breaker(ratio = 0.5, window = "1m", min_calls = 20))]`;
/// `dead_letter = true` makes rejected calls dead letters too.
///
/// ```
/// use std::time::Duration;
/// use staticbus::CircuitBreaker;
///
/// let breaker = CircuitBreaker::consecutive(5)
///     .reset(Duration::from_secs(10))
///     .probes(2);
/// let by_count = CircuitBreaker::within(5, Duration::from_secs(30), 10);
/// let by_ratio = CircuitBreaker::ratio(0.5, Duration::from_secs(30), 10);
/// assert_eq!(breaker.reset_after(), Duration::from_secs(10));
/// assert_eq!(by_count.window(), Some(Duration::from_secs(30)));
/// assert_eq!(by_ratio.min_calls(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircuitBreaker {
    failures: Option<u32>,
    ratio: Option<f64>,
    window: Option<Duration>,
    min_calls: u32,
    reset: Duration,
    probes: u32,
    dead_letter: bool,
}

/// `n`, at least 1.
const fn at_least_one(n: u32) -> u32 {
    if n == 0 { 1 } else { n }
}

impl CircuitBreaker {
    const BASE: CircuitBreaker = CircuitBreaker {
        failures: None,
        ratio: None,
        window: None,
        min_calls: 1,
        reset: Duration::from_secs(30),
        probes: 1,
        dead_letter: false,
    };

    /// Opens after `failures` consecutive failed calls (at least 1: 0 counts as 1).
    pub const fn consecutive(failures: u32) -> Self {
        CircuitBreaker {
            failures: Some(at_least_one(failures)),
            ..Self::BASE
        }
    }

    /// Opens when, over the last `window`, at least `min_calls` calls were made and at least
    /// `failures` of them failed (both at least 1).
    pub const fn within(failures: u32, window: Duration, min_calls: u32) -> Self {
        CircuitBreaker {
            failures: Some(at_least_one(failures)),
            window: Some(window),
            min_calls: at_least_one(min_calls),
            ..Self::BASE
        }
    }

    /// Opens when, over the last `window`, at least `min_calls` calls were made and a
    /// fraction of at least `ratio` of them failed (`ratio` is clamped to 0..=1; NaN is 1).
    pub const fn ratio(ratio: f64, window: Duration, min_calls: u32) -> Self {
        #[allow(clippy::eq_op, reason = "the NaN check, in a const fn")]
        let ratio = if ratio != ratio {
            1.0
        } else if ratio < 0.0 {
            0.0
        } else if ratio > 1.0 {
            1.0
        } else {
            ratio
        };
        CircuitBreaker {
            ratio: Some(ratio),
            window: Some(window),
            min_calls: at_least_one(min_calls),
            ..Self::BASE
        }
    }

    /// How long it stays open before letting probes through. Any duration is valid: one too
    /// long to be a deadline keeps it open.
    pub const fn reset(mut self, reset: Duration) -> Self {
        self.reset = reset;
        self
    }

    /// How many calls half-open lets through, all of which must succeed to close it (at
    /// least 1: 0 counts as 1).
    pub const fn probes(mut self, probes: u32) -> Self {
        self.probes = at_least_one(probes);
        self
    }

    /// Whether a rejected call also becomes a dead letter (reason `circuit_open`). Default
    /// off: a rejection is counted, and reported to the publisher, only.
    pub const fn dead_letter_rejected(mut self, on: bool) -> Self {
        self.dead_letter = on;
        self
    }

    /// The failures that open it (consecutive without a window), if that rule is on.
    pub const fn failures(&self) -> Option<u32> {
        self.failures
    }

    /// The failure ratio that opens it, if that rule is on.
    pub const fn failure_ratio(&self) -> Option<f64> {
        self.ratio
    }

    /// The rolling window failures are counted over, if any.
    pub const fn window(&self) -> Option<Duration> {
        self.window
    }

    /// The calls the window must hold before it may open (1 without a window).
    pub const fn min_calls(&self) -> u32 {
        self.min_calls
    }

    /// How long it stays open.
    pub const fn reset_after(&self) -> Duration {
        self.reset
    }

    /// How many probes half-open lets through.
    pub const fn probe_calls(&self) -> u32 {
        self.probes
    }

    /// Whether rejected calls become dead letters.
    pub const fn dead_letters_rejected(&self) -> bool {
        self.dead_letter
    }
}

/// A circuit's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are rejected.
    Open,
    /// A few probe calls go through; the rest are rejected.
    HalfOpen,
}

impl CircuitState {
    /// `"closed"`, `"open"` or `"half_open"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a breaker says of one call about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Make it (closed).
    Call,
    /// Make it as a probe (half-open): report its outcome with `probe: true`.
    Probe,
    /// Do not make it.
    Reject,
}

/// The rolling window of the ratio rule: ten buckets of a tenth of the window each.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which tenth of the window since the breaker began this bucket counts.
    slot: u64,
    calls: u32,
    failures: u32,
}

#[derive(Debug)]
struct State {
    state: CircuitState,
    consecutive: u32,
    buckets: [Bucket; BUCKETS],
    /// Open: until when.
    until: Option<Instant>,
    /// Half-open: probes let through and not reported yet, probes that succeeded.
    probing: u32,
    succeeded: u32,
    rejected: u64,
    opened: u64,
}

/// One handler's breaker in one system.
#[derive(Debug)]
pub(crate) struct Breaker {
    policy: CircuitBreaker,
    began: Instant,
    state: parking_lot::Mutex<State>,
}

/// The counts of one breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BreakerCounts {
    pub(crate) state: CircuitState,
    pub(crate) rejected: u64,
    pub(crate) opened: u64,
}

impl Breaker {
    pub(crate) fn new(policy: CircuitBreaker) -> Breaker {
        Breaker {
            policy,
            began: Instant::now(),
            state: parking_lot::Mutex::new(State {
                state: CircuitState::Closed,
                consecutive: 0,
                buckets: [Bucket::default(); BUCKETS],
                until: None,
                probing: 0,
                succeeded: 0,
                rejected: 0,
                opened: 0,
            }),
        }
    }

    pub(crate) fn policy(&self) -> &CircuitBreaker {
        &self.policy
    }

    /// Whether a call may be made now; the state it moved to, if asking moved it (open ->
    /// half-open once `reset` has passed).
    pub(crate) fn admit(&self) -> (Admission, Option<CircuitState>) {
        let now = Instant::now();
        let mut s = self.state.lock();
        let mut moved = None;
        if s.state == CircuitState::Open && s.until.is_some_and(|until| now >= until) {
            s.state = CircuitState::HalfOpen;
            s.probing = 0;
            s.succeeded = 0;
            moved = Some(CircuitState::HalfOpen);
        }
        let admission = match s.state {
            CircuitState::Closed => Admission::Call,
            CircuitState::HalfOpen if s.probing + s.succeeded < self.policy.probes => {
                s.probing += 1;
                Admission::Probe
            }
            CircuitState::Open | CircuitState::HalfOpen => {
                s.rejected += 1;
                Admission::Reject
            }
        };
        (admission, moved)
    }

    /// Counts a call's outcome; the state it moved to, if it moved.
    pub(crate) fn record(&self, succeeded: bool, probe: bool) -> Option<CircuitState> {
        let now = Instant::now();
        let mut s = self.state.lock();
        if probe {
            s.probing = s.probing.saturating_sub(1);
        }
        match s.state {
            CircuitState::HalfOpen if probe => {
                if !succeeded {
                    return Some(self.open(&mut s, now));
                }
                s.succeeded += 1;
                if s.succeeded >= self.policy.probes {
                    s.state = CircuitState::Closed;
                    s.consecutive = 0;
                    s.buckets = [Bucket::default(); BUCKETS];
                    return Some(CircuitState::Closed);
                }
                None
            }
            CircuitState::Closed => {
                s.consecutive = if succeeded {
                    0
                } else {
                    s.consecutive.saturating_add(1)
                };
                let trips = match self.policy.window {
                    None => self
                        .policy
                        .failures
                        .is_some_and(|failures| s.consecutive >= failures),
                    Some(window) => self.count_window(&mut s, window, now, succeeded),
                };
                trips.then(|| self.open(&mut s, now))
            }
            // A call admitted before the circuit opened (or a probe of an earlier half-open
            // spell) finishing now: it changes nothing.
            CircuitState::Open | CircuitState::HalfOpen => None,
        }
    }

    /// A call it let through ended without an outcome to count (it never ran): its probe,
    /// if it was one, is free again.
    pub(crate) fn release(&self, probe: bool) {
        if probe {
            let mut s = self.state.lock();
            s.probing = s.probing.saturating_sub(1);
        }
    }

    /// Adds the call to the window; whether the window's rule trips.
    fn count_window(&self, s: &mut State, window: Duration, now: Instant, succeeded: bool) -> bool {
        let tenth = (window / BUCKETS as u32).max(Duration::from_nanos(1));
        let elapsed = now.saturating_duration_since(self.began);
        let slot = u64::try_from(elapsed.as_nanos() / tenth.as_nanos()).unwrap_or(u64::MAX);
        let bucket = &mut s.buckets[(slot % BUCKETS as u64) as usize];
        if bucket.slot != slot {
            *bucket = Bucket {
                slot,
                calls: 0,
                failures: 0,
            };
        }
        bucket.calls = bucket.calls.saturating_add(1);
        if !succeeded {
            bucket.failures = bucket.failures.saturating_add(1);
        }
        let live = s
            .buckets
            .iter()
            .filter(|b| slot.saturating_sub(b.slot) < BUCKETS as u64);
        let (calls, failures) = live.fold((0u64, 0u64), |(c, f), b| {
            (c + u64::from(b.calls), f + u64::from(b.failures))
        });
        let policy = &self.policy;
        calls >= u64::from(policy.min_calls)
            && (policy.failures.is_some_and(|f| failures >= u64::from(f))
                || policy
                    .ratio
                    .is_some_and(|r| failures as f64 >= r * calls as f64))
    }

    fn open(&self, s: &mut State, now: Instant) -> CircuitState {
        s.state = CircuitState::Open;
        // A reset too long to be a deadline keeps it open.
        s.until = now.checked_add(self.policy.reset);
        s.probing = 0;
        s.succeeded = 0;
        s.opened += 1;
        CircuitState::Open
    }

    pub(crate) fn counts(&self) -> BreakerCounts {
        let s = self.state.lock();
        BreakerCounts {
            state: s.state,
            rejected: s.rejected,
            opened: s.opened,
        }
    }
}

/// A call its handler's open circuit rejected: it was not made. The
/// [`source`](crate::HandlerError::source) of the handler's
/// [`HandlerError`](crate::HandlerError) ([`HandlerError::circuit_open`](crate::HandlerError::circuit_open)
/// finds it); `metrics()` counts it dropped, [`DropReason::CircuitOpen`](crate::DropReason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rejected: its circuit is {state}")]
pub struct CircuitOpen {
    pub(crate) state: CircuitState,
    /// Its policy makes a dead letter of it ([`CircuitBreaker::dead_letter_rejected`]).
    pub(crate) dead_letter: bool,
}

impl CircuitOpen {
    /// The circuit's state when it rejected the call (open, or half-open with its probes
    /// taken).
    pub fn state(&self) -> CircuitState {
        self.state
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
