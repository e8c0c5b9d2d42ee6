//! Consumer-side deduplication: the ids of the events a group member handled, within a
//! window of time and a number of ids (bounded memory), so that a redelivered event (its
//! acknowledgement lost, or a publisher's retry the broker's window missed) is handled once.

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
}
