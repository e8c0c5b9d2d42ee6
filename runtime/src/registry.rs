//! The link-time registry: every event, handler and plugin the linker kept, sorted once.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::AtomicUsize;

use crate::__private::{EVENTS, HANDLERS, PLUGINS};
use crate::error::RegistryProblem;
use crate::event::StaticEvent;
use crate::handler::{HandlerDecl, HandlerInfo};
use crate::plugin::{PluginDecl, PluginInfo};

/// One element of the global event slice. Built by `#[derive(StaticEvent)]`.
#[doc(hidden)]
pub struct EventDecl {
    name: &'static str,
    type_name: fn() -> &'static str,
    table_type: fn() -> TypeId,
    prepare: fn(),
    install: fn(&crate::EventSystem),
    dynamic_refs: fn() -> &'static AtomicUsize,
    file: &'static str,
    line: u32,
}

fn prepare<E: StaticEvent>() {
    E::__table();
}

fn install<E: StaticEvent>(system: &crate::EventSystem) {
    system.install_static::<E>();
}

fn dynamic_refs<E: StaticEvent>() -> &'static AtomicUsize {
    &E::__table().slow_path
}

impl EventDecl {
    /// Describes event type `E`.
    pub const fn new<E: StaticEvent>(file: &'static str, line: u32) -> Self {
        EventDecl {
            name: E::NAME,
            type_name: std::any::type_name::<E>,
            table_type: TypeId::of::<crate::handler::HandlerFn<E>>,
            prepare: prepare::<E>,
            install: install::<E>,
            dynamic_refs: dynamic_refs::<E>,
            file,
            line,
        }
    }
}

/// An event type with its handlers in dispatch order: one entry of [`Registry::events`].
#[derive(Debug)]
pub struct EventInfo {
    decl: &'static EventDecl,
    handlers: Vec<&'static HandlerInfo>,
}

impl EventInfo {
    /// The event's dotted name.
    pub fn name(&self) -> &'static str {
        self.decl.name
    }
    /// The event's Rust type.
    pub fn type_name(&self) -> &'static str {
        (self.decl.type_name)()
    }
    /// Where the event type is declared.
    pub fn file(&self) -> &'static str {
        self.decl.file
    }
    /// The line of the event's declaration.
    pub fn line(&self) -> u32 {
        self.decl.line
    }
    /// The handlers, in the order `emit` and `publish` call them.
    pub fn handlers(&self) -> &[&'static HandlerInfo] {
        &self.handlers
    }
}

impl fmt::Debug for EventDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventDecl")
            .field("name", &self.name)
            .field("type", &(self.type_name)())
            .finish()
    }
}

/// Everything the linker kept: events, their handlers in dispatch order, and plugins.
///
/// Read it with [`registry()`]; print it with `{}` for a table.
#[derive(Debug)]
pub struct Registry {
    events: Vec<EventInfo>,
    plugins: Vec<&'static PluginDecl>,
    handlers_by_table: HashMap<TypeId, Vec<&'static HandlerDecl>>,
    event_index: HashMap<TypeId, usize>,
    problems: Vec<RegistryProblem>,
}

impl fmt::Debug for PluginDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.fmt(f)
    }
}

impl fmt::Debug for HandlerDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.fmt(f)
    }
}

/// The process-wide registry, built from the link-time slices on first call.
///
/// Dispatch order, per event: priority descending; equal priorities by plugin name (free
/// `#[handler]` functions, which have none, first), then by the handler's path
/// (`module::function`), then by source line. Link order never matters.
///
/// ```
/// for event in staticbus::registry().events() {
///     println!("{} ({} handlers)", event.name(), event.handlers().len());
/// }
/// ```
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::collect)
}

