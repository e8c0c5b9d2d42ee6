//! Tests of [`Pattern`]: kinds, glob and regex matching, and error messages.

use super::*;

/// (pattern, topic, expected match)
const MATCHES: &[(&str, &str, bool)] = &[
    // exact
    ("order.placed", "order.placed", true),
    ("order.placed", "order.placed.v2", false),
    ("order.placed", "order", false),
    ("order.placed", "Order.placed", false),
    // `*` within one segment
    ("phase.*", "phase.started", true),
    ("phase.*", "phase.a.b", false),
    ("phase.*", "phase", false),
    ("ord*.created", "order.created", true),
    ("ord*.created", "ord.created", true),
    ("ord*.created", "order.item.created", false),
    ("*", "order", true),
    ("*", "order.placed", false),
    ("*.placed", "order.placed", true),
    ("*.placed", "a.order.placed", false),
    ("*.*", "a.b", true),
    ("*.*", "a.b.c", false),
    ("order.*ed", "order.placed", true),
    ("order.*ed", "order.placing", false),
    // `**` at the end: one or more segments
    ("order.**", "order.created", true),
    ("order.**", "order.item.added", true),
    ("order.**", "order", false),
    ("order.**", "orders.created", false),
    // `**` at the start: zero or more segments
    ("**.failed", "failed", true),
    ("**.failed", "job.failed", true),
    ("**.failed", "job.step.failed", true),
    ("**.failed", "job.failed.again", false),
    ("**.failed", "prefailed", false),
    // `**` in the middle: zero or more segments
    ("a.**.z", "a.z", true),
    ("a.**.z", "a.b.z", true),
    ("a.**.z", "a.b.c.z", true),
    ("a.**.z", "a.zz", false),
    ("a.**.z", "ab.z", false),
    ("a.**.z", "a.b.c", false),
    ("a.**.**.z", "a.z", true),
    ("a.**.**.z", "a.b.c.z", true),
    ("**.a.**", "a.x", true),
    ("**.a.**", "x.y.a.x.y", true),
    ("**.a.**", "a", false),
    ("a.*.**", "a.b.c", true),
    ("a.*.**", "a.b", false),
    // `**` alone and doubled
    ("**", "a", true),
    ("**", "a.b.c", true),
    ("**.**", "a", true),
    ("**.**", "a.b.c", true),
    // `?`
    ("v?.ping", "v2.ping", true),
    ("v?.ping", "v22.ping", false),
    ("a?b", "a.b", false),
    ("a?b", "a-b", true),
    // classes
    ("v[0-9].ping", "v2.ping", true),
    ("v[0-9].ping", "vx.ping", false),
    ("v[!0-9].ping", "vx.ping", true),
    ("v[!0-9].ping", "v2.ping", false),
    ("v[^0-9].ping", "vx.ping", true),
    ("a[!b]c", "a.c", false),
    ("a[^x]c", "a.c", false),
    ("[abc].x", "b.x", true),
    ("[abc].x", "d.x", false),
    ("[a-cx-z]", "y", true),
    ("[a-cx-z]", "m", false),
    ("a[-_]b", "a-b", true),
    ("a[_-]b", "a-b", true),
    ("a[_-]b", "a_b", true),
    ("a[!-]b", "a_b", true),
    ("a[!-]b", "a-b", false),
    ("a[!-]b", "a.b", false),
    // alternation
    ("order.{placed,shipped}", "order.shipped", true),
    ("order.{placed,shipped}", "order.cancelled", false),
    ("order.{placed,item.*}", "order.item.added", true),
    ("order.{placed,item.*}", "order.item.a.b", false),
    ("order{,.v2}", "order", true),
    ("order{,.v2}", "order.v2", true),
    ("order{,.v2}", "order.v3", false),
    ("{a,b}.{c,d}", "b.c", true),
    ("{a,{b,c}}.x", "c.x", true),
    ("{a*,b}.x", "abc.x", true),
    ("{a*,b}.x", "a.b.x", false),
    // regexes, used as written
    (r"^phase\.(started|completed)$", "phase.started", true),
    (r"^phase\.(started|completed)$", "phase.completed", true),
    (r"^phase\.(started|completed)$", "phase.failed", false),
    (r"^phase\.(started|completed)$", "phase.started.late", false),
    (r"placed$", "reorder.placed", true),
    (r"^order\.", "order.placed", true),
    (r"^order\.", "orders.placed", false),
    (r"^v\d+\.ping$", "v12.ping", true),
    // not valid topics never match a glob
    ("**", "", false),
    ("**", "a..b", false),
    ("*", "a/b", false),
    ("a.**", "a./b", false),
];

