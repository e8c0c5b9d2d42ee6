//! Circuit breakers on the bus: asking a subscription's breaker before a call, telling it the
//! outcome after, and announcing each change of state on `staticbus.circuit.*`.
//!
//! Everything here runs only for subscriptions that have a breaker (opt-in): the walk checks
//! one field, and a subscription without one never comes here.

use crate::dynamic::{EventRef, Payload};
use crate::linked::{Admission, Breaker, Call, CircuitState, HandlerRef, Host};

use super::Bus;
use super::dispatch::Run;
use super::subscription::Sub;
use super::tally::Tally;

/// The topic a circuit's opening is announced on.
pub const CIRCUIT_OPENED_TOPIC: &str = "staticbus.circuit.opened";
/// The topic a circuit's going half-open is announced on.
pub const CIRCUIT_HALF_OPEN_TOPIC: &str = "staticbus.circuit.half_open";
/// The topic a circuit's closing is announced on.
pub const CIRCUIT_CLOSED_TOPIC: &str = "staticbus.circuit.closed";

/// A circuit changed state: the payload of the events on `staticbus.circuit.opened`,
/// `.half_open` and `.closed` (`event.downcast_ref::<CircuitChange>()`, or its JSON:
/// `handler`, `state`, `rejected`, `opened`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CircuitChange {
    /// Whose circuit.
    pub handler: HandlerRef,
    /// The state it moved to.
    pub state: CircuitState,
    /// Calls it rejected so far.
    pub rejected: u64,
    /// Times it opened so far.
    pub opened: u64,
}

impl serde::Serialize for CircuitChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("CircuitChange", 4)?;
        s.serialize_field("handler", &*self.handler.name())?;
        s.serialize_field("state", self.state.as_str())?;
        s.serialize_field("rejected", &self.rejected)?;
        s.serialize_field("opened", &self.opened)?;
        s.end()
    }
}

/// One circuit in [`MetricsSnapshot::circuits`](crate::MetricsSnapshot::circuits).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CircuitMetrics {
    /// Whose circuit: the handler's name, or the responder's (`module::Type::method`).
    pub handler: String,
    /// Its state now.
    pub state: CircuitState,
    /// Calls it rejected.
    pub rejected: u64,
    /// Times it opened.
    pub opened: u64,
}

impl CircuitMetrics {
    pub(crate) fn of(handler: &HandlerRef, breaker: &Breaker) -> CircuitMetrics {
        CircuitMetrics::named(&handler.name(), breaker)
    }

    pub(crate) fn named(handler: &str, breaker: &Breaker) -> CircuitMetrics {
        let counts = breaker.counts();
        CircuitMetrics {
            handler: handler.to_owned(),
            state: counts.state,
            rejected: counts.rejected,
            opened: counts.opened,
        }
    }
}

impl Bus {
    /// Announces that `handler`'s circuit moved to `state`.
    #[cold]
    pub(crate) fn circuit_moved(
        &self,
        host: &Host,
        call: &Call<'_>,
        handler: HandlerRef,
        breaker: &Breaker,
        state: CircuitState,
    ) {
        let topic = match state {
            CircuitState::Open => CIRCUIT_OPENED_TOPIC,
            CircuitState::HalfOpen => CIRCUIT_HALF_OPEN_TOPIC,
            CircuitState::Closed => CIRCUIT_CLOSED_TOPIC,
        };
        tracing::info!(handler = %handler.name(), %state, "staticbus: circuit {state}");
        let counts = breaker.counts();
        self.announce(host, call, topic, || {
            Payload::serializable(CircuitChange {
                handler,
                state,
                rejected: counts.rejected,
                opened: counts.opened,
            })
        });
    }

    /// Asks `sub`'s breaker whether a call on `event` may be made: `Some(probe)` if so; if
    /// not, the rejection is counted (dropped, `CircuitOpen`; a failure in the report; a dead
    /// letter if the policy says so) and `None` comes back.
    #[cold]
    #[inline(never)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the walk's state, as the walk has it"
    )]
    pub(super) fn admit(
        &self,
        host: &Host,
        call: &Call<'_>,
        sub: &Sub,
        breaker: &Breaker,
        event: EventRef<'_>,
        run: &mut Run,
        tally: &mut Tally,
    ) -> Option<bool> {
        match self.ask_breaker(host, call, sub, breaker) {
            Admission::Call => Some(false),
            Admission::Probe => Some(true),
            Admission::Reject => {
                tally.reject(&mut run.books, sub, breaker, |error| {
                    self.bury_view(host, call, Some(event), error)
                });
                None
            }
        }
    }

    /// What `sub`'s breaker says of a call about to be made; a change of state that asking
    /// made (open -> half-open) is announced.
    pub(super) fn ask_breaker(
        &self,
        host: &Host,
        call: &Call<'_>,
        sub: &Sub,
        breaker: &Breaker,
    ) -> Admission {
        let (admission, moved) = breaker.admit();
        if let Some(state) = moved {
            self.circuit_moved(host, call, sub.handler_ref(), breaker, state);
        }
        admission
    }

    /// Tells `sub`'s breaker how a call it let through ended.
    #[cold]
    pub(super) fn tell_breaker(
        &self,
        host: &Host,
        call: &Call<'_>,
        sub: &Sub,
        breaker: &Breaker,
        succeeded: bool,
        probe: bool,
    ) {
        if let Some(state) = breaker.record(succeeded, probe) {
            self.circuit_moved(host, call, sub.handler_ref(), breaker, state);
        }
    }
}
