//! Quickstart: events flowing through plugins and free handlers.
//!
//! `cargo run --example quickstart`
//!
//! Three plugins (inventory, billing, audit) and free functions react to an order's events.
//! `emit` runs the sync handlers inline; `publish` also awaits the async ones. The order of
//! the output lines is the dispatch order: priority first, then plugin name, then function
//! path. Billing reacts to an order by issuing an invoice: a handler that takes a
//! `HandlerContext` publishes further events on its own system.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use staticbus::prelude::*;

#[derive(StaticEvent, Debug, Clone)]
#[event(name = "order.placed")]
struct OrderPlaced {
    id: u64,
    sku: &'static str,
    quantity: u32,
    total_cents: u64,
}

#[derive(StaticEvent, Debug, Clone, Copy)]
struct OrderShipped(u64);

#[derive(StaticEvent, Debug, Clone, Copy)]
struct InvoiceIssued {
    order: u64,
    cents: u64,
}

#[derive(StaticEvent, Debug, Clone, Copy)]
enum Payment {
    Captured { order: u64, cents: u64 },
    Declined { order: u64 },
}

#[derive(Debug, thiserror::Error)]
#[error("order {order}: only {available} of {sku} left, {requested} requested")]
struct OutOfStock {
    order: u64,
    sku: &'static str,
    available: u32,
    requested: u32,
}

/// Reserves stock; fails the order when there is not enough.
struct Inventory {
    widgets: Mutex<u32>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            widgets: Mutex::new(5),
        }
    }
}

#[plugin(name = "inventory", version = "1.2.0")]
impl Inventory {
    #[on(priority = 100)] // reserve before anyone bills
    fn reserve(&self, e: &OrderPlaced) -> Result<(), OutOfStock> {
        let mut left = self.widgets.lock().unwrap_or_else(|p| p.into_inner());
        if *left < e.quantity {
            return Err(OutOfStock {
                order: e.id,
                sku: e.sku,
                available: *left,
                requested: e.quantity,
            });
        }
        *left -= e.quantity;
        println!(
            "  [inventory] order {}: reserved {} x {}, {} left",
            e.id, e.quantity, e.sku, *left
        );
        Ok(())
    }
}

/// Sums captured payments.
#[derive(Default)]
struct Billing {
    captured_cents: AtomicU64,
}

#[plugin(name = "billing", version = "0.9.1")]
impl Billing {
    #[on(priority = 10)]
    fn invoice(&self, e: &OrderPlaced, ctx: &HandlerContext<'_>) {
        println!(
            "  [billing] order {}: invoice for {}",
            e.id,
            dollars(e.total_cents)
        );
        // Another event, on the same system, from inside a handler.
        ctx.emit(&InvoiceIssued {
            order: e.id,
            cents: e.total_cents,
        });
    }

    #[on]
    fn payment(&self, e: &Payment) {
        match *e {
            Payment::Captured { order, cents } => {
                self.captured_cents.fetch_add(cents, Ordering::Relaxed);
                println!("  [billing] order {order}: captured {}", dollars(cents));
            }
            Payment::Declined { order } => println!("  [billing] order {order}: payment declined"),
        }
    }
}

/// Counts everything; notifies asynchronously.
#[derive(Default)]
struct Audit {
    seen: AtomicU64,
}

#[plugin(name = "audit", version = "1.0.0")]
impl Audit {
    #[on(priority = -10)] // after everything else
    fn placed(&self, e: &OrderPlaced) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        println!("  [audit] order {}: recorded (#{n})", e.id);
    }

    #[on]
    async fn shipped(&self, e: &OrderShipped) {
        tokio::task::yield_now().await; // stands in for an e-mail or webhook call
        self.seen.fetch_add(1, Ordering::Relaxed);
        println!("  [audit] order {}: customer notified (async)", e.0);
    }
}

#[handler(priority = 10)]
fn log_order(e: &OrderPlaced) {
    println!("  [log] order {}: {} x {} placed", e.id, e.quantity, e.sku);
}

#[handler]
fn log_shipping(e: &OrderShipped) {
    println!("  [log] order {} shipped", e.0);
}

#[handler]
fn log_invoice(e: &InvoiceIssued) {
    println!(
        "    [log] invoice issued: order {}, {}",
        e.order,
        dollars(e.cents)
    );
}

fn dollars(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), staticbus::Error> {
    let system = EventSystem::builder()
        .require_plugins(["inventory", "billing", "audit"])
        .build()?;

    println!("emit OrderPlaced #1 (sync handlers, inline, no allocation):");
    let order = OrderPlaced {
        id: 1,
        sku: "widget",
        quantity: 3,
        total_cents: 2997,
    };
    let emitted = system.emit(&order);
    println!("  -> {} handlers ran", emitted.handled());

    println!("emit Payment::Captured:");
    system.emit(&Payment::Captured {
        order: 1,
        cents: 2997,
    });

    println!("publish OrderShipped (sync and async handlers, in order):");
    let published = system.publish(OrderShipped(1)).await?;
    println!("  -> {} handlers ran", published.handled());

    println!("emit OrderShipped (async handlers are skipped, and counted):");
    let emitted = system.emit(&OrderShipped(1));
    println!(
        "  -> {} ran, {} async skipped",
        emitted.handled(),
        emitted.skipped_async()
    );

    println!("publish OrderPlaced #2 (more than the stock):");
    let too_many = OrderPlaced {
        id: 2,
        sku: "widget",
        quantity: 4,
        total_cents: 3996,
    };
    match system.publish(too_many).await {
        Ok(p) => println!("  -> {} handlers ran", p.handled()),
        Err(err) => println!("  -> error: {err}"),
    }

    let billing = system.plugin::<Billing>().expect("billing is linked");
    let audit = system.plugin::<Audit>().expect("audit is linked");
    println!(
        "\ncaptured {} in total; audit saw {} events",
        dollars(billing.captured_cents.load(Ordering::Relaxed)),
        audit.seen.load(Ordering::Relaxed)
    );
    let _ = Payment::Declined { order: 0 };
    Ok(())
}
