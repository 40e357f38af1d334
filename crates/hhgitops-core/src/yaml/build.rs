//! Builds [`Node`] trees from parser events (`saphyr-parser`'s, or the fast path's, which are the same),
//! without recursion: positions for every node, alias expansion within a budget, merge keys, duplicate-key and
//! nesting-depth checks.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

use super::fast;
use super::resolve::{self, Plain};
use super::{Document, Limits, Node, Streamed, Value, YamlError};
use crate::diag::Span;

/// Mappings with more entries than this get a hash index for the duplicate-key check.
const LINEAR_KEY_SCAN: usize = 16;

pub(crate) fn parse_text(text: &str, limits: &Limits) -> Result<Vec<Document>, YamlError> {
    let mut docs = Vec::new();
    parse_text_each(text, limits, &mut |item| match item {
        Streamed::Document(d) => docs.push(d),
        Streamed::Restart => docs.clear(),
    })?;
    Ok(docs)
}

/// [`parse_text`] handing each document to `sink` as soon as it is complete, so that a caller that checks and
/// drops documents one by one never holds the trees of the whole stream. When the fast path gives up half-way,
/// `sink` gets [`Streamed::Restart`] and then every document again from the first. On an error, the documents
/// handed over before it are to be thrown away.
pub(crate) fn parse_text_each(
    text: &str,
    limits: &Limits,
    sink: &mut dyn FnMut(Streamed),
) -> Result<(), YamlError> {
    // The fast event source reads the plain block YAML most files are made of; anything else, and every
    // error, goes through `saphyr-parser`, so that errors read the same whichever path met them.
    if fast::eligible(text) {
        let mut emitted = 0;
        let done = {
            let mut counting = |d: Document| {
                emitted += 1;
                sink(Streamed::Document(d));
            };
            parse_fast(text, limits, &mut counting)
        };
        if done {
            comment_document(text, emitted, sink);
            return Ok(());
        }
        if emitted > 0 {
            sink(Streamed::Restart);
        }
    }
    parse_reference_each(text, limits, sink)
}

/// [`parse_text`] through `saphyr-parser` alone.
pub(crate) fn parse_text_reference(
    text: &str,
    limits: &Limits,
) -> Result<Vec<Document>, YamlError> {
    let mut docs = Vec::new();
    parse_reference_each(text, limits, &mut |item| match item {
        Streamed::Document(d) => docs.push(d),
        Streamed::Restart => docs.clear(),
    })?;
    Ok(docs)
}

fn parse_reference_each(
    text: &str,
    limits: &Limits,
    sink: &mut dyn FnMut(Streamed),
) -> Result<(), YamlError> {
    let mut emitted = 0;
    {
        let mut counting = |d: Document| {
            emitted += 1;
            sink(Streamed::Document(d));
        };
        parse_general(text, limits, &mut counting)?;
    }
    comment_document(text, emitted, sink);
    Ok(())
}

fn comment_document(text: &str, emitted: usize, sink: &mut dyn FnMut(Streamed)) {
    if emitted == 0 {
        // A stream of comments (or `...` markers) holds no YAML document, but people count it as one.
        if let Some(pos) = text.find(|c: char| !c.is_whitespace()) {
            let (line, column) = super::input::position(text.as_bytes(), pos);
            sink(Streamed::Document(Document {
                index: 1,
                span: Span::new(line, column),
                root: None,
            }));
        }
    }
}

fn parse_fast(text: &str, limits: &Limits, sink: &mut dyn FnMut(Document)) -> bool {
    let mut b = Builder::new(limits, sink);
    let mut events = fast::FastEvents::new(text);
    while let Some(item) = events.next_event() {
        let Ok((event, at)) = item else {
            return false;
        };
        if b.event(event, at).is_err() {
            return false;
        }
    }
    true
}

