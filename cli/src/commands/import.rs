//! `staticbus import FILE`: the events of an export file appended, each with its id, so
//! that importing a file twice stores nothing new.
//!
//! Lines are appended in the file's order, each event to its stream with `Expected::Any`
//! (the store gives it the stream's next revision; positions are the store's own), a chunk
//! of lines per transaction. An event whose id is stored already (in the same stream) is
//! counted as already present, not stored again. A malformed line, or an event the store
//! refuses (its id stored in another stream, a bad topic, too large), stops the import
//! there: every line before it is imported, nothing after it; `--keep-going` skips such
//! lines instead, reports each, and exits 7 at the end.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde_json::json;
use staticbus_store::admin::check_write_lock;
use staticbus_store::{Expected, Store, StoreError, StoreOptions};

use crate::Context;
use crate::cloudevents::{self, Imported};
use crate::error::{Exit, Failure};
use crate::output::{Out, progress};

/// Lines appended per transaction.
const CHUNK: usize = 256;

/// Skipped lines listed in the summary for people (`--json` lists all).
const LISTED: usize = 20;

/// What the import did.
#[derive(Default)]
struct Tally {
    lines: u64,
    imported: u64,
    present: u64,
    /// Imported events whose revision in the store is not the one in the file (the file
    /// held part of a stream, or the stream had other events).
    renumbered: u64,
    skipped: Vec<(u64, String)>,
}

/// Imports `file` (`-`: standard input) into the store, creating it if there is none.
pub(crate) fn run(ctx: &Context, file: &Path, keep_going: bool) -> Result<(), Failure> {
    let stdin = file.as_os_str() == "-";
    let name = if stdin {
        "standard input".to_owned()
    } else {
        file.display().to_string()
    };
    if ctx.store.exists() {
        // An existing file must be an event store (Store::open would add the tables to
        // any SQLite database), and writable now.
        super::open(ctx)?;
        check_write_lock(&ctx.store, ctx.busy_timeout)?;
    }
    let (reader, size): (Box<dyn BufRead>, Option<u64>) = if stdin {
        (Box::new(io::stdin().lock()), None)
    } else {
        let opened = File::open(file).map_err(|e| Failure::io(&name, "open", &e))?;
        let size = opened.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::new(opened)), size)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Exit::Io, format!("cannot start: {e}")))?;
    let mut tally = Tally::default();
    let outcome = runtime.block_on(async {
        let options = StoreOptions::new().busy_timeout(ctx.busy_timeout);
        let store = Store::open_with(&ctx.store, options)?;
        let bar = progress(size, "importing", ctx.json, false);
        let read = import(ctx, &store, reader, &name, keep_going, &mut tally, &bar).await;
        bar.finish_and_clear();
        let closed = store.close().await;
        read?;
        closed.map_err(|e| fatal(ctx, e))
    });
    report(ctx, &name, &tally, outcome.as_ref().err())?;
    outcome?;
    if !tally.skipped.is_empty() {
        return Err(Failure::new(
            Exit::Input,
            format!(
                "`{name}`: {} lines skipped (malformed or refused)",
                tally.skipped.len()
            ),
        ));
    }
    Ok(())
}

/// Reads `reader` line by line and appends its events a chunk at a time.
async fn import(
    ctx: &Context,
    store: &Store,
    mut reader: Box<dyn BufRead>,
    name: &str,
    keep_going: bool,
    tally: &mut Tally,
    bar: &indicatif::ProgressBar,
) -> Result<(), Failure> {
    let mut batch: Vec<(u64, Imported)> = Vec::with_capacity(CHUNK);
    let mut buffer = Vec::new();
    let mut number = 0u64;
    let mut bytes = 0u64;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| Failure::io(name, "read", &e))?;
        if read == 0 {
            break;
        }
        number += 1;
        bytes += read as u64;
        bar.set_position(if bar.length().is_some() {
            bytes
        } else {
            number
        });
        let parsed = std::str::from_utf8(&buffer)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|line| match line.trim() {
                "" => Ok(None),
                line => cloudevents::decode(line).map(Some),
            });
        match parsed {
            Ok(None) => {}
            Ok(Some(imported)) => {
                tally.lines += 1;
                batch.push((number, imported));
                if batch.len() == CHUNK {
                    append(
                        ctx,
                        store,
                        std::mem::take(&mut batch),
                        name,
                        keep_going,
                        tally,
                    )
                    .await?;
                }
            }
            Err(problem) => {
                tally.lines += 1;
                append(
                    ctx,
                    store,
                    std::mem::take(&mut batch),
                    name,
                    keep_going,
                    tally,
                )
                .await?;
                let message = format!("`{name}` line {number}: {problem}");
                if !keep_going {
                    return Err(stopped(message));
                }
                tally.skipped.push((number, message));
            }
        }
    }
    append(ctx, store, batch, name, keep_going, tally).await
}

