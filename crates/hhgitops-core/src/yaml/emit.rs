//! The deterministic block-style YAML writer for normalized files, in kubectl's layout: 2-space indentation,
//! list items at their key's indentation, `- key: v` with the following keys aligned, `{}` and `[]` for
//! empty collections. Written with an explicit stack, so no input can exhaust the call stack.

use serde_json::Value as Json;

use super::resolve::plain_is_ambiguous;

/// Keys whose written form is longer than this use the explicit `? key` form: YAML limits implicit keys
/// to 1024 characters.
const MAX_IMPLICIT_KEY_CHARS: usize = 1000;

pub(crate) fn emit(value: &Json) -> String {
    let mut out = String::with_capacity(256);
    let mut stack: Vec<Frame<'_>> = Vec::new();
    match Item::of(value) {
        Item::Scalar => {
            write_scalar(&mut out, value);
            out.push('\n');
            return out;
        }
        Item::Map(map) => stack.push(Frame::Map {
            iter: map.iter(),
            indent: 0,
            inline_first: false,
        }),
        Item::Seq(items) => stack.push(Frame::Seq {
            iter: items.iter(),
            indent: 0,
            inline_first: false,
        }),
    }
    while let Some(top) = stack.last_mut() {
        match top {
            Frame::Map {
                iter,
                indent,
                inline_first,
            } => {
                let Some((key, value)) = iter.next() else {
                    stack.pop();
                    continue;
                };
                let indent = *indent;
                if !std::mem::take(inline_first) {
                    pad(&mut out, indent);
                }
                // The key is written in place; only a key too long for the implicit form is moved.
                let key_start = out.len();
                write_string(&mut out, key);
                if out.len() - key_start > MAX_IMPLICIT_KEY_CHARS
                    && out[key_start..].chars().count() > MAX_IMPLICIT_KEY_CHARS
                {
                    // `? key` on its line, `:` and the value below, both at the key's indentation.
                    let key_text = out.split_off(key_start);
                    out.push_str("? ");
                    out.push_str(&key_text);
                    out.push('\n');
                    pad(&mut out, indent);
                    out.push(':');
                    match Item::of(value) {
                        Item::Scalar => {
                            out.push(' ');
                            write_scalar(&mut out, value);
                            out.push('\n');
                        }
                        Item::Map(map) => {
                            out.push('\n');
                            stack.push(Frame::Map {
                                iter: map.iter(),
                                indent: indent + 2,
                                inline_first: false,
                            });
                        }
                        Item::Seq(items) => {
                            out.push('\n');
                            stack.push(Frame::Seq {
                                iter: items.iter(),
                                indent: indent + 2,
                                inline_first: false,
                            });
                        }
                    }
                    continue;
                }
                out.push(':');
                match Item::of(value) {
                    Item::Scalar => {
                        out.push(' ');
                        write_scalar(&mut out, value);
                        out.push('\n');
                    }
                    Item::Map(map) => {
                        out.push('\n');
                        stack.push(Frame::Map {
                            iter: map.iter(),
                            indent: indent + 2,
                            inline_first: false,
                        });
                    }
                    Item::Seq(items) => {
                        out.push('\n');
                        stack.push(Frame::Seq {
                            iter: items.iter(),
                            indent,
                            inline_first: false,
                        });
                    }
                }
            }
            Frame::Seq {
                iter,
                indent,
                inline_first,
            } => {
                let Some(value) = iter.next() else {
                    stack.pop();
                    continue;
                };
                let indent = *indent;
                if !std::mem::take(inline_first) {
                    pad(&mut out, indent);
                }
                out.push_str("- ");
                match Item::of(value) {
                    Item::Scalar => {
                        write_scalar(&mut out, value);
                        out.push('\n');
                    }
                    Item::Map(map) => stack.push(Frame::Map {
                        iter: map.iter(),
                        indent: indent + 2,
                        inline_first: true,
                    }),
                    Item::Seq(items) => stack.push(Frame::Seq {
                        iter: items.iter(),
                        indent: indent + 2,
                        inline_first: true,
                    }),
                }
            }
        }
    }
    out
}

