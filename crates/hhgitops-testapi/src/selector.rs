//! Label selectors (`a=b,c!=d,e in (f,g),h,!i`) and the field selectors the server supports
//! (`metadata.name` and `metadata.namespace` with `=`, `==`, `!=`).

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn check_key(key: &str, whole: &str) -> Result<String, String> {
    let valid = !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(key.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key {key:?} in {whole:?}"
        ))
    }
}

fn check_value(value: &str, whole: &str) -> Result<String, String> {
    let valid = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label value {value:?} in {whole:?}"
        ))
    }
}

fn parse_set(key: &str, rest: &str, whole: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("unable to parse requirement: expected a parenthesized set after {key:?} in {whole:?}"))?;
    inner
        .split(',')
        .map(|v| check_value(v.trim(), whole))
        .collect()
}

impl LabelSelector {
    pub fn parse(selector: &str) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        if selector.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for part in split_top_level(selector) {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "unable to parse requirement: empty requirement in {selector:?}"
                ));
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(check_key(key.trim(), selector)?)
            } else if let Some((key, rest)) = split_word(part, "notin") {
                Requirement::NotIn(check_key(key, selector)?, parse_set(key, rest, selector)?)
            } else if let Some((key, rest)) = split_word(part, "in") {
                Requirement::In(check_key(key, selector)?, parse_set(key, rest, selector)?)
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(
                    check_key(key.trim(), selector)?,
                    check_value(value.trim(), selector)?,
                )
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(
                    check_key(key.trim(), selector)?,
                    check_value(value.trim(), selector)?,
                )
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(
                    check_key(key.trim(), selector)?,
                    check_value(value.trim(), selector)?,
                )
            } else if let Some((key, value)) = part.split_once('>') {
                let n = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("unable to parse requirement: {part:?}"))?;
                Requirement::GreaterThan(check_key(key.trim(), selector)?, n)
            } else if let Some((key, value)) = part.split_once('<') {
                let n = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("unable to parse requirement: {part:?}"))?;
                Requirement::LessThan(check_key(key.trim(), selector)?, n)
            } else {
                Requirement::Exists(check_key(part, selector)?)
            };
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether an object with these labels (`metadata.labels`, possibly absent) is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::GreaterThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Requirement::LessThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }
}

/// `key in (...)` → `("key", "(...)")`, when `word` follows the key as a separate word.
fn split_word<'a>(part: &'a str, word: &str) -> Option<(&'a str, &'a str)> {
    let mut it = part.splitn(2, char::is_whitespace);
    let key = it.next()?;
    let rest = it.next()?.trim_start();
    let after = rest.strip_prefix(word)?;
    if after.starts_with(|c: char| c.is_whitespace() || c == '(') {
        Some((key, after))
    } else {
        None
    }
}

/// A field selector on `metadata.name` / `metadata.namespace`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(selector: &str) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        if selector.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for part in selector.split(',') {
            let (key, equal, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid selector: {part:?}; can't understand {part:?}"
                ));
            };
            let key = key.trim();
            if key != "metadata.name" && key != "metadata.namespace" {
                return Err(format!("field label not supported: {key}"));
            }
            reqs.push((key.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(key, equal, value)| {
            let actual = match key.as_str() {
                "metadata.name" => obj.pointer("/metadata/name"),
                _ => obj.pointer("/metadata/namespace"),
            }
            .and_then(Value::as_str)
            .unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(
            json!({"app": "web", "tier": "front", "hhgitops.githedgehog.com/fabric": "f1", "n": "5"}),
        );
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "tier in (front, back)",
            "tier notin (back)",
            "missing notin (x)",
            "app",
            "!missing",
            "hhgitops.githedgehog.com/fabric=f1,app in (web)",
            "n>4",
            "n<6",
        ];
        for s in yes {
            assert!(
                LabelSelector::parse(s).unwrap().matches(Some(&l)),
                "{s} should match"
            );
        }
        let no = [
            "app=db",
            "app!=web",
            "tier in (back)",
            "tier notin (front)",
            "missing",
            "!app",
            "app=web,tier=back",
            "n>5",
        ];
        for s in no {
            assert!(
                !LabelSelector::parse(s).unwrap().matches(Some(&l)),
                "{s} should not match"
            );
        }
        assert!(LabelSelector::parse("!app").unwrap().matches(None));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
    }

    #[test]
    fn field_selector_on_name_and_namespace() {
        let obj = json!({"metadata": {"name": "a", "namespace": "default"}});
        assert!(FieldSelector::parse("metadata.name=a")
            .unwrap()
            .matches(&obj));
        assert!(
            FieldSelector::parse("metadata.name!=b,metadata.namespace==default")
                .unwrap()
                .matches(&obj)
        );
        assert!(!FieldSelector::parse("metadata.name=b")
            .unwrap()
            .matches(&obj));
        assert!(FieldSelector::parse("spec.role=spine").is_err());
    }
}