/// Appends a chunk in one transaction; if the store refuses one of its events, appends
/// them one by one to import the others before it (and after it with `--keep-going`).
async fn append(
    ctx: &Context,
    store: &Store,
    batch: Vec<(u64, Imported)>,
    name: &str,
    keep_going: bool,
    tally: &mut Tally,
) -> Result<(), Failure> {
    if batch.is_empty() {
        return Ok(());
    }
    let parts = batch
        .iter()
        .map(|(_, i)| (i.stream.clone(), Expected::Any, vec![i.event.clone()]))
        .collect();
    match store.append_all(parts).await {
        Ok(appended) => {
            for ((_, imported), appended) in batch.iter().zip(appended) {
                count(tally, imported, appended);
            }
            Ok(())
        }
        Err(error) if refused(&error) => {
            for (number, imported) in batch {
                let events = vec![imported.event.clone()];
                match store
                    .append(imported.stream.clone(), Expected::Any, events)
                    .await
                {
                    Ok(appended) => count(tally, &imported, appended),
                    Err(error) if refused(&error) => {
                        let message = format!(
                            "`{name}` line {number}: event `{}`: {error}",
                            imported.event.event_id()
                        );
                        if !keep_going {
                            return Err(stopped(message));
                        }
                        tally.skipped.push((number, message));
                    }
                    Err(error) => return Err(fatal(ctx, error)),
                }
            }
            Ok(())
        }
        Err(error) => Err(fatal(ctx, error)),
    }
}

fn count(tally: &mut Tally, imported: &Imported, appended: staticbus_store::Appended) {
    if appended.duplicate {
        tally.present += 1;
    } else {
        tally.imported += 1;
        if imported.revision.is_some() && imported.revision != appended.revision {
            tally.renumbered += 1;
        }
    }
}

/// Errors of one event (the others of its chunk can still be stored).
fn refused(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::IdConflict { .. }
            | StoreError::InvalidEvent { .. }
            | StoreError::WrongExpectedRevision { .. }
    )
}

/// The import stops at a bad line: nothing after it is imported.
fn stopped(message: String) -> Failure {
    Failure::new(
        Exit::Input,
        format!("{message}; the lines before it are imported, nothing after it"),
    )
}

/// An error of the store itself: a batch that did not commit because another process holds
/// the lock is [`Exit::Locked`].
fn fatal(ctx: &Context, error: StoreError) -> Failure {
    if let StoreError::CommitFailed { .. } = error
        && let Err(locked @ StoreError::Locked { .. }) =
            check_write_lock(&ctx.store, std::time::Duration::ZERO)
    {
        return Failure::from(locked);
    }
    Failure::from(error)
}

/// Prints what was imported (one JSON object with `--json`), also when the import stopped.
fn report(
    ctx: &Context,
    name: &str,
    tally: &Tally,
    error: Option<&Failure>,
) -> Result<(), Failure> {
    let mut out = Out::stdout();
    if ctx.json {
        let skipped: Vec<_> = tally
            .skipped
            .iter()
            .map(|(line, message)| json!({ "line": line, "error": message }))
            .collect();
        let value = json!({
            "store": ctx.store.display().to_string(),
            "file": name,
            "lines": tally.lines,
            "imported": tally.imported,
            "present": tally.present,
            "renumbered": tally.renumbered,
            "skipped": skipped,
            "error": error.map(|e| e.message.clone()),
        });
        out.line(&value.to_string())?;
        return out.flush();
    }
    for (_, message) in tally.skipped.iter().take(LISTED) {
        out.line(&format!("skipped: {message}"))?;
    }
    if tally.skipped.len() > LISTED {
        out.line(&format!(
            "... and {} more skipped lines",
            tally.skipped.len() - LISTED
        ))?;
    }
    out.line(&format!(
        "imported {} events, {} already present, from `{name}` into `{}`",
        tally.imported,
        tally.present,
        ctx.store.display()
    ))?;
    if tally.renumbered > 0 {
        out.line(&format!(
            "{} events got another revision than the file's (the file held part of their \
             stream, or the stream had other events)",
            tally.renumbered
        ))?;
    }
    out.flush()
}
