//! Event sourcing: aggregates loaded by folding their streams, saved with optimistic
//! concurrency, snapshotted every N events (a snapshot of another version, or one that does
//! not decode, ignored and rebuilt), older payloads upcast on load, and the given / when /
//! then helper.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use staticbus_store::testing::given;
use staticbus_store::{
    Aggregate, Direction, Expected, NewEvent, Snapshots, Store, StoreError, StoreOptions, Upcasters,
};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    customer: Option<String>,
    lines: Vec<String>,
    total: u64,
    paid: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OrderEvent {
    Placed { customer: String },
    LineAdded { item: String, price: u64 },
    Paid,
}

#[derive(Debug, PartialEq)]
enum OrderError {
    NotPlaced,
    AlreadyPaid,
    Empty,
}

fn topic(event: &OrderEvent) -> &'static str {
    match event {
        OrderEvent::Placed { .. } => "order.placed",
        OrderEvent::LineAdded { .. } => "order.line_added",
        OrderEvent::Paid => "order.paid",
    }
}

impl Order {
    fn add_line(&self, item: &str, price: u64) -> Result<Vec<OrderEvent>, OrderError> {
        if self.customer.is_none() {
            return Err(OrderError::NotPlaced);
        }
        if self.paid {
            return Err(OrderError::AlreadyPaid);
        }
        Ok(vec![OrderEvent::LineAdded {
            item: item.to_owned(),
            price,
        }])
    }

    fn pay(&self) -> Result<Vec<OrderEvent>, OrderError> {
        match () {
            _ if self.paid => Err(OrderError::AlreadyPaid),
            _ if self.lines.is_empty() => Err(OrderError::Empty),
            _ => Ok(vec![OrderEvent::Paid]),
        }
    }

    fn fold(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed { customer } => self.customer = Some(customer.clone()),
            OrderEvent::LineAdded { item, price } => {
                self.lines.push(item.clone());
                self.total += price;
            }
            OrderEvent::Paid => self.paid = true,
        }
    }
}

impl Aggregate for Order {
    type Event = OrderEvent;
    const KIND: &'static str = "order";

    fn topic(event: &OrderEvent) -> &str {
        topic(event)
    }

    fn apply(&mut self, event: &OrderEvent) {
        self.fold(event);
    }
}

/// The same order, snapshotted every `EVERY` events under snapshot version `V`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct Snapshotted<const EVERY: u64, const V: u32>(Order);

impl<const EVERY: u64, const V: u32> Aggregate for Snapshotted<EVERY, V> {
    type Event = OrderEvent;
    const KIND: &'static str = "order";
    const SNAPSHOTS: Option<Snapshots<Self>> = Some(Snapshots::every(EVERY).version(V));

    fn topic(event: &OrderEvent) -> &str {
        topic(event)
    }

    fn apply(&mut self, event: &OrderEvent) {
        self.0.fold(event);
    }
}

/// An order whose snapshot has another shape than `Order`'s, under the same version.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Reshaped {
    count: u32,
}

impl Aggregate for Reshaped {
    type Event = OrderEvent;
    const KIND: &'static str = "order";
    const SNAPSHOTS: Option<Snapshots<Self>> = Some(Snapshots::every(2));

    fn topic(event: &OrderEvent) -> &str {
        topic(event)
    }

    fn apply(&mut self, _: &OrderEvent) {
        self.count += 1;
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("events.db")).expect("the store opens")
}

fn line(item: &str, price: u64) -> OrderEvent {
    OrderEvent::LineAdded {
        item: item.to_owned(),
        price,
    }
}

fn placed() -> OrderEvent {
    OrderEvent::Placed {
        customer: "ada".to_owned(),
    }
}

#[tokio::test]
async fn an_empty_stream_loads_as_the_default_state_at_no_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let order = store.load::<Order>("1").await.unwrap();
    assert_eq!(order.stream(), "order-1");
    assert_eq!(*order.state(), Order::default());
    assert_eq!((order.revision(), order.events_read()), (None, 0));
    assert!(order.is_new());
}

