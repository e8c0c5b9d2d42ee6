//! `staticbus`: inspect, tail, export, import and verify a staticbus event store (the
//! SQLite file of `staticbus-store`).
//!
//! Every command but `import` opens the store read-only and never creates it. Events are
//! printed one per line for people, or as CloudEvents JSON lines with `--json` (the export
//! format, [`cloudevents`]); the other commands' `--json` output is one JSON object. The
//! exit codes are in [`error::EXIT_CODES`] (and `--help`).

mod cloudevents;
mod commands;
mod error;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::error::{EXIT_CODES, Exit, Failure};

/// Inspect, tail, export, import and verify a staticbus event store.
#[derive(Debug, Parser)]
#[command(name = "staticbus", version, after_help = EXIT_CODES)]
struct Cli {
    /// The event store's database file.
    #[arg(
        long,
        short = 's',
        env = "STATICBUS_STORE",
        global = true,
        value_name = "PATH"
    )]
    store: Option<PathBuf>,
    /// Machine-readable output: events as CloudEvents JSON lines, everything else as one
    /// JSON object. Hides progress bars.
    #[arg(long, global = true)]
    json: bool,
    /// How long to wait for another process's lock on the store before giving up (exit 4).
    #[arg(long, global = true, value_name = "MS", default_value_t = 5000)]
    busy_timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Events, streams, first and last position and time, events per topic, file size.
    Stats,
    /// The last events (in position order), and with --follow every new one as it is
    /// committed, until Ctrl-C or until standard output closes.
    Tail {
        /// How many of the last events to print first.
        #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
        lines: usize,
        /// Keep printing events as they are committed (by any process).
        #[arg(short, long)]
        follow: bool,
        /// Only events whose topic matches: exact, a glob (`order.*`), or a regex (a leading `^`
        /// or a trailing `$`: `^order\.(paid|shipped)$`).
        #[arg(long, value_name = "PAT")]
        topic: Option<String>,
        /// With --follow: how often to look for new events.
        #[arg(long, value_name = "MS", default_value_t = 200)]
        interval: u64,
    },
    /// The events of one stream, by revision.
    Read {
        /// The stream.
        stream: String,
        /// The first revision to print (default: 0, or the last with --backwards).
        #[arg(long, value_name = "REV")]
        from: Option<u64>,
        /// From the given revision down.
        #[arg(long)]
        backwards: bool,
        /// At most this many events.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Events as CloudEvents 1.0 JSON, one per line (see README: the export format).
    Export {
        /// The first position (default: 1).
        #[arg(long, value_name = "POS", default_value_t = 1)]
        from: u64,
        /// The last position (default: the last stored).
        #[arg(long, value_name = "POS")]
        to: Option<u64>,
        /// Only events whose topic matches (exact, glob, or regex: as `tail --topic`).
        #[arg(long, value_name = "PAT")]
        topic: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Appends the events of an export file (`-`: standard input), each with its id: events
    /// already stored are not stored again. Creates the store if there is none.
    Import {
        /// The export file (CloudEvents JSON lines), or `-` for standard input.
        file: PathBuf,
        /// Skip malformed lines and refused events (each reported; exit 7 at the end)
        /// instead of stopping at the first one.
        #[arg(long)]
        keep_going: bool,
    },
    /// Checks positions (no gap), each stream's revisions, every row, the checkpoints and
    /// SQLite's integrity; prints a checksum of all rows. Exit 5 with each problem listed.
    Verify,
    /// The snapshots table's rows: stream, revision, version, size.
    Snapshots,
}

/// What every command is given.
pub(crate) struct Context {
    /// The store's path.
    pub(crate) store: PathBuf,
    /// `--json`.
    pub(crate) json: bool,
    /// `--busy-timeout`.
    pub(crate) busy_timeout: Duration,
}

fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    let outcome = run(cli);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("staticbus: error: {}", failure.message);
            }
            ExitCode::from(failure.exit as u8)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let store = cli.store.ok_or_else(|| {
        Failure::usage("no event store given: pass --store PATH or set STATICBUS_STORE")
    })?;
    let ctx = Context {
        store,
        json: cli.json,
        busy_timeout: Duration::from_millis(cli.busy_timeout),
    };
    match cli.command {
        Command::Stats => commands::stats::run(&ctx),
        Command::Tail {
            lines,
            follow,
            topic,
            interval,
        } => commands::tail::run(
            &ctx,
            lines,
            follow,
            topic.as_deref(),
            Duration::from_millis(interval.max(1)),
        ),
        Command::Read {
            stream,
            from,
            backwards,
            limit,
        } => commands::read::run(&ctx, &stream, from, backwards, limit),
        Command::Export {
            from,
            to,
            topic,
            output,
        } => commands::export::run(&ctx, from, to, topic.as_deref(), output.as_deref()),
        Command::Import { file, keep_going } => commands::import::run(&ctx, &file, keep_going),
        Command::Verify => commands::verify::run(&ctx),
        Command::Snapshots => commands::snapshots::run(&ctx),
    }
    .or_else(|failure| match failure.exit {
        Exit::Ok => Ok(()),
        _ => Err(failure),
    })
}
