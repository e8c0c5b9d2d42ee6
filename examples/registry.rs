//! Prints the link-time registry: every event with its handlers in dispatch order
//! (plugin, function, priority, sync/async, file:line), and every plugin.
//!
//! `cargo run --example registry`

use staticbus::prelude::*;

#[derive(StaticEvent)]
#[event(name = "user.signed_up")]
struct SignedUp {
    #[allow(
        dead_code,
        reason = "read by real handlers; here the registry is the point"
    )]
    email: String,
}

#[derive(StaticEvent)]
struct Heartbeat;

#[derive(Default)]
struct Welcome;

#[plugin(name = "welcome", version = "1.0.0")]
impl Welcome {
    #[on(priority = 10)]
    async fn send_mail(&self, _: &SignedUp) {}

    #[on]
    fn count(&self, _: &SignedUp) {}
}

#[derive(Default)]
struct Crm;

#[plugin(name = "crm", version = "3.1.4")]
impl Crm {
    #[on]
    fn create_contact(&self, _: &SignedUp) {}
}

#[handler(priority = 100)]
fn validate(_: &SignedUp) {}

#[handler]
fn beat(_: &Heartbeat) {}

fn main() {
    print!("{}", staticbus::registry());
}
