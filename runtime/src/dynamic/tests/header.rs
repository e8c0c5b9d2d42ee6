//! Tests of the header (extension attribute) name rule.

use super::*;

#[test]
fn the_rule_text_matches_the_check() {
    assert!(
        HEADER_NAME_RULE.contains(&format!("1 to {MAX_HEADER_NAME_LEN} lowercase ASCII")),
        "{HEADER_NAME_RULE}"
    );
    assert!(HEADER_NAME_RULE.starts_with("CloudEvents 1.0 extension attribute naming rule: "));
    for name in [
        "a",
        "0",
        "traceparent",
        "x1y2",
        &"z".repeat(MAX_HEADER_NAME_LEN),
    ] {
        assert_eq!(header_name_problem(name), None, "{name:?}");
    }
    for name in [
        "",
        "A",
        "a-b",
        "a.b",
        "a b",
        "\u{e9}",
        &"z".repeat(MAX_HEADER_NAME_LEN + 1),
    ] {
        assert!(header_name_problem(name).is_some(), "{name:?}");
    }
}

#[test]
fn reserved_names_have_hints() {
    assert_eq!(
        reserved_hint("id"),
        Some("set it with the builder's `.id()`")
    );
    assert_eq!(reserved_hint("tenant"), None);
    for &(name, hint) in RESERVED_ATTRIBUTES {
        assert_eq!(reserved_hint(name), Some(hint));
        // Reserved names are valid names otherwise: being reserved is the only problem.
        assert_eq!(header_name_problem(name), None, "{name:?}");
    }
}

#[test]
fn the_quick_check_agrees_with_the_one_that_explains() {
    let long = "z".repeat(MAX_HEADER_NAME_LEN + 1);
    let longest = "z".repeat(MAX_HEADER_NAME_LEN);
    for name in [
        "",
        "a",
        "0",
        "traceparent",
        "Nats-Msg-Id",
        "ce-id",
        "é",
        "a b",
        "source",
        "data",
        &long,
        &longest,
    ] {
        assert_eq!(
            follows_header_name_rule(name),
            header_name_problem(name).is_none(),
            "{name:?}"
        );
        assert_eq!(
            crate::DynamicEvent::is_header_name(name),
            crate::dynamic::builder::check_header_name(name).is_ok(),
            "{name:?}"
        );
    }
}
