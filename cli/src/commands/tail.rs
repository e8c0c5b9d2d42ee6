//! `staticbus tail`: the last events, and with `--follow` the new ones as they commit.
//!
//! Following polls the database (a read every `--interval`) rather than using
//! `Store::subscribe`: a catch-up subscription learns of commits from its own store's
//! writer, in the same process, and the appends `tail` follows are made by other processes.
//! Each read starts after the last position looked at, so nothing is printed twice or
//! skipped (positions are committed in order, with no gap).

use std::time::Duration;

use staticbus::Pattern;
use staticbus_store::StoredEvent;
use staticbus_store::admin::StoreFile;

use crate::Context;
use crate::error::Failure;
use crate::output::Out;

/// Rows read at a time.
const CHUNK: usize = 512;

/// Prints the last `lines` events `topic` takes, then (with `follow`) every new one, until
/// Ctrl-C or a closed standard output.
pub(crate) fn run(
    ctx: &Context,
    lines: usize,
    follow: bool,
    topic: Option<&str>,
    interval: Duration,
) -> Result<(), Failure> {
    let pattern = super::pattern(topic)?;
    let file = super::open(ctx)?;
    let takes = |e: &StoredEvent| {
        pattern
            .as_ref()
            .is_none_or(|p: &Pattern| p.matches(&e.topic))
    };
    let last = file.last_position()?;
    let mut out = Out::stdout();
    for event in last_events(&file, last, lines, &takes)? {
        super::print_event(&mut out, ctx.json, &event)?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(crate::error::Exit::Io, format!("cannot start: {e}")))?;
    runtime.block_on(async {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut next = last + 1;
        loop {
            let events = file.events(next, u64::MAX, CHUNK)?;
            if let Some(last) = events.last() {
                next = last.position + 1;
            }
            for event in events.iter().filter(|e| takes(e)) {
                super::print_event(&mut out, ctx.json, event)?;
            }
            out.flush()?;
            if events.len() == CHUNK {
                continue;
            }
            tokio::select! {
                _ = &mut ctrl_c => return Ok(()),
                () = tokio::time::sleep(interval) => {}
            }
        }
    })
}

/// The last `n` events at or below `upto` that `takes` takes, in position order.
fn last_events(
    file: &StoreFile,
    upto: u64,
    n: usize,
    takes: &impl Fn(&StoredEvent) -> bool,
) -> Result<Vec<StoredEvent>, Failure> {
    let mut found = Vec::new();
    let mut at = upto;
    while found.len() < n && at > 0 {
        let rows = file.events_back(at, CHUNK)?;
        let Some(oldest) = rows.last() else {
            break;
        };
        at = oldest.position.saturating_sub(1);
        let full = rows.len() == CHUNK;
        found.extend(rows.into_iter().filter(|e| takes(e)));
        if !full {
            break;
        }
    }
    found.truncate(n);
    found.reverse();
    Ok(found)
}
