//! Positioned YAML front end: a multi-document stream parser that keeps line and column for every node,
//! strict typed decoding with field paths, and the deterministic emitter used for normalized files.
//!
//! The public types and signatures here are a contract other modules rely on; the work is done in the
//! submodules:
//!
//! - `input`: byte-level checks (size, BOM, UTF-8, binary content) before any YAML is looked at;
//! - `build`: turns parser events into a [`Node`] tree without recursion (positions, anchors and aliases
//!   with an expansion budget, merge keys, duplicate keys, nesting depth);
//! - `fast`: a line-based event source for plain block YAML (what kubectl and generators write), several
//!   times faster than `saphyr-parser`, which reads everything else. It yields the same events and positions
//!   or gives up; errors always come from `saphyr-parser`. [`parse_stream_reference`] skips it, and the tests
//!   and the fuzz target hold the two paths to identical results;
//! - `resolve`: what a scalar means, the way Kubernetes reads YAML (sigs.k8s.io/yaml over go-yaml v2);
//! - `de`: strict serde decoding of a [`Node`] with field paths and positions in every error;
//! - `node`: looking nodes up by [`FieldPath`] and converting them to JSON;
//! - `emit`: the deterministic block-style writer for normalized files.
//!
//! # Decisions
//!
//! - **Scalars** resolve as go-yaml v2 does when sigs.k8s.io/yaml converts YAML to JSON: plain `null`, `~`
//!   and the empty scalar are null; `true`/`false`, `yes`/`no`, `on`/`off`, `y`/`n` (lower, Title and UPPER
//!   case) are booleans; integers follow Go's `strconv.ParseInt(s, 0, 64)` after removing `_` (so `0x1F`,
//!   `0o17`, `017` (octal), `0b101` and signs work), then `ParseUint`, then YAML-style floats (`1.5`, `1e3`,
//!   `.5`, `.inf`, `.nan`). Everything else, timestamps included, is a string. Quoted and block scalars are
//!   always strings. The standard tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!binary` and
//!   `!!timestamp` are honored (a value that does not fit its tag is an error); any other tag on a scalar
//!   makes it a string, and tags on collections are ignored.
//! - **Mapping keys** are always strings, as in Kubernetes: a key written as `1`, `0x10`, `true` or `1.5`
//!   becomes the string `"1"`, `"16"`, `"true"`, `"1.5"`; a null key or a collection as key is an error.
//!   Duplicate keys (compared after that conversion) are errors.
//! - **Merge keys** (`<<: *base` or `<<: [*a, *b]`) insert the merged entries where the `<<` key stands;
//!   keys written explicitly in the mapping win wherever they appear, and among several merged mappings the
//!   earlier one wins (go-yaml v3 and the YAML 1.1 merge spec agree on this).
//! - **Nulls when decoding**: a struct field whose value is null counts as absent (Kubernetes prunes nulls of
//!   non-nullable CRD fields): `Option` fields become `None`, `#[serde(default)]` fields their default, and
//!   required fields are reported as missing (at the null value). A null anywhere else (a list item, a map
//!   value, a top-level node) must fit the target type (`Option<T>`, `()`, `serde_json::Value`).
//! - **Positions** are 1-based lines and columns counted in characters, after a leading BOM is dropped; CRLF
//!   counts as one line break. A node sits where its text starts (a quoted scalar at its quote, a mapping at
//!   its first key, a sequence at its first `-`, an alias expansion at the `*alias`, merged entries where they
//!   were written); a block scalar (`|`, `>`) at its first line of content; an empty value (`key:`) at the
//!   colon.
//! - **Hostile input**: alias expansion may produce at most `max_alias_nodes` nodes and `max_bytes` bytes of
//!   text per stream, and fails at the alias that crosses either; nesting (aliases expanded) stops at
//!   `max_depth`; a stream holds at most `max_nodes` nodes (expansions included) and a collection at most
//!   `max_entries` entries, both checked as the tree is built, so a hostile file fails before it is big; the tree builder, `to_json` and `emit` use no recursion, and `decode` stops at 256 levels.
//! - **Emitter**: kubectl's block style (2-space indentation, list items at their key's indentation); strings
//!   that a YAML 1.1 or 1.2 reader could take for anything else are single-quoted; strings with line breaks,
//!   tabs or other non-printable characters are double-quoted with escapes (never block scalars: one form is
//!   simpler to get right and reads the same everywhere).

mod build;
mod de;
mod emit;
mod fast;
mod input;
mod node;
mod resolve;

use serde::de::DeserializeOwned;

use crate::diag::Span;
use crate::path::FieldPath;

