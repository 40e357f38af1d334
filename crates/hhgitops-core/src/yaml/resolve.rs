//! What a scalar means: plain-scalar resolution as go-yaml v2 does it for sigs.k8s.io/yaml (which is what
//! `kubectl` and the API server see), the standard tags, key conversion, and the "could a reader take this
//! string for something else" test the emitter quotes by.

use std::borrow::Cow;

use saphyr_parser::{ScalarStyle, Tag};

use super::Value;

/// The meaning of a plain, untagged scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Plain {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// `<<`: a merge key when it stands as a mapping key, the string `<<` elsewhere.
    Merge,
    Str,
}

/// Resolves a plain scalar exactly as go-yaml v2's `resolve("", s)` (timestamps stay strings, as go-yaml
/// keeps them when decoding into `interface{}`).
pub(crate) fn resolve_plain(s: &str) -> Plain {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Plain::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Plain::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" => return Plain::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Plain::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Plain::Float(f64::NEG_INFINITY),
        "<<" => return Plain::Merge,
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => match go_parse_float(s) {
            Some(f) => Plain::Float(f),
            None => Plain::Str,
        },
        b'+' | b'-' | b'0'..=b'9' => resolve_number(s),
        _ => Plain::Str,
    }
}

/// go-yaml v2's numeric branch: underscores removed, then `ParseInt(s, 0, 64)`, `ParseUint(s, 0, 64)`,
/// then a YAML-style float.
fn resolve_number(s: &str) -> Plain {
    let cleaned;
    let plain = if s.contains('_') {
        cleaned = s.replace('_', "");
        cleaned.as_str()
    } else {
        s
    };
    if let Some(i) = go_parse_int(plain) {
        return Plain::Int(i);
    }
    if let Some(u) = go_parse_uint(plain) {
        return Plain::UInt(u);
    }
    if is_yaml_style_float(plain) {
        if let Some(f) = go_parse_float(plain) {
            return Plain::Float(f);
        }
    }
    Plain::Str
}

/// Splits Go's base prefix off (after an optional sign was removed): `0x`, `0o`, `0b`, or a leading `0`
/// (octal). Returns the radix and the digits.
fn go_base(s: &str) -> (u32, &str) {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        match b[1] {
            b'x' | b'X' => return (16, &s[2..]),
            b'o' | b'O' => return (8, &s[2..]),
            b'b' | b'B' => return (2, &s[2..]),
            _ => return (8, &s[1..]),
        }
    }
    (10, s)
}

