//! The link-time registry: every event, handler and plugin the linker kept, sorted once.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::event::{EventDecl, EventDesc};
use super::handler::{HandlerDecl, HandlerInfo};
use super::instances::{Plan, Refused};
use super::plugin::{PluginDecl, PluginInfo};
use super::request::{RequestDecl, ResponderDecl, ResponderInfo};
use super::table::TableCore;

/// Every `#[derive(StaticEvent)]` type in the binary.
#[doc(hidden)]
#[linkme::distributed_slice]
#[allow(unsafe_code, reason = "linker-section statics")]
pub static EVENTS: [EventDecl];

/// Every `#[handler]` function in the binary, all event types together (`#[on]` methods
/// travel with their plugin's [`PluginDecl`]).
#[doc(hidden)]
#[linkme::distributed_slice]
#[allow(unsafe_code, reason = "linker-section statics")]
pub static HANDLERS: [HandlerDecl];

/// Every `#[plugin]` type in the binary.
#[doc(hidden)]
#[linkme::distributed_slice]
#[allow(unsafe_code, reason = "linker-section statics")]
pub static PLUGINS: [PluginDecl];

/// Every `#[derive(Request)]` type in the binary (their responders travel with their plugin's
/// [`PluginDecl`]).
#[doc(hidden)]
#[linkme::distributed_slice]
#[allow(unsafe_code, reason = "linker-section statics")]
pub static REQUESTS: [RequestDecl];

/// An event type with its handlers in dispatch order: one entry of [`Registry::events`].
#[derive(Debug)]
pub struct EventInfo {
    decl: &'static EventDecl,
    handlers: Vec<&'static HandlerInfo>,
    decls: Vec<&'static HandlerDecl>,
}

impl EventInfo {
    /// The event's dotted name.
    pub fn name(&self) -> &'static str {
        self.decl.desc().name()
    }
    /// The event's Rust type.
    pub fn type_name(&self) -> &'static str {
        self.decl.desc().type_name()
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

    /// The handlers' registrations, in dispatch order.
    pub(crate) fn handler_decls(&self) -> &[&'static HandlerDecl] {
        &self.decls
    }

    /// What the bus needs of the event type.
    pub(crate) fn desc(&self) -> &'static EventDesc {
        self.decl.desc()
    }

    /// The event type's table.
    pub(crate) fn table(&self) -> &'static TableCore {
        &self.decl.table
    }
}

/// Everything the linker kept: events, their handlers in dispatch order, and plugins.
///
/// Read it with [`registry()`]; print it with `{}` for a table.
#[derive(Debug)]
pub struct Registry {
    events: Vec<EventInfo>,
    plugins: Plan,
    handlers_by_event: HashMap<TypeId, Vec<&'static HandlerDecl>>,
    event_index: HashMap<TypeId, usize>,
    problems: Vec<RegistryProblem>,
    responders: Vec<&'static ResponderInfo>,
}

