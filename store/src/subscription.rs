//! Catch-up subscriptions: every committed event in position order from where the
//! subscriber starts (its checkpoint, or a position), then the live ones as they commit,
//! with no gap and no duplicate.
//!
//! There is no separate "live" channel to switch to, and so no seam: the subscription
//! always reads the store, from the position after the last one it looked at, up to the
//! last position committed, and then waits for the writer to commit more. One writer
//! assigns positions in commit order, so what is committed is always 1..=n: a read up to
//! `n` sees every event below it.

use std::collections::VecDeque;

use tokio::sync::watch;

use crate::Store;
use crate::error::StoreError;
use crate::event::StoredEvent;
use crate::read::{self, ReadFilter};
use crate::writer::Committed;

/// Rows read from the store at a time.
const CHUNK: usize = 512;

/// A catch-up subscription ([`Store::subscribe`], [`Store::subscribe_checkpointed`]).
pub struct Subscription {
    store: Store,
    filter: ReadFilter,
    /// The next position to look at.
    next: u64,
    /// The last position delivered (0: none yet).
    delivered: u64,
    buffer: VecDeque<StoredEvent>,
    committed: watch::Receiver<Committed>,
    checkpoint: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("next", &self.next)
            .field("delivered", &self.delivered)
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(
        store: Store,
        from: u64,
        filter: ReadFilter,
        committed: watch::Receiver<Committed>,
        checkpoint: Option<String>,
    ) -> Subscription {
        Subscription {
            store,
            filter,
            next: from.max(1),
            delivered: from.saturating_sub(1),
            buffer: VecDeque::new(),
            committed,
            checkpoint,
        }
    }

    /// The next event the filter takes: a stored one at once, else the next to commit
    /// (waiting for it). Fails with [`StoreError::Closed`] once the store is closed and every
    /// event committed before was delivered.
    pub async fn next(&mut self) -> Result<StoredEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.delivered = event.position;
                return Ok(event);
            }
            let committed = *self.committed.borrow_and_update();
            if self.next <= committed.position {
                let (from, upto, filter) = (self.next, committed.position, self.filter.clone());
                let (events, next) = self
                    .store
                    .read(move |conn, path| read::scan(conn, path, from, upto, CHUNK, &filter))
                    .await?;
                self.next = next;
                self.buffer.extend(events);
                continue;
            }
            if !committed.open {
                return Err(StoreError::Closed);
            }
            // A commit after the value just seen wakes this (none is missed).
            if self.committed.changed().await.is_err() {
                return Err(StoreError::Closed);
            }
        }
    }

    /// The position of the last event delivered (0: none yet).
    pub fn position(&self) -> u64 {
        self.delivered
    }

    /// Stores the position of the last event delivered as this subscription's checkpoint
    /// (in the store's database, through its writer), so that
    /// [`Store::subscribe_checkpointed`] with the same name goes on after it. Fails with
    /// [`StoreError::InvalidOption`] for a subscription made without a name.
    pub async fn save_checkpoint(&self) -> Result<(), StoreError> {
        let Some(name) = &self.checkpoint else {
            return Err(StoreError::InvalidOption {
                option: "checkpoint",
                reason: "this subscription has no checkpoint name: make it with \
                         `Store::subscribe_checkpointed`"
                    .to_owned(),
            });
        };
        self.store
            .save_checkpoint(name.clone(), self.delivered)
            .await
    }
}

impl Store {
    /// A catch-up subscription to the events `filter` takes, from position `from`
    /// (included; 0 or 1: from the first): every stored one in position order, then each
    /// new one as it commits.
    pub fn subscribe(&self, from: u64, filter: ReadFilter) -> Subscription {
        let committed = self.inner.counters.committed.subscribe();
        Subscription::new(self.clone(), from, filter, committed, None)
    }

    /// A catch-up subscription that goes on after checkpoint `name` (from the first event if
    /// it was never saved); [`Subscription::save_checkpoint`] moves it.
    pub async fn subscribe_checkpointed(
        &self,
        name: &str,
        filter: ReadFilter,
    ) -> Result<Subscription, StoreError> {
        let after = self.checkpoint(name).await?.unwrap_or(0);
        let committed = self.inner.counters.committed.subscribe();
        Ok(Subscription::new(
            self.clone(),
            after + 1,
            filter,
            committed,
            Some(name.to_owned()),
        ))
    }
}
