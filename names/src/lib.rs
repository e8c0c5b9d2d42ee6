//! Implementation detail of [`staticbus`](https://docs.rs/staticbus): the rule for event names
//! and topics, defined once for `#[derive(StaticEvent)]` (which checks names at compile time)
//! and the runtime's `Topic` (which checks them at run time). Depend on `staticbus`.
//!
//! A name is 1 to [`MAX_LEN`] bytes of dot-separated, non-empty segments made of ASCII
//! letters, digits, `_` and `-`: `order.placed`, `billing.v2.invoice_sent`.
//!
//! ```
//! use staticbus_names::{NameError, check};
//!
//! assert_eq!(check("order.placed"), Ok(()));
//! assert_eq!(check("order..placed"), Err(NameError::EmptySegment { at: 6 }));
//! assert_eq!(check("order.*"), Err(NameError::InvalidChar { ch: '*', at: 6 }));
//! ```

pub mod plugin;

/// The longest name, in bytes.
pub const MAX_LEN: usize = 255;

/// The most calls of one detached handler that may run at once (`concurrency = N`,
/// `SubscribeOptions::concurrency`): a larger count is a mistake (each call in flight holds
/// its event and state), not a setting.
pub const MAX_CONCURRENCY: u32 = 65_536;

/// What a name error message ends with: the rule, with an example.
pub const RULE: &str = "names are dot-separated segments of ASCII letters, digits, `_` or `-`, \
                        e.g. \"order.placed\"";

/// Why a string is not a valid name. Offsets are in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The string is empty.
    Empty,
    /// The string is longer than [`MAX_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A segment is empty: two dots in a row, or a dot at the start or the end.
    EmptySegment {
        /// Where the empty segment starts.
        at: usize,
    },
    /// A character outside ASCII letters, digits, `_`, `-` and `.`.
    InvalidChar {
        /// The character.
        ch: char,
        /// Where it starts.
        at: usize,
    },
}

/// Whether `b` may occur in a segment: an ASCII letter or digit, `_` or `-`.
pub fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Checks `name` against the rule; the first problem found, from the left.
pub fn check(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    let mut segment_start = 0;
    for (at, b) in name.bytes().enumerate() {
        if b == b'.' {
            if at == segment_start {
                return Err(NameError::EmptySegment { at });
            }
            segment_start = at + 1;
        } else if !is_segment_byte(b) {
            return Err(NameError::InvalidChar {
                ch: char_at(name, at),
                at,
            });
        }
    }
    if segment_start == name.len() {
        return Err(NameError::EmptySegment { at: segment_start });
    }
    Ok(())
}

/// The character starting at byte `at` of `s`: `at` follows only ASCII bytes, so it is a char
/// boundary; anything else gives `U+FFFD`.
pub fn char_at(s: &str, at: usize) -> char {
    s.get(at..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The default name of a type: `OrderPlaced` -> `order.placed`, `HTTPRequestSent` ->
/// `http.request.sent`, `V2Ping` -> `v2.ping`, `order_placed` -> `order.placed`. A raw
/// identifier's `r#` is dropped. The result may still break the rule (non-ASCII letters):
/// [`check`] it.
pub fn dotted(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let mut out = String::with_capacity(ident.len() + 4);
    let mut chars = ident.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        if c == '_' {
            if !out.is_empty() && !out.ends_with('.') {
                out.push('.');
            }
            prev = Some(c);
            continue;
        }
        if c.is_uppercase()
            && let Some(p) = prev
        {
            let next_lower = chars.peek().is_some_and(|n| n.is_lowercase());
            let boundary =
                p.is_lowercase() || p.is_ascii_digit() || (p.is_uppercase() && next_lower);
            if boundary && !out.ends_with('.') {
                out.push('.');
            }
        }
        out.extend(c.to_lowercase());
        prev = Some(c);
    }
    while out.ends_with('.') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{MAX_LEN, NameError, check, dotted};

    #[test]
    fn the_rule() {
        for ok in ["a", "order.placed", "billing.v2.invoice_sent", "a-b_c.D9"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        assert_eq!(check(""), Err(NameError::Empty));
        assert_eq!(check(".a"), Err(NameError::EmptySegment { at: 0 }));
        assert_eq!(check("a."), Err(NameError::EmptySegment { at: 2 }));
        assert_eq!(check("a b"), Err(NameError::InvalidChar { ch: ' ', at: 1 }));
        assert_eq!(check("é"), Err(NameError::InvalidChar { ch: 'é', at: 0 }));
        let long = "a".repeat(MAX_LEN + 1);
        assert_eq!(check(&long), Err(NameError::TooLong { len: MAX_LEN + 1 }));
        assert_eq!(check(&long[1..]), Ok(()));
    }

    #[test]
    fn dotted_names() {
        assert_eq!(dotted("OrderPlaced"), "order.placed");
        assert_eq!(dotted("Ping"), "ping");
        assert_eq!(dotted("HTTPRequestSent"), "http.request.sent");
        assert_eq!(dotted("V2Ping"), "v2.ping");
        assert_eq!(dotted("order_placed"), "order.placed");
        assert_eq!(dotted("Shutdown_"), "shutdown");
        assert_eq!(dotted("r#Type"), "type");
        assert_eq!(dotted("A_B"), "a.b");
    }
}
