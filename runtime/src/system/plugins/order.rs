//! The order plugins are made in: dependencies first (Kahn's algorithm, ties broken by name),
//! and every problem that prevents one, found at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use semver::Version;
use staticbus_names::plugin::{Dependency, dependency, version};

/// What keeps the plugins from being ordered. Each names the plugins involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginProblem {
    /// Plugins that depend on each other in a circle: the path, first plugin repeated last.
    #[error("dependency cycle: {}", .path.join(" -> "))]
    Cycle {
        /// `a -> b -> c -> a`, starting from the smallest name.
        path: Vec<String>,
    },
    /// A required dependency that is not linked into the binary.
    #[error(
        "plugin `{plugin}` requires `{dependency}` ({requirement}), which is not linked: add \
         the crate that defines it and `staticbus::link!` it, or mark the dependency optional \
         (`\"{dependency}?\"`)"
    )]
    Missing {
        /// The plugin that depends.
        plugin: String,
        /// The plugin it requires.
        dependency: String,
        /// The version requirement.
        requirement: String,
    },
    /// A required dependency that is disabled (`enabled = false`).
    #[error(
        "plugin `{plugin}` requires `{dependency}`, which is disabled (`enabled = false` in its \
         configuration): enable it, or disable `{plugin}` too"
    )]
    Disabled {
        /// The plugin that depends.
        plugin: String,
        /// The disabled plugin it requires.
        dependency: String,
    },
    /// A dependency whose version does not meet the requirement.
    #[error(
        "plugin `{plugin}` requires `{dependency} {required}`, but `{dependency}` is version \
         {found}"
    )]
    Version {
        /// The plugin that depends.
        plugin: String,
        /// The plugin it requires.
        dependency: String,
        /// The requirement.
        required: String,
        /// The version linked.
        found: String,
    },
    /// A reloaded configuration enables a plugin that was made and then stopped (or failed)
    /// in this system: a plugin's instance is made at most once per system (references to it
    /// handed out may outlive its run), so it cannot be enabled again there.
    #[error(
        "plugin `{plugin}` cannot be enabled again: it was made in this system and then \
         stopped (or failed), and a plugin is made at most once per system (its instance may \
         still be borrowed); keep it disabled, or build a new system to run it again"
    )]
    Restart {
        /// The plugin.
        plugin: String,
    },
    /// A problem in the configuration: its source, plugin, key and line.
    #[error("{0}")]
    Config(crate::linked::ConfigError),
    /// A `version` or `depends_on` entry that does not parse (the macros check them, so this
    /// only happens to a hand-written registration).
    #[error("plugin `{plugin}`: {what} `{text}` is invalid: {reason}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// `version` or `dependency`.
        what: &'static str,
        /// The text.
        text: String,
        /// Why.
        reason: String,
    },
}

/// One plugin as the ordering sees it.
pub(crate) struct Node<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) depends_on: &'a [&'a str],
    pub(crate) enabled: bool,
}

