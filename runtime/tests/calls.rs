//! Calls by name: `system.call("pricing", "price", json)` for callers that know names only at
//! run time; every way it can fail told apart.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use staticbus::{CallError, EventSystem, Request, RequestError, plugin};

#[derive(Request, Deserialize)]
#[request(response = Price)]
struct GetPrice {
    sku: String,
    quantity: u32,
}

#[derive(Serialize, Debug)]
struct Price {
    cents: u64,
    currency: String,
}

#[derive(Request, Deserialize)]
#[request(response = ())]
struct Wait {
    millis: u64,
}

/// Not serde: reachable with `request` only.
#[derive(Request)]
#[request(response = u8)]
struct Opaque(std::sync::Arc<u8>);

#[derive(Default)]
struct Pricing;

#[plugin(name = "pricing")]
impl Pricing {
    #[responds]
    async fn price(&self, r: GetPrice) -> Result<Price, std::io::Error> {
        Ok(Price {
            cents: u64::from(r.quantity) * 250 + r.sku.len() as u64,
            currency: "EUR".into(),
        })
    }

    #[responds]
    async fn wait(&self, r: Wait) -> Result<(), std::io::Error> {
        tokio::time::sleep(Duration::from_millis(r.millis)).await;
        Ok(())
    }

    #[responds]
    fn opaque(&self, r: Opaque) -> Result<u8, std::io::Error> {
        Ok(*r.0)
    }
}

#[tokio::test]
async fn a_call_by_name_reads_its_arguments_and_writes_its_response() {
    let system = EventSystem::builder().build().unwrap();
    let price = system
        .call("pricing", "price", json!({ "sku": "ab", "quantity": 3 }))
        .await
        .unwrap();
    assert_eq!(price, json!({ "cents": 752, "currency": "EUR" }));
    // The same responder, typed.
    let typed = system
        .request(GetPrice {
            sku: "ab".into(),
            quantity: 3,
        })
        .await
        .unwrap();
    assert_eq!(typed.cents, 752);
    assert_eq!(system.request(Opaque(1.into())).await.unwrap(), 1);
}

#[tokio::test]
async fn unknown_names_bad_arguments_and_timeouts_are_distinct() {
    let system = EventSystem::builder().build().unwrap();
    let err = system
        .call("billing", "price", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::UnknownPlugin { linked, .. } if linked.contains(&"pricing")),
        "{err}"
    );
    let err = system.call("pricing", "cost", json!({})).await.unwrap_err();
    let CallError::UnknownMethod { methods, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(methods, &["opaque", "price", "wait"]);
    assert!(
        err.to_string()
            .contains("its responders: opaque, price, wait"),
        "{err}"
    );

    let err = system
        .call(
            "pricing",
            "price",
            json!({ "sku": "ab", "quantity": "three" }),
        )
        .await
        .unwrap_err();
    let CallError::BadArguments {
        request, source, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*request, "GetPrice");
    assert!(source.to_string().contains("invalid type"), "{source}");
    let err = system
        .call("pricing", "price", json!({ "sku": "ab" }))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("missing field `quantity`"),
        "{err}"
    );

    let err = system
        .call("pricing", "opaque", json!(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CallError::NotCallable {
                request: "Opaque",
                ..
            }
        ),
        "{err}"
    );

    let err = system
        .call_within(
            "pricing",
            "wait",
            json!({ "millis": 5_000 }),
            Some(Duration::from_millis(20)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(matches!(
        err,
        CallError::Request(RequestError::Timeout { .. })
    ));
    let done = system.call("pricing", "wait", json!({ "millis": 1 })).await;
    assert_eq!(done.unwrap(), json!(null));
}
