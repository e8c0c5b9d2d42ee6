//! Static handlers behind a circuit breaker: the gate each call passes, and `emit`'s walk of
//! a table that has such handlers (such a table never opens its fast path, so tables
//! without one pay nothing).

use super::breaker::{Admission, Breaker};
use super::event::EventDesc;
use super::handler::HandlerInfo;
use super::host::{Call, Host};
use super::invoke::{self, HandlerError, HandlerRef, Outcome};
use super::table::{Built, Emitted};

/// What a handler's breaker says of one call.
pub(crate) enum Gate<'h> {
    /// The handler has no breaker.
    Free,
    /// Let through (`probe`: as a half-open probe): tell the breaker how it ends.
    Let { breaker: &'h Breaker, probe: bool },
    /// Rejected by this breaker.
    Rejected(&'h Breaker),
}

/// Asks `info`'s breaker in this system (if it has one) whether a call may be made.
#[inline]
pub(crate) fn gate<'h>(host: &'h Host, call: &Call<'_>, info: &'static HandlerInfo) -> Gate<'h> {
    if info.circuit_breaker().is_none() {
        return Gate::Free;
    }
    ask(host, call, info)
}

#[cold]
fn ask<'h>(host: &'h Host, call: &Call<'_>, info: &'static HandlerInfo) -> Gate<'h> {
    let Some(breaker) = host.breaker(info) else {
        return Gate::Free;
    };
    let (admission, moved) = breaker.admit();
    if let Some(state) = moved {
        host.circuit_moved(call, info, breaker, state);
    }
    match admission {
        Admission::Call => Gate::Let {
            breaker,
            probe: false,
        },
        Admission::Probe => Gate::Let {
            breaker,
            probe: true,
        },
        Admission::Reject => Gate::Rejected(breaker),
    }
}

/// Tells the breaker a call it let through ended (`succeeded` or not).
#[cold]
pub(crate) fn tell(
    host: &Host,
    call: &Call<'_>,
    info: &'static HandlerInfo,
    breaker: &Breaker,
    succeeded: bool,
    probe: bool,
) {
    if let Some(state) = breaker.record(succeeded, probe) {
        host.circuit_moved(call, info, breaker, state);
    }
}

/// A call its circuit rejected, as a failure, told to the system (which counts it, and makes
/// a dead letter of it if its policy says so).
///
/// # Safety
/// `event` is the address of a live value of `desc`'s type.
#[cold]
#[allow(unsafe_code, reason = "the event's address, for its dead letter")]
pub(crate) unsafe fn rejected(
    host: &Host,
    call: &Call<'_>,
    info: &'static HandlerInfo,
    breaker: &Breaker,
    desc: &EventDesc,
    event: *const (),
) -> HandlerError {
    let mut error = HandlerError::rejected(HandlerRef::Static(info), breaker);
    // SAFETY: the caller's contract. (The system counts it, and buries it if the policy
    // says so.)
    unsafe { host.static_failed(call, desc, event, &mut error) };
    error
}

impl Built {
    /// [`emit`](Built::emit) of a table with handlers behind breakers: each call passes its
    /// gate; a rejected one is a failure ([`CircuitOpen`]).
    ///
    /// # Safety
    /// `event` points to a live value of this table's event type.
    #[cold]
    #[inline(never)]
    #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
    pub(crate) unsafe fn emit_guarded(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: *const (),
    ) -> Emitted {
        let mut handled = 0;
        let mut errors = Vec::new();
        for (handler, &info) in self.sync.iter().zip(self.sync_info.iter()) {
            let admitted = match gate(host, call, info) {
                Gate::Free => None,
                Gate::Let { breaker, probe } => Some((breaker, probe)),
                Gate::Rejected(breaker) => {
                    // SAFETY: the caller's contract.
                    errors.push(unsafe { rejected(host, call, info, breaker, &self.desc, event) });
                    continue;
                }
            };
            // SAFETY: the caller's contract.
            let outcome = invoke::run(|| unsafe { handler(host, call, event) });
            if let Some((breaker, probe)) = admitted
                && !outcome.is_skipped()
            {
                let succeeded = matches!(outcome, Outcome::Handled);
                tell(host, call, info, breaker, succeeded, probe);
            }
            match outcome {
                Outcome::Handled => handled += 1,
                Outcome::Failed(source) if invoke::skipped(&source) => {}
                Outcome::Failed(source) => {
                    let mut error = super::table::static_failure(info, source);
                    // SAFETY: the caller's contract.
                    unsafe { host.static_failed(call, &self.desc, event, &mut error) };
                    errors.push(error);
                }
            }
        }
        Emitted::from_parts(handled, self.async_count, errors)
    }
}
