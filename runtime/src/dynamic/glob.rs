//! Globs over dot-separated segments, translated to the regex a [`Pattern`](super::Pattern)
//! matches with.
//!
//! A glob is checked against the segment rules here (so errors can name the byte at fault and
//! the rule), then written in globset's syntax with `/` for `.`: globset's
//! `literal_separator` then keeps `*`, `?` and classes inside one segment, and its `**`
//! handling gives the "whole segments" meaning. Topics are matched after the same
//! dot-to-slash translation.

use super::topic::{char_at, is_segment_byte};

/// How deep `{...}` groups may nest in a glob.
const MAX_GLOB_NESTING: usize = 8;

/// The regex source matching what `pattern` matches, over topics written with `/` for `.`;
/// `Err` says what is wrong with the glob, and where.
pub(super) fn to_regex(pattern: &str) -> Result<String, String> {
    let translated = translate_glob(pattern)?;
    let glob = globset::GlobBuilder::new(&translated)
        .literal_separator(true)
        .backslash_escape(false)
        .empty_alternates(true)
        .build()
        .map_err(|e| e.kind().to_string())?;
    Ok(glob.regex().to_owned())
}

/// Checks a glob against the segment rules and translates it for globset: `.` becomes `/`,
/// and negated classes also exclude `/`, so that no wildcard crosses a segment.
fn translate_glob(pattern: &str) -> Result<String, String> {
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut open_braces: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if is_segment_byte(c) => out.push(char::from(c)),
            b'.' => {
                if i == 0 {
                    return Err(format!(
                        "it starts with `.` (an empty first segment){}",
                        regex_wildcard_hint(pattern, 0)
                    ));
                }
                if i + 1 == b.len() {
                    return Err("it ends with `.` (an empty last segment)".into());
                }
                if b[i + 1] == b'.' {
                    return Err(format!(
                        "empty segment at byte {}{}",
                        i + 1,
                        regex_wildcard_hint(pattern, i + 1)
                    ));
                }
                out.push('/');
            }
            b'*' => {
                let run = b[i..].iter().take_while(|&&c| c == b'*').count();
                if run > 2 {
                    return Err(format!(
                        "`{}` at byte {i}: use `*` within a segment or `**` as a whole segment",
                        "*".repeat(run)
                    ));
                }
                if run == 2 {
                    let starts_segment = i == 0 || b[i - 1] == b'.';
                    let ends_segment = i + 2 == b.len() || b[i + 2] == b'.';
                    if !starts_segment || !ends_segment {
                        return Err(format!(
                            "`**` must be a whole segment (`order.**`, `**.failed`, `a.**.z`), \
                             but the one at byte {i} is not; use `*` to match within a segment"
                        ));
                    }
                    if !open_braces.is_empty() {
                        return Err(format!(
                            "`**` at byte {i} is inside `{{...}}`, which is not supported; \
                             subscribe with one pattern per alternative"
                        ));
                    }
                }
                out.push_str(&pattern[i..i + run]);
                i += run;
                continue;
            }
            b'?' => out.push('?'),
            b'[' => {
                i = translate_class(pattern, i, &mut out)?;
                continue;
            }
            b'{' => {
                if open_braces.len() == MAX_GLOB_NESTING {
                    return Err(format!(
                        "`{{` at byte {i} nests groups more than {MAX_GLOB_NESTING} deep"
                    ));
                }
                open_braces.push(i);
                out.push('{');
            }
            b'}' => {
                if open_braces.pop().is_none() {
                    return Err(format!("`}}` at byte {i} has no matching `{{`"));
                }
                out.push('}');
            }
            b',' => {
                if open_braces.is_empty() {
                    return Err(format!(
                        "`,` at byte {i} is outside `{{...}}` and topics contain no commas; \
                         write alternatives as `{{a,b}}`"
                    ));
                }
                out.push(',');
            }
            b']' => return Err(format!("`]` at byte {i} has no matching `[`")),
            b'/' => {
                return Err(format!(
                    "`/` at byte {i}: topic segments are separated by `.` (write `a.*`, not `a/*`)"
                ));
            }
            b'\\' => {
                return Err(format!(
                    "`\\` at byte {i}: escapes are not supported (no topic character needs one); \
                     for a regex, start the pattern with `^` or use Pattern::regex"
                ));
            }
            c => {
                let regex_hint = if b"()|+^$".contains(&c) {
                    "; for a regex, anchor it with `^` and `$` or use Pattern::regex"
                } else {
                    ""
                };
                return Err(format!(
                    "character {:?} at byte {i} cannot occur in a topic; globs use ASCII \
                     letters, digits, `_`, `-`, `.` and the wildcards `*`, `**`, `?`, `[...]`, \
                     `{{a,b}}`{regex_hint}",
                    char_at(pattern, i)
                ));
            }
        }
        i += 1;
    }
    if let Some(&at) = open_braces.first() {
        return Err(format!("`{{` at byte {at} is never closed; add a `}}`"));
    }
    Ok(out)
}

