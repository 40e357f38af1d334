//! Byte-level checks before any YAML is looked at: size, encoding and binary content, each reported with
//! the position of the first offending byte.

use super::{Limits, YamlError};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Returns the text to parse: the input without a leading byte order mark, once it is known to be
/// UTF-8 text of acceptable size with no control characters other than tab, CR and LF.
pub(crate) fn check<'a>(input: &'a [u8], limits: &Limits) -> Result<&'a str, YamlError> {
    if input.len() > limits.max_bytes {
        return Err(YamlError {
            line: 0,
            column: 0,
            document: None,
            message: format!(
                "the file is {} bytes, more than the limit of {} bytes",
                input.len(),
                limits.max_bytes
            ),
        });
    }
    if let Some(encoding) = wide_encoding(input) {
        return Err(YamlError {
            line: 1,
            column: 1,
            document: None,
            message: format!(
                "the file is {encoding} text; hhgitops reads UTF-8 only: convert it (iconv -f {} -t UTF-8)",
                encoding.split(' ').next().unwrap_or(encoding)
            ),
        });
    }
    let input = input.strip_prefix(BOM).unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        let at = e.valid_up_to();
        let (line, column) = position(input, at);
        let byte = input.get(at).copied().unwrap_or(0);
        YamlError {
            line,
            column,
            document: None,
            message: format!("the file is not valid UTF-8 text: byte 0x{byte:02X} cannot start or continue a character here"),
        }
    })?;
    if let Some((at, ch)) = first_forbidden_char(text) {
        let (line, column) = position(input, at);
        let what = if ch == '\0' {
            "binary content: a NUL byte".to_string()
        } else {
            format!("binary content: the control character U+{:04X}", ch as u32)
        };
        return Err(YamlError {
            line,
            column,
            document: None,
            message: format!("{what}, which a YAML text may not contain"),
        });
    }
    Ok(text)
}

/// Names UTF-16 and UTF-32 input, which YAML allows but hhgitops (like the Kubernetes decoder) does not: by its
/// byte order mark, or, without one, by the NUL bytes beside the ASCII characters a YAML file starts with (the
/// detection of YAML 1.2 §5.2).
fn wide_encoding(input: &[u8]) -> Option<&'static str> {
    match input {
        [0, 0, 0xFE, 0xFF, ..] => Some("UTF-32BE (big-endian, byte order mark)"),
        [0xFF, 0xFE, 0, 0, ..] => Some("UTF-32LE (little-endian, byte order mark)"),
        [0xFE, 0xFF, ..] => Some("UTF-16BE (big-endian, byte order mark FE FF)"),
        [0xFF, 0xFE, ..] => Some("UTF-16LE (little-endian, byte order mark FF FE)"),
        [0, 0, 0, a, ..] if *a != 0 => Some("UTF-32BE (big-endian)"),
        [a, 0, 0, 0, ..] if *a != 0 => Some("UTF-32LE (little-endian)"),
        [0, a, ..] if *a != 0 && a.is_ascii() => Some("UTF-16BE (big-endian)"),
        [a, 0, ..] if *a != 0 && a.is_ascii() => Some("UTF-16LE (little-endian)"),
        _ => None,
    }
}

/// The YAML versions a `%YAML` directive may name: those the Kubernetes decoder and YAML 1.2 readers agree on.
const SUPPORTED_VERSIONS: [&str; 2] = ["1.1", "1.2"];

/// Rejects a `%YAML` directive naming a version other than 1.1 or 1.2, with its position (saphyr-parser reads
/// any version as if it were 1.2). Directives stand at the start of a line before a document's `---`; lines at
/// the start of a line that begin with `---` or `...` cannot be content, so the prologues are found exactly.
pub(crate) fn check_directives(text: &str) -> Result<(), YamlError> {
    if !text.starts_with('%') && !text.contains("\n%") && !text.contains("\r%") {
        return Ok(());
    }
    let mut in_prologue = true;
    for (n, line) in lines(text).enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if marker("---") {
            in_prologue = false;
            continue;
        }
        if marker("...") {
            in_prologue = true;
            continue;
        }
        if !in_prologue {
            continue;
        }
        if let Some(rest) = line.strip_prefix("%YAML") {
            if !rest.starts_with([' ', '\t']) {
                continue;
            }
            let version = rest.split('#').next().unwrap_or("").trim();
            if !SUPPORTED_VERSIONS.contains(&version) {
                return Err(YamlError {
                    line: line_no,
                    column: 1,
                    document: None,
                    message: format!(
                        "unsupported YAML version {version:?} in the %YAML directive: hhgitops reads YAML {} \
                         (write `%YAML 1.2`, or leave the directive out)",
                        SUPPORTED_VERSIONS.join(" and ")
                    ),
                });
            }
        } else if !line.trim().is_empty()
            && !line.trim_start().starts_with('#')
            && !line.starts_with('%')
        {
            // A document without `---` starts here.
            in_prologue = false;
        }
    }
    Ok(())
}