#[test]
fn pattern_table() {
    for &(pattern, topic, expected) in MATCHES {
        let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
        assert_eq!(
            p.matches(topic),
            expected,
            "{:?} pattern {pattern:?} on topic {topic:?}",
            p.kind()
        );
        assert_eq!(p.as_str(), pattern);
    }
    assert!(MATCHES.len() >= 30);
}

#[test]
fn kind_detection() {
    let cases = [
        ("order.placed", PatternKind::Exact),
        ("order.*", PatternKind::Glob),
        ("v?.ping", PatternKind::Glob),
        ("v[0-9]", PatternKind::Glob),
        ("{a,b}", PatternKind::Glob),
        ("^order", PatternKind::Regex),
        ("placed$", PatternKind::Regex),
        ("^order.*$", PatternKind::Regex),
    ];
    for (pattern, kind) in cases {
        let p = Pattern::parse(pattern).unwrap();
        assert_eq!(p.kind(), kind, "{pattern:?}");
        assert_eq!(p.to_string(), pattern);
        assert_eq!(pattern.parse::<Pattern>().unwrap(), p);
        assert_eq!(Pattern::try_from(pattern).unwrap(), p);
        assert_eq!(Pattern::try_from(pattern.to_owned()).unwrap(), p);
        assert_eq!(Pattern::try_from(&pattern.to_owned()).unwrap(), p);
    }
    // Explicit constructors do not auto-detect.
    assert_eq!(
        Pattern::glob("order.placed").unwrap().kind(),
        PatternKind::Glob
    );
    assert_eq!(Pattern::regex("order").unwrap().kind(), PatternKind::Regex);
    assert!(Pattern::regex("order").unwrap().matches("reorder.x"));
    assert!(
        Pattern::glob("order.placed")
            .unwrap()
            .matches("order.placed")
    );
}

#[test]
fn exact_patterns() {
    let topic = Topic::new("order.placed").unwrap();
    let p = Pattern::exact(topic.clone());
    assert_eq!(p.exact_topic(), Some(&topic));
    assert_eq!(Pattern::from(topic.clone()), p);
    assert_eq!(p, Pattern::parse("order.placed").unwrap());
    assert_ne!(p, Pattern::glob("order.placed").unwrap());
    assert_eq!(Pattern::glob("a.*").unwrap().exact_topic(), None);
}

#[test]
fn pattern_debug_and_eq() {
    assert_eq!(
        format!("{:?}", Pattern::parse("order.**").unwrap()),
        "Glob(\"order.**\")"
    );
    assert_eq!(
        format!("{:?}", Pattern::parse("a.b").unwrap()),
        "Exact(\"a.b\")"
    );
    assert_eq!(
        format!("{:?}", Pattern::parse("^a").unwrap()),
        "Regex(\"^a\")"
    );
    assert_eq!(PatternKind::Glob.to_string(), "glob");
    assert_eq!(
        Pattern::parse("a.*").unwrap(),
        Pattern::parse("a.*").unwrap()
    );
    assert_ne!(
        Pattern::parse("a.*").unwrap(),
        Pattern::parse("a.?").unwrap()
    );
    assert_ne!(
        Pattern::parse("^a$").unwrap(),
        Pattern::parse("^a").unwrap()
    );
}

