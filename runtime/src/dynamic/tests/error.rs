//! Tests of [`EventError`] as an error type.

use super::*;

#[test]
fn errors_are_send_sync_static() {
    fn check<E: std::error::Error + Send + Sync + 'static>() {}
    check::<EventError>();
    check::<TopicError>();
    check::<crate::PatternError>();
}
