//! Events of a staticbus system across processes, through a real broker.
//!
//! A [`Bridge`] exports the events of chosen topic patterns (dynamic events, and static
//! events published under a matching name) to the broker, and joins consumer groups: each
//! event published to the broker is handled by one member of each group, by that member's
//! local handlers: its dynamic subscribers, and, for a static type the bridge imports
//! ([`BridgeBuilder::import_static`]), that type's static handlers, which get the value. The broker is behind a small [`Transport`] trait; [`nats::Nats`] (NATS
//! JetStream, feature `nats`, on by default) is the one this crate ships.
//!
//! # Delivery guarantees
//!
//! - **Outbound**: an event counts as exported when the broker acknowledged it (stored it);
//!   a failed publish is retried by the export's retry policy, then dead-lettered by the
//!   system like any handler's failure. The broker drops a retried publish it already
//!   stored, by the event id, within its duplicate window.
//! - **Inbound**: at least once per group. A message is acknowledged only after every local
//!   handler succeeded; on a failure it is delivered again after a delay (the retry
//!   formula's full jitter), up to the group's `max_deliver`; then, or at once for a
//!   permanent error, it is published to the dead-letter subject and terminated. A member
//!   that dies leaves its unacknowledged messages to the others after `ack_wait`. Each
//!   member remembers the ids it handled (a bounded window) and acknowledges a redelivered
//!   one without handling it again: effectively once, within the window, per member;
//!   with a dedup store (feature `store`, [`Group::dedup_store`]), per group, across members
//!   and restarts (but for a member dying between its handlers' success and the record's
//!   commit).
//! - **No loops**: an event delivered from the broker carries the origin header and is
//!   never exported back.
//!
//! ```no_run
//! use staticbus::EventSystem;
//! use staticbus_bridge::nats::{Nats, NatsConfig};
//! use staticbus_bridge::{Bridge, Group};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let system = EventSystem::builder().build()?;
//! let nats = Nats::connect(NatsConfig::new("nats://127.0.0.1:4222")).await?;
//! let bridge = Bridge::builder(&system, nats)
//!     .export("order.*")
//!     .group(Group::new("billing", "order.*"))
//!     // .import_static::<OrderPlaced>() // its #[handler]s get an `OrderPlaced`
//!     .start()
//!     .await?;
//! // ... publish, handle ...
//! bridge.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod bridge;
#[cfg(feature = "cbor")]
mod cbor;
pub mod codec;
mod dedup;
mod inbound;
#[cfg(feature = "nats")]
pub mod nats;
mod outbound;
pub mod transport;

pub use bridge::{Bridge, BridgeBuilder, BridgeError, BridgeStats, Group};
#[cfg(feature = "cbor")]
pub use cbor::{CBOR_FROM, CborCodec};
pub use codec::{Codec, CodecError, JsonCodec};
pub use dedup::Dedup;
pub use inbound::{DEAD_LETTER_GROUP, DEAD_LETTER_REASON, DEAD_LETTER_SUBJECT};
pub use transport::{Delivery, GroupSpec, Headers, Outgoing, Stored, Transport, TransportError};
