use super::*;

fn node<'a>(name: &'a str, version: &'a str, depends_on: &'a [&'a str]) -> Node<'a> {
    Node {
        name,
        version,
        depends_on,
        enabled: true,
    }
}

fn names(nodes: &[Node<'_>], order: &[usize]) -> Vec<String> {
    order.iter().map(|&i| nodes[i].name.to_owned()).collect()
}

#[test]
fn dependencies_come_first_and_ties_go_by_name() {
    let nodes = [
        node("billing", "1.2.0", &["storage >= 1.0", "cache?"]),
        node("storage", "1.4.0", &[]),
        node("audit", "0.1.0", &[]),
        node("api", "1.0.0", &["billing"]),
    ];
    let order = order(&nodes).unwrap();
    assert_eq!(
        names(&nodes, &order),
        ["audit", "storage", "billing", "api"]
    );
}

#[test]
fn a_cycle_is_reported_with_its_full_path() {
    let nodes = [
        node("c", "1.0.0", &["a"]),
        node("a", "1.0.0", &["b"]),
        node("b", "1.0.0", &["c"]),
        node("d", "1.0.0", &["a"]),
        node("e", "1.0.0", &[]),
    ];
    let problems = order(&nodes).unwrap_err();
    assert_eq!(
        problems,
        [PluginProblem::Cycle {
            path: vec!["a".into(), "b".into(), "c".into(), "a".into()]
        }]
    );
    assert_eq!(
        problems[0].to_string(),
        "dependency cycle: a -> b -> c -> a"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut nodes = vec![
        node(
            "billing",
            "1.2.0",
            &["storage >= 2.0", "ledger", "cache? ^3"],
        ),
        node("storage", "1.4.0", &[]),
        node("cache", "2.0.0", &[]),
        node("search", "1.0.0", &["index"]),
        node("index", "1.0.0", &[]),
        node("self", "1.0.0", &["self"]),
    ];
    nodes[4].enabled = false;
    let problems = order(&nodes).unwrap_err();
    assert_eq!(
        problems,
        [
            PluginProblem::Version {
                plugin: "billing".into(),
                dependency: "storage".into(),
                required: ">=2.0".into(),
                found: "1.4.0".into()
            },
            PluginProblem::Missing {
                plugin: "billing".into(),
                dependency: "ledger".into(),
                requirement: "*".into()
            },
            PluginProblem::Version {
                plugin: "billing".into(),
                dependency: "cache".into(),
                required: "^3".into(),
                found: "2.0.0".into()
            },
            PluginProblem::Disabled {
                plugin: "search".into(),
                dependency: "index".into()
            },
            PluginProblem::Cycle {
                path: vec!["self".into(), "self".into()]
            },
        ]
    );
    let text = problems[1].to_string();
    assert!(text.contains("`billing` requires `ledger`"), "{text}");
}

#[test]
fn optional_dependencies_may_be_missing_or_disabled() {
    let mut nodes = vec![
        node("billing", "1.0.0", &["cache?", "ghost?"]),
        node("cache", "1.0.0", &[]),
    ];
    assert_eq!(names(&nodes, &order(&nodes).unwrap()), ["cache", "billing"]);
    nodes[1].enabled = false;
    assert_eq!(names(&nodes, &order(&nodes).unwrap()), ["billing"]);
}

#[test]
fn invalid_registrations_are_problems_not_panics() {
    let nodes = [node("x", "one", &["y >= two"]), node("y", "1.0.0", &[])];
    let problems = order(&nodes).unwrap_err();
    assert_eq!(problems.len(), 2);
    assert!(matches!(
        &problems[0],
        PluginProblem::Invalid {
            what: "version",
            ..
        }
    ));
    assert!(matches!(
        &problems[1],
        PluginProblem::Invalid {
            what: "dependency",
            ..
        }
    ));
}
