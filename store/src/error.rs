//! What can go wrong, each case with what a caller needs to act on it.

use std::path::PathBuf;

use crate::event::Expected;

/// An error of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or set up.
    #[error("cannot open the event store `{}`: {source}", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Another connection holds the database's write lock for longer than the busy timeout.
    #[error(
        "the event store `{}` is locked by another process (close it, or raise `busy_timeout`)",
        .path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not an event store of this version, or its rows do not decode.
    #[error("the event store `{}` is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong, naming the row where there is one.
        reason: String,
    },
    /// The stream is not at the revision the append expected: nothing was written.
    #[error(
        "stream `{stream}` expected {expected}, but {}: nothing was appended",
        match .actual { Some(r) => format!("its last revision is {r}"), None => "it has no events".to_owned() }
    )]
    WrongExpectedRevision {
        /// The stream.
        stream: String,
        /// What the append expected.
        expected: Expected,
        /// The stream's last revision (`None`: no events).
        actual: Option<u64>,
    },
    /// An event id is already stored, but not as this append would store it (another
    /// stream, or only some of the append's events): nothing was appended.
    #[error(
        "event id `{id}` is already stored at position {position} in stream `{stream}`: {reason}"
    )]
    IdConflict {
        /// The event id.
        id: String,
        /// Where it is stored.
        position: u64,
        /// Its stream.
        stream: String,
        /// Why the append cannot be a retry of that one.
        reason: &'static str,
    },
    /// An event the store cannot take (empty stream id, bad topic, oversized payload...):
    /// nothing was appended.
    #[error("invalid event for stream `{stream}`: {reason}")]
    InvalidEvent {
        /// The stream.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// Options that cannot work (named, with why).
    #[error("invalid store option `{option}`: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// The transaction holding the append did not commit (a full disk, an I/O error):
    /// nothing of its batch is stored, and the store goes on with the next appends.
    #[error("event store `{}`: the batch holding this append did not commit ({reason}): nothing of it is stored", .path.display())]
    CommitFailed {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// The store was closed (or its writer stopped): nothing more is written.
    #[error("the event store is closed")]
    Closed,
    /// An aggregate's event did not serialize: nothing was appended.
    #[error("an event `{topic}` for stream `{stream}` does not serialize to JSON: {source}")]
    Encode {
        /// The stream.
        stream: String,
        /// The event's topic.
        topic: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A stored event does not decode as the aggregate's event type (after upcasting): its
    /// payload changed shape without a new schema version and an upcaster.
    #[error(
        "the event at position {position} (stream `{stream}`, topic `{topic}`, schema \
         version {version}) does not decode as `{target}`: {source} (if its shape changed, \
         raise its schema version and register an upcaster)"
    )]
    Decode {
        /// The event's position.
        position: u64,
        /// Its stream.
        stream: String,
        /// Its topic.
        topic: String,
        /// Its schema version (after upcasting).
        version: u32,
        /// The type it was decoded as.
        target: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
    /// An upcaster failed (or the payload it was to get is not JSON).
    #[error(
        "upcasting the event at position {position} (stream `{stream}`, topic `{topic}`) \
         from schema version {version} failed: {source}"
    )]
    Upcast {
        /// The event's position.
        position: u64,
        /// Its stream.
        stream: String,
        /// Its topic.
        topic: String,
        /// The version the failing upcaster was given.
        version: u32,
        /// What it said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored event is, after upcasting, of another schema version than the one the
    /// aggregate reads for its topic: an upcaster is missing (or the event was written by
    /// newer code).
    #[error(
        "the event at position {position} (stream `{stream}`, topic `{topic}`) is of schema \
         version {version}, but this code reads version {expected}: {}",
        if .version < .expected {
            format!("register an upcaster of `{}` from version {}", .topic, .version)
        } else {
            "it was written by newer code".to_owned()
        }
    )]
    SchemaVersion {
        /// The event's position.
        position: u64,
        /// Its stream.
        stream: String,
        /// Its topic.
        topic: String,
        /// Its schema version (after upcasting).
        version: u32,
        /// The version the aggregate reads for the topic.
        expected: u32,
    },
    /// SQLite failed while reading or writing.
    #[error("event store `{}`: {source}", .path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// An SQLite error on `path`, as the store reports it: a busy database is
    /// [`Locked`](StoreError::Locked).
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> StoreError {
        if let rusqlite::Error::SqliteFailure(e, _) = &source
            && matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
        {
            return StoreError::Locked {
                path: path.to_owned(),
            };
        }
        StoreError::Sqlite {
            path: path.to_owned(),
            source,
        }
    }
}
