//! The writer's memory of each stream's last revision, so that an append checks its expected
//! revision without a query: the committed revisions of the most recently used streams, and
//! what the open transaction changed, undone command by command or batch by batch as the
//! transaction is.
//!
//! Only an optimisation: a stream it does not know is read from the database (inside the
//! transaction, so it sees that transaction's own inserts). It relies on the writer being the
//! only one that inserts events into the file, as positions already do; a revision taken by
//! someone else is still refused by the `UNIQUE (stream, revision)` constraint, and the
//! streams of a failed command are forgotten.

use std::collections::HashMap;

use hashlink::LruCache;

/// How many streams' committed revisions are kept (a few hundred kilobytes at most).
const STREAMS: usize = 4096;

/// Last revisions per stream: `None` for a stream with no event.
pub(crate) struct Revisions {
    /// As committed.
    committed: LruCache<String, Option<u64>>,
    /// As the open transaction left them (read or written in it).
    pending: HashMap<String, Option<u64>>,
    /// What the running command replaced in `pending`, to put back if it fails.
    undo: Vec<(String, Option<Option<u64>>)>,
}

impl Default for Revisions {
    fn default() -> Self {
        Revisions {
            committed: LruCache::new(STREAMS),
            pending: HashMap::new(),
            undo: Vec::new(),
        }
    }
}

impl Revisions {
    /// The stream's last revision, if known: `Some(None)` for a stream known to be empty.
    pub(crate) fn get(&mut self, stream: &str) -> Option<Option<u64>> {
        if let Some(&revision) = self.pending.get(stream) {
            return Some(revision);
        }
        self.committed.get(stream).copied()
    }

    /// Records `revision` as the stream's last, in the open transaction.
    pub(crate) fn set(&mut self, stream: &str, revision: Option<u64>) {
        let before = self.pending.insert(stream.to_owned(), revision);
        self.undo.push((stream.to_owned(), before));
    }

    /// The running command succeeded: what it recorded stays.
    pub(crate) fn command_done(&mut self) {
        self.undo.clear();
    }

    /// The running command failed (its writes were rolled back): what it recorded goes, and
    /// so does the committed revision of each stream it touched (it may have failed on a
    /// revision someone else took).
    pub(crate) fn command_failed(&mut self, streams: impl IntoIterator<Item = impl AsRef<str>>) {
        for (stream, before) in self.undo.drain(..).rev() {
            match before {
                Some(revision) => self.pending.insert(stream, revision),
                None => self.pending.remove(&stream),
            };
        }
        for stream in streams {
            self.committed.remove(stream.as_ref());
        }
    }

    /// The transaction ended: committed, its revisions are the committed ones; rolled back,
    /// they are forgotten.
    pub(crate) fn transaction_done(&mut self, committed: bool) {
        self.undo.clear();
        if committed {
            for (stream, revision) in self.pending.drain() {
                self.committed.insert(stream, revision);
            }
        } else {
            self.pending.clear();
        }
    }

    /// Forgets everything (after events were removed: a stream may have lost its last ones).
    pub(crate) fn clear(&mut self) {
        self.committed.clear();
        self.pending.clear();
        self.undo.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Revisions;

    #[test]
    fn a_failed_command_leaves_what_came_before_it() {
        let mut revisions = Revisions::default();
        revisions.set("a", Some(1));
        revisions.command_done();
        revisions.set("a", Some(2));
        revisions.set("b", None);
        revisions.command_failed(["a", "b"]);
        assert_eq!(revisions.get("a"), Some(Some(1)));
        assert_eq!(revisions.get("b"), None);
        revisions.transaction_done(true);
        assert_eq!(revisions.get("a"), Some(Some(1)));
    }

    #[test]
    fn a_rolled_back_transaction_is_forgotten_and_a_failure_forgets_the_committed_stream() {
        let mut revisions = Revisions::default();
        revisions.set("a", Some(4));
        revisions.transaction_done(true);
        revisions.set("a", Some(5));
        revisions.transaction_done(false);
        assert_eq!(revisions.get("a"), Some(Some(4)));
        revisions.set("a", Some(5));
        revisions.command_failed(["a"]);
        assert_eq!(revisions.get("a"), None, "read again from the database");
        revisions.set("c", Some(0));
        revisions.clear();
        assert_eq!(revisions.get("c"), None);
    }
}