impl Registry {
    fn collect() -> Registry {
        let mut problems = Vec::new();

        let mut handlers_by_table: HashMap<TypeId, Vec<&'static HandlerDecl>> = HashMap::new();
        for decl in HANDLERS.iter() {
            handlers_by_table
                .entry((decl.table_type)())
                .or_default()
                .push(decl);
        }
        for list in handlers_by_table.values_mut() {
            list.sort_by(|a, b| a.info.order_key().cmp(&b.info.order_key()));
        }

        let mut events: Vec<EventInfo> = EVENTS
            .iter()
            .map(|decl| EventInfo {
                decl,
                handlers: handlers_by_table
                    .get(&(decl.table_type)())
                    .map(|list| list.iter().map(|h| &h.info).collect())
                    .unwrap_or_default(),
            })
            .collect();
        events.sort_by(|a, b| (a.name(), a.type_name()).cmp(&(b.name(), b.type_name())));
        for pair in events.windows(2) {
            if pair[0].name() == pair[1].name() {
                problems.push(RegistryProblem::DuplicateEventName {
                    name: pair[0].name(),
                    first: pair[0].type_name(),
                    second: pair[1].type_name(),
                });
            }
        }

        let mut plugins: Vec<&'static PluginDecl> = PLUGINS.iter().collect();
        plugins.sort_by(|a, b| {
            (a.info.name(), a.info.type_name()).cmp(&(b.info.name(), b.info.type_name()))
        });
        for pair in plugins.windows(2) {
            if pair[0].info.name() == pair[1].info.name() {
                problems.push(RegistryProblem::DuplicatePluginName {
                    name: pair[0].info.name(),
                    first: pair[0].info.type_name(),
                    second: pair[1].info.type_name(),
                });
            }
        }
        // Slot indices follow this sorted order; a key that is already taken means the same type
        // was registered twice, and that decl gets no slot.
        let mut next = 0;
        plugins.retain(|decl| {
            let fresh = (decl.key)().assign(next);
            if fresh {
                next += 1;
            } else {
                problems.push(RegistryProblem::PluginRegisteredTwice {
                    plugin: decl.info.type_name(),
                });
            }
            fresh
        });

        let event_index = events
            .iter()
            .enumerate()
            .map(|(i, e)| ((e.decl.table_type)(), i))
            .collect();
        Registry {
            events,
            plugins,
            handlers_by_table,
            event_index,
            problems,
        }
    }

    /// Every linked event type, sorted by name.
    pub fn events(&self) -> &[EventInfo] {
        &self.events
    }

    /// The event registered under `name`, if any.
    pub fn event(&self, name: &str) -> Option<&EventInfo> {
        self.events.iter().find(|e| e.name() == name)
    }

    /// Every linked plugin, sorted by name: the order `build()` instantiates them in.
    pub fn plugins(&self) -> impl ExactSizeIterator<Item = &'static PluginInfo> + '_ {
        self.plugins.iter().map(|d| &d.info)
    }

    /// Conflicts found while collecting (duplicate event or plugin names); `build()` fails on
    /// any of them.
    pub fn problems(&self) -> &[RegistryProblem] {
        &self.problems
    }

    pub(crate) fn plugin_decls(&self) -> &[&'static PluginDecl] {
        &self.plugins
    }

    pub(crate) fn handlers_of(&self, table_type: TypeId) -> &[&'static HandlerDecl] {
        self.handlers_by_table
            .get(&table_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub(crate) fn event_index(&self, table_type: TypeId) -> Option<usize> {
        self.event_index.get(&table_type).copied()
    }

    /// Every event's name and its table's `slow_path` count, in registry order (the order of
    /// `Table::index`).
    pub(crate) fn static_events(&self) -> Vec<(&'static str, &'static AtomicUsize)> {
        self.events
            .iter()
            .map(|e| (e.name(), (e.decl.dynamic_refs)()))
            .collect()
    }

    /// Installs every static handler as a dynamic subscription (`ImplementationType::ZeroCopy`).
    pub(crate) fn install_zero_copy(&self, system: &crate::EventSystem) {
        for event in &self.events {
            (event.decl.install)(system);
        }
    }

    /// Builds every event's dispatch table now, so that the first `emit` allocates nothing.
    pub(crate) fn prepare_tables(&self) {
        for event in &self.events {
            (event.decl.prepare)();
        }
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plugins ({}):", self.plugins.len())?;
        for plugin in self.plugins() {
            writeln!(f, "  {plugin}")?;
        }
        writeln!(f, "events ({}):", self.events.len())?;
        for event in &self.events {
            writeln!(
                f,
                "  {} ({}, {}:{})",
                event.name(),
                event.type_name(),
                event.file(),
                event.line()
            )?;
            if event.handlers.is_empty() {
                writeln!(f, "    (no handlers)")?;
            }
            for (i, h) in event.handlers.iter().enumerate() {
                writeln!(f, "    {}. {h}", i + 1)?;
            }
        }
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        Ok(())
    }
}