/// The enabled plugins of `nodes` (indexes into it) in an order where each comes after the
/// plugins it depends on, ties broken by name; or every problem found. Disabled plugins are
/// left out; a plugin that depends on one (not optionally) is a problem.
pub(crate) fn order(nodes: &[Node<'_>]) -> Result<Vec<usize>, Vec<PluginProblem>> {
    let mut problems = Vec::new();
    let by_name: BTreeMap<&str, usize> =
        nodes.iter().enumerate().map(|(i, n)| (n.name, i)).collect();
    let mut versions: Vec<Option<Version>> = Vec::with_capacity(nodes.len());
    for node in nodes {
        versions.push(match version(node.version) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(invalid(node.name, "version", node.version, e));
                None
            }
        });
    }
    // Edges dependency -> dependent, among enabled plugins.
    let mut needs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate().filter(|(_, n)| n.enabled) {
        for &spec in node.depends_on {
            let dep: Dependency = match dependency(spec) {
                Ok(dep) => dep,
                Err(e) => {
                    problems.push(invalid(node.name, "dependency", spec, e));
                    continue;
                }
            };
            let Some(&j) = by_name.get(dep.name.as_str()) else {
                if !dep.optional {
                    problems.push(PluginProblem::Missing {
                        plugin: node.name.to_owned(),
                        dependency: dep.name.clone(),
                        requirement: dep.requirement.to_string(),
                    });
                }
                continue;
            };
            if !nodes[j].enabled {
                if !dep.optional {
                    problems.push(PluginProblem::Disabled {
                        plugin: node.name.to_owned(),
                        dependency: dep.name.clone(),
                    });
                }
                continue;
            }
            if let Some(found) = &versions[j]
                && !dep.requirement.matches(found)
            {
                problems.push(PluginProblem::Version {
                    plugin: node.name.to_owned(),
                    dependency: dep.name.clone(),
                    required: dep.requirement.to_string(),
                    found: found.to_string(),
                });
            }
            needs[i].insert(j);
        }
    }
    // Kahn's algorithm; the ready set is ordered by name.
    let mut waiting: Vec<usize> = needs.iter().map(BTreeSet::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, deps) in needs.iter().enumerate() {
        for &j in deps {
            dependents[j].push(i);
        }
    }
    let mut ready: BTreeSet<(&str, usize)> = (0..nodes.len())
        .filter(|&i| nodes[i].enabled && waiting[i] == 0)
        .map(|i| (nodes[i].name, i))
        .collect();
    let mut sorted = Vec::with_capacity(nodes.len());
    while let Some((_, i)) = ready.pop_first() {
        sorted.push(i);
        for &k in &dependents[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.insert((nodes[k].name, k));
            }
        }
    }
    let left: BTreeSet<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].enabled && waiting[i] > 0)
        .collect();
    problems.extend(cycles(nodes, &needs, &left));
    if problems.is_empty() {
        Ok(sorted)
    } else {
        Err(problems)
    }
}

fn invalid(
    plugin: &str,
    what: &'static str,
    text: &str,
    reason: impl fmt::Display,
) -> PluginProblem {
    PluginProblem::Invalid {
        plugin: plugin.to_owned(),
        what,
        text: text.to_owned(),
        reason: reason.to_string(),
    }
}

/// The cycles among `left` (the plugins Kahn's algorithm could not order): each plugin of
/// `left` is on a cycle or waits for one; each cycle is reported once, from its smallest name.
fn cycles(
    nodes: &[Node<'_>],
    needs: &[BTreeSet<usize>],
    left: &BTreeSet<usize>,
) -> Vec<PluginProblem> {
    let mut reported: BTreeSet<Vec<usize>> = BTreeSet::new();
    let mut problems = Vec::new();
    let mut by_name: Vec<usize> = left.iter().copied().collect();
    by_name.sort_by_key(|&i| nodes[i].name);
    for &start in &by_name {
        // Walk dependencies from `start` (smallest name first) until a plugin repeats.
        let mut path = vec![start];
        let mut at = start;
        let cycle = loop {
            let next = needs[at]
                .iter()
                .copied()
                .filter(|j| left.contains(j))
                .min_by_key(|&j| nodes[j].name);
            let Some(next) = next else { break None };
            if let Some(pos) = path.iter().position(|&p| p == next) {
                break Some(path[pos..].to_vec());
            }
            path.push(next);
            at = next;
        };
        let Some(mut cycle) = cycle else { continue };
        // Start it from its smallest name, so one cycle has one spelling.
        let smallest = (0..cycle.len())
            .min_by_key(|&k| nodes[cycle[k]].name)
            .unwrap_or(0);
        cycle.rotate_left(smallest);
        if reported.insert(cycle.clone()) {
            let mut names: Vec<String> = cycle.iter().map(|&i| nodes[i].name.to_owned()).collect();
            names.push(names[0].clone());
            problems.push(PluginProblem::Cycle { path: names });
        }
    }
    problems
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
