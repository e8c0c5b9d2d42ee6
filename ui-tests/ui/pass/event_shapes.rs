//! Every event shape the derive supports, with default and explicit names.

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(StaticEvent)]
struct Refund(u64, String);

#[derive(StaticEvent)]
struct Shutdown;

#[derive(StaticEvent)]
enum PaymentState {
    Authorized { id: u64 },
    Captured(u64),
    Failed,
}

#[derive(StaticEvent)]
#[event(name = "billing.v2.invoice_sent")]
pub struct InvoiceSent {
    pub id: u64,
}

#[derive(StaticEvent)]
#[event(name = "http-request")]
struct HTTPRequest;

fn main() {
    assert_eq!(OrderPlaced::NAME, "order.placed");
    assert_eq!(Refund::NAME, "refund");
    assert_eq!(Shutdown::NAME, "shutdown");
    assert_eq!(PaymentState::NAME, "payment.state");
    assert_eq!(InvoiceSent::NAME, "billing.v2.invoice_sent");
    assert_eq!(HTTPRequest::NAME, "http-request");

    let system = EventSystem::builder().build().unwrap();
    let _ = OrderPlaced { id: 1 }.id;
    let _ = system.emit(&Refund(1, String::new()));
    let _ = system.emit(&Shutdown);
    for state in [
        PaymentState::Authorized { id: 1 },
        PaymentState::Captured(1),
        PaymentState::Failed,
    ] {
        let _ = system.emit(&state);
    }
}