fn parse_digits(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|c| (c as char).is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)` (without underscores, which the caller removed).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = go_base(rest);
    let magnitude = parse_digits(digits, radix)?;
    if neg {
        if magnitude <= i64::MAX as u64 {
            Some(-(magnitude as i64))
        } else if magnitude == i64::MAX as u64 + 1 {
            Some(i64::MIN)
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: no sign allowed.
fn go_parse_uint(s: &str) -> Option<u64> {
    let (radix, digits) = go_base(s);
    parse_digits(digits, radix)
}

/// go-yaml v2's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms go-yaml hands it: an overflow is an error there
/// (so the scalar stays a string), an underflow rounds to zero.
fn go_parse_float(s: &str) -> Option<f64> {
    // Rust also accepts "inf", "nan" and "infinity"; go-yaml never passes those here (they do not start
    // with a digit, a sign followed by a digit or dot, or a dot), but reject them to be exact.
    if s.bytes()
        .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
    {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// Why a tagged scalar could not be read.
pub(crate) struct TagError(pub String);

/// The suffix of a tag in the `tag:yaml.org,2002:` namespace (`!!int` → `int`).
fn core_suffix(tag: &Tag) -> Option<&str> {
    const CORE: &str = "tag:yaml.org,2002:";
    if tag.handle == CORE {
        Some(tag.suffix.as_str())
    } else if tag.handle.is_empty() {
        tag.suffix.strip_prefix(CORE)
    } else {
        None
    }
}

/// Whether a tag is `!!merge`.
pub(crate) fn is_merge_tag(tag: &Tag) -> bool {
    core_suffix(tag) == Some("merge")
}

/// Resolves any scalar event: style, tag and text. Strings are copied to their exact size even when the
/// parser hands over an owned one: its spare capacity would cost more memory (and time, in cache misses) than
/// the copy does.
pub(crate) fn resolve_scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, TagError> {
    let Some(tag) = tag else {
        if style != ScalarStyle::Plain {
            return Ok(Value::String(text.as_ref().to_owned()));
        }
        return Ok(match resolve_plain(&text) {
            Plain::Null => Value::Null,
            Plain::Bool(b) => Value::Bool(b),
            Plain::Int(i) => Value::Int(i),
            Plain::UInt(u) => Value::UInt(u),
            Plain::Float(f) => Value::Float(f),
            Plain::Merge | Plain::Str => Value::String(text.as_ref().to_owned()),
        });
    };
    let Some(suffix) = core_suffix(tag) else {
        if matches!(
            (tag.handle.as_str(), tag.suffix.as_str()),
            ("!", "") | ("", "!")
        ) {
            // The non-specific tag `!`: a string.
            return Ok(Value::String(text.as_ref().to_owned()));
        }
        // Local and application tags (`!foo`, `!<tag:example.com,2000:x>`): go-yaml v2 would keep the text as
        // it is, silently; a tag that means something to another reader is refused instead.
        return Err(unknown_tag(&format!("{}{}", tag.handle, tag.suffix)));
    };
    let bad = |what: &str| TagError(format!("`{}` is not a valid {what}", abbreviate(&text, 40)));
    let trimmed = text.trim();
    match suffix {
        "str" | "binary" | "timestamp" | "merge" => Ok(Value::String(text.as_ref().to_owned())),
        "int" => match resolve_plain(trimmed) {
            Plain::Int(i) => Ok(Value::Int(i)),
            Plain::UInt(u) => Ok(Value::UInt(u)),
            _ => Err(bad("!!int")),
        },
        "float" => match resolve_plain(trimmed) {
            Plain::Int(i) => Ok(Value::Float(i as f64)),
            Plain::UInt(u) => Ok(Value::Float(u as f64)),
            Plain::Float(f) => Ok(Value::Float(f)),
            _ => Err(bad("!!float")),
        },
        "bool" => match resolve_plain(trimmed) {
            Plain::Bool(b) => Ok(Value::Bool(b)),
            _ => Err(bad("!!bool")),
        },
        "null" => match resolve_plain(trimmed) {
            Plain::Null => Ok(Value::Null),
            _ => Err(bad("!!null")),
        },
        "map" | "seq" | "set" | "omap" | "pairs" => Err(TagError(format!(
            "the tag !!{suffix} cannot be used on a scalar"
        ))),
        _ => Err(unknown_tag(&format!("!!{suffix}"))),
    }
}

/// The error for a scalar tag that is not one of the standard scalar tags.
fn unknown_tag(tag: &str) -> TagError {
    TagError(format!(
        "unknown tag `{}` on this scalar: only !!str, !!int, !!float, !!bool, !!null, !!binary and \
         !!timestamp may tag a scalar; remove the tag",
        abbreviate(tag, 60)
    ))
}

/// The string a resolved scalar key becomes, as sigs.k8s.io/yaml converts map keys for JSON.
pub(crate) fn key_string(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => go_format_float32_g(*f),
        Value::Null | Value::Seq(_) | Value::Map(_) => return None,
    })
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)` with sigs.k8s.io/yaml's spellings of the infinities and NaN.
fn go_format_float32_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let f32v = f as f32;
    if f32v.is_infinite() {
        return if f32v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f32v == 0.0 {
        return if f32v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits and decimal exponent, from Rust's `{:e}` (`-1.2345e6`).
    let sci = format!("{f32v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    // Go's shortest 'g' switches to the exponent form when exp < -4 || exp >= 6.
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = (exp + 1) as usize;
        if digits.len() <= point {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

/// Shortens a string for an error message.
pub(crate) fn abbreviate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Whether a string written as a plain scalar could be read as anything but that string by go-yaml v2,
/// a YAML 1.1 reader (PyYAML, Psych) or a YAML 1.2 core-schema reader.
pub(crate) fn plain_is_ambiguous(s: &str) -> bool {
    if resolve_plain(s) != Plain::Str {
        return true;
    }
    if s == "=" || is_yaml11_int(s) || is_yaml11_float(s) || looks_like_timestamp(s) {
        return true;
    }
    false
}

/// Splits an optional sign off.
fn unsign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

fn all_digits_sep(s: &str, radix: u32) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c == b'_' || c == b',' || (c as char).is_digit(radix))
}

/// YAML 1.1 integers (binary, octal, decimal, hex with `_` separators, and sexagesimal `1:30`); commas as
/// Psych accepts them.
fn is_yaml11_int(s: &str) -> bool {
    let u = unsign(s);
    if let Some(d) = u.strip_prefix("0b") {
        return all_digits_sep(d, 2);
    }
    if let Some(d) = u.strip_prefix("0x") {
        return all_digits_sep(d, 16);
    }
    if !u.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    if all_digits_sep(u, 10) {
        return true;
    }
    !u.starts_with('0') && is_sexagesimal(u)
}

/// `[0-9][0-9_]*(:[0-5]?[0-9])+`, the base-60 form of YAML 1.1 (integers also need a non-zero first digit,
/// so MAC addresses starting with `0` stay strings).
fn is_sexagesimal(s: &str) -> bool {
    let mut parts = s.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if !head.starts_with(|c: char| c.is_ascii_digit()) || !all_digits_sep(head, 10) {
        return false;
    }
    let mut any = false;
    for p in parts {
        any = true;
        let ok = match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, b] => (b'0'..=b'5').contains(a) && b.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

/// YAML 1.1 floats as PyYAML and Psych read them (one dot, optional exponent, `_`/`,` separators), and the
/// base-60 float form.
fn is_yaml11_float(s: &str) -> bool {
    let u = unsign(s);
    let (mantissa, exp) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    if let Some(exp) = exp {
        let e = unsign(exp);
        if e.is_empty() || !e.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    let Some((int, frac)) = mantissa.split_once('.') else {
        return false;
    };
    let frac_ok = frac.is_empty() || all_digits_sep(frac, 10);
    if int.is_empty() {
        return !frac.is_empty() && frac_ok;
    }
    if !int.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    frac_ok && (all_digits_sep(int, 10) || (exp.is_none() && is_sexagesimal(int)))
}

/// `YYYY-M-D…`: a YAML 1.1 timestamp reader would take it for a date.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 6 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_like_go_yaml_v2() {
        use Plain::*;
        let cases: &[(&str, Plain)] = &[
            ("", Null),
            ("~", Null),
            ("null", Null),
            ("NULL", Null),
            ("nULL", Str),
            ("yes", Bool(true)),
            ("Y", Bool(true)),
            ("On", Bool(true)),
            ("off", Bool(false)),
            ("n", Bool(false)),
            ("FALSE", Bool(false)),
            ("fAlse", Str),
            ("0", Int(0)),
            ("-0", Int(0)),
            ("+12", Int(12)),
            ("1_000", Int(1000)),
            ("0x1F", Int(31)),
            ("-0x10", Int(-16)),
            ("0o17", Int(15)),
            ("017", Int(15)),
            ("0b101", Int(5)),
            ("09", Float(9.0)),
            ("9223372036854775807", Int(i64::MAX)),
            ("-9223372036854775808", Int(i64::MIN)),
            ("9223372036854775808", UInt(9223372036854775808)),
            ("18446744073709551615", UInt(u64::MAX)),
            ("18446744073709551616", Float(18446744073709551616.0)),
            ("1.5", Float(1.5)),
            ("1.", Float(1.0)),
            (".5", Float(0.5)),
            ("-.5", Float(-0.5)),
            ("1e3", Float(1000.0)),
            ("1e999", Str),
            (".inf", Float(f64::INFINITY)),
            ("-.Inf", Float(f64::NEG_INFINITY)),
            ("<<", Merge),
            ("10.0.0.1", Str),
            ("1.2.3", Str),
            ("2001-12-14", Str),
            ("0x", Str),
            ("-", Str),
            (".", Str),
            ("_1", Str),
            ("inf", Str),
            ("e3", Str),
            ("1e", Str),
            ("E1/55", Str),
        ];
        for (s, want) in cases {
            let got = resolve_plain(s);
            match (got, want) {
                (Float(a), Float(b)) => assert_eq!(a, *b, "{s:?}"),
                _ => assert_eq!(got, *want, "{s:?}"),
            }
        }
        assert!(matches!(resolve_plain(".NaN"), Float(f) if f.is_nan()));
    }

    #[test]
    fn tags_are_honored_and_checked() {
        let t = |suffix: &str| Tag {
            handle: "tag:yaml.org,2002:".into(),
            suffix: suffix.into(),
        };
        let r = |text: &str, style, tag: &Tag| resolve_scalar(text.into(), style, Some(tag)).ok();
        assert_eq!(
            r("123", ScalarStyle::Plain, &t("str")),
            Some(Value::String("123".into()))
        );
        assert_eq!(
            r("123", ScalarStyle::DoubleQuoted, &t("int")),
            Some(Value::Int(123))
        );
        assert_eq!(
            r("1", ScalarStyle::Plain, &t("float")),
            Some(Value::Float(1.0))
        );
        assert_eq!(
            r("yes", ScalarStyle::SingleQuoted, &t("bool")),
            Some(Value::Bool(true))
        );
        assert_eq!(r("~", ScalarStyle::Plain, &t("null")), Some(Value::Null));
        assert!(r("abc", ScalarStyle::Plain, &t("int")).is_none());
        assert!(r("abc", ScalarStyle::Plain, &t("map")).is_none());
        let local = Tag {
            handle: "!".into(),
            suffix: "thing".into(),
        };
        assert!(
            r("5", ScalarStyle::Plain, &local).is_none(),
            "unknown tags refused"
        );
        let non_specific = Tag {
            handle: "!".into(),
            suffix: String::new(),
        };
        assert_eq!(
            r("5", ScalarStyle::Plain, &non_specific),
            Some(Value::String("5".into()))
        );
        assert_eq!(
            resolve_scalar("5".into(), ScalarStyle::SingleQuoted, None).ok(),
            Some(Value::String("5".into()))
        );
    }

    #[test]
    fn keys_become_strings_like_sigs_k8s_yaml() {
        assert_eq!(key_string(&Value::Int(16)).as_deref(), Some("16"));
        assert_eq!(key_string(&Value::Bool(true)).as_deref(), Some("true"));
        assert_eq!(key_string(&Value::Float(1.5)).as_deref(), Some("1.5"));
        assert_eq!(key_string(&Value::Float(100.0)).as_deref(), Some("100"));
        assert_eq!(key_string(&Value::Float(1e21)).as_deref(), Some("1e+21"));
        assert_eq!(key_string(&Value::Float(1e6)).as_deref(), Some("1e+06"));
        assert_eq!(
            key_string(&Value::Float(123456.0)).as_deref(),
            Some("123456")
        );
        assert_eq!(
            key_string(&Value::Float(-2.5e-7)).as_deref(),
            Some("-2.5e-07")
        );
        assert_eq!(key_string(&Value::Float(0.0001)).as_deref(), Some("0.0001"));
        assert_eq!(key_string(&Value::Float(0.00001)).as_deref(), Some("1e-05"));
        assert_eq!(
            key_string(&Value::Float(f64::INFINITY)).as_deref(),
            Some(".inf")
        );
        assert_eq!(key_string(&Value::Null), None);
    }

    #[test]
    fn ambiguity_covers_yaml_1_1_and_1_2() {
        for s in [
            "yes",
            "No",
            "on",
            "y",
            "~",
            "null",
            "",
            "12",
            "+1",
            "0o17",
            "0x1F",
            "0b11",
            "1_000",
            "1:30",
            "190:20:30.15",
            "1.5",
            ".5",
            "1e3",
            "1.0e+3",
            ".inf",
            "-.inf",
            ".NaN",
            "2024-01-01",
            "2001-12-14t21:59:43.10-05:00",
            "=",
            "<<",
            "1,000",
            "0x_",
            "08",
            "3.",
            "10:11:22:33:44:55",
        ] {
            assert!(plain_is_ambiguous(s), "{s:?} should be quoted");
        }
        for s in [
            "hello",
            "10.0.0.1",
            "10.0.0.0/8",
            "1.2.3",
            "00:11:22:33:44:55",
            "E1/55",
            "Ethernet1",
            "v1beta1",
            "nan",
            "inf",
            "yess",
            "1a",
            "a:b",
            "server-01",
            "0:30",
        ] {
            assert!(!plain_is_ambiguous(s), "{s:?} should stay plain");
        }
    }
}
