//! Pure presentation helpers of the web UI: times as an age with the exact time, page windows, and the
//! compiler-style excerpt of a source around an error's line. No I/O; unit-tested with data.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A time as the pages show it: its age ("3 min ago") with the exact UTC time on hover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// The machine-readable time (`<time datetime=…>`).
    pub iso: String,
    /// The exact time, for the `title`.
    pub exact: String,
    /// The age in words.
    pub age: String,
}

impl When {
    /// `<time datetime=… title=…>3 min ago</time>`, escaped.
    pub fn html(&self) -> String {
        format!(
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            esc(&self.iso),
            esc(&self.exact),
            esc(&self.age)
        )
    }
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses an RFC 3339 time; `None` when absent or not a time.
pub fn when(s: Option<&str>, now: OffsetDateTime) -> Option<When> {
    let s = s?;
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let secs = (now - t).whole_seconds();
    let exact = t
        .to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| s.to_string());
    Some(When {
        iso: s.to_string(),
        exact,
        age: age(secs),
    })
}

/// `secs` ago in words; a time in the future (clock skew between replicas) reads "just now".
pub fn age(secs: i64) -> String {
    let unit =
        |n: i64, one: &str, many: &str| format!("{n} {} ago", if n == 1 { one } else { many });
    match secs {
        s if s < 5 => "just now".into(),
        s if s < 60 => unit(s, "s", "s"),
        s if s < 3600 => unit(s / 60, "min", "min"),
        s if s < 86_400 => unit(s / 3600, "hour", "hours"),
        s => unit(s / 86_400, "day", "days"),
    }
}

/// A number with thousands separators (`5,600`).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// One page of a list: which items it shows and the links around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pager {
    /// 1-based.
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    /// "101–200 of 5,600", or "none".
    pub label: String,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the page's URL with its filters and without `page` (it ends with `?` or `&`).
    pub fn new(page: i64, per_page: i64, total: i64, base: &str) -> Pager {
        let page = page.max(1);
        let first = (page - 1) * per_page;
        let last = (first + per_page).min(total);
        let label = if total == 0 {
            "none".into()
        } else if first >= total {
            format!("past the end of {}", count(total))
        } else {
            format!("{}–{} of {}", count(first + 1), count(last), count(total))
        };
        Pager {
            page,
            per_page,
            total,
            label,
            prev: (page > 1).then(|| format!("{base}page={}", page - 1)),
            next: (last < total).then(|| format!("{base}page={}", page + 1)),
        }
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
}

/// One line of a source excerpt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub number: u32,
    pub text: String,
    /// The line the error points at.
    pub marked: bool,
}

/// An error shown in place: the lines around it, the line marked, the message beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: u32,
    pub column: u32,
    /// `Kind/name` when known.
    pub object: String,
    pub path: String,
    pub message: String,
    /// A caret under the column of the marked line (spaces then `^`); empty without a column.
    pub caret: String,
    pub lines: Vec<SourceLine>,
}

/// Lines shown before and after the marked line.
pub const CONTEXT: u32 = 3;