/// For an empty segment that starts at the `.` at byte `at` and is followed by `*`, as in
/// `.*` or `order..*`: the regex wildcard `.*` written in a glob. Says what globs use instead
/// (with the pattern rewritten when `**` would be a whole segment) and how to write a regex;
/// empty otherwise.
fn regex_wildcard_hint(pattern: &str, at: usize) -> String {
    let b = pattern.as_bytes();
    if b.get(at + 1) != Some(&b'*') || b.get(at + 2) == Some(&b'*') {
        return String::new();
    }
    let rest = &pattern[at + 2..];
    let suggestion = if rest.is_empty() || rest.starts_with('.') {
        format!(" (did you mean `{}**{rest}`?)", &pattern[..at])
    } else {
        String::new()
    };
    format!(
        "; `.*` is regex syntax: in a glob, `*` matches within one segment and `**` any number \
         of whole segments{suggestion}; a regex must be anchored as `^...$` (or made with \
         Pattern::regex)"
    )
}

/// Translates the class starting at `b[start] == b'['`, returning the index after its `]`.
///
/// Members are parsed as globset does (a leading `-` and a trailing `-` are literal, `x-y`
/// is a range), checked, then written back in a form that globset parses the same way.
fn translate_class(pattern: &str, start: usize, out: &mut String) -> Result<usize, String> {
    let b = pattern.as_bytes();
    let mut i = start + 1;
    let negated = matches!(b.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut ranges: Vec<(u8, u8)> = Vec::new();
    let mut in_range = false;
    loop {
        let Some(&c) = b.get(i) else {
            return Err(format!(
                "the character class at byte {start} is never closed; add a `]`"
            ));
        };
        i += 1;
        match c {
            b']' if ranges.is_empty() => {
                return Err(format!(
                    "the character class at byte {start} is empty; list characters as in `[abc]` \
                     or `[a-z]`"
                ));
            }
            b']' => break,
            b'-' if !ranges.is_empty() && !in_range => in_range = true,
            c if is_segment_byte(c) => {
                if in_range {
                    let last = ranges.len() - 1;
                    let lo = ranges[last].0;
                    if c < lo {
                        return Err(format!(
                            "the range `{}-{}` in the class at byte {start} is backwards; \
                             write `{}-{}`",
                            char::from(lo),
                            char::from(c),
                            char::from(c),
                            char::from(lo)
                        ));
                    }
                    ranges[last].1 = c;
                    in_range = false;
                } else {
                    ranges.push((c, c));
                }
            }
            _ => {
                return Err(format!(
                    "character {:?} at byte {} is not allowed in a character class; classes \
                     list ASCII letters, digits, `_` or `-`, e.g. `[a-z0-9]` or `[!_]`",
                    char_at(pattern, i - 1),
                    i - 1
                ));
            }
        }
    }
    if in_range {
        ranges.push((b'-', b'-'));
    }
    let mut dash = false;
    out.push('[');
    if negated {
        out.push_str("!/");
    }
    for &(lo, hi) in &ranges {
        if lo <= b'/' && hi >= b'.' {
            return Err(format!(
                "the range `{}-{}` in the class at byte {start} includes `.`, and a class never \
                 matches the dot between segments; list the characters you mean",
                char::from(lo),
                char::from(hi)
            ));
        }
        if lo == b'-' {
            dash = true;
        } else if lo == hi {
            out.push(char::from(lo));
        } else {
            out.push(char::from(lo));
            out.push('-');
            out.push(char::from(hi));
        }
    }
    if dash {
        out.push('-');
    }
    out.push(']');
    Ok(i)
}
