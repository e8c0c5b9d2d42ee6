//! How the command fails: a message for standard error and an exit code that scripts can
//! test (the table is in `--help` and the README).

use std::fmt;
use std::path::Path;

use rusqlite::ErrorCode;
use staticbus_store::StoreError;

/// The exit codes, one per kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Everything went as asked.
    Ok = 0,
    /// The command line is wrong (clap's own code for usage errors, kept for ours).
    Usage = 2,
    /// No store at the path, or the file cannot be opened as an event store.
    Missing = 3,
    /// Another process holds the store's lock for longer than `--busy-timeout`.
    Locked = 4,
    /// The store is corrupt: a row does not decode, or `verify` found problems.
    Corrupt = 5,
    /// Another I/O error (writing the export file, reading the import file, SQLite).
    Io = 6,
    /// The import file has a malformed line, or an event the store refuses.
    Input = 7,
}

/// The exit code table, as `--help` prints it.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  2  usage error (a wrong option or argument, a bad topic pattern)
  3  no event store at the path, or the file is not one (only `import` creates a store)
  4  the store is locked by another process (longer than --busy-timeout)
  5  the store is corrupt: a row does not decode, or `verify` found problems
  6  another I/O error (the export file, the import file, SQLite)
  7  the import file has a malformed line or an event the store refuses";

/// A failed command: what to print, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    /// Empty for a quiet end (standard output closed: a broken pipe is not an error).
    pub(crate) message: String,
}

impl Failure {
    /// A failure of kind `exit` saying `message`.
    pub(crate) fn new(exit: Exit, message: impl fmt::Display) -> Failure {
        Failure {
            exit,
            message: message.to_string(),
        }
    }

    /// A usage error.
    pub(crate) fn usage(message: impl fmt::Display) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// The reader of standard output went away (`| head`): stop, quietly, with success.
    pub(crate) fn pipe_closed() -> Failure {
        Failure::new(Exit::Ok, "")
    }

    /// An I/O error on `file` while `doing` something.
    pub(crate) fn io(file: &str, doing: &str, error: &std::io::Error) -> Failure {
        Failure::new(Exit::Io, format!("cannot {doing} `{file}`: {error}"))
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        let exit = match &error {
            StoreError::Open { .. } => Exit::Missing,
            StoreError::Locked { .. } => Exit::Locked,
            StoreError::Corrupt { .. } => Exit::Corrupt,
            StoreError::Sqlite { source, .. }
                if matches!(
                    source.sqlite_error_code(),
                    Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
                ) =>
            {
                Exit::Corrupt
            }
            StoreError::IdConflict { .. }
            | StoreError::InvalidEvent { .. }
            | StoreError::WrongExpectedRevision { .. } => Exit::Input,
            _ => Exit::Io,
        };
        Failure::new(exit, error)
    }
}

/// The failure for a store path that does not exist (read-only commands never create one).
pub(crate) fn missing_store(path: &Path) -> Failure {
    Failure::new(
        Exit::Missing,
        format!(
            "no event store at `{}`: the file does not exist (only `staticbus import` creates \
             a store)",
            path.display()
        ),
    )
}
