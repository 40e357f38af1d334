//! Builds [`Node`] trees from `saphyr-parser` events, without recursion: positions for every node, alias
//! expansion within a budget, merge keys, duplicate-key and nesting-depth checks.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

use super::resolve::{self, Plain};
use super::{Document, Limits, Node, Value, YamlError};
use crate::diag::Span;

/// Mappings with more entries than this get a hash index for the duplicate-key check.
const LINEAR_KEY_SCAN: usize = 16;

/// Streams at least this large are parsed in chunks on several threads.
const PARALLEL_MIN_BYTES: usize = 256 << 10;
/// Smallest chunk worth a thread.
const CHUNK_MIN_BYTES: usize = 128 << 10;
/// Most threads one parse uses.
const MAX_THREADS: usize = 8;

pub(crate) fn parse_text(text: &str, limits: &Limits) -> Result<Vec<Document>, YamlError> {
    let threads = if text.len() < PARALLEL_MIN_BYTES {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(text.len() / CHUNK_MIN_BYTES)
            .min(MAX_THREADS)
    };
    let mut docs = match parse_parallel(text, limits, threads) {
        Some(docs) => docs,
        None => parse_chunk(text, 0, limits)?.docs,
    };
    if docs.is_empty() {
        // A stream of comments (or `...` markers) holds no YAML document, but people count it as one.
        if let Some(pos) = text.find(|c: char| !c.is_whitespace()) {
            let (line, column) = super::input::position(text.as_bytes(), pos);
            docs.push(Document {
                index: 1,
                span: Span::new(line, column),
                root: None,
            });
        }
    }
    Ok(docs)
}

/// The documents of one chunk of a stream, and the alias budget they used.
struct Chunk {
    docs: Vec<Document>,
    aliased: Cost,
}

/// Parses `text`, a whole stream or a chunk of one that starts at a line boundary, `line_offset` lines
/// into the stream.
fn parse_chunk(text: &str, line_offset: u32, limits: &Limits) -> Result<Chunk, YamlError> {
    let mut b = Builder::new(limits, line_offset);
    let mut lines = LineIndex::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| {
            let mut at = span_of(*e.marker());
            if e.info().contains("tab") {
                at = lines.tab_before(text, at);
            }
            b.error(b.shift(at), e.info())
        })?;
        let at = b.shift(span_of(span.start));
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart(_) => b.start_document(at),
            Event::DocumentEnd => b.end_document(),
            Event::Alias(id) => b.alias(id, at)?,
            Event::Scalar(text, style, anchor, tag) => {
                b.scalar(text, style, anchor, tag.as_deref(), at)?
            }
            Event::SequenceStart(anchor, _) => {
                let at = b.shift(lines.dash_before(text, span_of(span.start)));
                b.start(at, anchor, Body::Seq(Vec::new()))?
            }
            Event::MappingStart(anchor, _) => b.start(at, anchor, Body::Map(MapBody::default()))?,
            Event::SequenceEnd | Event::MappingEnd => b.end_collection()?,
        }
    }
    Ok(Chunk {
        docs: b.docs,
        aliased: b.aliased,
    })
}

/// Parses a large stream in chunks on several threads, split at `---` lines: in a stream that parses, a
/// `---` at the start of a line (followed by a space or line break) always starts a document, and documents
/// share nothing but the alias budget. `None` when the stream is not worth splitting or any chunk fails: the
/// caller then parses the stream as a whole, so that errors are reported exactly as the sequential parse
/// reports them.
fn parse_parallel(text: &str, limits: &Limits, threads: usize) -> Option<Vec<Document>> {
    let b = text.as_bytes();
    // Directives reach into the next document, and line breaks other than LF would need their own counting:
    // keep such streams whole.
    if threads < 2
        || b.first() == Some(&b'%')
        || b.windows(2)
            .any(|w| w == b"\n%" || (w[0] == b'\r' && w[1] != b'\n'))
    {
        return None;
    }
    let mut starts = vec![0];
    for i in 1..threads {
        let from = (text.len() * i / threads).max(starts.last().map_or(0, |s| s + 1));
        match next_document_start(b, from) {
            Some(at) => starts.push(at),
            None => break,
        }
    }
    if starts.len() < 2 {
        return None;
    }
    let mut chunks = Vec::with_capacity(starts.len());
    let mut line: u32 = 0;
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        chunks.push((start, end, line));
        let breaks = b[start..end].iter().filter(|&&c| c == b'\n').count();
        line = line.saturating_add(u32::try_from(breaks).unwrap_or(u32::MAX));
    }
    let results: Vec<Option<Chunk>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks[1..]
            .iter()
            .map(|&(start, end, line)| {
                scope.spawn(move || parse_chunk(&text[start..end], line, limits).ok())
            })
            .collect();
        let (start, end, _) = chunks[0];
        let first = parse_chunk(&text[start..end], 0, limits).ok();
        std::iter::once(first)
            .chain(handles.into_iter().map(|h| h.join().ok().flatten()))
            .collect()
    });
    let mut docs = Vec::new();
    let mut aliased = Cost::default();
    for chunk in results {
        let chunk = chunk?;
        aliased.add(chunk.aliased);
        docs.extend(chunk.docs);
    }
    if aliased.nodes > limits.max_alias_nodes || aliased.bytes > limits.max_bytes {
        return None;
    }
    for (i, doc) in docs.iter_mut().enumerate() {
        doc.index = i + 1;
    }
    Some(docs)
}