#[tokio::test]
async fn saved_events_are_stored_with_their_topics_and_loaded_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut order = store.load::<Order>("1").await.unwrap();
    let appended = store
        .save(&mut order, vec![placed(), line("tea", 4)])
        .await
        .unwrap();
    assert_eq!(appended.revision, Some(1));
    assert_eq!(order.revision(), Some(1));
    assert_eq!(order.total, 4, "the saved events are applied to the state");
    let events = order.add_line("cake", 6).unwrap();
    store.save(&mut order, events).await.unwrap();

    let loaded = store.load::<Order>("1").await.unwrap();
    assert_eq!(loaded.revision(), Some(2));
    assert_eq!(loaded.events_read(), 3);
    assert_eq!(loaded.state(), order.state());
    assert_eq!(loaded.lines, ["tea", "cake"]);

    let stored = store
        .read_stream("order-1", 0, Direction::Forwards, 10)
        .await
        .unwrap();
    let topics: Vec<&str> = stored.iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(
        topics,
        ["order.placed", "order.line_added", "order.line_added"]
    );
    assert_eq!(stored[1].schema_version, 1);
    assert_eq!(
        stored[1].json::<Value>().unwrap(),
        json!({ "type": "line_added", "item": "tea", "price": 4 })
    );
}

#[tokio::test]
async fn a_concurrent_save_gets_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut order = store.load::<Order>("1").await.unwrap();
    store.save(&mut order, vec![placed()]).await.unwrap();

    let mut first = store.load::<Order>("1").await.unwrap();
    let mut second = store.load::<Order>("1").await.unwrap();
    store
        .save(&mut first, vec![line("tea", 4)])
        .await
        .expect("the first writer saves");
    let late = store.save(&mut second, vec![line("cake", 6)]).await;
    match late {
        Err(StoreError::WrongExpectedRevision {
            stream,
            expected,
            actual,
        }) => {
            assert_eq!(stream, "order-1");
            assert_eq!((expected, actual), (Expected::Exact(0), Some(1)));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The late writer's state is as it was loaded; loaded again, it sees the first's line.
    assert_eq!((second.revision(), second.total), (Some(0), 0));
    let mut second = store.load::<Order>("1").await.unwrap();
    assert_eq!(second.lines, ["tea"]);
    store
        .save(&mut second, vec![line("cake", 6)])
        .await
        .unwrap();
    assert_eq!(store.stream_revision("order-1").await.unwrap(), Some(2));

    // A new stream saved twice from two loads: `NoStream` refuses the second.
    let mut a = store.load::<Order>("2").await.unwrap();
    let mut b = store.load::<Order>("2").await.unwrap();
    store.save(&mut a, vec![placed()]).await.unwrap();
    let err = store.save(&mut b, vec![placed()]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedRevision {
                expected: Expected::NoStream,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_stream_longer_than_one_read_is_folded_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut order = store.load::<Order>("1").await.unwrap();
    let lines: Vec<OrderEvent> = (1..=1100).map(|n| line("tea", n)).collect();
    store.save(&mut order, lines).await.unwrap();
    store
        .save(&mut order, vec![OrderEvent::Paid])
        .await
        .unwrap();
    let loaded = store.load::<Order>("1").await.unwrap();
    assert_eq!(
        (loaded.events_read(), loaded.revision()),
        (1101, Some(1100))
    );
    assert_eq!(loaded.total, 1100 * 1101 / 2);
    assert!(loaded.paid);
}

#[tokio::test]
async fn snapshots_every_n_events_shorten_the_load() {
    type Snap3 = Snapshotted<3, 1>;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut order = store.load::<Snap3>("1").await.unwrap();
    store.save(&mut order, vec![placed()]).await.unwrap();
    assert_eq!(order.snapshot_revision(), None, "1 event: no snapshot yet");
    for n in 1..=6 {
        store.save(&mut order, vec![line("tea", n)]).await.unwrap();
    }
    // 7 events (revisions 0..=6): snapshots at revisions 2 and 5.
    assert_eq!(order.snapshot_revision(), Some(5));

    let loaded = store.load::<Snap3>("1").await.unwrap();
    assert_eq!(loaded.snapshot_revision(), Some(5));
    assert_eq!(loaded.events_read(), 1, "only the event after the snapshot");
    assert_eq!(loaded.revision(), Some(6));
    assert_eq!(loaded.state(), order.state());

    // The same stream without snapshots reads all 7 to the same state.
    let plain = store.load::<Order>("1").await.unwrap();
    assert_eq!(plain.events_read(), 7);
    assert_eq!(*plain.state(), loaded.state().0);
    assert_eq!(plain.total, 21);

    // Loaded from a snapshot, saving goes on from its revision, and counts from the
    // snapshot: the next one is 3 events after it.
    let mut loaded = loaded;
    store
        .save(&mut loaded, vec![OrderEvent::Paid])
        .await
        .unwrap();
    assert_eq!(loaded.snapshot_revision(), Some(5));
    let again = store.load::<Snap3>("1").await.unwrap();
    assert_eq!((again.events_read(), again.revision()), (2, Some(7)));
    let mut loaded = again;
    store
        .save(&mut loaded, vec![line("cake", 1)])
        .await
        .unwrap();
    assert_eq!(loaded.snapshot_revision(), Some(8));
    let again = store.load::<Snap3>("1").await.unwrap();
    assert_eq!((again.events_read(), again.revision()), (0, Some(8)));
    assert!(again.0.paid);
    assert_eq!(again.0.total, 22);
}

#[tokio::test]
async fn a_snapshot_of_another_version_is_ignored_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut v1 = store.load::<Snapshotted<2, 1>>("1").await.unwrap();
    store
        .save(&mut v1, vec![placed(), line("tea", 4), line("cake", 6)])
        .await
        .unwrap();
    assert_eq!(v1.snapshot_revision(), Some(2));

    let mut v2 = store.load::<Snapshotted<2, 2>>("1").await.unwrap();
    assert_eq!(
        v2.snapshot_revision(),
        None,
        "the version 1 snapshot is ignored"
    );
    assert_eq!(v2.events_read(), 3);
    assert_eq!(v2.0, v1.0);
    store.save(&mut v2, vec![OrderEvent::Paid]).await.unwrap();
    assert_eq!(v2.snapshot_revision(), Some(3), "rebuilt at the next save");

    let loaded = store.load::<Snapshotted<2, 2>>("1").await.unwrap();
    assert_eq!(
        (loaded.snapshot_revision(), loaded.events_read()),
        (Some(3), 0)
    );
    assert!(loaded.0.paid);
    // Now the version 1 code meets a version 2 snapshot: ignored too.
    let old = store.load::<Snapshotted<2, 1>>("1").await.unwrap();
    assert_eq!((old.snapshot_revision(), old.events_read()), (None, 4));
    assert_eq!(old.0, loaded.0);
}

#[tokio::test]
async fn a_snapshot_that_does_not_decode_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut reshaped = store.load::<Reshaped>("1").await.unwrap();
    store
        .save(&mut reshaped, vec![placed(), line("tea", 4)])
        .await
        .unwrap();
    assert_eq!(reshaped.snapshot_revision(), Some(1));
    // `{"count": 2}` is not an order: a load starts from the stream's first event instead.
    let order = store.load::<Snapshotted<2, 1>>("1").await.unwrap();
    assert_eq!((order.snapshot_revision(), order.events_read()), (None, 2));
    assert_eq!(order.0.lines, ["tea"]);
}

/// A ledger whose entries are at schema version 3: `{"type": "entry", "cents": 1250,
/// "currency": "EUR"}`. Version 1 was `{"type": "entry", "amount": 12.5}` (euros), version
/// 2 `{"type": "entry", "cents": 1250}`.
#[derive(Debug, Default)]
struct Ledger {
    entries: Vec<(u64, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LedgerEvent {
    Entry { cents: u64, currency: String },
}

impl Aggregate for Ledger {
    type Event = LedgerEvent;
    const KIND: &'static str = "ledger";

    fn topic(_: &LedgerEvent) -> &str {
        "ledger.entry"
    }

    fn schema_version(topic: &str) -> u32 {
        match topic {
            "ledger.entry" => 3,
            _ => 1,
        }
    }

    fn apply(&mut self, event: &LedgerEvent) {
        let LedgerEvent::Entry { cents, currency } = event;
        self.entries.push((*cents, currency.clone()));
    }
}

fn upcasters() -> Upcasters {
    Upcasters::new()
        .try_add("ledger.entry", 1, |mut v: Value| {
            let amount = v["amount"].as_f64().ok_or("`amount` is not a number")?;
            let object = v.as_object_mut().ok_or("not an object")?;
            object.remove("amount");
            object.insert("cents".to_owned(), json!((amount * 100.0).round() as u64));
            Ok(v)
        })
        .add("ledger.entry", 2, |mut v| {
            v["currency"] = json!("EUR");
            v
        })
}

async fn old_ledger(store: &Store) {
    let v1 = NewEvent::json("ledger.entry", &json!({ "type": "entry", "amount": 12.5 }))
        .unwrap()
        .schema_version(1);
    let v2 = NewEvent::json("ledger.entry", &json!({ "type": "entry", "cents": 300 }))
        .unwrap()
        .schema_version(2);
    store
        .append("ledger-1", Expected::NoStream, vec![v1, v2])
        .await
        .unwrap();
}

#[tokio::test]
async fn older_payloads_are_upcast_on_load_and_on_any_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Store::open_with(&path, StoreOptions::new().upcasters(upcasters())).unwrap();
    old_ledger(&store).await;
    let mut ledger = store.load::<Ledger>("1").await.unwrap();
    assert_eq!(
        ledger.entries,
        [(1250, "EUR".to_owned()), (300, "EUR".to_owned())]
    );
    // New events are written at version 3, and need no upcaster.
    let entry = LedgerEvent::Entry {
        cents: 5,
        currency: "CHF".to_owned(),
    };
    store.save(&mut ledger, vec![entry]).await.unwrap();
    assert_eq!(store.load::<Ledger>("1").await.unwrap().entries.len(), 3);

    // Any event read is upcast the same way (a replay sees what a load sees).
    let stored = store
        .read_stream("ledger-1", 0, Direction::Forwards, 10)
        .await
        .unwrap();
    let versions: Vec<u32> = stored.iter().map(|e| e.schema_version).collect();
    assert_eq!(versions, [1, 2, 3], "the store keeps what was written");
    let first = store.upcast(stored[0].clone()).unwrap();
    assert_eq!(first.schema_version, 3);
    assert_eq!(
        first.json::<Value>().unwrap(),
        json!({ "type": "entry", "cents": 1250, "currency": "EUR" })
    );
    assert_eq!(store.upcast(stored[2].clone()).unwrap(), stored[2]);
    store.close().await.unwrap();

    // Without the upcasters, the same stream does not load, and the error says why.
    let bare = Store::open(&path).unwrap();
    let err = bare.load::<Ledger>("1").await.unwrap_err();
    match &err {
        StoreError::SchemaVersion {
            position,
            topic,
            version,
            expected,
            ..
        } => assert_eq!(
            (*position, topic.as_str(), *version, *expected),
            (1, "ledger.entry", 1, 3)
        ),
        other => panic!("expected a schema version error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("register an upcaster of `ledger.entry` from version 1"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failing_upcaster_is_an_error_naming_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path().join("events.db"),
        StoreOptions::new().upcasters(upcasters()),
    )
    .unwrap();
    old_ledger(&store).await;
    let bad = NewEvent::json(
        "ledger.entry",
        &json!({ "type": "entry", "amount": "lots" }),
    )
    .unwrap()
    .schema_version(1);
    store
        .append("ledger-1", Expected::Exact(1), vec![bad])
        .await
        .unwrap();
    let err = store.load::<Ledger>("1").await.unwrap_err();
    match &err {
        StoreError::Upcast {
            position,
            stream,
            topic,
            version,
            source,
        } => {
            assert_eq!((*position, stream.as_str()), (3, "ledger-1"));
            assert_eq!((topic.as_str(), *version), ("ledger.entry", 1));
            assert_eq!(source.to_string(), "`amount` is not a number");
        }
        other => panic!("expected an upcast error, got {other:?}"),
    }
    assert!(err.to_string().contains("position 3"), "{err}");
}

#[tokio::test]
async fn an_event_that_does_not_decode_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let odd = NewEvent::json("order.placed", &json!({ "type": "placed" })).unwrap();
    store
        .append("order-1", Expected::NoStream, vec![odd])
        .await
        .unwrap();
    let err = store.load::<Order>("1").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Decode { position: 1, topic, version: 1, .. } if topic == "order.placed"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("missing field `customer`"),
        "{err}"
    );
}

#[test]
fn two_upcasters_from_one_version_are_refused_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let twice = upcasters().add("ledger.entry", 1, |v| v);
    let options = staticbus_store::StoreOptions::new().upcasters(twice);
    let err = Store::open_with(dir.path().join("events.db"), options).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidOption {
                option: "upcasters",
                ..
            }
        ) && err.to_string().contains("`ledger.entry` from version 1"),
        "{err}"
    );
}

