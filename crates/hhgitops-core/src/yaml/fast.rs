//! A fast event source for the plain block YAML that kubectl, hhfab and most people write: block mappings and
//! sequences, plain keys, single-line plain or quoted scalars, `{}` and `[]`, comments and `---`. It yields
//! exactly the events (and positions) `saphyr-parser` yields for such input, several times faster; on anything
//! else (anchors, tags, flow collections with content, block scalars, multi-line scalars, quoted keys, tabs,
//! non-ASCII text, errors of any kind) it gives up, and the stream is parsed by `saphyr-parser` from the start.
//! `parse_stream_reference` parses without it, for tests that hold the two to the same results.

use std::borrow::Cow;
use std::collections::VecDeque;

use saphyr_parser::{Event, ScalarStyle};

use crate::diag::Span;

/// Lines longer than this are left to the general parser (its simple-key length rules start at 1024).
const MAX_LINE: usize = 1000;

/// The input is outside the fast path's subset (or not valid YAML): parse it the general way.
#[derive(Debug, PartialEq)]
pub(crate) struct Bail;

/// Whether the fast path may even try: ASCII text without tabs or lone carriage returns.
pub(crate) fn eligible(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, &c)| c < 0x80 && c != b'\t' && (c != b'\r' || b.get(i + 1) == Some(&b'\n')))
}

#[derive(Clone, Copy)]
enum Open {
    /// A block mapping whose keys start at this column (0-based).
    Map(usize),
    /// A block sequence whose dashes stand at this column; `indentless` when it is a mapping value written at
    /// its key's indentation.
    Seq { indent: usize, indentless: bool },
}

/// A key whose value has not been seen yet: `key:` at the end of its line.
#[derive(Clone, Copy)]
struct Pending {
    indent: usize,
    colon: Span,
}

pub(crate) struct FastEvents<'a> {
    lines: std::str::Split<'a, char>,
    line_no: u32,
    queue: VecDeque<(Event<'a>, Span)>,
    stack: Vec<Open>,
    pending: Option<Pending>,
    in_document: bool,
    /// The current document's root has started.
    has_root: bool,
    finished: bool,
}