/// The offset of the first line at or after `from` that is a document start marker (`---` followed by a
/// space, a tab, a line break or the end).
fn next_document_start(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from.checked_sub(1)?;
    loop {
        i += b.get(i..)?.iter().position(|&c| c == b'\n')? + 1;
        if b[i..].starts_with(b"---")
            && matches!(b.get(i + 3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
        {
            return Some(i);
        }
    }
}

/// Byte offsets of line starts, built on first use.
#[derive(Default)]
struct LineIndex {
    starts: Option<Vec<usize>>,
}

impl LineIndex {
    /// The text of 1-based line `n`, without its line break.
    fn line<'t>(&mut self, text: &'t str, n: u32) -> Option<&'t str> {
        let starts = self.starts.get_or_insert_with(|| {
            let b = text.as_bytes();
            let mut v = vec![0];
            for (i, &c) in b.iter().enumerate() {
                if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                    v.push(i + 1);
                }
            }
            v
        });
        let i = (n as usize).checked_sub(1)?;
        let start = *starts.get(i)?;
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        text.get(start..end)
            .map(|l| l.trim_end_matches(['\n', '\r']))
    }

    /// saphyr places a sequence that is not indented under its key (`key:\n- a`) at its first item; move
    /// such a position back to the item's `-`.
    fn dash_before(&mut self, text: &str, at: Span) -> Span {
        let Some(line) = self.line(text, at.line) else {
            return at;
        };
        let Some((offset, _)) = line
            .char_indices()
            .nth((at.column as usize).saturating_sub(1))
        else {
            return at;
        };
        if line[offset..].starts_with(['-', '[', '&', '!']) {
            return at;
        }
        let before = &line.as_bytes()[..offset];
        let spaces = before.iter().rev().take_while(|&&c| c == b' ').count();
        if spaces > 0 && before.len() > spaces && before[before.len() - spaces - 1] == b'-' {
            let column = at.column.saturating_sub(clamp(spaces + 1));
            return Span::new(at.line, column.max(1));
        }
        at
    }

    /// saphyr reports a misplaced tab just after it; point at the tab itself.
    fn tab_before(&mut self, text: &str, at: Span) -> Span {
        let Some(line) = self.line(text, at.line) else {
            return at;
        };
        let upto = (at.column as usize).saturating_sub(1);
        match line
            .chars()
            .take(upto)
            .collect::<Vec<_>>()
            .iter()
            .rposition(|&c| c == '\t')
        {
            Some(i) => Span::new(at.line, clamp(i + 1)),
            None => at,
        }
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// saphyr markers have 1-based lines and 0-based character columns.
fn span_of(m: Marker) -> Span {
    Span::new(clamp(m.line()), clamp(m.col()).saturating_add(1))
}

/// What a subtree costs, aliases expanded: the alias budget is spent in both.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct Cost {
    nodes: usize,
    /// Bytes of scalar text (keys included).
    bytes: usize,
}

impl Cost {
    fn scalar(text: &str) -> Self {
        Cost {
            nodes: 1,
            bytes: text.len(),
        }
    }

