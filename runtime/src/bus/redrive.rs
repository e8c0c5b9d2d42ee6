//! A dead letter's redrive to the subscription that failed on it.

use std::sync::Arc;

use crate::linked::invoke::{self, Outcome, Tried};
use crate::linked::{Call, HandlerError, Host, SubscriptionId};

use super::Bus;
use super::dead_letter::DeadLetter;
use super::subscription::{Sub, SubKind};

impl Bus {
    /// The live subscription `id`, if any.
    fn subscription(&self, id: SubscriptionId) -> Option<Arc<Sub>> {
        self.lock_subs()
            .iter()
            .find(|sub| sub.id == id && sub.is_active())
            .cloned()
    }

    /// Calls subscription `id`'s handler with `letter`'s event again, as a dispatch would
    /// (through the invoke step, under its timeout, retried by its policy; its filter is not
    /// asked again). `None` when the subscription is gone or the letter has no event. A
    /// failure is buried again: a new dead letter.
    pub(crate) async fn redrive_subscription(
        &self,
        host: &Host,
        call: &Call<'_>,
        id: SubscriptionId,
        letter: &DeadLetter,
    ) -> Option<Result<(), HandlerError>> {
        let sub = self.subscription(id)?;
        let view = letter.view()?;
        let event = letter.event()?;
        let (outcome, tried) = match &sub.kind {
            SubKind::Sync(handler) => (invoke::run(|| handler(host, call, &view)), Tried::once()),
            SubKind::Async(_) | SubKind::Detached(_) => {
                let handler = sub.async_handler()?;
                let shared = Arc::new(event.clone());
                let again = || Some(Arc::clone(&shared));
                match invoke::start_async(|| handler(host, call, Arc::clone(&shared))) {
                    Ok(future) => {
                        let topic = shared.topic().as_str();
                        self.await_call(host, call, &sub, topic, future, again)
                            .await
                    }
                    Err(outcome) => (outcome, Tried::once()),
                }
            }
            SubKind::Pull(_) => return None,
        };
        // A skipped call (its plugin is not running) fails the redrive: the letter is buried
        // again, with the mark as its error.
        Some(match outcome {
            Outcome::Handled => Ok(()),
            Outcome::Failed(source) => {
                let mut error = HandlerError::failed(sub.handler_ref(), source, tried);
                self.bury_view(host, call, Some(view), &mut error);
                Err(error)
            }
        })
    }
}
