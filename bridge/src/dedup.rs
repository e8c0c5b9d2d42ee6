//! Consumer-side deduplication: the ids of the events a group member handled, within a
//! window of time and a number of ids (bounded memory), so that a redelivered event (its
//! acknowledgement lost, or a publisher's retry the broker's window missed) is handled once.
//!
//! With feature `store` and [`Group::dedup_store`](crate::Group::dedup_store), a group's
//! handled ids are also recorded in a staticbus event store, so that they outlive the
//! member: another member, or this one restarted, with the same store, does not handle
//! them again. The memory window is asked first; the store only when it does not know the
//! id.

use std::time::{Duration, Instant};

use hashlink::LruCache;
use parking_lot::Mutex;

/// The ids handled recently: at most `capacity`, none older than `window`.
#[derive(Debug)]
pub struct Dedup {
    seen: Mutex<LruCache<String, Instant>>,
    window: Duration,
}

impl Dedup {
    /// Remembers up to `capacity` ids (at least 1) for `window` each.
    pub fn new(capacity: usize, window: Duration) -> Self {
        Dedup {
            seen: Mutex::new(LruCache::new(capacity.max(1))),
            window,
        }
    }

    /// Whether `id` was handled within the window.
    pub fn contains(&self, id: &str) -> bool {
        let mut seen = self.seen.lock();
        match seen.get(id) {
            Some(at) if at.elapsed() <= self.window => true,
            Some(_) => {
                seen.remove(id);
                false
            }
            None => false,
        }
    }

    /// Records `id` as handled now (the oldest id goes when full).
    pub fn insert(&self, id: &str) {
        self.seen.lock().insert(id.to_owned(), Instant::now());
    }

    /// Ids remembered now (expired ones included until they are looked up or pushed out).
    pub fn len(&self) -> usize {
        self.seen.lock().len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A group's handled ids: the memory window, and the store's record when one is set.
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) memory: Dedup,
    #[cfg(feature = "store")]
    pub(crate) store: Option<persisted::Persisted>,
}

/// Why the record of handled ids could not be read or written.
pub(crate) type RecordError = String;

impl Handled {
    /// The window of `group`'s options (and its store, when set).
    pub(crate) fn of(group: &crate::Group) -> Self {
        Handled {
            memory: Dedup::new(group.dedup_capacity, group.dedup_window),
            #[cfg(feature = "store")]
            store: group
                .dedup_store
                .clone()
                .map(|store| persisted::Persisted::new(store, &group.name)),
        }
    }

    /// Whether event `id` was handled: in the memory window, else in the store.
    pub(crate) async fn contains(&self, id: &str) -> Result<bool, RecordError> {
        if self.memory.contains(id) {
            return Ok(true);
        }
        #[cfg(feature = "store")]
        if let Some(store) = &self.store
            && store.contains(id).await?
        {
            self.memory.insert(id);
            return Ok(true);
        }
        Ok(false)
    }

    /// Records event `id` (which came on `subject`) as handled: in memory, then in the
    /// store (after its commit).
    pub(crate) async fn insert(&self, id: &str, subject: &str) -> Result<(), RecordError> {
        self.memory.insert(id);
        #[cfg(feature = "store")]
        if let Some(store) = &self.store {
            store.insert(id, subject).await?;
        }
        #[cfg(not(feature = "store"))]
        let _ = subject;
        Ok(())
    }
}

#[cfg(feature = "store")]
mod persisted {
    use staticbus_store::{Expected, NewEvent, Store};

    /// The topic of the events recording a group's handled ids.
    pub(crate) const HANDLED_TOPIC: &str = "staticbus.bridge.handled";

    /// A group's handled ids in a store: one event per id, on stream
    /// `bridge.dedup.<group>`, its event id `<group>:<id>` (the store's unique index of ids
    /// answers the lookup; appending one twice stores it once).
    #[derive(Debug)]
    pub(crate) struct Persisted {
        store: Store,
        group: String,
        stream: String,
    }

    impl Persisted {
        pub(crate) fn new(store: Store, group: &str) -> Self {
            Persisted {
                store,
                group: group.to_owned(),
                stream: format!("bridge.dedup.{group}"),
            }
        }

        fn key(&self, id: &str) -> String {
            format!("{}:{id}", self.group)
        }

        pub(crate) async fn contains(&self, id: &str) -> Result<bool, super::RecordError> {
            let found = self.store.position_of(&self.key(id)).await;
            found.map(|p| p.is_some()).map_err(|e| e.to_string())
        }

        pub(crate) async fn insert(
            &self,
            id: &str,
            subject: &str,
        ) -> Result<(), super::RecordError> {
            let body = serde_json::json!({ "group": self.group, "id": id, "subject": subject });
            let record = NewEvent::json(HANDLED_TOPIC, &body)
                .map_err(|e| e.to_string())?
                .id(self.key(id));
            let appended = self
                .store
                .append(&*self.stream, Expected::Any, vec![record]);
            appended.await.map(drop).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dedup;
    use std::time::Duration;

    #[test]
    fn ids_are_remembered_within_capacity_and_window() {
        let dedup = Dedup::new(2, Duration::from_secs(60));
        dedup.insert("a");
        dedup.insert("b");
        assert!(dedup.contains("a") && dedup.contains("b"));
        dedup.insert("c");
        assert!(!dedup.contains("a"), "the least recently used went");
        assert_eq!(dedup.len(), 2);
        let short = Dedup::new(8, Duration::ZERO);
        short.insert("x");
        std::thread::sleep(Duration::from_millis(2));
        assert!(!short.contains("x"), "expired");
        assert!(short.is_empty());
    }

    #[cfg(feature = "store")]
    #[tokio::test]
    async fn a_store_records_ids_and_reports_what_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = staticbus_store::Store::open(dir.path().join("d.db")).unwrap();
        let group = crate::Group::new("g", "job.*").dedup_store(store.clone());
        let handled = super::Handled::of(&group);
        assert_eq!(handled.contains("a").await, Ok(false));
        handled.insert("a", "events.job.run").await.unwrap();
        handled.insert("a", "events.job.run").await.unwrap();
        let fresh = super::Handled::of(&group);
        assert_eq!(fresh.contains("a").await, Ok(true), "the store knows it");
        assert!(
            fresh.memory.contains("a"),
            "and the memory window learns it"
        );
        assert_eq!(store.last_position().await.unwrap(), 1, "recorded once");
        store.close().await.unwrap();
        let error = fresh.insert("b", "events.job.run").await.unwrap_err();
        assert!(error.contains("closed"), "{error}");
    }
}