    fn add(&mut self, other: Cost) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// A node with what the limits need to know about it.
struct Built {
    node: Node,
    cost: Cost,
    /// Collection nesting of the subtree (0 for a scalar).
    height: usize,
}

enum Body {
    Seq(Vec<Node>),
    Map(MapBody),
}

#[derive(Default)]
struct MapBody {
    entries: Vec<(Node, Node)>,
    /// Key waiting for its value.
    pending: Option<PendingKey>,
    /// `<<` values with the number of explicit entries written before them.
    merges: Vec<(usize, Node)>,
    merge_key: Option<Span>,
    /// Key → entry index, once the mapping is large.
    index: Option<HashMap<String, usize>>,
}

enum PendingKey {
    Key(Node),
    Merge,
}

struct Frame {
    span: Span,
    anchor: usize,
    cost: Cost,
    height: usize,
    body: Body,
}

struct Anchored {
    node: Node,
    cost: Cost,
    height: usize,
}

struct Builder<'l> {
    limits: &'l Limits,
    /// Lines before the chunk being parsed.
    line_offset: u32,
    docs: Vec<Document>,
    /// The document being read: index, start, root once complete.
    doc: Option<(usize, Span, Option<Node>)>,
    documents_started: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// What alias expansion produced so far.
    aliased: Cost,
    /// Highest anchor id seen, and its value when the current document started: aliases at or below the
    /// latter point into an earlier document.
    last_anchor: usize,
    document_anchor_floor: usize,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits, line_offset: u32) -> Self {
        Builder {
            limits,
            line_offset,
            last_anchor: 0,
            document_anchor_floor: 0,
            docs: Vec::new(),
            doc: None,
            documents_started: 0,
            stack: Vec::new(),
            anchors: HashMap::new(),
            aliased: Cost::default(),
        }
    }

    fn document(&self) -> Option<usize> {
        Some(self.documents_started.max(1))
    }

    fn error(&self, at: Span, message: impl Into<String>) -> YamlError {
        YamlError {
            line: at.line,
            column: at.column,
            document: self.document(),
            message: message.into(),
        }
    }

    /// A chunk-relative position made stream-relative.
    fn shift(&self, at: Span) -> Span {
        Span::new(at.line.saturating_add(self.line_offset), at.column)
    }

    fn start_document(&mut self, at: Span) {
        self.documents_started += 1;
        self.doc = Some((self.documents_started, at, None));
        // Anchors are scoped to their document.
        self.anchors.clear();
        self.document_anchor_floor = self.last_anchor;
    }

    fn end_document(&mut self) {
        if let Some((index, span, root)) = self.doc.take() {
            self.docs.push(Document { index, span, root });
        }
    }

    fn start(&mut self, at: Span, anchor: usize, body: Body) -> Result<(), YamlError> {
        self.last_anchor = self.last_anchor.max(anchor);
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.error(
                at,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            ));
        }
        self.stack.push(Frame {
            span: at,
            anchor,
            cost: Cost { nodes: 1, bytes: 0 },
            height: 0,
            body,
        });
        Ok(())
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&saphyr_parser::Tag>,
        at: Span,
    ) -> Result<(), YamlError> {
        if self.stack.is_empty()
            && text.is_empty()
            && style == ScalarStyle::Plain
            && anchor == 0
            && tag.is_none()
        {
            // An empty document: nothing but comments, or nothing at all, after its `---`.
            return Ok(());
        }
        self.last_anchor = self.last_anchor.max(anchor);
        let awaiting_key = matches!(
            self.stack.last(),
            Some(Frame {
                body: Body::Map(MapBody { pending: None, .. }),
                ..
            })
        );
        if awaiting_key && style == ScalarStyle::Plain && text == "<<" {
            let merge = match tag {
                None => resolve::resolve_plain(&text) == Plain::Merge,
                Some(t) => resolve::is_merge_tag(t),
            };
            if merge {
                return self.merge_key(at);
            }
        }
        let cost = Cost::scalar(&text);
        let value = resolve::resolve_scalar(text, style, tag).map_err(|e| self.error(at, e.0))?;
        self.finish(
            Built {
                node: Node { span: at, value },
                cost,
                height: 0,
            },
            anchor,
        )
    }

    fn alias(&mut self, id: usize, at: Span) -> Result<(), YamlError> {
        let Some(target) = self.anchors.get(&id) else {
            let message = if id <= self.document_anchor_floor {
                "this alias refers to an anchor of an earlier document; anchors do not cross documents"
            } else {
                "this alias refers to a node that contains it (a recursive alias)"
            };
            return Err(self.error(at, message));
        };
        self.aliased.add(target.cost);
        if self.aliased.nodes > self.limits.max_alias_nodes {
            return Err(self.error(
                at,
                format!(
                    "aliases expand to more than {} nodes (an alias bomb?); write the data out instead",
                    self.limits.max_alias_nodes
                ),
            ));
        }
        if self.aliased.bytes > self.limits.max_bytes {
            return Err(self.error(
                at,
                format!(
                    "aliases expand to more than {} bytes of text, the size limit of a whole file (an alias bomb?)",
                    self.limits.max_bytes
                ),
            ));
        }
        if self.stack.len() + target.height > self.limits.max_depth {
            return Err(self.error(
                at,
                format!(
                    "nesting deeper than {} levels once this alias is expanded",
                    self.limits.max_depth
                ),
            ));
        }
        let mut node = target.node.clone();
        node.span = at;
        let built = Built {
            node,
            cost: target.cost,
            height: target.height,
        };
        self.finish(built, 0)
    }

    fn end_collection(&mut self) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Err(self.error(Span::new(1, 1), "unbalanced collection end"));
        };
        let value = match frame.body {
            // Growth slack would be a third of the tree's memory.
            Body::Seq(mut items) => {
                items.shrink_to_fit();
                Value::Seq(items)
            }
            Body::Map(map) => {
                let mut entries = self.apply_merges(map)?;
                entries.shrink_to_fit();
                Value::Map(entries)
            }
        };
        let built = Built {
            node: Node {
                span: frame.span,
                value,
            },
            cost: frame.cost,
            height: frame.height + 1,
        };
        self.finish(built, frame.anchor)
    }

    /// A complete node: remember it under its anchor, then attach it to its parent (or the document).
    fn finish(&mut self, built: Built, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    node: built.node.clone(),
                    cost: built.cost,
                    height: built.height,
                },
            );
        }
        let Some(frame) = self.stack.last_mut() else {
            if let Some((_, _, root)) = self.doc.as_mut() {
                *root = Some(built.node);
            }
            return Ok(());
        };
        frame.cost.add(built.cost);
        frame.height = frame.height.max(built.height);
        let node = built.node;
        let key = match &mut frame.body {
            Body::Seq(items) => {
                items.push(node);
                return Ok(());
            }
            Body::Map(map) => match map.pending.take() {
                Some(PendingKey::Key(key)) => {
                    map.entries.push((key, node));
                    return Ok(());
                }
                Some(PendingKey::Merge) => {
                    map.merges.push((map.entries.len(), node));
                    return Ok(());
                }
                None => node,
            },
        };
        let key = self.key(key)?;
        self.insert_key(key)
    }

    /// A mapping key as a string node, the way Kubernetes converts keys.
    fn key(&self, node: Node) -> Result<Node, YamlError> {
        if let Value::String(_) = node.value {
            return Ok(node);
        }
        match resolve::key_string(&node.value) {
            Some(s) => Ok(Node {
                span: node.span,
                value: Value::String(s),
            }),
            None => Err(self.error(
                node.span,
                format!("a mapping key must be a string, found {}", node.describe()),
            )),
        }
    }

    fn insert_key(&mut self, key: Node) -> Result<(), YamlError> {
        let document = self.document();
        let Some(Frame {
            body: Body::Map(map),
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        let Value::String(name) = &key.value else {
            return Ok(());
        };
        let earlier = if let Some(index) = &mut map.index {
            let i = map.entries.len();
            match index.get(name.as_str()) {
                Some(&j) => Some(j),
                None => {
                    index.insert(name.clone(), i);
                    None
                }
            }
        } else {
            let found = map
                .entries
                .iter()
                .position(|(k, _)| matches!(&k.value, Value::String(s) if s == name));
            if found.is_none() && map.entries.len() >= LINEAR_KEY_SCAN {
                let mut index = HashMap::with_capacity(map.entries.len() * 2);
                for (i, (k, _)) in map.entries.iter().enumerate() {
                    if let Value::String(s) = &k.value {
                        index.insert(s.clone(), i);
                    }
                }
                index.insert(name.clone(), map.entries.len());
                map.index = Some(index);
            }
            found
        };
        if let Some(j) = earlier {
            let first = map.entries[j].0.span;
            let message = format!(
                "duplicate key `{}`: it is already defined at line {}, column {}",
                resolve::abbreviate(name, 80),
                first.line,
                first.column
            );
            return Err(YamlError {
                line: key.span.line,
                column: key.span.column,
                document,
                message,
            });
        }
        map.pending = Some(PendingKey::Key(key));
        Ok(())
    }

    fn merge_key(&mut self, at: Span) -> Result<(), YamlError> {
        let document = self.document();
        let Some(Frame {
            body: Body::Map(map),
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        if let Some(first) = map.merge_key {
            let message = format!(
                "duplicate key `<<`: it is already defined at line {}, column {}; merge several mappings with `<<: [*a, *b]`",
                first.line, first.column
            );
            return Err(YamlError {
                line: at.line,
                column: at.column,
                document,
                message,
            });
        }
        map.merge_key = Some(at);
        map.pending = Some(PendingKey::Merge);
        Ok(())
    }

    /// Inserts merged entries where their `<<` stood. Keys written in the mapping win; among merged
    /// mappings, the first to define a key wins.
    fn apply_merges(&self, map: MapBody) -> Result<Vec<(Node, Node)>, YamlError> {
        if map.merges.is_empty() {
            return Ok(map.entries);
        }
        let explicit: std::collections::HashSet<String> = map
            .entries
            .iter()
            .filter_map(|(k, _)| k.as_str().map(str::to_owned))
            .collect();
        let mut taken = explicit.clone();
        let mut merged_at: Vec<(usize, Vec<(Node, Node)>)> = Vec::new();
        for (pos, value) in map.merges {
            let sources = match value.value {
                Value::Map(entries) => vec![entries],
                Value::Seq(items) => {
                    let mut maps = Vec::with_capacity(items.len());
                    for item in items {
                        match item.value {
                            Value::Map(entries) => maps.push(entries),
                            other => {
                                let found = Node {
                                    span: item.span,
                                    value: other,
                                }
                                .describe();
                                return Err(self.error(
                                    item.span,
                                    format!("a merge key `<<` takes a mapping or a list of mappings, found {found} in the list"),
                                ));
                            }
                        }
                    }
                    maps
                }
                other => {
                    let found = Node {
                        span: value.span,
                        value: other,
                    }
                    .describe();
                    return Err(self.error(
                        value.span,
                        format!(
                            "a merge key `<<` takes a mapping or a list of mappings, found {found}"
                        ),
                    ));
                }
            };
            let mut inserted = Vec::new();
            for entries in sources {
                for (k, v) in entries {
                    if let Some(name) = k.as_str() {
                        if taken.insert(name.to_owned()) {
                            inserted.push((k, v));
                        }
                    }
                }
            }
            merged_at.push((pos, inserted));
        }
        let mut out = Vec::with_capacity(
            map.entries.len() + merged_at.iter().map(|(_, e)| e.len()).sum::<usize>(),
        );
        let mut merged = merged_at.into_iter().peekable();
        for (i, entry) in map.entries.into_iter().enumerate() {
            while let Some((_, entries)) = merged.next_if(|(pos, _)| *pos <= i) {
                out.extend(entries);
            }
            out.push(entry);
        }
        for (_, entries) in merged {
            out.extend(entries);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_stream;

    fn parse(s: &str) -> Result<Vec<Document>, YamlError> {
        parse_stream(s.as_bytes(), &Limits::default())
    }

    fn root(s: &str) -> Node {
        match parse(s) {
            Ok(mut docs) if !docs.is_empty() => match docs.remove(0).root {
                Some(n) => n,
                None => panic!("empty document in {s:?}"),
            },
            other => panic!("{s:?}: {other:?}"),
        }
    }

    fn json(s: &str) -> serde_json::Value {
        root(s).to_json()
    }

    fn err(s: &str) -> YamlError {
        match parse(s) {
            Err(e) => e,
            Ok(d) => panic!("{s:?} parsed: {d:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let n = root("a: 1\nb:\n  c: [x, 'y']\n");
        assert_eq!(n.span, Span::new(1, 1));
        let b = n.get(&crate::field_path!("b")).map(|n| n.span);
        assert_eq!(b, Some(Span::new(3, 3)));
        let y = n.get(&crate::field_path!("b", "c", 1usize)).map(|n| n.span);
        assert_eq!(y, Some(Span::new(3, 10)));
    }

    #[test]
    fn documents_are_counted_including_empty_ones() {
        let docs = parse("# head\n---\n# nothing\n---\na: 1\n---\n").unwrap_or_default();
        let summary: Vec<_> = docs
            .iter()
            .map(|d| (d.index, d.span.line, d.root.is_some()))
            .collect();
        assert_eq!(summary, vec![(1, 2, false), (2, 4, true), (3, 6, false)]);
        let docs = parse("# only a comment\n").unwrap_or_default();
        assert_eq!(docs.len(), 1);
        assert!(docs[0].root.is_none());
        assert_eq!(docs[0].span, Span::new(1, 1));
        assert!(parse("").is_ok_and(|d| d.is_empty()));
        assert!(parse("\n  \n").is_ok_and(|d| d.is_empty()));
        assert_eq!(json("--- ~\n"), serde_json::Value::Null);
    }

    #[test]
    fn keys_are_strings() {
        let v = json("1: a\n0x10: b\ntrue: c\n1.5: d\n'q': e\n");
        assert_eq!(
            v,
            serde_json::json!({"1": "a", "16": "b", "true": "c", "1.5": "d", "q": "e"})
        );
        // The YAML 1.1 booleans too, as Kubernetes does: `on` and `y` are the key "true" (quote them to keep them).
        assert_eq!(
            json("on: 1\n'y': 2\n"),
            serde_json::json!({"true": 1, "y": 2})
        );
        assert!(err("y: 1\n'true': 2\n")
            .message
            .contains("duplicate key `true`"));
        let e = err("a: 1\n~: 2\n");
        assert_eq!((e.line, e.column), (2, 1));
        let e = err("? [a]\n: 1\n");
        assert!(e.message.contains("must be a string"), "{e}");
    }

    #[test]
    fn duplicate_keys_point_at_the_second() {
        let e = err("a: 1\nb: 2\na: 3\n");
        assert_eq!((e.line, e.column, e.document), (3, 1, Some(1)));
        assert!(
            e.message.contains("`a`") && e.message.contains("line 1"),
            "{e}"
        );
        // Keys compare after conversion to strings, as in JSON.
        let e = err("x: 0\n---\n1: a\n'1': b\n");
        assert_eq!((e.line, e.document), (4, Some(2)));
        // Large mappings use the index.
        let mut big: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        big.push_str("k7: again\n");
        let e = err(&big);
        assert_eq!(e.line, 41);
        assert!(e.message.contains("line 8"), "{e}");
    }

    #[test]
    fn merge_keys_follow_kubernetes() {
        let v = json(
            "base: &b {x: 1, q: 2}\nother: &o {q: 20, x: 10, z: 30}\nm:\n  q: explicit\n  <<: [*b, *o]\n  w: 0\n",
        );
        assert_eq!(
            v["m"],
            serde_json::json!({"q": "explicit", "x": 1, "z": 30, "w": 0})
        );
        let keys: Vec<_> = v["m"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["q", "x", "z", "w"]);
        let v = json("a: &a {k: 1}\nb:\n  <<: *a\n  k: 2\n");
        assert_eq!(v["b"], serde_json::json!({"k": 2}));
        // A quoted `<<` is an ordinary key.
        assert_eq!(json("'<<': 1\n"), serde_json::json!({"<<": 1}));
        assert!(err("a: 1\n<<: 2\n").message.contains("merge key"));
        assert!(err("<<: {a: 1}\n<<: {b: 1}\n")
            .message
            .contains("duplicate key `<<`"));
    }

    #[test]
    fn aliases_expand_within_budget() {
        assert_eq!(
            json("a: &x [1, 2]\nb: *x\n"),
            serde_json::json!({"a": [1, 2], "b": [1, 2]})
        );
        let limits = Limits {
            max_alias_nodes: 5,
            ..Limits::default()
        };
        assert!(parse_stream(b"a: &x [1, 2]\nb: *x\n", &limits).is_ok());
        let e = parse_stream(b"a: &x [1, 2]\nb: *x\nc: *x\n", &limits).err();
        assert!(
            matches!(&e, Some(e) if e.line == 3 && e.column == 4),
            "{e:?}"
        );
        let e = err("a: &x [1, *x]\n");
        assert!(e.message.contains("recursive"), "{e}");
        // Large text counts too: few nodes, many bytes.
        let big = format!("a: &a '{}'\nb: [*a, *a, *a]\n", "x".repeat(1000));
        let limits = Limits {
            max_bytes: 2500,
            ..Limits::default()
        };
        let e = parse_stream(big.as_bytes(), &limits).err();
        assert!(
            matches!(&e, Some(e) if e.line == 2 && e.column == 13 && e.message.contains("bytes")),
            "{e:?}"
        );
        // Anchors do not cross documents.
        let e = err("a: &x 1\n---\nb: *x\n");
        assert!(e.message.contains("earlier document") && e.line == 3, "{e}");
    }

    #[test]
    fn depth_is_limited_including_through_aliases() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        assert!(parse_stream(b"a: {b: [1]}\n", &limits).is_ok());
        let e = parse_stream(b"a: {b: [[1]]}\n", &limits).err();
        assert!(
            matches!(&e, Some(e) if e.column == 9 && e.message.contains("3 levels")),
            "{e:?}"
        );
        assert!(parse_stream(b"x: &x [[1]]\ny: [*x]\n", &limits).is_err());
    }

    /// A stream of varied documents, `n` of them.
    fn varied_stream(n: usize) -> String {
        let mut s = String::from("# head comment\n");
        for i in 0..n {
            match i % 5 {
                0 => s.push_str(&format!("---\na: {i}\nlist:\n- x: &x{i} [1, 2]\n  y: *x{i}\n- |\n  text\n  --- not a marker\n")),
                1 => s.push_str(&format!("--- # c\nkind: K\nmetadata: {{name: n{i}}}\nspec:\n  <<: {{m: 1}}\n  v: 'q{i}'\n")),
                2 => s.push_str("---\n# only a comment\n"),
                3 => s.push_str(&format!("---\r\n- {i}\r\n- \"two\"\r\n")),
                _ => s.push_str(&format!("--- plain scalar {i}\n...\n")),
            }
        }
        s
    }

    #[test]
    fn parallel_parse_equals_sequential() {
        let text = varied_stream(3000);
        let limits = Limits::default();
        let sequential = parse_chunk(&text, 0, &limits).map(|c| c.docs);
        for threads in [2, 3, 7] {
            let parallel = parse_parallel(&text, &limits, threads);
            assert!(parallel.is_some(), "{threads} threads");
            assert_eq!(
                parallel.as_ref().ok_or(()),
                sequential.as_ref().map_err(|_| ()),
                "{threads} threads"
            );
        }
        assert_eq!(parse_parallel(&text, &limits, 1), None);
    }

    #[test]
    fn parallel_parse_defers_to_sequential_for_errors_and_budgets() {
        // An error late in the stream: the parallel parse gives up, the whole-stream parse reports it.
        let mut text = varied_stream(3000);
        let line = text.lines().count() + 3;
        text.push_str("---\na: 1\na: 2\n");
        assert_eq!(parse_parallel(&text, &Limits::default(), 2), None);
        let e = parse_text(&text, &Limits::default()).err();
        assert_eq!(
            e.map(|e| (e.line as usize, e.document)),
            Some((line, Some(3001)))
        );
        // Each half within the alias budget, the stream over it.
        let text = varied_stream(3000);
        // 600 documents alias a 3-node list: 1800 nodes in all, about 900 per half.
        let limits = Limits {
            max_alias_nodes: 1200,
            ..Limits::default()
        };
        let half = next_document_start(text.as_bytes(), text.len() / 2).unwrap_or(0);
        assert!(parse_chunk(&text[..half], 0, &limits).is_ok());
        assert!(parse_chunk(&text[half..], 0, &limits).is_ok());
        assert_eq!(parse_parallel(&text, &limits, 2), None);
        assert!(parse_chunk(&text, 0, &limits).is_err());
        // Directives keep the stream whole.
        let text = format!("%YAML 1.2\n{}", varied_stream(3000));
        assert_eq!(parse_parallel(&text, &Limits::default(), 2), None);
    }

    #[test]
    fn scalars_resolve_by_style_and_tag() {
        let v = json(
            "a: 5\nb: '5'\nc: |\n  5\nd: !!str 5\ne: !!int '7'\nf: yes\ng: ~\nh:\ni: !custom 5\n",
        );
        assert_eq!(
            v,
            serde_json::json!({"a": 5, "b": "5", "c": "5\n", "d": "5", "e": 7, "f": true, "g": null, "h": null, "i": "5"})
        );
        let e = err("a: 1\nb: !!int nope\n");
        assert_eq!((e.line, e.column), (2, 4));
    }
}
