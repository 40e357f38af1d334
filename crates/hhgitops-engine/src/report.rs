//! Report parts every operation shares: [`ErrorRecord`], one located error in the JSON form of SPEC §7.

use hhgitops_core::Diagnostic;
use serde::Serialize;

/// One error, in the JSON form of SPEC §7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord {
    /// Set when the error is located in another file than the one it is reported for (e.g. a conflict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub document: Option<usize>,
    pub line: u32,
    pub column: u32,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub path: String,
    pub message: String,
}

impl ErrorRecord {
    pub fn from_diag(d: &Diagnostic, reported_for: &str) -> Self {
        ErrorRecord {
            file: if d.file.is_empty() || d.file == reported_for {
                None
            } else {
                Some(d.file.clone())
            },
            document: d.document,
            line: d.line,
            column: d.column,
            kind: d.kind.clone(),
            name: d.name.clone(),
            path: d.path.clone(),
            message: d.message.clone(),
        }
    }

    /// An error about a file as a whole (no position).
    pub(crate) fn plain(message: impl Into<String>) -> Self {
        ErrorRecord {
            file: None,
            document: None,
            line: 0,
            column: 0,
            kind: None,
            name: None,
            path: String::new(),
            message: message.into(),
        }
    }

    /// `file:line:col: Kind name: path: message`.
    pub fn display(&self, file: &str) -> String {
        let d = Diagnostic {
            file: self.file.clone().unwrap_or_else(|| file.to_string()),
            document: self.document,
            line: self.line,
            column: self.column,
            kind: self.kind.clone(),
            name: self.name.clone(),
            path: self.path.clone(),
            message: self.message.clone(),
        };
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_only_when_it_is_another_one() {
        let d = Diagnostic::new("bad").in_file("raw/a.yaml").in_document(2);
        assert_eq!(ErrorRecord::from_diag(&d, "raw/a.yaml").file, None);
        let other = ErrorRecord::from_diag(&d, "raw/b.yaml");
        assert_eq!(other.file.as_deref(), Some("raw/a.yaml"));
        assert!(
            other.display("raw/b.yaml").starts_with("raw/a.yaml"),
            "{}",
            other.display("raw/b.yaml")
        );
    }
}
