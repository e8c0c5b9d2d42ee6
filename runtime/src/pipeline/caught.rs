//! User code of this layer (a stage, a sink) run so that a panic becomes its failure, as the
//! invoke step does for handlers: a panicking stage fails its phase, a panicking sink its
//! batch, and neither unwinds through a run or the batch processor's task.

use std::future::{Future, poll_fn};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::Poll;

use crate::linked::HandlerPanic;

/// Makes a future with `make` and runs it to its output; a panic while making it or in any
/// poll comes back as the [`HandlerPanic`] it becomes (the future is dropped).
pub(crate) async fn caught<'a, R>(
    make: impl FnOnce() -> Pin<Box<dyn Future<Output = R> + Send + 'a>>,
) -> Result<R, HandlerPanic> {
    let mut future = match panic::catch_unwind(AssertUnwindSafe(make)) {
        Ok(future) => future,
        Err(payload) => return Err(panicked(payload.as_ref())),
    };
    poll_fn(
        move |cx| match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panicked(payload.as_ref()))),
        },
    )
    .await
}

#[cold]
fn panicked(payload: &(dyn std::any::Any + Send)) -> HandlerPanic {
    HandlerPanic::from_payload(payload)
}
