//! `staticbus read STREAM`: one stream's events by revision.

use staticbus_store::Direction;

use crate::Context;
use crate::error::Failure;
use crate::output::Out;

/// Rows read at a time.
const CHUNK: usize = 512;

/// Prints up to `limit` events of `stream` from revision `from`, forwards or backwards.
pub(crate) fn run(
    ctx: &Context,
    stream: &str,
    from: Option<u64>,
    backwards: bool,
    limit: Option<usize>,
) -> Result<(), Failure> {
    let file = super::open(ctx)?;
    let direction = if backwards {
        Direction::Backwards
    } else {
        Direction::Forwards
    };
    let mut at = from.unwrap_or(if backwards { u64::MAX } else { 0 });
    let mut left = limit.unwrap_or(usize::MAX);
    let mut out = Out::stdout();
    let mut printed = 0usize;
    while left > 0 {
        let events = file.read_stream(stream, at, direction, left.min(CHUNK))?;
        let Some(last) = events.last() else {
            break;
        };
        let (last_revision, full) = (last.revision, events.len() == left.min(CHUNK));
        for event in &events {
            super::print_event(&mut out, ctx.json, event)?;
        }
        printed += events.len();
        left -= events.len();
        match direction {
            Direction::Forwards => at = last_revision + 1,
            Direction::Backwards if last_revision == 0 => break,
            Direction::Backwards => at = last_revision - 1,
        }
        if !full {
            break;
        }
    }
    out.flush()?;
    if printed == 0 && !ctx.json {
        eprintln!("staticbus: stream `{stream}` has no events there");
    }
    Ok(())
}