fn parse_general(
    text: &str,
    limits: &Limits,
    sink: &mut dyn FnMut(Document),
) -> Result<(), YamlError> {
    let mut b = Builder::new(limits, sink);
    let mut lines = LineIndex::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| {
            let mut at = span_of(*e.marker());
            if e.info().contains("tab") {
                at = lines.tab_before(text, at);
            }
            if e.info().contains("unknown anchor") {
                if let Some(name) = lines.alias_name(text, at) {
                    return b.error(
                        at,
                        format!(
                            "the alias *{name} refers to no anchor: define &{name} before it (in this document)"
                        ),
                    );
                }
            }
            b.error(at, e.info())
        })?;
        if matches!(event, Event::StreamEnd) {
            break;
        }
        let mut at = span_of(span.start);
        if matches!(event, Event::SequenceStart(..)) && b.awaiting_value() {
            at = lines.dash_before(text, at);
        }
        b.event(event, at)?;
    }
    Ok(())
}

/// Byte offsets of line starts, built on first use.
#[derive(Default)]
pub(crate) struct LineIndex {
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
    /// such a position back to the item's `-`. Only for sequences that are mapping values: elsewhere a `- `
    /// before the position belongs to an enclosing sequence (`- [a]`).
    pub(crate) fn dash_before(&mut self, text: &str, at: Span) -> Span {
        let Some(line) = self.line(text, at.line) else {
            return at;
        };
        let Some((offset, _)) = line
            .char_indices()
            .nth((at.column as usize).saturating_sub(1))
        else {
            return at;
        };
        // Already at its dash: a block sequence that is indented under its key.
        let here = &line[offset..];
        if here == "-" || here.starts_with("- ") {
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

    /// The name of the alias (`*name`) at a position.
    fn alias_name(&mut self, text: &str, at: Span) -> Option<String> {
        let line = self.line(text, at.line)?;
        let (offset, _) = line
            .char_indices()
            .nth((at.column as usize).saturating_sub(1))?;
        let rest = line[offset..].strip_prefix('*')?;
        let name: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
            .collect();
        (!name.is_empty()).then(|| super::resolve::abbreviate(&name, 60))
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
#[derive(Clone, Copy, Default)]
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

struct Builder<'l, 's> {
    limits: &'l Limits,
    /// Where each complete document goes.
    sink: &'s mut dyn FnMut(Document),
    /// The document being read: index, start, root once complete.
    doc: Option<(usize, Span, Option<Node>)>,
    documents_started: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// What alias expansion produced so far.
    aliased: Cost,
    /// Nodes built so far in this stream (alias expansions counted).
    nodes: usize,
    /// Highest anchor id seen, and its value when the current document started: aliases at or below the
    /// latter point into an earlier document.
    last_anchor: usize,
    document_anchor_floor: usize,
}

impl<'l, 's> Builder<'l, 's> {
    fn new(limits: &'l Limits, sink: &'s mut dyn FnMut(Document)) -> Self {
        Builder {
            limits,
            last_anchor: 0,
            document_anchor_floor: 0,
            sink,
            doc: None,
            documents_started: 0,
            stack: Vec::new(),
            anchors: HashMap::new(),
            aliased: Cost::default(),
            nodes: 0,
        }
    }

    /// Counts `n` more nodes against the stream's budget.
    fn count(&mut self, n: usize, at: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(self.error(
                at,
                format!(
                    "more than {} YAML nodes in one file, the limit: split the file (the limit keeps hostile input cheap to reject)",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
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

    fn start_document(&mut self, at: Span) {
        self.documents_started += 1;
        self.doc = Some((self.documents_started, at, None));
        // Anchors are scoped to their document.
        self.anchors.clear();
        self.document_anchor_floor = self.last_anchor;
    }

    fn end_document(&mut self) {
        if let Some((index, span, root)) = self.doc.take() {
            (self.sink)(Document { index, span, root });
        }
    }

    /// Whether the next node is the value of a mapping entry.
    fn awaiting_value(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                body: Body::Map(MapBody {
                    pending: Some(_),
                    ..
                }),
                ..
            })
        )
    }

    fn event(&mut self, event: Event<'_>, at: Span) -> Result<(), YamlError> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Ok(()),
            Event::DocumentStart(_) => {
                self.start_document(at);
                Ok(())
            }
            Event::DocumentEnd => {
                self.end_document();
                Ok(())
            }
            Event::Alias(id) => self.alias(id, at),
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar(text, style, anchor, tag.as_deref(), at)
            }
            Event::SequenceStart(anchor, _) => self.start(at, anchor, Body::Seq(Vec::new())),
            Event::MappingStart(anchor, _) => self.start(at, anchor, Body::Map(MapBody::default())),
            Event::SequenceEnd | Event::MappingEnd => self.end_collection(),
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
        self.count(1, at)?;
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
        self.count(1, at)?;
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
        let expanded = target.cost.nodes;
        self.count(expanded, at)?;
        let Some(target) = self.anchors.get(&id) else {
            return Err(self.error(at, "alias to an unknown anchor"));
        };
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
        let len = match &frame.body {
            Body::Seq(items) => items.len(),
            Body::Map(map) => map.entries.len() + map.merges.len(),
        };
        if len >= self.limits.max_entries {
            let at = built.node.span;
            return Err(self.error(
                at,
                format!(
                    "more than {} entries in one mapping or sequence, the limit: split the data",
                    self.limits.max_entries
                ),
            ));
        }
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
        // Sequences sit at their dash, also when not indented under their key; a flow sequence at its `[`.
        let n = root("k:\n- [a]\n- -1\nl:\n- -1\nm:\n- &x [b]\n- [c]\n");
        let at = |p: crate::path::FieldPath| n.get(&p).map(|n| (n.span.line, n.span.column));
        assert_eq!(at(crate::field_path!("k")), Some((2, 1)));
        assert_eq!(at(crate::field_path!("k", 0usize)), Some((2, 3)));
        assert_eq!(at(crate::field_path!("l")), Some((5, 1)));
        assert_eq!(at(crate::field_path!("m")), Some((7, 1)));
        assert_eq!(at(crate::field_path!("m", 0usize)), Some((7, 3)));
        assert_eq!(at(crate::field_path!("m", 1usize)), Some((8, 3)));
        let n = root("- [a]\n- - b\n");
        assert_eq!(n.span, Span::new(1, 1));
        assert_eq!(
            n.get(&crate::field_path!(0usize)).map(|n| n.span),
            Some(Span::new(1, 3))
        );
        assert_eq!(
            n.get(&crate::field_path!(1usize)).map(|n| n.span),
            Some(Span::new(2, 3))
        );
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
    fn nodes_and_entries_are_budgeted_as_the_tree_is_built() {
        let limits = Limits {
            max_nodes: 10,
            max_entries: 3,
            ..Limits::default()
        };
        assert!(parse_stream(b"a: [1, 2, 3]\n", &limits).is_ok());
        let e = parse_stream(b"a: [1, 2, 3, 4]\n", &limits).err();
        assert!(e.is_some_and(|e| e.message.contains("more than 3 entries")));
        let e = parse_stream(b"a: [1, 2]\nb: [1, 2]\nc: {d: [1, 2]}\n", &limits).err();
        assert!(e.is_some_and(|e| e.message.contains("more than 10 YAML nodes")));
        // Alias expansions count too.
        let e = parse_stream(b"a: &x [1, 2, 3]\nb: *x\nc: *x\n", &limits).err();
        assert!(e.is_some_and(|e| e.message.contains("YAML nodes")));
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

    #[test]
    fn scalars_resolve_by_style_and_tag() {
        let v =
            json("a: 5\nb: '5'\nc: |\n  5\nd: !!str 5\ne: !!int '7'\nf: yes\ng: ~\nh:\ni: ! 5\n");
        assert_eq!(
            v,
            serde_json::json!({"a": 5, "b": "5", "c": "5\n", "d": "5", "e": 7, "f": true, "g": null, "h": null, "i": "5"})
        );
        let e = err("a: 1\nb: !!int nope\n");
        assert_eq!((e.line, e.column), (2, 4));
        // Tags that mean something to another reader are refused where they stand.
        for (text, tag) in [
            ("a: 1\nb: !custom 5\n", "!custom"),
            ("a: 1\nb: !!python/object:x vpc-1\n", "!!python/object:x"),
        ] {
            let e = err(text);
            assert_eq!((e.line, e.column), (2, 4), "{text:?}");
            assert!(e.message.contains(&format!("unknown tag `{tag}`")), "{e:?}");
        }
    }
}
