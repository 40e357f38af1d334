//! Data-driven validation cases: each `tests/cases/*.yaml` declares the errors it must produce in its header.
//!
//! ```text
//! # expect: 14:7 spec.subnets.default.vlan "outside VLAN namespace"
//! # expect: *:* - "tab"           (any position; `-` is the empty path)
//! # expect: none                  (the file is valid)
//! # transform: crlf | bom | crlf+bom   (applied to the bytes before parsing)
//! # settings: {"enableGateway": true}  (fabric settings, JSON with FabricSettings' field names)
//! ```
//!
//! The file is parsed with `parse_source`; when that finds no error, the cross-object rules run over the file's
//! objects alone. The errors found must match the expectations one to one (line, column, path, message
//! substring), so a case also proves that nothing else is reported.

#[path = "validate_support/mod.rs"]
mod common;

use std::path::PathBuf;

use hhgitops_core::diag::Diagnostic;
use hhgitops_core::settings::FabricSettings;

#[derive(Debug)]
struct Expect {
    line: Option<u32>,
    column: Option<u32>,
    path: String,
    message: String,
}

impl Expect {
    fn matches(&self, d: &Diagnostic) -> bool {
        self.line.is_none_or(|l| l == d.line)
            && self.column.is_none_or(|c| c == d.column)
            && self.path == d.path
            && d.message.contains(&self.message)
    }
}

fn parse_expect(line: &str) -> Result<Expect, String> {
    let (pos, rest) = line
        .split_once(' ')
        .ok_or("expected `L:C PATH \"MESSAGE\"`")?;
    let (l, c) = pos.split_once(':').ok_or("expected L:C")?;
    let num = |s: &str| -> Result<Option<u32>, String> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| format!("bad number {s:?}"))
        }
    };
    // The message is the quoted text after the first ` "`; paths never contain a space followed by a quote.
    let rest = rest.trim_start();
    let at = rest
        .find(" \"")
        .ok_or("expected a path and a quoted message")?;
    let (path, msg) = (&rest[..at], rest[at + 1..].trim());
    let msg = msg
        .strip_prefix('"')
        .and_then(|m| m.strip_suffix('"'))
        .ok_or("the message must be quoted")?
        .replace("\\\"", "\"");
    Ok(Expect {
        line: num(l)?,
        column: num(c)?,
        path: if path == "-" {
            String::new()
        } else {
            path.to_string()
        },
        message: msg,
    })
}

struct Case {
    settings: FabricSettings,
    expects: Vec<Expect>,
    valid: bool,
    bytes: Vec<u8>,
}

fn load(path: &PathBuf) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut expects = Vec::new();
    let mut valid = false;
    let mut transform = String::new();
    let mut settings = FabricSettings::default();
    for line in text.lines() {
        if let Some(j) = line.strip_prefix("# settings: ") {
            settings = serde_json::from_str(j).map_err(|e| format!("bad settings: {e}"))?;
        }
        if let Some(e) = line.strip_prefix("# expect: ") {
            if e.trim() == "none" {
                valid = true;
            } else {
                expects.push(parse_expect(e.trim())?);
            }
        } else if let Some(t) = line.strip_prefix("# transform: ") {
            transform = t.trim().to_string();
        }
    }
    if valid != expects.is_empty() {
        return Err(
            "a case needs `# expect: none` or at least one `# expect:` line (not both)".into(),
        );
    }
    let mut bytes = text.into_bytes();
    for t in transform.split('+').filter(|t| !t.is_empty()) {
        match t {
            "crlf" => {
                bytes = String::from_utf8_lossy(&bytes)
                    .replace('\n', "\r\n")
                    .into_bytes()
            }
            "bom" => {
                bytes.splice(0..0, [0xEF, 0xBB, 0xBF]);
            }
            other => return Err(format!("unknown transform {other:?}")),
        };
    }
    Ok(Case {
        settings,
        expects,
        valid,
        bytes,
    })
}

fn run_case(path: &PathBuf) -> Result<(), String> {
    let case = load(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (report, state) = common::validate_file(&name, &case.bytes, &case.settings);
    let mut found: Vec<Diagnostic> = report.errors.clone();
    if report.errors.is_empty() {
        found.extend(state.errors.iter().cloned());
    }
    let shown = || {
        found
            .iter()
            .map(|d| {
                format!(
                    "  {}:{} {} {:?}",
                    d.line,
                    d.column,
                    if d.path.is_empty() { "-" } else { &d.path },
                    d.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if std::env::var_os("HHGITOPS_CASES_PRINT").is_some() {
        eprintln!("{name}:\n{}", shown());
    }
    if case.valid {
        return if found.is_empty() {
            Ok(())
        } else {
            Err(format!("expected no errors, found:\n{}", shown()))
        };
    }
    let mut unmatched: Vec<bool> = vec![true; found.len()];
    let mut missing = Vec::new();
    for e in &case.expects {
        match found
            .iter()
            .enumerate()
            .position(|(i, d)| unmatched[i] && e.matches(d))
        {
            Some(i) => unmatched[i] = false,
            None => missing.push(format!("{e:?}")),
        }
    }
    let extra: Vec<&Diagnostic> = found
        .iter()
        .zip(&unmatched)
        .filter(|(_, u)| **u)
        .map(|(d, _)| d)
        .collect();
    if missing.is_empty() && extra.is_empty() && std::env::var_os("HHGITOPS_BLESS_CASES").is_some()
    {
        bless(path, &case, &found)?;
    }
    if missing.is_empty() && extra.is_empty() {
        // Every error names its document and, past the document level, the object.
        for d in &found {
            if d.document.is_none() && d.line == 0 {
                return Err(format!("error without position: {d:?}"));
            }
        }
        Ok(())
    } else {
        Err(format!(
            "missing: {missing:#?}\nunexpected: {}\nall errors:\n{}",
            extra.len(),
            shown()
        ))
    }
}

/// `HHGITOPS_BLESS_CASES=1`: pins every `*:*` expectation to the position of the error it matched (review the
/// diff: the position must point at the offending node).
fn bless(path: &PathBuf, case: &Case, found: &[Diagnostic]) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut used = vec![false; found.len()];
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        if let Some(e) = body.strip_prefix("# expect: *:* ") {
            let exp = parse_expect(&format!("*:* {e}"))?;
            if let Some(i) = found
                .iter()
                .enumerate()
                .position(|(i, d)| !used[i] && exp.matches(d))
            {
                used[i] = true;
                out.push_str(&format!(
                    "# expect: {}:{} {e}\n",
                    found[i].line, found[i].column
                ));
                continue;
            }
        }
        out.push_str(line);
    }
    let _ = case;
    std::fs::write(path, out).map_err(|e| e.to_string())
}

#[test]
fn cases() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    assert!(
        paths.len() >= 40,
        "expected dozens of cases, found {}",
        paths.len()
    );
    let mut failures = Vec::new();
    for p in &paths {
        if let Err(e) = run_case(p) {
            failures.push(format!("{}:\n{e}", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
}
