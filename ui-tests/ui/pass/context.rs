//! Handlers that take a `&HandlerContext` after their event: free functions and plugin
//! methods, sync and async, the type named as imported or by its full path; and dynamic
//! closures with a context.

use std::sync::atomic::{AtomicU64, Ordering};

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(StaticEvent)]
struct InvoiceDue {
    order: u64,
}

static INVOICED: AtomicU64 = AtomicU64::new(0);

#[handler]
fn bill(e: &OrderPlaced, ctx: &HandlerContext<'_>) {
    ctx.emit(&InvoiceDue { order: e.id });
}

#[handler]
fn count(e: &InvoiceDue, ctx: &staticbus::HandlerContext) -> Result<(), String> {
    assert_eq!(ctx.topic(), "invoice.due");
    INVOICED.fetch_add(e.order, Ordering::Relaxed);
    Ok(())
}

#[handler]
async fn later(e: &OrderPlaced, ctx: &HandlerContext<'_>) {
    let _ = ctx.publish(InvoiceDue { order: e.id }).await;
}

#[derive(Default)]
struct Audit {
    seen: AtomicU64,
}

#[plugin]
impl Audit {
    #[on]
    fn placed(&self, e: &OrderPlaced, ctx: &HandlerContext<'_>) {
        let me: &Audit = ctx.plugin::<Audit>().expect("linked");
        me.seen.fetch_add(e.id, Ordering::Relaxed);
    }

    #[on]
    async fn placed_later(&self, _: &OrderPlaced, ctx: &HandlerContext<'_>) {
        assert_eq!(ctx.attempt(), 1);
    }
}

fn main() -> Result<(), staticbus::Error> {
    let system = EventSystem::builder().build()?;
    let _log = system.on("order.*", |e: &EventRef<'_>, ctx: &HandlerContext<'_>| {
        assert_eq!(e.topic(), ctx.topic());
    })?;
    let _later = system.on_async(
        "order.*",
        |_: std::sync::Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
            let handle = ctx.handle();
            async move {
                let _ = handle.upgrade();
            }
        },
    )?;
    system.emit(&OrderPlaced { id: 3 });
    assert_eq!(INVOICED.load(Ordering::Relaxed), 3);
    let audit = system.plugin::<Audit>().expect("linked");
    assert_eq!(audit.seen.load(Ordering::Relaxed), 3);
    Ok(())
}
