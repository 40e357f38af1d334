//! Diagnostics: one error or warning with everything a person needs to find and fix it.

use serde::Serialize;

use crate::path::FieldPath;

/// 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub line: u32,
    pub column: u32,
}

impl Span {
    pub const fn new(line: u32, column: u32) -> Self {
        Span { line, column }
    }
}

/// One validation error, located. Serializes to the error object of SPEC §7 (`file` is added by the caller
/// where a list of errors belongs to one file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// The file as the operator knows it (e.g. `raw/vpcs.yaml`); empty when not known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// 1-based document index within the file; `None` for errors about the file as a whole.
    pub document: Option<usize>,
    pub line: u32,
    pub column: u32,
    pub kind: Option<String>,
    pub name: Option<String>,
    /// Field path (`spec.subnets.default.vlan`); empty for errors about a whole document or file.
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            file: String::new(),
            document: None,
            line: 0,
            column: 0,
            kind: None,
            name: None,
            path: String::new(),
            message: message.into(),
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.line = span.line;
        self.column = span.column;
        self
    }

    pub fn in_document(mut self, doc: usize) -> Self {
        self.document = Some(doc);
        self
    }

    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = file.into();
        self
    }

    pub fn with_path(mut self, path: &FieldPath) -> Self {
        self.path = path.to_string();
        self
    }

    pub fn for_object(mut self, kind: impl Into<String>, name: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self.name = Some(name.into());
        self
    }
}

impl std::fmt::Display for Diagnostic {
    /// Compiler style: `raw/vpcs.yaml:14:7: VPC vpc-1: spec.subnets.default.vlan: message`. Control characters
    /// in any part (a file name, a name or a value quoted in the message) are shown escaped
    /// ([`escape_controls`]), so that printing an error never sends terminal escapes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}:", escape_controls(&self.file))?;
            if self.line > 0 {
                write!(f, "{}:{}:", self.line, self.column)?;
            }
            f.write_str(" ")?;
        }
        if let (Some(k), Some(n)) = (&self.kind, &self.name) {
            write!(f, "{} {}: ", escape_controls(k), escape_controls(n))?;
        } else if let Some(d) = self.document {
            write!(f, "document {d}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", escape_controls(&self.path))?;
        }
        f.write_str(&escape_controls(&self.message))
    }
}

/// A text as it may be printed on a terminal: control characters (C0 but tab, DEL, C1) and the bidirectional
/// overrides that reorder what a reader sees are shown as `\u{1b}`; everything else is kept. Borrowed when
/// nothing needs escaping.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