#[test]
fn given_when_then_checks_the_events_a_decision_gives() {
    let order = given::<Order>([placed(), line("tea", 4)])
        .when(|order| order.add_line("cake", 6))
        .then([line("cake", 6)]);
    assert_eq!((order.total, order.lines.len()), (10, 2));

    given::<Order>([placed()])
        .when(Order::pay)
        .then_error(OrderError::Empty);
    given::<Order>([])
        .when(|order| order.add_line("tea", 4))
        .then_error(OrderError::NotPlaced);
}

#[test]
fn given_when_then_reports_what_it_found_instead() {
    let wrong_events = given::<Order>([placed(), line("tea", 4)])
        .when(Order::pay)
        .try_then([line("tea", 4)])
        .unwrap_err();
    assert_eq!(
        wrong_events.to_string(),
        "expected the events [LineAdded { item: \"tea\", price: 4 }], the decision gave [Paid]"
    );
    let failed = given::<Order>([placed(), line("tea", 4), OrderEvent::Paid])
        .when(Order::pay)
        .try_then([OrderEvent::Paid])
        .unwrap_err();
    assert_eq!(
        failed.to_string(),
        "expected the events [Paid], the decision failed: AlreadyPaid"
    );
    let no_error = given::<Order>([placed(), line("tea", 4)])
        .when(Order::pay)
        .try_then_error(OrderError::Empty)
        .unwrap_err();
    assert!(
        no_error.to_string().contains("gave the events [Paid]"),
        "{no_error}"
    );
}

#[test]
#[should_panic(expected = "expected the error AlreadyPaid, the decision failed with Empty")]
fn given_when_then_panics_on_the_wrong_error() {
    given::<Order>([placed()])
        .when(Order::pay)
        .then_error(OrderError::AlreadyPaid);
}

/// An aggregate whose topic the store would refuse: `then` says so before a save would.
#[derive(Debug, Default)]
struct BadTopic;

impl Aggregate for BadTopic {
    type Event = OrderEvent;
    const KIND: &'static str = "bad";

    fn topic(_: &OrderEvent) -> &str {
        "not a topic"
    }

    fn apply(&mut self, _: &OrderEvent) {}
}

#[test]
fn given_when_then_checks_that_the_events_would_be_stored() {
    let mismatch = given::<BadTopic>([])
        .when(|_| Ok::<_, OrderError>(vec![OrderEvent::Paid]))
        .try_then([OrderEvent::Paid])
        .unwrap_err();
    assert!(
        mismatch
            .to_string()
            .contains("has topic `not a topic`, which the store refuses"),
        "{mismatch}"
    );
}
