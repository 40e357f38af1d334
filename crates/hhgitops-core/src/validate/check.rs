//! Building blocks of the rules: a findings collector and the value checks the rules share (names, labels,
//! enums, IPs, durations).

use crate::model::ip::{parse_addr, Ipv4Prefix};
use crate::path::FieldPath;

/// One rule violation of an object, before it is located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: FieldPath,
    pub message: String,
}

/// Collects the findings of one object.
#[derive(Debug, Default)]
pub struct Findings {
    pub items: Vec<Finding>,
}

impl Findings {
    pub fn new() -> Self {
        Findings::default()
    }

    pub fn push(&mut self, path: FieldPath, message: impl Into<String>) {
        self.items.push(Finding {
            path,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `what` is required and absent.
    pub fn missing(&mut self, path: FieldPath, expected: &str) {
        self.push(path, format!("missing required field: expected {expected}"));
    }

    /// Checks an enum-valued string.
    pub fn one_of(&mut self, path: FieldPath, value: &str, allowed: &[&str]) -> bool {
        if allowed.contains(&value) {
            return true;
        }
        self.push(
            path,
            format!("expected one of {}, found {:?}", list(allowed), value),
        );
        false
    }
}

/// `a, b, c` with the empty string shown as `""`.
pub fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| {
            if s.is_empty() {
                "\"\"".to_string()
            } else {
                (*s).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `name` is not a lowercase RFC 1123 subdomain of at most 253 characters (`None` when it is one).
pub fn rfc1123_subdomain_problem(name: &str) -> Option<String> {
    const EXPECTED: &str =
        "expected a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', \
                            starting and ending with a letter or digit, at most 253 characters)";
    if name.is_empty() {
        return Some(format!("name is empty: {EXPECTED}"));
    }
    if name.contains('/') || name.contains("..") {
        return Some(format!(
            "{name:?} must not contain '/' or '..' (the name becomes a file name): {EXPECTED}"
        ));
    }
    if name.len() > 253 {
        return Some(format!(
            "name is {} characters long: {EXPECTED}",
            name.len()
        ));
    }
    for label in name.split('.') {
        let b = label.as_bytes();
        let ok = !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-';
        if !ok {
            return Some(format!("{name:?} is not valid: {EXPECTED}"));
        }
    }
    None
}

/// Whether `s` is a Kubernetes label/annotation name part: at most 63 characters, alphanumerics, '-', '_', '.',
/// starting and ending with an alphanumeric.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Why `key` is not a valid label or annotation key (`[prefix/]name`), or `None`.
pub fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || rfc1123_subdomain_problem(p).is_some() {
            return Some(format!(
                "key {key:?} has an invalid prefix: expected a lowercase DNS subdomain before the '/'"
            ));
        }
    }
    if !is_qualified_name_part(name) {
        return Some(format!(
            "key {key:?} is not valid: expected [prefix/]name where name has at most 63 characters \
             (letters, digits, '-', '_', '.'), starting and ending with a letter or digit"
        ));
    }
    None
}

/// Why `value` is not a valid label value, or `None`.
pub fn label_value_problem(value: &str) -> Option<String> {
    if value.is_empty() || is_qualified_name_part(value) {
        None
    } else {
        Some(format!(
            "label value {value:?} is not valid: expected at most 63 characters (letters, digits, '-', '_', '.'), \
             starting and ending with a letter or digit, or empty"
        ))
    }
}

/// Parses an IPv4 prefix or records why not.
pub fn prefix(f: &mut Findings, path: impl FnOnce() -> FieldPath, s: &str) -> Option<Ipv4Prefix> {
    match Ipv4Prefix::parse(s) {
        Ok(p) => Some(p),
        Err(e) => {
            f.push(path(), e);
            None
        }
    }
}

/// Parses an IPv4 address or records why not.
pub fn addr(f: &mut Findings, path: impl FnOnce() -> FieldPath, s: &str) -> Option<u32> {
    match parse_addr(s) {
        Ok(a) => Some(a),
        Err(e) => {
            f.push(path(), e);
            None
        }
    }
}

/// Whether `s` is a Go `time.ParseDuration` duration (`300ms`, `-1.5h`, `2h45m`, `0`).
pub fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = i - start;
        let mut frac_digits = 0;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let fs = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = i - fs;
        }
        if int_digits == 0 && frac_digits == 0 {
            return false;
        }
        let us = i;
        while i < b.len() && !b[i].is_ascii_digit() && b[i] != b'.' {
            i += 1;
        }
        if !matches!(
            &s[us..i],
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
        ) {
            return false;
        }
    }
    true
}