impl<'a> FastEvents<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        FastEvents {
            lines: text.split('\n'),
            line_no: 0,
            queue: VecDeque::new(),
            stack: Vec::new(),
            pending: None,
            in_document: false,
            has_root: false,
            finished: false,
        }
    }

    pub(crate) fn next_event(&mut self) -> Option<Result<(Event<'a>, Span), Bail>> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Some(Ok(ev));
            }
            if self.finished {
                return None;
            }
            match self.lines.next() {
                Some(line) => {
                    self.line_no = self.line_no.saturating_add(1);
                    if let Err(bail) = self.line(line) {
                        self.finished = true;
                        return Some(Err(bail));
                    }
                }
                None => {
                    self.end_document();
                    self.finished = true;
                }
            }
        }
    }

    fn at(&self, column0: usize) -> Span {
        Span::new(self.line_no, u32::try_from(column0 + 1).unwrap_or(u32::MAX))
    }

    fn push(&mut self, event: Event<'a>, span: Span) {
        self.queue.push_back((event, span));
    }

    fn line(&mut self, raw: &'a str) -> Result<(), Bail> {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > MAX_LINE {
            return Err(Bail);
        }
        let indent = line.bytes().take_while(|&c| c == b' ').count();
        let rest = &line[indent..];
        if rest.is_empty() || rest.starts_with('#') {
            return Ok(());
        }
        if indent == 0 {
            if let Some(after) = rest.strip_prefix("---") {
                let marker =
                    after.is_empty() || (after.starts_with(' ') && is_blank_or_comment(after));
                if !marker {
                    return Err(Bail);
                }
                self.end_document();
                self.in_document = true;
                self.has_root = false;
                self.push(Event::DocumentStart(true), self.at(0));
                return Ok(());
            }
            if rest.starts_with("...") || rest.starts_with('%') {
                return Err(Bail);
            }
        }
        if !self.in_document {
            self.in_document = true;
            self.has_root = false;
            self.push(Event::DocumentStart(false), self.at(indent));
        }
        self.content(line, indent)
    }

    fn end_document(&mut self) {
        if !self.in_document {
            return;
        }
        self.flush_pending();
        while let Some(open) = self.stack.pop() {
            self.push(end_of(open), self.at(0));
        }
        if !self.has_root {
            // An explicit document with no content: saphyr reads an empty scalar.
            self.push(
                Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
                self.at(0),
            );
        }
        self.push(Event::DocumentEnd, self.at(0));
        self.in_document = false;
    }

    fn flush_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.push(
                Event::Scalar(Cow::Borrowed(""), ScalarStyle::Plain, 0, None),
                p.colon,
            );
        }
    }

    fn content(&mut self, line: &'a str, indent: usize) -> Result<(), Bail> {
        let rest = &line[indent..];
        let dash = is_dash(rest);
        if let Some(p) = self.pending {
            if indent > p.indent {
                // The block value of the pending key.
                self.pending = None;
                return self.block_start(line, indent, dash, false);
            }
            if indent == p.indent
                && dash
                && matches!(self.stack.last(), Some(Open::Map(m)) if *m == indent)
            {
                self.pending = None;
                return self.block_start(line, indent, true, true);
            }
            self.flush_pending();
        }
        while let Some(&open) = self.stack.last() {
            let close = match open {
                Open::Map(m) => m > indent,
                Open::Seq {
                    indent: s,
                    indentless,
                } => s > indent || (indentless && s == indent && !dash),
            };
            if !close {
                break;
            }
            self.stack.pop();
            self.push(end_of(open), self.at(indent));
        }
        match self.stack.last().copied() {
            None if !self.has_root => {
                self.has_root = true;
                self.block_start(line, indent, dash, false)
            }
            Some(Open::Map(m)) if m == indent && !dash => self.entry(line, indent),
            Some(Open::Seq { indent: s, .. }) if s == indent && dash => self.item(line, indent),
            // Content after the root, a line indented where no block can start (a continuation line of a
            // plain scalar, say), or an error: not ours.
            _ => Err(Bail),
        }
    }

    /// A new block collection whose first line is `line`.
    fn block_start(
        &mut self,
        line: &'a str,
        indent: usize,
        dash: bool,
        indentless: bool,
    ) -> Result<(), Bail> {
        if dash {
            self.push(Event::SequenceStart(0, None), self.at(indent));
            self.stack.push(Open::Seq { indent, indentless });
            self.item(line, indent)
        } else {
            self.push(Event::MappingStart(0, None), self.at(indent));
            self.stack.push(Open::Map(indent));
            self.entry(line, indent)
        }
    }

    /// `key: value`, `key:` or `key: # comment` with the key at `start`.
    fn entry(&mut self, line: &'a str, start: usize) -> Result<(), Bail> {
        let rest = &line[start..];
        let Some(colon) = key_end(rest) else {
            return Err(Bail);
        };
        let key = &rest[..colon];
        self.push(
            Event::Scalar(Cow::Borrowed(key), ScalarStyle::Plain, 0, None),
            self.at(start),
        );
        let after = start + colon + 1;
        let value_at = after + line[after..].bytes().take_while(|&c| c == b' ').count();
        if is_blank_or_comment(&line[value_at..]) {
            self.pending = Some(Pending {
                indent: start,
                colon: self.at(start + colon),
            });
            return Ok(());
        }
        self.scalar_value(line, value_at)
    }

    /// `- item` with the dash at `indent`.
    fn item(&mut self, line: &'a str, indent: usize) -> Result<(), Bail> {
        let after = indent + 1;
        let start = after + line[after..].bytes().take_while(|&c| c == b' ').count();
        let item = &line[start..];
        if start == after || is_blank_or_comment(item) || is_dash(item) {
            // `-` alone (a null or a block below) or `- - a`: not ours.
            return Err(Bail);
        }
        if key_end(item).is_some() {
            self.push(Event::MappingStart(0, None), self.at(start));
            self.stack.push(Open::Map(start));
            return self.entry(line, start);
        }
        self.scalar_value(line, start)
    }

    /// A value on the line of its key or dash: `{}`, `[]`, a quoted or a plain scalar.
    fn scalar_value(&mut self, line: &'a str, start: usize) -> Result<(), Bail> {
        let v = &line[start..];
        let at = self.at(start);
        let first = v.as_bytes()[0];
        match first {
            b'{' | b'[' => {
                let (open, close) = if first == b'{' {
                    (Event::MappingStart(0, None), Event::MappingEnd)
                } else {
                    (Event::SequenceStart(0, None), Event::SequenceEnd)
                };
                let empty = if first == b'{' { "{}" } else { "[]" };
                match v.strip_prefix(empty) {
                    Some(tail) if ends_cleanly(tail) => {
                        self.push(open, at);
                        self.push(close, self.at(start + 1));
                        Ok(())
                    }
                    _ => Err(Bail),
                }
            }
            b'\'' => {
                let (text, len) = single_quoted(v).ok_or(Bail)?;
                self.quoted(text, ScalarStyle::SingleQuoted, &v[len..], at)
            }
            b'"' => {
                let body = &v[1..];
                let end = body.find(['"', '\\']).ok_or(Bail)?;
                if body.as_bytes()[end] != b'"' {
                    return Err(Bail);
                }
                self.quoted(
                    Cow::Borrowed(&body[..end]),
                    ScalarStyle::DoubleQuoted,
                    &body[end + 1..],
                    at,
                )
            }
            b'-' if v.len() > 1 && v.as_bytes()[1] != b' ' => self.plain(v, at),
            c if is_indicator(c) => Err(Bail),
            _ => self.plain(v, at),
        }
    }

    fn quoted(
        &mut self,
        text: Cow<'a, str>,
        style: ScalarStyle,
        tail: &str,
        at: Span,
    ) -> Result<(), Bail> {
        if !ends_cleanly(tail) {
            return Err(Bail);
        }
        self.push(Event::Scalar(text, style, 0, None), at);
        Ok(())
    }

    fn plain(&mut self, v: &'a str, at: Span) -> Result<(), Bail> {
        let end = v.find(" #").unwrap_or(v.len());
        let text = v[..end].trim_end_matches(' ');
        // `a: b: c` and `a: b:` are errors in YAML.
        if text.contains(": ") || text.ends_with(':') {
            return Err(Bail);
        }
        self.push(
            Event::Scalar(Cow::Borrowed(text), ScalarStyle::Plain, 0, None),
            at,
        );
        Ok(())
    }
}

