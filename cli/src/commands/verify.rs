//! `staticbus verify`: every check of the store, each problem listed, a checksum of all
//! rows (rows carry no checksum of their own).

use serde_json::json;

use crate::Context;
use crate::error::{Exit, Failure};
use crate::output::{Out, progress};

/// Verifies the store ([`StoreFile::verify`](staticbus_store::admin::StoreFile::verify)):
/// exit 5 when it found problems, each printed.
pub(crate) fn run(ctx: &Context) -> Result<(), Failure> {
    let file = super::open(ctx)?;
    let bar = progress(Some(0), "verifying", ctx.json, false);
    let verification = file.verify(|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let mut out = Out::stdout();
    let count = verification.problems.len() as u64 + verification.unlisted;
    if ctx.json {
        let problems: Vec<_> = verification
            .problems
            .iter()
            .map(|p| json!({ "kind": p.kind, "position": p.position, "message": p.message }))
            .collect();
        let value = json!({
            "store": ctx.store.display().to_string(),
            "ok": count == 0,
            "events": verification.events,
            "streams": verification.streams,
            "last_position": verification.last_position,
            "checksum": verification.checksum,
            "problems": problems,
            "unlisted": verification.unlisted,
        });
        out.line(&value.to_string())?;
    } else {
        for problem in &verification.problems {
            out.line(&format!("problem ({}): {}", problem.kind, problem.message))?;
        }
        if verification.unlisted > 0 {
            out.line(&format!(
                "... and {} more problems not listed",
                verification.unlisted
            ))?;
        }
        out.line(&format!(
            "{} events in {} streams, last position {}",
            verification.events, verification.streams, verification.last_position
        ))?;
        out.line(&format!("checksum {}", verification.checksum))?;
    }
    out.flush()?;
    if count > 0 {
        return Err(Failure::new(
            Exit::Corrupt,
            format!(
                "the event store `{}` has {count} problem{}",
                ctx.store.display(),
                if count == 1 { "" } else { "s" }
            ),
        ));
    }
    if !ctx.json {
        out.line("ok")?;
        out.flush()?;
    }
    Ok(())
}