/// Default largest input: the raw-file limit, chosen so that validating and ingesting a file at the limit
/// stays within 8x its size plus a fixed base (bench/hostile.sh measures it).
pub const DEFAULT_MAX_BYTES: usize = 8 << 20;
/// Default node budget of one stream: far above any real fabric file (a 2,000-switch wiring diagram is a few
/// hundred thousand nodes), far below what makes validation slow or large.
pub const DEFAULT_MAX_NODES: usize = 2_000_000;
/// Default most entries of one mapping or sequence.
pub const DEFAULT_MAX_ENTRIES: usize = 200_000;

/// Limits that keep hostile input cheap to reject.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_bytes: usize,
    /// Most nodes that alias expansion may produce in one stream (billion-laughs guard). The text it produces
    /// is held to `max_bytes` as well.
    pub max_alias_nodes: usize,
    /// Deepest nesting of collections.
    pub max_depth: usize,
    /// Most nodes (scalars and collections, alias expansions included) in one stream: a file with more is
    /// rejected as soon as its parse crosses the budget, before the tree is built.
    pub max_nodes: usize,
    /// Most entries in one mapping or sequence.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_alias_nodes: 100_000,
            max_depth: 128,
            max_nodes: DEFAULT_MAX_NODES,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// A scalar or collection, with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

/// Node values, with scalars resolved the way Kubernetes' YAML decoder resolves them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Integers above `i64::MAX`.
    UInt(u64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Keys in source order; duplicate keys are rejected by the parser.
    Map(Vec<(Node, Node)>),
}

/// One document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based index within the stream, counting every document (empty ones too).
    pub index: usize,
    /// Where the document starts.
    pub span: Span,
    /// `None` for an empty or comment-only document.
    pub root: Option<Node>,
}

/// A syntax-level error: the stream as a whole is rejected. `line` and `column` are 1-based (columns count
/// characters); both are 0 for errors about the file as a whole (its size).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct YamlError {
    pub line: u32,
    pub column: u32,
    /// 1-based document index where known.
    pub document: Option<usize>,
    pub message: String,
}

/// A typed-decoding error at one node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DecodeError {
    pub path: FieldPath,
    pub span: Span,
    pub message: String,
}

/// Parses a multi-document stream.
///
/// The input is checked before parsing (size, UTF-8, no control characters but tab, CR and LF; a leading
/// byte order mark is dropped). Documents are numbered from 1, counting empty ones; a stream that holds only
/// comments yields one empty document, an empty or blank stream none.
pub fn parse_stream(input: &[u8], limits: &Limits) -> Result<Vec<Document>, YamlError> {
    let text = input::check(input, limits)?;
    input::check_directives(text)?;
    build::parse_text(text, limits)
}

/// What [`parse_stream_each`] hands over.
#[derive(Debug)]
pub enum Streamed {
    /// The next complete document.
    Document(Document),
    /// Forget the documents handed over so far: they come again, from the first.
    Restart,
}

/// [`parse_stream`] handing each document to `sink` as soon as it is complete, so that a caller that checks
/// documents one at a time never holds the trees of the whole stream (peak memory: one document's tree, not
/// the file's). The documents and errors are exactly those of [`parse_stream`]; on an error, what was handed
/// over before it is to be thrown away.
pub fn parse_stream_each(
    input: &[u8],
    limits: &Limits,
    sink: &mut dyn FnMut(Streamed),
) -> Result<(), YamlError> {
    let text = input::check(input, limits)?;
    input::check_directives(text)?;
    build::parse_text_each(text, limits, sink)
}

/// [`parse_stream`] without its shortcut for plain block YAML: every stream goes through `saphyr-parser`
/// whole. The results are the same by design; tests and the fuzz target use this to hold both to that.
#[doc(hidden)]
pub fn parse_stream_reference(input: &[u8], limits: &Limits) -> Result<Vec<Document>, YamlError> {
    let text = input::check(input, limits)?;
    input::check_directives(text)?;
    build::parse_text_reference(text, limits)
}

/// Strictly decodes a node into `T`: errors carry the field path and position of the offending node.
///
/// Unknown fields (with `#[serde(deny_unknown_fields)]`) are reported at their key, missing required fields
/// at the mapping that lacks them (the path names the missing field), anything else at the offending value.
pub fn decode<T: DeserializeOwned>(node: &Node) -> Result<T, DecodeError> {
    de::decode(node)
}

/// Emits one value as a block-style YAML document, deterministically (same value, same bytes), quoting every
/// string that a YAML 1.1 or 1.2 reader would take for something else.
///
/// The output ends with one newline and has no `---` header. Reading it back with [`parse_stream`] gives the
/// same JSON value.
pub fn emit(value: &serde_json::Value) -> String {
    emit::emit(value)
}
