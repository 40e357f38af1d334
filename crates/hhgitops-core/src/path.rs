//! Field paths into a document (`spec.subnets.default.vlan`, `spec.links[0].server.port`,
//! `metadata.labels["fabric.githedgehog.com/vpc"]`): what validation errors point at.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

/// A path from a document's root to one of its nodes. The empty path is the document itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<PathSegment>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Parses the display form back (`a.b[2]["x.y"]`). Returns `None` on malformed input.
    pub fn parse(s: &str) -> Option<Self> {
        let mut segs = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'.' if !segs.is_empty() => i += 1,
                b'[' => {
                    if b.get(i + 1) == Some(&b'"') {
                        let mut key = String::new();
                        let mut j = i + 2;
                        loop {
                            match *b.get(j)? {
                                b'\\' => {
                                    key.push(*b.get(j + 1)? as char);
                                    j += 2;
                                }
                                b'"' => break,
                                _ => {
                                    let ch = s[j..].chars().next()?;
                                    key.push(ch);
                                    j += ch.len_utf8();
                                }
                            }
                        }
                        if b.get(j + 1) != Some(&b']') {
                            return None;
                        }
                        segs.push(PathSegment::Key(key));
                        i = j + 2;
                    } else {
                        let end = s[i..].find(']')? + i;
                        segs.push(PathSegment::Index(s[i + 1..end].parse().ok()?));
                        i = end + 1;
                    }
                    continue;
                }
                _ => {}
            }
            if i >= b.len() {
                break;
            }
            let end = s[i..].find(['.', '[']).map(|e| e + i).unwrap_or(s.len());
            if end == i {
                return None;
            }
            segs.push(PathSegment::Key(s[i..end].to_string()));
            i = end;
        }
        Some(FieldPath(segs))
    }

    pub fn push_key(&mut self, k: impl Into<String>) {
        self.0.push(PathSegment::Key(k.into()));
    }

    pub fn push_index(&mut self, i: usize) {
        self.0.push(PathSegment::Index(i));
    }

    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.push_key(k);
        p
    }

    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.push_index(i);
        p
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty() && !k.contains(['.', '[', ']', '"', ' ', '\\'])
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Key(k) if is_plain_key(k) => {
                    if n > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                PathSegment::Key(k) => {
                    f.write_str("[\"")?;
                    for c in k.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"]")?;
                }
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Builds a path from literal segments: `field_path!("spec", "links", 0, "server")`.
#[macro_export]
macro_rules! field_path {
    ($($seg:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut p = $crate::path::FieldPath::root();
        $( $crate::path::IntoSegment::push_onto($seg, &mut p); )*
        p
    }};
}

/// Helper trait of [`field_path!`].
pub trait IntoSegment {
    fn push_onto(self, p: &mut FieldPath);
}
impl IntoSegment for &str {
    fn push_onto(self, p: &mut FieldPath) {
        p.push_key(self)
    }
}
impl IntoSegment for String {
    fn push_onto(self, p: &mut FieldPath) {
        p.push_key(self)
    }
}
impl IntoSegment for &String {
    fn push_onto(self, p: &mut FieldPath) {
        p.push_key(self.as_str())
    }
}
impl IntoSegment for usize {
    fn push_onto(self, p: &mut FieldPath) {
        p.push_index(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let p = field_path!("metadata", "labels", "fabric.githedgehog.com/vpc");
        assert_eq!(
            p.to_string(),
            "metadata.labels[\"fabric.githedgehog.com/vpc\"]"
        );
        assert_eq!(FieldPath::parse(&p.to_string()), Some(p));
        let q = field_path!("spec", "links", 0usize, "server", "port");
        assert_eq!(q.to_string(), "spec.links[0].server.port");
        assert_eq!(FieldPath::parse(&q.to_string()), Some(q));
        let r = field_path!("spec", "portBreakouts", "E1/55");
        assert_eq!(r.to_string(), "spec.portBreakouts.E1/55");
        assert_eq!(FieldPath::parse("spec.portBreakouts.E1/55"), Some(r));
        assert_eq!(FieldPath::parse(""), Some(FieldPath::root()));
    }
}
