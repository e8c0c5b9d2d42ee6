//! Header names: the rule for CloudEvents extension attribute names, and the reserved ones.

/// The longest extension attribute (header) name, in characters.
pub(super) const MAX_HEADER_NAME_LEN: usize = 20;

/// The rule every message about a bad header or extension attribute name states, by name
/// and in full: `... follow the {HEADER_NAME_RULE}`. [`header_name_problem`] checks it.
pub(super) const HEADER_NAME_RULE: &str = "CloudEvents 1.0 extension attribute naming rule: 1 to \
                                           20 lowercase ASCII letters or digits (a-z, 0-9)";

/// CloudEvents attribute names that are not extensions, with how to set each one instead.
pub(super) const RESERVED_ATTRIBUTES: &[(&str, &str)] = &[
    ("specversion", "staticbus always writes \"1.0\""),
    ("id", "set it with the builder's `.id()`"),
    ("source", "set it with the builder's `.source()`"),
    ("type", "the event's topic is its type"),
    ("subject", "set it with the builder's `.subject()`"),
    ("time", "set it with the builder's `.time()`"),
    (
        "datacontenttype",
        "set it with the builder's `.content_type()`",
    ),
    ("dataschema", "set it with the builder's `.data_schema()`"),
    ("data", "the payload is the data"),
];

/// Whether `name` follows the [`HEADER_NAME_RULE`] (reserved names do): the check without
/// the message, for the paths that ask it of every name they see (a decoder).
#[inline]
pub(super) fn follows_header_name_rule(name: &str) -> bool {
    (1..=MAX_HEADER_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The reason `name` breaks the [`HEADER_NAME_RULE`], if it does; reserved names pass.
pub(super) fn header_name_problem(name: &str) -> Option<String> {
    if follows_header_name_rule(name) {
        return None;
    }
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if let Some((at, ch)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        return Some(format!(
            "character {ch:?} at byte {at} is not a lowercase ASCII letter or digit"
        ));
    }
    if name.len() > MAX_HEADER_NAME_LEN {
        return Some(format!("it is {} characters long", name.len()));
    }
    None
}

/// How to set the CloudEvents attribute `name` instead, if `name` is one (not an extension).
pub(super) fn reserved_hint(name: &str) -> Option<&'static str> {
    RESERVED_ATTRIBUTES
        .iter()
        .find(|(reserved, _)| *reserved == name)
        .map(|&(_, hint)| hint)
}

#[cfg(test)]
#[path = "tests/header.rs"]
mod tests;
