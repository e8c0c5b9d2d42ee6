//! Static handlers installed as subscriptions under their event's exact name, reached
//! through their type-erased entry point: every one under `ImplementationType::ZeroCopy`,
//! the detached ones (whose queue is the bus's) under either implementation.

use std::sync::Arc;

use crate::bus::{AsyncHandler, Bus, Detached, NewSub, Pull, SubKind};
use crate::dynamic::{Pattern, Topic};
use crate::linked::{BoxError, EventDesc, HandlerDecl, HandlerKind, Registry};

/// Installs every static handler (`all`), or the detached ones only, in table order (so
/// ids, and the order among equal priorities, are the tables'), with its priority.
pub(super) fn install(bus: &Arc<Bus>, registry: &Registry, all: bool) {
    for event in registry.events() {
        let desc = event.desc();
        for &decl in event.handler_decls() {
            let kind = match (decl.info.kind(), decl.info.detached()) {
                (HandlerKind::Async, Some(concurrency)) => {
                    let queue = Pull {
                        buffer: bus.new_buffer(None),
                        typed: false,
                    };
                    let handler = asynchronous(decl, desc);
                    SubKind::Detached(Box::new(Detached::new(
                        handler,
                        queue,
                        concurrency as usize,
                    )))
                }
                _ if !all => continue,
                (HandlerKind::Sync, _) => sync(decl, desc),
                (HandlerKind::Async, None) => SubKind::Async(asynchronous(decl, desc)),
            };
            let installed = bus.subscribe(NewSub {
                pattern: Pattern::exact(Topic::from_static_name(desc.name())),
                priority: decl.info.priority(),
                filter: None,
                kind,
                info: Some(&decl.info),
                timeout: decl.info.timeout(),
                retry: decl.info.retry().copied(),
                breaker: decl.info.circuit_breaker().copied(),
            });
            debug_assert!(installed.is_ok(), "a new bus is open");
        }
    }
}

fn sync(decl: &'static HandlerDecl, desc: &'static EventDesc) -> SubKind {
    SubKind::Sync(Box::new(move |host, call, e| {
        e.value_any()
            .and_then(|value| decl.call_sync(host, call, value))
            .unwrap_or_else(|| Err(mismatch(e.topic(), desc)))
    }))
}

fn asynchronous(decl: &'static HandlerDecl, desc: &'static EventDesc) -> AsyncHandler {
    Box::new(move |host, call, e| {
        let value = e.payload().as_value().map(|v| v.any_arc());
        match value.and_then(|value| decl.call_async(host, call, value)) {
            Some(future) => future,
            None => {
                let error = mismatch(e.topic().as_str(), desc);
                Box::pin(std::future::ready(Err(error)))
            }
        }
    })
}

#[cold]
fn mismatch(topic: &str, desc: &EventDesc) -> BoxError {
    format!(
        "event {topic:?} does not carry a `{}` value; a dynamic event published under a static \
         event's name must carry that type",
        desc.type_name()
    )
    .into()
}