/// The lines of a text without their breaks (LF, CRLF or a lone CR, as the YAML scanner counts them).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        if start > b.len() || (start == b.len() && start > 0) {
            return None;
        }
        while i < b.len() {
            let c = b[i];
            if c == b'\n' || c == b'\r' {
                let line = &text[start..i];
                i += if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
                return Some(line);
            }
            i += 1;
        }
        let line = &text[start..];
        start = b.len() + 1;
        Some(line)
    })
}

/// The first character YAML does not allow in a stream (outside its printable set: C0 controls other than
/// tab, LF and CR; DEL; C1 controls other than NEL; U+FFFE and U+FFFF), with its byte offset. go-yaml
/// rejects the same set.
fn first_forbidden_char(text: &str) -> Option<(usize, char)> {
    // Most input is printable ASCII: blocks holding nothing else (tab, LF and CR aside) are skipped with a
    // branch-free test the compiler vectorizes; the others are looked at byte by byte.
    const BLOCK: usize = 64;
    let b = text.as_bytes();
    for (n, block) in b.chunks(BLOCK).enumerate() {
        let suspicious = block.iter().fold(false, |acc, &c| {
            acc | ((c < 0x20) & (c != b'\t') & (c != b'\n') & (c != b'\r')) | (c >= 0x7F)
        });
        if !suspicious {
            continue;
        }
        let base = n * BLOCK;
        for i in base..base + block.len() {
            let bad = match b[i] {
                b'\t' | b'\n' | b'\r' => false,
                0x00..=0x1F | 0x7F => true,
                // U+0080..U+009F are C2 80..C2 9F; U+0085 (NEL) is a line break YAML allows.
                0xC2 => matches!(b.get(i + 1), Some(&n) if (0x80..=0x9F).contains(&n) && n != 0x85),
                // U+FFFE and U+FFFF are EF BF BE and EF BF BF.
                0xEF => b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)),
                _ => false,
            };
            if bad {
                return text
                    .get(i..)
                    .and_then(|rest| rest.chars().next())
                    .map(|ch| (i, ch));
            }
        }
    }
    None
}

/// 1-based line and column (in characters) of byte offset `at`, counting LF, CRLF and a lone CR as one line
/// break each, as the YAML scanner does. Everything before `at` must be valid UTF-8.
pub(crate) fn position(input: &[u8], at: usize) -> (u32, u32) {
    let before = &input[..at.min(input.len())];
    let mut line: u32 = 1;
    let mut line_start = 0;
    for (i, &c) in before.iter().enumerate() {
        let brk = c == b'\n' || (c == b'\r' && before.get(i + 1) != Some(&b'\n'));
        if brk {
            line = line.saturating_add(1);
            line_start = i + 1;
        }
    }
    let chars = before[line_start..]
        .iter()
        .filter(|&&c| c & 0xC0 != 0x80)
        .count();
    (
        line,
        u32::try_from(chars).unwrap_or(u32::MAX).saturating_add(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &[u8]) -> YamlError {
        match check(input, &Limits::default()) {
            Err(e) => e,
            Ok(_) => panic!("expected an error for {input:?}"),
        }
    }

    #[test]
    fn accepts_text_and_strips_a_bom() {
        assert_eq!(
            check(b"\xEF\xBB\xBFa: 1\r\n", &Limits::default()).ok(),
            Some("a: 1\r\n")
        );
        assert_eq!(
            check("a: \u{85}é\u{a0}\t".as_bytes(), &Limits::default()).ok(),
            Some("a: \u{85}é\u{a0}\t")
        );
    }

    #[test]
    fn rejects_oversized_input() {
        let limits = Limits {
            max_bytes: 4,
            ..Limits::default()
        };
        let e = check(b"a: 12", &limits).err();
        assert!(
            matches!(
                e,
                Some(YamlError {
                    line: 0,
                    column: 0,
                    ..
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn reports_first_bad_byte_position() {
        let e = err(b"a: 1\nb: caf\xC3\xA9 \xFF\n");
        assert_eq!((e.line, e.column), (2, 9), "{e}");
        assert!(
            e.message.contains("UTF-8") && e.message.contains("0xFF"),
            "{e}"
        );
        let e = err(b"a: 1\r\nb: \x00\x01");
        assert_eq!((e.line, e.column), (2, 4), "{e}");
        assert!(e.message.contains("NUL"), "{e}");
        let e = err(b"x\n\n  \x1B[0m");
        assert_eq!(
            (e.line, e.column, e.message.contains("U+001B")),
            (3, 3, true),
            "{e}"
        );
        let e = err("ok\n é\u{9b}".as_bytes());
        assert_eq!((e.line, e.column), (2, 3), "{e}");
        let e = err("\u{FFFF}".as_bytes());
        assert_eq!((e.line, e.column), (1, 1), "{e}");
        // Past the first clean blocks, and with a character split across blocks.
        let mut long = "a".repeat(63);
        long.push_str("é\n");
        long.push_str(&"b".repeat(200));
        long.push('\u{7}');
        let e = err(long.as_bytes());
        assert_eq!((e.line, e.column), (2, 201), "{e}");
    }
}
