//! One file per command; what they share is here.

pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod read;
pub(crate) mod snapshots;
pub(crate) mod stats;
pub(crate) mod tail;
pub(crate) mod verify;

use staticbus::Pattern;
use staticbus_store::StoredEvent;
use staticbus_store::admin::StoreFile;

use crate::Context;
use crate::cloudevents;
use crate::error::{Failure, missing_store};
use crate::output::{Out, event_line};

/// The store opened read-only; a missing file is an error naming it (nothing is created).
pub(crate) fn open(ctx: &Context) -> Result<StoreFile, Failure> {
    if !ctx.store.exists() {
        return Err(missing_store(&ctx.store));
    }
    Ok(StoreFile::open(&ctx.store, ctx.busy_timeout)?)
}

/// `--topic`'s pattern; one that does not parse is a usage error.
pub(crate) fn pattern(topic: Option<&str>) -> Result<Option<Pattern>, Failure> {
    topic
        .map(|p| Pattern::parse(p).map_err(|e| Failure::usage(format!("--topic {p:?}: {e}"))))
        .transpose()
}

/// An event as the command prints it: a CloudEvents line with `--json`, else for people.
pub(crate) fn print_event(out: &mut Out, json: bool, event: &StoredEvent) -> Result<(), Failure> {
    if json {
        out.line(&cloudevents::encode(event))
    } else {
        out.line(&event_line(event))
    }
}
