//! `staticbus export`: events as CloudEvents JSON lines (the format: [`crate::cloudevents`]).

use std::path::Path;

use serde_json::json;

use crate::Context;
use crate::cloudevents;
use crate::error::Failure;
use crate::output::{Out, progress};

/// Rows read at a time.
const CHUNK: usize = 1024;

/// Writes the events at positions `from..=to` that `topic` takes to `output` (standard
/// output if none), one CloudEvents JSON object per line. When they go to a file, a
/// summary goes to standard output (one JSON object with `--json`).
pub(crate) fn run(
    ctx: &Context,
    from: u64,
    to: Option<u64>,
    topic: Option<&str>,
    output: Option<&Path>,
) -> Result<(), Failure> {
    let pattern = super::pattern(topic)?;
    let file = super::open(ctx)?;
    let last = file.last_position()?;
    let to = to.unwrap_or(last).min(last);
    let mut out = match output {
        Some(path) => Out::file(path)?,
        None => Out::stdout(),
    };
    let span = (to + 1).saturating_sub(from.max(1));
    let bar = progress(Some(span), "exporting", ctx.json, out.is_terminal());
    let mut at = from.max(1);
    let mut exported = 0u64;
    while at <= to {
        let events = file.events(at, to, CHUNK)?;
        let Some(last) = events.last() else {
            break;
        };
        let next = last.position + 1;
        for event in &events {
            if pattern.as_ref().is_none_or(|p| p.matches(&event.topic)) {
                out.line(&cloudevents::encode(event))?;
                exported += 1;
            }
        }
        bar.set_position(next - from.max(1));
        at = next;
    }
    out.flush()?;
    bar.finish_and_clear();
    if let Some(path) = output {
        let mut stdout = Out::stdout();
        let summary = if ctx.json {
            json!({
                "file": path.display().to_string(),
                "exported": exported,
                "from": from.max(1),
                "to": to,
            })
            .to_string()
        } else {
            format!("exported {exported} events to `{}`", path.display())
        };
        stdout.line(&summary)?;
        stdout.flush()?;
    }
    Ok(())
}
