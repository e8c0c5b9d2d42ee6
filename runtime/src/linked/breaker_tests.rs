//! Every transition of a breaker, table-driven, on Tokio's paused clock.

use std::time::Duration;

use super::*;
use CircuitState::{Closed, HalfOpen, Open};

/// One step: wait `after` ms, then ask to call (`Some(outcome)`: it is made and ends that
/// way; the admission must be `admitted`), checking the state after and what moved.
struct Step {
    after: u64,
    admitted: Admission,
    succeeds: bool,
    state: CircuitState,
    moved: &'static [CircuitState],
}

const fn step(
    after: u64,
    admitted: Admission,
    succeeds: bool,
    state: CircuitState,
    moved: &'static [CircuitState],
) -> Step {
    Step {
        after,
        admitted,
        succeeds,
        state,
        moved,
    }
}

use Admission::{Call, Probe, Reject};

async fn run(policy: CircuitBreaker, steps: &[Step]) -> BreakerCounts {
    let breaker = Breaker::new(policy);
    for (i, s) in steps.iter().enumerate() {
        tokio::time::advance(Duration::from_millis(s.after)).await;
        let (admission, mut moved) = breaker.admit();
        assert_eq!(admission, s.admitted, "step {i}: admission");
        let mut all: Vec<CircuitState> = moved.take().into_iter().collect();
        if admission != Reject {
            all.extend(breaker.record(s.succeeds, admission == Probe));
        }
        assert_eq!(all, s.moved, "step {i}: transitions");
        assert_eq!(breaker.counts().state, s.state, "step {i}: state");
    }
    breaker.counts()
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_reset_half_opens_a_probe_closes() {
    let policy = CircuitBreaker::consecutive(3).reset(Duration::from_millis(100));
    let counts = run(
        policy,
        &[
            step(0, Call, false, Closed, &[]),
            step(0, Call, false, Closed, &[]),
            step(0, Call, true, Closed, &[]), // a success resets the run
            step(0, Call, false, Closed, &[]),
            step(0, Call, false, Closed, &[]),
            step(0, Call, false, Open, &[Open]),
            step(50, Reject, false, Open, &[]),
            step(49, Reject, false, Open, &[]),
            step(1, Probe, true, Closed, &[HalfOpen, Closed]),
            step(0, Call, false, Closed, &[]),
        ],
    )
    .await;
    assert_eq!((counts.rejected, counts.opened), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_failing_probe_opens_it_again_for_another_reset() {
    let policy = CircuitBreaker::consecutive(1).reset(Duration::from_millis(10));
    let counts = run(
        policy,
        &[
            step(0, Call, false, Open, &[Open]),
            step(10, Probe, false, Open, &[HalfOpen, Open]),
            step(9, Reject, false, Open, &[]),
            step(1, Probe, true, Closed, &[HalfOpen, Closed]),
        ],
    )
    .await;
    assert_eq!((counts.rejected, counts.opened), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_probes_through_and_rejects_the_rest_until_they_report() {
    let breaker = Breaker::new(
        CircuitBreaker::consecutive(1)
            .reset(Duration::from_millis(10))
            .probes(2),
    );
    assert_eq!(breaker.admit(), (Call, None));
    assert_eq!(breaker.record(false, false), Some(Open));
    tokio::time::advance(Duration::from_millis(10)).await;
    assert_eq!(breaker.admit(), (Probe, Some(HalfOpen)));
    assert_eq!(breaker.admit(), (Probe, None));
    assert_eq!(breaker.admit(), (Reject, None), "both probes are out");
    assert_eq!(breaker.record(true, true), None, "one of two");
    assert_eq!(breaker.admit(), (Reject, None), "still one probe out");
    assert_eq!(breaker.record(true, true), Some(Closed));
    assert_eq!(breaker.admit(), (Call, None));
    assert_eq!(breaker.counts().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn the_ratio_rule_needs_its_minimum_of_calls_within_the_window() {
    // Half of at least 4 calls over 1 s.
    let policy = CircuitBreaker::ratio(0.5, Duration::from_secs(1), 4);
    run(
        policy,
        &[
            step(0, Call, false, Closed, &[]),
            step(0, Call, false, Closed, &[]),
            step(0, Call, false, Closed, &[]), // 3 of 3 failed, but fewer than 4 calls
            step(1500, Call, true, Closed, &[]), // the three left the window
            step(0, Call, true, Closed, &[]),
            step(0, Call, false, Closed, &[]),
            step(0, Call, false, Open, &[Open]), // 2 of 4
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_call_admitted_before_it_opened_changes_nothing_when_it_ends() {
    let breaker = Breaker::new(CircuitBreaker::consecutive(1));
    assert_eq!(breaker.admit(), (Call, None));
    assert_eq!(breaker.admit(), (Call, None));
    assert_eq!(breaker.record(false, false), Some(Open));
    assert_eq!(breaker.record(true, false), None, "late, and open");
    assert_eq!(breaker.counts().state, Open);
}

#[tokio::test(start_paused = true)]
async fn failures_within_a_window_need_its_minimum_of_calls() {
    // Three failures among at least five calls over 1 s.
    let policy = CircuitBreaker::within(3, Duration::from_secs(1), 5);
    run(
        policy,
        &[
            step(0, Call, false, Closed, &[]),
            step(0, Call, false, Closed, &[]),
            step(0, Call, true, Closed, &[]),
            step(0, Call, false, Closed, &[]), // three failures, four calls
            step(0, Call, true, Open, &[Open]), // five calls: a success can open it
        ],
    )
    .await;
}

#[test]
fn policies_keep_their_values_in_range() {
    assert_eq!(CircuitBreaker::consecutive(0).failures(), Some(1));
    assert_eq!(CircuitBreaker::consecutive(2).probes(0).probe_calls(), 1);
    let nan = CircuitBreaker::ratio(f64::NAN, Duration::ZERO, 0);
    assert_eq!((nan.failure_ratio(), nan.min_calls()), (Some(1.0), 1));
    assert_eq!(nan.window(), Some(Duration::ZERO));
    let over = CircuitBreaker::ratio(7.0, Duration::MAX, u32::MAX);
    assert_eq!(
        (over.failure_ratio(), over.min_calls()),
        (Some(1.0), u32::MAX)
    );
    assert_eq!(
        CircuitBreaker::ratio(-1.0, Duration::ZERO, 1).failure_ratio(),
        Some(0.0)
    );
    assert_eq!(
        CircuitBreaker::within(0, Duration::ZERO, 0).failures(),
        Some(1)
    );
}

#[tokio::test(start_paused = true)]
async fn extreme_windows_and_resets_never_panic() {
    for window in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
        let breaker = Breaker::new(CircuitBreaker::ratio(0.0, window, 1).reset(Duration::MAX));
        assert_eq!(breaker.admit(), (Call, None));
        assert_eq!(breaker.record(false, false), Some(Open));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            breaker.admit().0,
            Reject,
            "a reset too long to be a deadline stays open"
        );
    }
}
