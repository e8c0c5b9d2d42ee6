//! Tests of [`Topic`] and [`TopicError`].

use std::collections::HashSet;

use super::*;

#[test]
fn valid_topics() {
    for name in [
        "a",
        "order.placed",
        "billing.v2.invoice_sent",
        "A-b_C.9",
        "x.y.z.w.v",
        "-._",
        &"a".repeat(255),
    ] {
        let topic = Topic::new(name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(topic.as_str(), name);
        assert!(Topic::is_valid(name));
    }
}

#[test]
fn invalid_topics_name_the_problem() {
    let rule = "topics are dot-separated segments of ASCII letters, digits, `_` or `-`";
    let cases: &[(&str, &str)] = &[
        ("", "invalid topic \"\": a topic cannot be empty"),
        (
            "order..placed",
            "invalid topic \"order..placed\": empty segment at byte 6",
        ),
        (
            ".order",
            "invalid topic \".order\": empty segment at byte 0",
        ),
        (
            "order.",
            "invalid topic \"order.\": empty segment at byte 6",
        ),
        (".", "empty segment at byte 0"),
        (
            "order placed",
            "invalid topic \"order placed\": character ' ' at byte 5 is not allowed",
        ),
        ("order.*", "character '*' at byte 6 is not allowed"),
        ("a/b", "character '/' at byte 1 is not allowed"),
        (
            "caf\u{e9}.open",
            "character '\u{e9}' at byte 3 is not allowed",
        ),
        ("tab\t", "character '\\t' at byte 3 is not allowed"),
    ];
    for &(name, expected) in cases {
        let err = Topic::new(name).expect_err(name).to_string();
        assert!(err.contains(expected), "{name:?}: {err}");
        assert!(err.contains(rule), "{name:?}: {err}");
        assert!(!Topic::is_valid(name));
    }
}

#[test]
fn too_long_topic_shows_a_prefix_only() {
    let name = "a".repeat(256);
    let err = Topic::new(&name).unwrap_err();
    assert_eq!(
        err,
        TopicError::TooLong {
            prefix: "a".repeat(32),
            len: 256
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "invalid topic starting with \"{}\": it is 256 bytes long, topics are at most \
             255 bytes",
            "a".repeat(32)
        )
    );
    // A multi-byte prefix is cut on a character boundary.
    let err = Topic::new("\u{e9}".repeat(200)).unwrap_err();
    assert!(matches!(err, TopicError::TooLong { len: 400, .. }));
}

#[test]
fn topic_conversions_and_traits() {
    let topic: Topic = "order.placed".parse().unwrap();
    assert_eq!(Topic::try_from("order.placed").unwrap(), topic);
    assert_eq!(
        Topic::try_from(String::from("order.placed")).unwrap(),
        topic
    );
    assert_eq!(
        Topic::try_from(&String::from("order.placed")).unwrap(),
        topic
    );
    assert!(Topic::try_from("bad topic").is_err());
    assert!("".parse::<Topic>().is_err());

    assert_eq!(topic.to_string(), "order.placed");
    assert_eq!(format!("{topic:?}"), "Topic(\"order.placed\")");
    assert_eq!(topic, "order.placed");
    assert_eq!(&topic, "order.placed");
    let s: &str = topic.as_ref();
    assert_eq!(s, "order.placed");
    assert_eq!(
        topic.segments().collect::<Vec<_>>(),
        ["order", "placed"].to_vec()
    );

    // Borrow<str>: look up by &str.
    let set: HashSet<Topic> = [topic.clone()].into_iter().collect();
    assert!(set.contains("order.placed"));
    let map: std::collections::BTreeMap<Topic, u8> = [(topic.clone(), 1)].into();
    assert_eq!(map.get("order.placed"), Some(&1));

    // Ordered by string.
    let mut topics: Vec<Topic> = ["b", "a.b", "a"].map(|t| Topic::new(t).unwrap()).into();
    topics.sort();
    assert_eq!(
        topics.iter().map(Topic::as_str).collect::<Vec<_>>(),
        ["a", "a.b", "b"]
    );

    // Clones share the name.
    let clone = topic.clone();
    assert!(std::ptr::eq(clone.as_str(), topic.as_str()));

    assert_eq!(Topic::from_static_name("order.placed"), topic);
}

#[test]
fn topic_serde() {
    let topic = Topic::new("billing.v2.invoice_sent").unwrap();
    let json = serde_json::to_string(&topic).unwrap();
    assert_eq!(json, "\"billing.v2.invoice_sent\"");
    let back: Topic = serde_json::from_str(&json).unwrap();
    assert_eq!(back, topic);

    let err = serde_json::from_str::<Topic>("\"order..placed\"").unwrap_err();
    assert!(err.to_string().contains("empty segment at byte 6"), "{err}");
    let err = serde_json::from_str::<Topic>("42").unwrap_err();
    assert!(err.to_string().contains("a topic string"), "{err}");
    // Owned strings (escapes) go through the same validation.
    let back: Topic = serde_json::from_str("\"order\\u002eplaced\"").unwrap();
    assert_eq!(back, "order.placed");
}

#[test]
fn a_topic_made_again_on_a_thread_shares_its_allocation_and_is_still_checked() {
    let first = Topic::new("recent.order.placed").unwrap();
    let again = Topic::new(String::from("recent.order.placed")).unwrap();
    assert!(Arc::ptr_eq(&first.0, &again.0), "shared, not made again");
    assert_eq!(first, again);
    // More names than are kept: each still comes back equal and valid.
    let names: Vec<String> = (0..10).map(|n| format!("recent.n{n}")).collect();
    for _ in 0..3 {
        for name in &names {
            assert_eq!(Topic::new(name).unwrap().as_str(), name);
        }
    }
    // An invalid name is never kept, however often it is asked for.
    for _ in 0..3 {
        assert!(Topic::new("recent..bad").is_err());
    }
    // Another thread makes its own.
    let other = std::thread::spawn(|| Topic::new("recent.order.placed").unwrap())
        .join()
        .unwrap();
    assert_eq!(other, first);
}