enum Frame<'a> {
    Map {
        iter: serde_json::map::Iter<'a>,
        indent: usize,
        inline_first: bool,
    },
    Seq {
        iter: std::slice::Iter<'a, Json>,
        indent: usize,
        inline_first: bool,
    },
}

/// How a value is laid out: on the line of its key or dash, or as a block below it.
enum Item<'a> {
    Scalar,
    Map(&'a serde_json::Map<String, Json>),
    Seq(&'a [Json]),
}

impl<'a> Item<'a> {
    fn of(v: &'a Json) -> Self {
        match v {
            Json::Object(m) if !m.is_empty() => Item::Map(m),
            Json::Array(a) if !a.is_empty() => Item::Seq(a),
            _ => Item::Scalar,
        }
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Scalars, and empty collections as `{}` / `[]`.
fn write_scalar(out: &mut String, v: &Json) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            use std::fmt::Write as _;
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                out.push_str(&float_repr(n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Json::String(s) => write_string(out, s),
        Json::Object(_) => out.push_str("{}"),
        Json::Array(_) => out.push_str("[]"),
    }
}

/// A float every YAML reader takes for the same float: always a `.` in the mantissa and a signed
/// exponent (YAML 1.1 requires both), e.g. `1.0`, `1.5e+300`, `1.0e-7`.
fn float_repr(f: f64) -> String {
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
    let s = format!("{f:?}");
    let Some((mantissa, exp)) = s.split_once('e') else {
        return s;
    };
    let mut out = String::from(mantissa);
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    out.push('e');
    if !exp.starts_with('-') {
        out.push('+');
    }
    out.push_str(exp);
    out
}

/// Writes a string plain when every YAML reader takes it for exactly that string; single-quoted when only
/// its form is ambiguous; double-quoted with escapes when it holds line breaks, tabs or non-printable
/// characters.
pub(crate) fn write_string(out: &mut String, s: &str) {
    if is_plain_word(s) {
        out.push_str(s);
    } else {
        write_string_checked(out, s);
    }
}

/// The common case, decided without the general checks: a letter, then letters, digits and `-_./` (names,
/// ports, kinds), which no reader takes for anything but that string unless it is one of YAML 1.1's null and
/// boolean words. [`write_string_checked`] gives the same result for every such string (tested).
fn is_plain_word(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
        && super::resolve::resolve_plain(s) == super::resolve::Plain::Str
}

fn write_string_checked(out: &mut String, s: &str) {
    if s.chars().any(needs_escape) {
        write_double_quoted(out, s);
    } else if needs_quotes(s) {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    } else {
        out.push_str(s);
    }
}

/// Characters only a double-quoted scalar can carry: line breaks (YAML 1.1 counts NEL, LS and PS too),
/// tabs, and everything outside YAML's printable set; the BOM, which readers may drop.
fn needs_escape(c: char) -> bool {
    matches!(c, '\0'..='\x1F' | '\x7F'..='\u{9F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
}

fn needs_quotes(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return true;
    };
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) || first == ' '
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s.starts_with("...")
    {
        return true;
    }
    plain_is_ambiguous(s)
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0B' => out.push_str("\\v"),
            '\x0C' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1B' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if needs_escape(c) => {
                let n = c as u32;
                if n <= 0xFF {
                    out.push_str(&format!("\\x{n:02X}"));
                } else {
                    out.push_str(&format!("\\u{n:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_words_are_written_as_the_general_checks_write_them() {
        let mut words: Vec<String> = [
            "y",
            "Y",
            "yes",
            "Yes",
            "YES",
            "n",
            "N",
            "no",
            "No",
            "NO",
            "true",
            "True",
            "TRUE",
            "false",
            "False",
            "FALSE",
            "on",
            "On",
            "ON",
            "off",
            "Off",
            "OFF",
            "null",
            "Null",
            "NULL",
            "e",
            "E1",
            "e.5",
            "E1/1",
            "e1",
            "E1/49.2",
            "inf",
            "nan",
            "leaf-01",
            "server-01--eslag--leaf-01--leaf-02",
            "vpc.githedgehog.com/v1beta1",
            "a_b",
            "x.",
            "x-",
            "x/",
            "Ox10",
            "b0",
            "vlanNamespace",
            "ab-1.0",
            "yes-no",
            "Nope",
            "On1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every string of up to three characters from an alphabet that covers each branch.
        let alphabet = [
            'a', 'e', 'E', 'n', 'N', 'o', 'y', 'Y', '0', '1', '-', '_', '.', '/', ':', ' ',
        ];
        for a in alphabet {
            words.push(a.to_string());
            for b in alphabet {
                words.push(format!("{a}{b}"));
                for c in alphabet {
                    words.push(format!("{a}{b}{c}"));
                }
            }
        }
        for w in &words {
            let mut fast = String::new();
            write_string(&mut fast, w);
            let mut checked = String::new();
            write_string_checked(&mut checked, w);
            assert_eq!(fast, checked, "{w:?}");
        }
    }
    use crate::yaml::{parse_stream, Limits};

    fn back(text: &str) -> Json {
        match parse_stream(text.as_bytes(), &Limits::default()) {
            Ok(docs) => docs
                .into_iter()
                .next()
                .and_then(|d| d.root)
                .map(|n| n.to_json())
                .unwrap_or(Json::Null),
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    #[test]
    fn kubectl_layout() {
        let v = json!({
            "apiVersion": "wiring.githedgehog.com/v1beta1",
            "kind": "Connection",
            "metadata": {"name": "s1--mclag--l1", "namespace": "default"},
            "spec": {
                "mclag": {"links": [
                    {"server": {"port": "s1/enp2s1"}, "switch": {"port": "l1/E1/1"}},
                ]},
                "nested": [[1, 2], []],
                "empty": {},
                "none": [],
                "list": ["a", "b"],
            },
        });
        let text = emit(&v);
        let want = "\
apiVersion: wiring.githedgehog.com/v1beta1
kind: Connection
metadata:
  name: s1--mclag--l1
  namespace: default
spec:
  mclag:
    links:
    - server:
        port: s1/enp2s1
      switch:
        port: l1/E1/1
  nested:
  - - 1
    - 2
  - []
  empty: {}
  none: []
  list:
  - a
  - b
";
        assert_eq!(text, want);
        assert_eq!(back(&text), v);
    }

    #[test]
    fn top_level_scalars_and_empties() {
        assert_eq!(emit(&json!({})), "{}\n");
        assert_eq!(emit(&json!([])), "[]\n");
        assert_eq!(emit(&json!(null)), "null\n");
        assert_eq!(emit(&json!("yes")), "'yes'\n");
        assert_eq!(emit(&json!([{"a": 1}, "x"])), "- a: 1\n- x\n");
    }

    #[test]
    fn quoting_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("10.0.0.1", "10.0.0.1"),
            ("10.0.0.0/24", "10.0.0.0/24"),
            ("E1/55", "E1/55"),
            ("00:11:22:33:44:55", "00:11:22:33:44:55"),
            (
                "wiring.githedgehog.com/v1beta1",
                "wiring.githedgehog.com/v1beta1",
            ),
            ("a b", "a b"),
            ("it's", "it's"),
            ("", "''"),
            ("true", "'true'"),
            ("False", "'False'"),
            ("yes", "'yes'"),
            ("No", "'No'"),
            ("on", "'on'"),
            ("OFF", "'OFF'"),
            ("y", "'y'"),
            ("n", "'n'"),
            ("null", "'null'"),
            ("~", "'~'"),
            ("123", "'123'"),
            ("-5", "'-5'"),
            ("+5", "'+5'"),
            ("0123", "'0123'"),
            ("0o17", "'0o17'"),
            ("0x1F", "'0x1F'"),
            ("0b1", "'0b1'"),
            ("1_000", "'1_000'"),
            ("1:30", "'1:30'"),
            ("1.5", "'1.5'"),
            ("1e3", "'1e3'"),
            (".5", "'.5'"),
            (".inf", "'.inf'"),
            ("-.Inf", "'-.Inf'"),
            (".NaN", "'.NaN'"),
            ("2024-01-15", "'2024-01-15'"),
            (
                "2001-12-14t21:59:43.10-05:00",
                "'2001-12-14t21:59:43.10-05:00'",
            ),
            ("<<", "'<<'"),
            ("=", "'='"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("- item", "'- item'"),
            ("-dash", "'-dash'"),
            ("?q", "'?q'"),
            (":colon", "':colon'"),
            (",comma", "',comma'"),
            ("[x]", "'[x]'"),
            ("]", "']'"),
            ("{x}", "'{x}'"),
            ("}", "'}'"),
            ("#c", "'#c'"),
            ("&a", "'&a'"),
            ("*a", "'*a'"),
            ("!t", "'!t'"),
            ("|", "'|'"),
            (">", "'>'"),
            ("'q'", "'''q'''"),
            ("\"q\"", "'\"q\"'"),
            ("%p", "'%p'"),
            ("@at", "'@at'"),
            ("`b`", "'`b`'"),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            ("a:", "'a:'"),
            ("...", "'...'"),
            ("---", "'---'"),
            ("a#b", "a#b"),
            ("a:b", "a:b"),
            ("two\nlines", "\"two\\nlines\""),
            ("tab\there", "\"tab\\there\""),
            ("cr\r", "\"cr\\r\""),
            ("nul\0", "\"nul\\0\""),
            ("esc\x1b", "\"esc\\e\""),
            ("del\x7f", "\"del\\x7F\""),
            ("nel\u{85}", "\"nel\\N\""),
            ("ls\u{2028}", "\"ls\\L\""),
            ("bom\u{feff}", "\"bom\\uFEFF\""),
            ("back\\slash\n", "\"back\\\\slash\\n\""),
            ("quote\"\n", "\"quote\\\"\\n\""),
            ("ünïcödé", "ünïcödé"),
            ("\u{a0}nbsp", "\u{a0}nbsp"),
        ];
        for (s, want) in cases {
            let mut got = String::new();
            write_string(&mut got, s);
            assert_eq!(&got, want, "{s:?}");
            // And it reads back as the same string, as a value and as a key.
            assert_eq!(back(&format!("v: {got}\n")), json!({"v": s}), "{s:?}");
            assert_eq!(back(&format!("{got}: v\n")), json!({*s: "v"}), "{s:?}");
        }
    }

    #[test]
    fn numbers_round_trip() {
        for v in [
            json!(0),
            json!(-7),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.0),
            json!(-0.5),
            json!(1e300),
            json!(1e-7),
            json!(123456789.125),
        ] {
            let text = emit(&json!({ "n": v }));
            assert_eq!(back(&text)["n"], v, "{text}");
        }
        assert_eq!(float_repr(1e-7), "1.0e-7");
        assert_eq!(float_repr(1.5e300), "1.5e+300");
        assert_eq!(float_repr(2.0), "2.0");
    }

    #[test]
    fn long_keys_use_the_explicit_form() {
        let long = "k".repeat(3000);
        for v in [
            json!({ long.clone(): 1 }),
            json!({ long.clone(): {"a": [1]} }),
            json!([{ long.clone(): [] , "b": [1, 2]}]),
        ] {
            let text = emit(&v);
            assert!(text.contains("? "), "{text}");
            assert_eq!(back(&text), v);
        }
    }

    #[test]
    fn deep_values_emit_without_recursion() {
        let mut v = json!(1);
        for _ in 0..100_000 {
            v = Json::Array(vec![v]);
        }
        let text = emit(&v);
        assert!(text.starts_with("- - - "));
        assert!(text.ends_with("1\n"));
        // serde_json drops recursively: take the value apart by hand.
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            if let Json::Array(items) = v {
                stack.extend(items);
            }
        }
    }
}