/// Puts the only responder of each request type in its table; a request type with none, or
/// with several, is a problem naming them.
fn install_responders(problems: &mut Vec<RegistryProblem>) -> Vec<&'static ResponderInfo> {
    let mut by_request: HashMap<TypeId, Vec<&'static ResponderDecl>> = HashMap::new();
    for decl in PLUGINS.iter().flat_map(|plugin| plugin.responders) {
        by_request.entry(decl.request).or_default().push(decl);
    }
    let mut requests: Vec<&'static RequestDecl> = REQUESTS.iter().collect();
    requests.sort_by_key(|r| (r.name, r.type_name));
    let mut all = Vec::new();
    for request in requests {
        let mut found = by_request.remove(&request.type_id).unwrap_or_default();
        found.sort_by_key(|d| (d.info.plugin, d.info.method));
        all.extend(found.iter().map(|d| &d.info));
        match found.as_slice() {
            [] => problems.push(RegistryProblem::NoResponder {
                request: request.name,
                type_name: request.type_name,
                file: request.file,
                line: request.line,
            }),
            [only] => {
                (only.install)(&only.info);
            }
            several => problems.push(RegistryProblem::SeveralResponders {
                request: request.name,
                responders: several.iter().map(|d| d.info.method).collect(),
            }),
        }
    }
    all
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

        let mut handlers_by_event: HashMap<TypeId, Vec<&'static HandlerDecl>> = HashMap::new();
        let plugin_handlers = PLUGINS.iter().flat_map(|plugin| plugin.handlers);
        for decl in HANDLERS.iter().chain(plugin_handlers) {
            handlers_by_event
                .entry(decl.event_type)
                .or_default()
                .push(decl);
        }
        for list in handlers_by_event.values_mut() {
            list.sort_by(|a, b| a.info.order_key().cmp(&b.info.order_key()));
        }

        let mut events: Vec<EventInfo> = EVENTS
            .iter()
            .map(|decl| {
                let decls = handlers_by_event
                    .get(&decl.desc().type_id())
                    .cloned()
                    .unwrap_or_default();
                EventInfo {
                    decl,
                    handlers: decls.iter().map(|h| &h.info).collect(),
                    decls,
                }
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
        // Offsets follow this sorted order; a key that already has one means the same type was
        // registered twice, and that decl gets no place.
        let plan = Plan::place(&plugins, |decl, refused| {
            let plugin = decl.info.type_name();
            problems.push(match refused {
                Refused::Twice => RegistryProblem::PluginRegisteredTwice { plugin },
                Refused::TooLarge => RegistryProblem::PluginsTooLarge { plugin },
            });
        });

        let event_index = events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.decl.desc().type_id(), i))
            .collect();
        let responders = install_responders(&mut problems);
        Registry {
            events,
            plugins: plan,
            handlers_by_event,
            event_index,
            problems,
            responders,
        }
    }

    /// Every responder, by request name (the request types with exactly one are the ones
    /// installed).
    pub fn responders(&self) -> &[&'static ResponderInfo] {
        &self.responders
    }

    /// The responder of plugin `plugin` named `method`, for a call by name.
    pub(crate) fn responder_named(
        &self,
        plugin: &str,
        method: &str,
    ) -> Option<&'static ResponderDecl> {
        let decl = self.plugins.decls().find(|d| d.info.name() == plugin)?;
        decl.responders.iter().find(|r| r.info.name == method)
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
        self.plugins.decls().map(|d| &d.info)
    }

    /// Conflicts found while collecting (duplicate event or plugin names); `build()` fails on
    /// any of them.
    pub fn problems(&self) -> &[RegistryProblem] {
        &self.problems
    }

    /// Where every placed plugin lives in a system's instances.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plugins
    }

    pub(crate) fn handlers_of(&self, event_type: TypeId) -> &[&'static HandlerDecl] {
        self.handlers_by_event
            .get(&event_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub(crate) fn event_index(&self, event_type: TypeId) -> Option<usize> {
        self.event_index.get(&event_type).copied()
    }

    /// Builds every event's dispatch table now, so that the first `emit` allocates nothing.
    pub(crate) fn prepare_tables(&self) {
        for event in &self.events {
            event.table().prepare();
        }
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plugins ({}):", self.plugins.decls().len())?;
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

/// A conflict between registrations, found when the registry is first read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryProblem {
    /// Two event types declare the same name.
    #[error(
        "event name {name:?} is declared by two types, `{first}` and `{second}`; \
         give one of them another name with #[event(name = \"...\")]"
    )]
    DuplicateEventName {
        /// The contested name.
        name: &'static str,
        /// One type that declares it.
        first: &'static str,
        /// The other type that declares it.
        second: &'static str,
    },
    /// Two plugin types declare the same name.
    #[error(
        "plugin name {name:?} is used by two plugins, `{first}` and `{second}`; \
         rename one with #[plugin(name = \"...\")]"
    )]
    DuplicatePluginName {
        /// The contested name.
        name: &'static str,
        /// One plugin type that uses it.
        first: &'static str,
        /// The other plugin type that uses it.
        second: &'static str,
    },
    /// One plugin type reached the registry twice (a hand-written `PluginKeyed` impl).
    #[error("plugin `{plugin}` is registered twice; only `#[plugin]` should register plugins")]
    PluginRegisteredTwice {
        /// The plugin type.
        plugin: &'static str,
    },
    /// The plugin instances together exceed what one allocation can hold (`isize::MAX`
    /// bytes).
    #[error(
        "plugin `{plugin}` does not fit: all plugin instances together exceed isize::MAX bytes"
    )]
    PluginsTooLarge {
        /// The first plugin type that did not fit.
        plugin: &'static str,
    },
    /// A request type that no `#[responds]` method answers.
    #[error(
        "request `{request}` (`{type_name}`, {file}:{line}) has no responder: give one plugin \
         a `#[responds] async fn f(&self, r: {request}) -> Result<Response, E>` method, and \
         link its crate"
    )]
    NoResponder {
        /// The request's name.
        request: &'static str,
        /// Its Rust type.
        type_name: &'static str,
        /// Where it is declared.
        file: &'static str,
        /// Its line.
        line: u32,
    },
    /// A request type answered by several `#[responds]` methods.
    #[error(
        "request `{request}` has {} responders, {}: a request has exactly one; remove the \
         others or give them request types of their own",
        .responders.len(), .responders.join(", ")
    )]
    SeveralResponders {
        /// The request's name.
        request: &'static str,
        /// The responders (`module::Type::method`).
        responders: Vec<&'static str>,
    },
}
