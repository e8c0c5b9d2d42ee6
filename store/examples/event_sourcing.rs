//! Event sourcing with staticbus-store: an order aggregate loaded by folding its stream,
//! saved with optimistic concurrency (a second writer gets a conflict), snapshotted every 3
//! events, an old payload upcast on load, and a decision checked with given / when / then.
//!
//! `cargo run -p staticbus-store --example event_sourcing`

use serde::{Deserialize, Serialize};
use serde_json::json;
use staticbus_store::testing::given;
use staticbus_store::{
    Aggregate, Expected, NewEvent, Snapshots, Store, StoreError, StoreOptions, Upcasters,
};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Order {
    total: u64,
    paid: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OrderEvent {
    /// Version 2: `price` in cents (version 1 had `euros`, a float).
    LineAdded {
        price: u64,
    },
    Paid,
}

impl Aggregate for Order {
    type Event = OrderEvent;
    const KIND: &'static str = "order";
    const SNAPSHOTS: Option<Snapshots<Self>> = Some(Snapshots::every(3));

    fn topic(event: &OrderEvent) -> &str {
        match event {
            OrderEvent::LineAdded { .. } => "order.line_added",
            OrderEvent::Paid => "order.paid",
        }
    }

    fn schema_version(topic: &str) -> u32 {
        if topic == "order.line_added" { 2 } else { 1 }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::LineAdded { price } => self.total += price,
            OrderEvent::Paid => self.paid = true,
        }
    }
}

impl Order {
    fn pay(&self) -> Result<Vec<OrderEvent>, &'static str> {
        match () {
            _ if self.paid => Err("already paid"),
            _ if self.total == 0 => Err("nothing to pay"),
            _ => Ok(vec![OrderEvent::Paid]),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Decisions first, in memory.
    given::<Order>([OrderEvent::LineAdded { price: 400 }])
        .when(Order::pay)
        .then([OrderEvent::Paid]);
    given::<Order>([])
        .when(Order::pay)
        .then_error("nothing to pay");

    let dir = tempfile::tempdir()?;
    let upcasters = Upcasters::new().try_add("order.line_added", 1, |mut v| {
        let fields = v.as_object_mut().ok_or("not an object")?;
        let euros = fields.remove("euros").and_then(|e| e.as_f64());
        let euros = euros.ok_or("`euros` is not a number")?;
        fields.insert("price".to_owned(), json!((euros * 100.0).round() as u64));
        Ok(v)
    });
    let store = Store::open_with(
        dir.path().join("events.db"),
        StoreOptions::new().upcasters(upcasters),
    )?;

    // A line written by older code, at version 1.
    let old = NewEvent::json(
        "order.line_added",
        &json!({ "type": "line_added", "euros": 2.5 }),
    )?
    .schema_version(1);
    store
        .append("order-7", Expected::NoStream, vec![old])
        .await?;

    let mut order = store.load::<Order>("7").await?;
    assert_eq!((order.total, order.revision()), (250, Some(0)));
    store
        .save(&mut order, vec![OrderEvent::LineAdded { price: 400 }])
        .await?;

    // Two writers loaded revision 1: the second to save is told, and nothing is written.
    let mut first = store.load::<Order>("7").await?;
    let mut second = store.load::<Order>("7").await?;
    let events = first.pay()?;
    store.save(&mut first, events).await?;
    let events = second.pay()?;
    let late = store.save(&mut second, events).await;
    assert!(matches!(
        late,
        Err(StoreError::WrongExpectedRevision { .. })
    ));
    let reloaded = store.load::<Order>("7").await?;
    assert_eq!(reloaded.pay(), Err("already paid"));

    // Three events saved: the last save stored a snapshot, so a load reads none.
    assert_eq!(first.snapshot_revision(), Some(2));
    let loaded = store.load::<Order>("7").await?;
    assert_eq!(
        (loaded.events_read(), loaded.total, loaded.paid),
        (0, 650, true)
    );
    println!(
        "order-7: total {} cents, paid, revision {:?}, loaded from its snapshot",
        loaded.total,
        loaded.revision()
    );
    store.close().await?;
    Ok(())
}