#[test]
fn invalid_patterns_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("", "invalid pattern \"\": a pattern cannot be empty"),
        (
            "order.[",
            "invalid glob pattern \"order.[\": the character class at byte 6 is never closed",
        ),
        ("order.[]", "the character class at byte 6 is empty"),
        (
            "a[.]b",
            "character '.' at byte 2 is not allowed in a character class",
        ),
        (
            "a[--9]",
            "the range `--9` in the class at byte 1 includes `.`",
        ),
        (
            "a[z-a]",
            "the range `z-a` in the class at byte 1 is backwards",
        ),
        ("a**b", "`**` must be a whole segment"),
        ("a.**b", "but the one at byte 2 is not"),
        ("a**.b", "but the one at byte 1 is not"),
        ("a.***", "`***` at byte 2"),
        ("{a,**}.b", "`**` must be a whole segment"),
        ("x.{a.**,b}", "but the one at byte 5 is not"),
        ("x.{a.**.b,c}", "`**` at byte 5 is inside `{...}`"),
        (
            "order placed.*",
            "character ' ' at byte 5 cannot occur in a topic",
        ),
        (
            "order.[a-z]+",
            "character '+' at byte 11 cannot occur in a topic; globs use ASCII letters, \
             digits, `_`, `-`, `.` and the wildcards `*`, `**`, `?`, `[...]`, `{a,b}`; for a \
             regex, anchor it with `^` and `$` or use Pattern::regex",
        ),
        (
            "order/*",
            "`/` at byte 5: topic segments are separated by `.`",
        ),
        (r"order\.*", "`\\` at byte 5: escapes are not supported"),
        ("order..*", "empty segment at byte 6"),
        (".order.*", "it starts with `.`"),
        ("order.*.", "it ends with `.`"),
        ("order.{a,b", "`{` at byte 6 is never closed"),
        ("order.*}", "`}` at byte 7 has no matching `{`"),
        ("order.*]", "`]` at byte 7 has no matching `[`"),
        ("a,b*", "`,` at byte 1 is outside `{...}`"),
        (
            "{{{{{{{{{a}}}}}}}}}",
            "`{` at byte 8 nests groups more than 8 deep",
        ),
        (
            "caf\u{e9}.*",
            "character '\u{e9}' at byte 3 cannot occur in a topic",
        ),
        (
            "^order.(",
            "invalid regex pattern \"^order.(\": regex parse error",
        ),
        (
            "[a-z+$",
            "invalid regex pattern \"[a-z+$\": regex parse error",
        ),
        (
            "order placed",
            "invalid topic \"order placed\": character ' ' at byte 5 is not allowed",
        ),
        (
            "order..placed",
            "invalid topic \"order..placed\": empty segment at byte 6",
        ),
        (
            r"order\.placed",
            "character '\\\\' at byte 5 cannot occur in a topic; a regex pattern must start \
             with `^` or end with `$`",
        ),
        ("a|b", "e.g. \"^(?:a|b)$\""),
    ];
    for &(pattern, expected) in cases {
        let err = Pattern::parse(pattern).expect_err(pattern).to_string();
        assert!(err.contains(expected), "{pattern:?}: {err}");
    }
}

#[test]
fn explicit_constructors_reject_bad_input() {
    assert_eq!(Pattern::glob("").unwrap_err(), PatternError::Empty);
    assert_eq!(Pattern::regex("").unwrap_err(), PatternError::Empty);
    let err = Pattern::glob("order.placed now").unwrap_err();
    assert!(matches!(err, PatternError::InvalidGlob { .. }), "{err}");
    let err = Pattern::regex("(unclosed").unwrap_err();
    assert!(matches!(err, PatternError::InvalidRegex { .. }), "{err}");
}

#[test]
fn oversized_patterns_are_errors() {
    let long = format!("^{}$", "a".repeat(5000));
    let err = Pattern::parse(&long).unwrap_err();
    assert!(matches!(err, PatternError::TooLong { len: 5002, .. }));
    assert!(
        err.to_string().contains("patterns are at most 4096 bytes"),
        "{err}"
    );

    // Small to write, huge to compile.
    let err = Pattern::regex(r"^\w{1000}\w{1000}\w{1000}$").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("compiles to more than 1048576 bytes"), "{msg}");

    let err = Pattern::glob(&"[a-z]?".repeat(700)).unwrap_err();
    assert!(matches!(err, PatternError::TooLong { .. }), "{err}");
}

