//! Given / when / then for aggregates, in memory (no store): the events that happened
//! (`given`), a decision on the state they fold into (`when`), and the events (`then`) or
//! the error (`then_error`) it must give.
//!
//! ```
//! # use serde::{Deserialize, Serialize};
//! # use staticbus_store::Aggregate;
//! use staticbus_store::testing::given;
//!
//! # #[derive(Debug, Default)]
//! # struct Account { balance: u64 }
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! # enum Event { Deposited(u64), Withdrawn(u64) }
//! # impl Aggregate for Account {
//! #     type Event = Event;
//! #     const KIND: &'static str = "account";
//! #     fn topic(event: &Event) -> &str {
//! #         match event { Event::Deposited(_) => "account.deposited", Event::Withdrawn(_) => "account.withdrawn" }
//! #     }
//! #     fn apply(&mut self, event: &Event) {
//! #         match event { Event::Deposited(n) => self.balance += n, Event::Withdrawn(n) => self.balance -= n }
//! #     }
//! # }
//! impl Account {
//!     fn withdraw(&self, amount: u64) -> Result<Vec<Event>, String> {
//!         if amount > self.balance {
//!             return Err(format!("only {} left", self.balance));
//!         }
//!         Ok(vec![Event::Withdrawn(amount)])
//!     }
//! }
//!
//! let account = given::<Account>([Event::Deposited(50)])
//!     .when(|account| account.withdraw(20))
//!     .then([Event::Withdrawn(20)]);
//! assert_eq!(account.balance, 30);
//!
//! given::<Account>([Event::Deposited(50)])
//!     .when(|account| account.withdraw(80))
//!     .then_error("only 50 left".to_owned());
//! ```

use std::fmt::{self, Debug};

use crate::aggregate::Aggregate;

/// Starts a case: the state `events` fold into, from the default.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let mut state = A::default();
    for event in events {
        state.apply(&event);
    }
    Given { state }
}

/// The state a case starts from.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    /// The state the given events folded into.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Decides on the state: `decide` returns the new events or an error.
    pub fn when<E>(self, decide: impl FnOnce(&A) -> Result<Vec<A::Event>, E>) -> When<A, E> {
        let outcome = decide(&self.state);
        When {
            state: self.state,
            outcome,
        }
    }
}

/// A decision made, to be checked.
pub struct When<A: Aggregate, E> {
    state: A,
    outcome: Result<Vec<A::Event>, E>,
}

impl<A: Aggregate, E> When<A, E> {
    /// What the decision gave.
    pub fn outcome(&self) -> Result<&[A::Event], &E> {
        self.outcome.as_deref()
    }

    /// Checks that the decision gave exactly `expected` (in order), that each of them would
    /// be stored (its topic is one the store takes, its JSON decodes back to it), and
    /// returns the state they fold into.
    pub fn try_then(self, expected: impl IntoIterator<Item = A::Event>) -> Result<A, Mismatch>
    where
        A::Event: PartialEq + Debug,
        E: Debug,
    {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        let events = match self.outcome {
            Ok(events) => events,
            Err(error) => {
                return Err(Mismatch(format!(
                    "expected the events {expected:?}, the decision failed: {error:?}"
                )));
            }
        };
        if events != expected {
            return Err(Mismatch(format!(
                "expected the events {expected:?}, the decision gave {events:?}"
            )));
        }
        let mut state = self.state;
        for event in &events {
            storable::<A>(event)?;
            state.apply(event);
        }
        Ok(state)
    }

    /// Checks that the decision failed with `expected`; returns the state, unchanged.
    pub fn try_then_error(self, expected: E) -> Result<A, Mismatch>
    where
        A::Event: Debug,
        E: PartialEq + Debug,
    {
        match self.outcome {
            Err(error) if error == expected => Ok(self.state),
            Err(error) => Err(Mismatch(format!(
                "expected the error {expected:?}, the decision failed with {error:?}"
            ))),
            Ok(events) => Err(Mismatch(format!(
                "expected the error {expected:?}, the decision gave the events {events:?}"
            ))),
        }
    }

    /// [`try_then`](When::try_then), panicking (at the caller) on a mismatch.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A
    where
        A::Event: PartialEq + Debug,
        E: Debug,
    {
        self.try_then(expected).unwrap_or_else(|m| panic!("{m}"))
    }

    /// [`try_then_error`](When::try_then_error), panicking (at the caller) on a mismatch.
    #[track_caller]
    pub fn then_error(self, expected: E) -> A
    where
        A::Event: Debug,
        E: PartialEq + Debug,
    {
        self.try_then_error(expected)
            .unwrap_or_else(|m| panic!("{m}"))
    }
}

impl<A: Aggregate + Debug, E: Debug> Debug for When<A, E>
where
    A::Event: Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("When")
            .field("state", &self.state)
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// Whether `event` would be stored as it is: a topic the store takes, JSON that decodes
/// back to it.
fn storable<A: Aggregate>(event: &A::Event) -> Result<(), Mismatch>
where
    A::Event: PartialEq + Debug,
{
    let topic = A::topic(event);
    if let Err(error) = staticbus::Topic::new(topic) {
        return Err(Mismatch(format!(
            "the event {event:?} has topic `{topic}`, which the store refuses: {error}"
        )));
    }
    let json = serde_json::to_vec(event)
        .map_err(|e| Mismatch(format!("the event {event:?} does not serialize: {e}")))?;
    match serde_json::from_slice::<A::Event>(&json) {
        Ok(back) if back == *event => Ok(()),
        Ok(back) => Err(Mismatch(format!(
            "the event {event:?} is loaded back as {back:?} (its JSON: {})",
            String::from_utf8_lossy(&json)
        ))),
        Err(e) => Err(Mismatch(format!(
            "the event {event:?} does not decode from its own JSON {}: {e}",
            String::from_utf8_lossy(&json)
        ))),
    }
}

/// What a given / when / then case found instead of what it expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(String);

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}