fn end_of(open: Open) -> Event<'static> {
    match open {
        Open::Map(_) => Event::MappingEnd,
        Open::Seq { .. } => Event::SequenceEnd,
    }
}

fn is_dash(rest: &str) -> bool {
    rest == "-" || rest.starts_with("- ")
}

/// What may follow a complete value on its line: nothing, spaces, or spaces and a comment. (`'a'b` is an
/// error, and so are `'a'# c` and `[]# c`: a comment needs a space before it.)
fn ends_cleanly(tail: &str) -> bool {
    tail.is_empty() || (tail.starts_with(' ') && is_blank_or_comment(tail))
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// YAML's indicator characters, which a plain scalar may not start with.
fn is_indicator(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Where the `:` of `key: ...` / `key:` is, when `s` starts with a plain key.
fn key_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.is_empty() || is_indicator(b[0]) {
        return None;
    }
    for i in 1..b.len() {
        match b[i] {
            b'#' if b[i - 1] == b' ' => return None,
            b':' if b.get(i + 1).is_none_or(|&n| n == b' ') => {
                return (b[i - 1] != b' ').then_some(i);
            }
            _ => {}
        }
    }
    None
}

/// A single-quoted scalar at the start of `s`: its text and the length of its written form.
fn single_quoted(s: &str) -> Option<(Cow<'_, str>, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let mut owned: Option<String> = None;
    let mut from = 1;
    loop {
        let q = i + s.get(i..)?.find('\'')?;
        if b.get(q + 1) == Some(&b'\'') {
            owned.get_or_insert_with(String::new).push_str(&s[from..=q]);
            i = q + 2;
            from = i;
            continue;
        }
        let text = match owned {
            Some(mut o) => {
                o.push_str(&s[from..q]);
                Cow::Owned(o)
            }
            None => Cow::Borrowed(&s[1..q]),
        };
        return Some((text, q + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saphyr_parser::Parser;

    /// Events as text with their positions, leaving out what the tree builder ignores: stream events, the
    /// positions of end events and of the empty scalar of an empty document.
    fn normalize(events: Vec<(Event<'_>, Span)>) -> Vec<(String, Span)> {
        let mut out: Vec<(String, Span)> = Vec::new();
        for (e, span) in events {
            let span = match &e {
                Event::StreamStart | Event::StreamEnd => continue,
                Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd => Span::default(),
                Event::Scalar(s, ..)
                    if s.is_empty()
                        && out
                            .last()
                            .is_some_and(|(p, _)| p.starts_with("DocumentStart")) =>
                {
                    Span::default()
                }
                _ => span,
            };
            out.push((format!("{e:?}"), span));
        }
        out
    }

    fn fast(text: &str) -> Result<Vec<(String, Span)>, Bail> {
        let mut src = FastEvents::new(text);
        let mut out = Vec::new();
        while let Some(ev) = src.next_event() {
            out.push(ev?);
        }
        Ok(normalize(out))
    }

    fn saphyr(text: &str) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        let mut lines = crate::yaml::build::LineIndex::default();
        for ev in Parser::new_from_str(text) {
            match ev {
                Ok((e, span)) => {
                    let mut at = Span::new(span.start.line() as u32, span.start.col() as u32 + 1);
                    if matches!(e, Event::SequenceStart(..)) {
                        at = lines.dash_before(text, at);
                    }
                    out.push((e, at));
                }
                Err(e) => panic!("{text:?}: {e}"),
            }
        }
        normalize(out)
    }

    #[test]
    fn agrees_with_saphyr_on_the_subset() {
        let cases = [
            "a: 1\nb:\n  c: x\n  d: [] # c\n  e: {}\nf:\n- 1\n- two: 2\n  three:\n  - 3\n  four: '4''s'\n- \"q\"\n",
            "---\n---\n# c\n---\na: 1\n--- # c\n- x\n",
            "  a: 1\n  b: 2\n",
            "x:\n- a: 1\n  b:\n  - c\n  d: e\n-   f\n",
            "a: b #c\nk#: v\nurl: http://x:80/y\nneg: -5\nweird: a]b,c\n",
            "a:\n\n# c\n  b: 1\n",
            "a: 1\r\nb:\r\n  - x\r\n",
            "a:\nb:\n",
            "- a\n- b\n",
            "",
            "# only\n",
            "a: 'x' # c\nb: \"\" \n",
            "spec:\n  links:\n  - server:\n      port: s/e\n    switch:\n      port: l/E1\n",
        ];
        for text in cases {
            assert_eq!(fast(text).as_ref(), Ok(&saphyr(text)), "{text:?}");
        }
    }

    #[test]
    fn gives_up_outside_the_subset() {
        for text in [
            "a: &x 1\n",
            "a: *x\n",
            "a: !!str 1\n",
            "a: |\n  x\n",
            "a: >\n  x\n",
            "a: [1]\n",
            "a: {b: 1}\n",
            "a: b\n  c\n",
            "'a': 1\n",
            "a: 'x'y\n",
            "a: \"x\\n\"\n",
            "a: b: c\n",
            "a: b:\n",
            "- - a\n",
            "-\n  a: 1\n",
            "a: 1\nb\n",
            "- a\nb: 1\n",
            "a: 1\n...\n",
            "%YAML 1.2\n---\na: 1\n",
            "--- a\n",
            "plain\n",
            "key : v\n",
            "a:\n  b: 1\n c: 2\n",
            "a: 1\n  b: 2\n",
            "? a\n: b\n",
            "a: -\n",
            "a: 'unterminated\n",
            "a: []#c\n",
            "a: {}#c\n",
            "a: 'x'#c\n",
        ] {
            assert_eq!(fast(text), Err(Bail), "{text:?}");
        }
        assert!(!eligible("a: é\n"));
        assert!(!eligible("a:\tb\n"));
        assert!(!eligible("a: b\rc: d\n"));
        assert!(eligible("a: b\r\nc: d\n"));
    }
}
