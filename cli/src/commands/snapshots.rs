//! `staticbus snapshots`: the aggregates' snapshots, if the store has a snapshots table.

use serde_json::json;

use crate::Context;
use crate::error::Failure;
use crate::output::Out;

/// Prints each snapshot's stream, revision, version and size, or that there is no
/// snapshots table (not an error: a store written before snapshots existed).
pub(crate) fn run(ctx: &Context) -> Result<(), Failure> {
    let file = super::open(ctx)?;
    let snapshots = file.snapshots()?;
    let mut out = Out::stdout();
    if ctx.json {
        let rows: Vec<_> = snapshots
            .iter()
            .flatten()
            .map(|s| {
                json!({
                    "stream": s.stream,
                    "revision": s.revision,
                    "version": s.version,
                    "bytes": s.bytes,
                })
            })
            .collect();
        let value = json!({
            "store": ctx.store.display().to_string(),
            "table": snapshots.is_some(),
            "snapshots": rows,
        });
        out.line(&value.to_string())?;
        return out.flush();
    }
    match snapshots {
        None => out.line(&format!(
            "no snapshots table in `{}` (a store written before snapshots existed)",
            ctx.store.display()
        ))?,
        Some(rows) if rows.is_empty() => out.line("no snapshots")?,
        Some(rows) => {
            let width = rows
                .iter()
                .map(|s| s.stream.len())
                .max()
                .unwrap_or(0)
                .max(6);
            out.line(&format!(
                "{:<width$}  {:>8}  {:>7}  {:>10}",
                "stream", "revision", "version", "bytes"
            ))?;
            for s in rows {
                out.line(&format!(
                    "{:<width$}  {:>8}  {:>7}  {:>10}",
                    s.stream, s.revision, s.version, s.bytes
                ))?;
            }
        }
    }
    out.flush()
}