/// The excerpt of `source` around `line` (1-based; 0 means the file as a whole: no excerpt). Long lines are cut
/// so an excerpt stays small whatever the file.
pub fn excerpt(source: &str, line: u32, column: u32) -> (Vec<SourceLine>, String) {
    if line == 0 {
        return (Vec::new(), String::new());
    }
    let first = line.saturating_sub(CONTEXT).max(1);
    let last = line.saturating_add(CONTEXT);
    let lines: Vec<SourceLine> = source
        .lines()
        .enumerate()
        .skip(first as usize - 1)
        .take((last - first + 1) as usize)
        .map(|(i, t)| SourceLine {
            number: i as u32 + 1,
            text: cut(t, 200),
            marked: i as u32 + 1 == line,
        })
        .collect();
    let caret = if column > 0 && column <= 200 && lines.iter().any(|l| l.marked) {
        format!("{}^", " ".repeat(column as usize - 1))
    } else {
        String::new()
    };
    (lines, caret)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// An error record of the engine (`{line, column, kind, name, path, message}`) located in `source`.
pub fn locate(error: &serde_json::Value, source: Option<&str>) -> Located {
    let num = |k: &str| error.get(k).and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    let text = |k: &str| {
        error
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let (line, column) = (num("line"), num("column"));
    let (lines, caret) = match source {
        Some(s) => excerpt(s, line, column),
        None => (Vec::new(), String::new()),
    };
    let object = match (text("kind"), text("name")) {
        (k, n) if !k.is_empty() && !n.is_empty() => format!("{k}/{n}"),
        (k, _) => k,
    };
    Located {
        line,
        column,
        object,
        path: text("path"),
        message: text("message"),
        caret,
        lines,
    }
}

/// A JSON value as one short line for a table cell (strings without their quotes).
pub fn short_value(v: Option<&serde_json::Value>) -> String {
    match v {
        None => String::new(),
        Some(serde_json::Value::String(s)) => cut(s, 300),
        Some(other) => cut(&other.to_string(), 300),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_exact_times() {
        let now = OffsetDateTime::parse("2026-12-01T12:00:00Z", &Rfc3339).unwrap();
        let w = when(Some("2026-12-01T11:57:00.5Z"), now).unwrap();
        assert_eq!(w.age, "2 min ago");
        assert_eq!(w.exact, "2026-12-01 11:57:00 UTC");
        assert_eq!(w.iso, "2026-12-01T11:57:00.5Z");
        assert_eq!(age(0), "just now");
        assert_eq!(age(-30), "just now");
        assert_eq!(age(42), "42 s ago");
        assert_eq!(age(3600), "1 hour ago");
        assert_eq!(age(3 * 86_400 + 5), "3 days ago");
        assert!(when(Some("yesterday"), now).is_none());
        assert!(when(None, now).is_none());
    }

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(enc("a b/c?d&e=é"), "a%20b%2Fc%3Fd%26e%3D%C3%A9");
        assert_eq!(enc("leaf-01.x_y~"), "leaf-01.x_y~");
        let now = OffsetDateTime::parse("2026-12-01T12:00:00Z", &Rfc3339).unwrap();
        let w = when(Some("2026-12-01T11:00:00Z"), now).unwrap();
        assert_eq!(
            w.html(),
            "<time datetime=\"2026-12-01T11:00:00Z\" title=\"2026-12-01 11:00:00 UTC\">1 hour ago</time>"
        );
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(5600), "5,600");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1200), "-1,200");
    }

    #[test]
    fn pager_windows_and_links() {
        let p = Pager::new(2, 100, 5600, "/x?kind=VPC&");
        assert_eq!(p.label, "101–200 of 5,600");
        assert_eq!(p.offset(), 100);
        assert_eq!(p.prev.as_deref(), Some("/x?kind=VPC&page=1"));
        assert_eq!(p.next.as_deref(), Some("/x?kind=VPC&page=3"));
        let last = Pager::new(56, 100, 5600, "/x?");
        assert_eq!(last.next, None);
        assert_eq!(last.label, "5,501–5,600 of 5,600");
        assert_eq!(Pager::new(1, 100, 0, "/x?").label, "none");
        assert_eq!(Pager::new(0, 100, 10, "/x?").page, 1);
    }

    #[test]
    fn excerpt_marks_the_line_and_the_column() {
        let src = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\n";
        let (lines, caret) = excerpt(src, 5, 4);
        let numbers: Vec<u32> = lines.iter().map(|l| l.number).collect();
        assert_eq!(numbers, [2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(lines.iter().filter(|l| l.marked).count(), 1);
        assert_eq!(lines[3].text, "e: 5");
        assert!(lines[3].marked);
        assert_eq!(caret, "   ^");
        let (top, _) = excerpt(src, 1, 1);
        assert_eq!(top.first().map(|l| l.number), Some(1));
        assert_eq!(top.len(), 4);
        assert!(excerpt(src, 0, 0).0.is_empty());
        let (past, caret) = excerpt(src, 40, 2);
        assert!(past.is_empty());
        assert!(caret.is_empty());
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long, 1, 1).0[0].text.chars().count(), 201);
    }

    #[test]
    fn locate_reads_the_engine_error_record() {
        let e = serde_json::json!({"line": 2, "column": 7, "kind": "VPC", "name": "v1",
            "path": "spec.subnets.a.vlan", "message": "expected an integer"});
        let l = locate(&e, Some("kind: VPC\nvlan: abc\n"));
        assert_eq!(l.object, "VPC/v1");
        assert_eq!(l.lines.len(), 2);
        assert!(l.lines[1].marked);
        assert_eq!(l.caret, "      ^");
        assert_eq!(l.message, "expected an integer");
        let none = locate(&e, None);
        assert!(none.lines.is_empty());
    }
}