/// Whether `s` is a `YYYY-MM-DD hh:mm:ss` date and time (Go `time.DateTime`).
pub fn is_go_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && h < 24 && mi < 60 && se < 60
}

/// Go `strconv.Atoi` of the whole string.
pub fn atoi(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Where a finding at `path` is reported: a scalar at its value; a mapping or list reached through a key at that
/// key (`eslag:` rather than the first line inside it); a missing field at the key of its deepest existing
/// ancestor (`switch:` for a missing `switch.port`).
pub fn locate(root: &crate::yaml::Node, path: &FieldPath) -> crate::diag::Span {
    use crate::path::PathSegment;
    use crate::yaml::Value;
    let mut cur = root;
    let mut key_span = None;
    for seg in &path.0 {
        let next = match (seg, &cur.value) {
            (PathSegment::Key(k), Value::Map(_)) => {
                cur.entry(k).map(|(key, v)| (Some(key.span), v))
            }
            (PathSegment::Index(i), Value::Seq(items)) => items.get(*i).map(|v| (None, v)),
            _ => None,
        };
        match next {
            Some((ks, n)) => {
                key_span = ks;
                cur = n;
            }
            None => return key_span.unwrap_or(cur.span),
        }
    }
    match cur.value {
        Value::Map(_) | Value::Seq(_) => key_span.unwrap_or(cur.span),
        _ => cur.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(rfc1123_subdomain_problem("leaf-01").is_none());
        assert!(rfc1123_subdomain_problem("a.b-c.d").is_none());
        assert!(rfc1123_subdomain_problem("../../etc")
            .unwrap()
            .contains("file name"));
        assert!(rfc1123_subdomain_problem("a/b").is_some());
        assert!(rfc1123_subdomain_problem("Leaf").is_some());
        assert!(rfc1123_subdomain_problem("-a").is_some());
        assert!(rfc1123_subdomain_problem("a.").is_some());
        assert!(rfc1123_subdomain_problem(&"a".repeat(254)).is_some());
        assert!(rfc1123_subdomain_problem(&"a".repeat(253)).is_none());
    }

    #[test]
    fn label_keys() {
        assert!(qualified_name_problem("fabric.githedgehog.com/vpc").is_none());
        assert!(qualified_name_problem("app").is_none());
        assert!(qualified_name_problem("/app").is_some());
        assert!(qualified_name_problem("a/b/c").is_some());
        assert!(qualified_name_problem("-x").is_some());
        assert!(label_value_problem("").is_none());
        assert!(label_value_problem("a b").is_some());
    }

    #[test]
    fn durations_and_times() {
        for ok in [
            "10m", "1h30m", "300ms", "-5m", "0", "1.5h", ".5s", "2us", "1µs",
        ] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "10", "m", "10x", "1h 30m", "1..5h"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
        assert!(is_go_datetime("2026-08-05 18:45:47"));
        assert!(is_go_datetime("2024-02-29 00:00:00"));
        assert!(!is_go_datetime("2023-02-29 00:00:00"));
        assert!(!is_go_datetime("2026-08-05T18:45:47"));
        assert!(!is_go_datetime("2026-13-05 18:45:47"));
    }
}