#[test]
fn long_globs_within_the_limit_work() {
    let glob = format!("{}*", "[a-z]".repeat(200));
    let p = Pattern::glob(&glob).unwrap();
    assert!(p.matches(&"q".repeat(200)));
    assert!(!p.matches(&"q".repeat(199)));
    // Longest topic.
    let p = Pattern::parse("**").unwrap();
    assert!(p.matches(&"a".repeat(255)));
    assert!(!p.matches(&"a".repeat(256)));
}

/// `.*` is the regex wildcard; in a glob it makes an empty segment. The message says what
/// globs use instead and how to write a regex, and which patterns parse does not change.
#[test]
fn regex_wildcard_in_a_glob_points_to_double_star() {
    let rule = "`.*` is regex syntax: in a glob, `*` matches within one segment and `**` any \
                number of whole segments";
    let anchor = "a regex must be anchored as `^...$` (or made with Pattern::regex)";
    for (pattern, problem, did_you_mean) in [
        (
            ".*",
            "it starts with `.` (an empty first segment)",
            Some("**"),
        ),
        (".*.failed", "it starts with `.`", Some("**.failed")),
        ("order..*", "empty segment at byte 6", Some("order.**")),
        ("a..*.z", "empty segment at byte 2", Some("a.**.z")),
        (".*foo", "it starts with `.`", None),
        ("order..*ed", "empty segment at byte 6", None),
    ] {
        let err = Pattern::parse(pattern).expect_err(pattern);
        assert!(matches!(err, PatternError::InvalidGlob { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("invalid glob pattern {pattern:?}: {problem}")),
            "{msg}"
        );
        assert!(msg.contains(rule), "{msg}");
        assert!(msg.contains(anchor), "{msg}");
        match did_you_mean {
            Some(fix) => {
                assert!(msg.contains(&format!("(did you mean `{fix}`?)")), "{msg}");
                let fixed = Pattern::parse(fix).unwrap();
                assert_eq!(fixed.kind(), PatternKind::Glob);
            }
            None => assert!(!msg.contains("did you mean"), "{msg}"),
        }
    }
    assert_eq!(
        Pattern::parse(".*").unwrap_err().to_string(),
        "invalid glob pattern \".*\": it starts with `.` (an empty first segment); `.*` is regex \
         syntax: in a glob, `*` matches within one segment and `**` any number of whole \
         segments (did you mean `**`?); a regex must be anchored as `^...$` (or made with \
         Pattern::regex)"
    );

    // Other empty segments get no hint.
    for pattern in [".order.*", "order.*.", "a..b*", ".**"] {
        let msg = Pattern::parse(pattern).expect_err(pattern).to_string();
        assert!(!msg.contains("regex syntax"), "{pattern:?}: {msg}");
    }

    // What parses is unchanged: `.*` after a segment is a glob segment, anchored it is a regex.
    let p = Pattern::parse("order.*").unwrap();
    assert_eq!(p.kind(), PatternKind::Glob);
    assert!(p.matches("order.placed") && !p.matches("order.item.added"));
    let p = Pattern::parse("^.*$").unwrap();
    assert_eq!(p.kind(), PatternKind::Regex);
    assert!(p.matches("order.item.added"));
    let p = Pattern::parse("^order\\..*").unwrap();
    assert!(p.matches("order.item.added"));
}

#[test]
fn matches_topic_agrees_with_matches_on_valid_topics() {
    let patterns = [
        "order.*",
        "order.**",
        "order.placed",
        "^order\\..*$",
        "*.{a,b}",
        "**",
    ];
    let topics = [
        "order.placed",
        "order.item.added",
        "billing.a",
        "x.b",
        "order",
    ];
    for pattern in patterns {
        let pattern = Pattern::parse(pattern).unwrap();
        for topic in topics {
            let valid = Topic::new(topic).unwrap();
            assert_eq!(
                pattern.matches_topic(&valid),
                pattern.matches(topic),
                "{pattern:?} on {topic}"
            );
        }
    }
}
