//! `staticbus stats`: what the store holds.

use serde_json::json;

use crate::Context;
use crate::error::Failure;
use crate::output::Out;

/// Prints the store's figures (one JSON object with `--json`).
pub(crate) fn run(ctx: &Context) -> Result<(), Failure> {
    let file = super::open(ctx)?;
    let stats = file.stats()?;
    let mut out = Out::stdout();
    if ctx.json {
        let topics: serde_json::Map<String, serde_json::Value> = stats
            .topics
            .iter()
            .map(|(topic, n)| (topic.clone(), json!(n)))
            .collect();
        let value = json!({
            "store": ctx.store.display().to_string(),
            "events": stats.events,
            "streams": stats.streams,
            "first_position": stats.first.map(|(p, _)| p),
            "first_time": stats.first.map(|(_, t)| t.to_string()),
            "last_position": stats.last.map(|(p, _)| p),
            "last_time": stats.last.map(|(_, t)| t.to_string()),
            "topics": topics,
            "file_bytes": stats.file_bytes,
            "wal_bytes": stats.wal_bytes,
        });
        out.line(&value.to_string())?;
        return out.flush();
    }
    out.line(&format!("store    {}", ctx.store.display()))?;
    out.line(&format!(
        "size     {} bytes (write-ahead log {} bytes)",
        stats.file_bytes, stats.wal_bytes
    ))?;
    out.line(&format!("events   {}", stats.events))?;
    out.line(&format!("streams  {}", stats.streams))?;
    for (name, end) in [("first", stats.first), ("last", stats.last)] {
        match end {
            Some((position, at)) => out.line(&format!("{name:<8} #{position} at {at}"))?,
            None => out.line(&format!("{name:<8} -"))?,
        }
    }
    if !stats.topics.is_empty() {
        out.line("topics")?;
        let width = stats.topics.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
        for (topic, n) in &stats.topics {
            out.line(&format!("  {topic:<width$}  {n}"))?;
        }
    }
    out.flush()
}
