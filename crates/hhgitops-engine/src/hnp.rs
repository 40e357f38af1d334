//! Managed files the Hedgehog NetBox Plugin (HNP) left behind, recognised by any of its marks: its
//! `hnp.githedgehog.com/*` annotations, its header comment ("Normalized by Hedgehog NetBox Plugin"), and the
//! `<name>-N.yaml` copies it wrote beside `<name>.yaml` each time it ingested an object again.
//!
//! `init --migrate` (and `onboard`) brings them into the layout, in the one migration commit:
//! - a copy whose object equals the managed file's (compared in normalized form, so the plugin's annotations,
//!   header and key order do not count) is removed — lossless, logged in the archive log;
//! - a copy that differs is moved to `.hnp/hnp-duplicates/<plural>/` and reported with its diff: a person
//!   decides (never merged); `init --check` reports it until it is deleted;
//! - a copy whose original is gone becomes `<name>.yaml`;
//! - every other marked file is rewritten in normalized form (annotations and header dropped).
//!
//! Planning reads and decides; applying checks that every file still has the content that was planned
//! (sha256) before it removes, moves or rewrites it. Without `--migrate` the plan is only reported.

use std::collections::{BTreeMap, BTreeSet};

use hhgitops_core::model::meta::is_server_owned_annotation;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::validate::parse_source;
use hhgitops_core::{yaml, Kind};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::layout::plan::{Action, Problem};
use crate::names::MANAGED;
use crate::records::{LogEntry, Operation};
use crate::sandbox::{FileKind, RootDir};

/// Where differing copies wait for a person: `.hnp/hnp-duplicates/<plural>/<file>`.
pub const DUPLICATES_DIR: &str = ".hnp/hnp-duplicates";
/// The plugin's header comment, written above every managed file.
pub const HEADER_MARK: &str = "Normalized by Hedgehog NetBox Plugin";
/// The plugin's annotation prefix.
pub const ANNOTATION_MARK: &str = "hnp.githedgehog.com/";
/// Managed files larger than this are not looked at (the plugin wrote one small object per file).
const MAX_SCANNED: u64 = 16 << 20;

/// What the scan found: the steps `init --migrate` takes, and what needs a person.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub actions: Vec<Action>,
    pub warnings: Vec<Problem>,
}

/// One managed file looked at closely.
struct Scanned {
    rel: String,
    stem: String,
    sha256: String,
    /// `metadata.name` of its one document.
    name: Option<String>,
    /// The normalized form, when the file decodes as one object of its folder's kind.
    normalized: Option<String>,
    /// Its one document as JSON without the plugin's annotations, for files that do not decode.
    value: Option<serde_json::Value>,
    /// The first error when it does not decode.
    error: Option<String>,
    header: bool,
    annotations: usize,
}

impl Scanned {
    fn marked(&self) -> bool {
        self.header || self.annotations > 0
    }

    /// The text shown in diffs: the normalized form, or the document re-emitted.
    fn shown(&self) -> String {
        match (&self.normalized, &self.value) {
            (Some(n), _) => n.clone(),
            (None, Some(v)) => yaml::emit(v),
            (None, None) => String::new(),
        }
    }

    /// Same object as `other`: equal normalized forms, or (when either does not decode) equal documents.
    fn same_as(&self, other: &Scanned) -> bool {
        match (&self.normalized, &other.normalized) {
            (Some(a), Some(b)) => a == b,
            _ => self.value.is_some() && self.value == other.value,
        }
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `leaf-01-3` → (`leaf-01`, 3).
fn copy_of(stem: &str) -> Option<(&str, u64)> {
    let (orig, num) = stem.rsplit_once('-')?;
    if orig.is_empty() || num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((orig, num.parse().ok()?))
}

/// For a managed file `<name>-N.yaml` that holds the object `<name>`: what to do about the copy the plugin left.
pub(crate) fn copy_hint<'a>(stem: &str, mut found: impl Iterator<Item = &'a str>) -> &'static str {
    match (copy_of(stem), found.next(), found.next()) {
        (Some((orig, _)), Some(name), None) if name == orig => {
            " (a copy left by the Hedgehog NetBox Plugin: `hhgitops init --migrate` removes it when it equals the managed file, or sets it aside for a person)"
        }
        _ => "",
    }
}

fn has_header(text: &str) -> bool {
    text.lines()
        .take_while(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---"
        })
        .any(|l| l.trim_start().starts_with('#') && l.contains(HEADER_MARK))
}

fn scan_file(dir: &RootDir, kind: Kind, rel: &str, stem: &str) -> Result<Option<Scanned>> {
    let bytes = match dir.read_max(rel, MAX_SCANNED) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(Error::io("cannot read", dir.abs(rel), e)),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(None);
    };
    let mut s = Scanned {
        rel: rel.to_string(),
        stem: stem.to_string(),
        sha256: sha256_hex(&bytes),
        name: None,
        normalized: None,
        value: None,
        error: None,
        header: has_header(text),
        annotations: 0,
    };
    let report = parse_source(
        rel,
        &bytes,
        &yaml::Limits::default(),
        &FabricSettings::default(),
    );
    if report.objects.len() == 1 && report.documents - report.empty_documents == 1 {
        let o = &report.objects[0];
        if o.kind == kind {
            s.name = Some(o.name.clone());
            s.normalized = Some(o.normalized());
            s.annotations = o.object.metadata.annotations.as_ref().map_or(0, |a| {
                a.keys().filter(|k| k.starts_with(ANNOTATION_MARK)).count()
            });
            return Ok(Some(s));
        }
    }
    s.error = Some(match report.errors.first() {
        Some(d) => d.to_string(),
        None if report.objects.len() != 1 => {
            format!("holds {} objects, not one", report.objects.len())
        }
        None => format!("holds a {} in the folder of {kind}", report.objects[0].kind),
    });
    // Not one valid object: the document itself, for its name and an exact comparison.
    let docs = match yaml::parse_stream(&bytes, &yaml::Limits::default()) {
        Ok(d) => d,
        Err(_) => return Ok(Some(s)),
    };
    let mut roots = docs.into_iter().filter_map(|d| d.root);
    let (Some(root), None) = (roots.next(), roots.next()) else {
        return Ok(Some(s));
    };
    let mut v = root.to_json();
    s.name = v
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .map(str::to_string);
    if let Some(ann) = v
        .pointer_mut("/metadata/annotations")
        .and_then(|a| a.as_object_mut())
    {
        let before = ann.len();
        ann.retain(|k, _| !is_server_owned_annotation(k));
        s.annotations = before - ann.len();
        if ann.is_empty() {
            if let Some(md) = v.pointer_mut("/metadata").and_then(|m| m.as_object_mut()) {
                md.remove("annotations");
            }
        }
    }
    s.value = Some(v);
    Ok(Some(s))
}

fn diff(a_name: &str, a: &str, b_name: &str, b: &str) -> String {
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(a_name, b_name)
        .to_string()
}

/// Scans managed/ for the plugin's marks and decides what `init --migrate` does about them.
pub(crate) fn scan(dir: &RootDir) -> Result<Findings> {
    let mut out = Findings::default();
    let mut taken_aside: BTreeSet<String> = BTreeSet::new();
    for kind in Kind::ALL {
        let folder = format!("{MANAGED}/{}", kind.plural());
        let entries = match dir.list(&folder) {
            Ok(e) => e,
            Err(_) => continue,
        };
        let names: BTreeSet<String> = entries
            .into_iter()
            .filter(|e| e.kind == FileKind::File)
            .filter_map(|e| e.utf8().map(str::to_string))
            .filter(|n| !n.starts_with('.') && n.ends_with(".yaml"))
            .collect();
        // Files worth reading closely: copies beside their original, and every file with a mark.
        let mut scanned: BTreeMap<String, Scanned> = BTreeMap::new();
        for file in &names {
            let stem = file.trim_end_matches(".yaml");
            let rel = format!("{folder}/{file}");
            let copy = copy_of(stem).is_some();
            if !copy {
                // Cheap test first: only files that mention a mark are parsed.
                match dir.read_max(&rel, MAX_SCANNED) {
                    Ok(b) => {
                        let t = String::from_utf8_lossy(&b);
                        if !t.contains(ANNOTATION_MARK) && !t.contains(HEADER_MARK) {
                            continue;
                        }
                    }
                    Err(_) => continue,
                }
            }
            if let Some(s) = scan_file(dir, kind, &rel, stem)? {
                scanned.insert(stem.to_string(), s);
            }
        }
        // Originals of copies that were skipped by the cheap test are needed for the comparison.
        let wanted: Vec<String> = scanned
            .values()
            .filter_map(|s| {
                let (orig, _) = copy_of(&s.stem)?;
                (s.name.as_deref() == Some(orig)).then(|| orig.to_string())
            })
            .filter(|orig| !scanned.contains_key(orig) && names.contains(&format!("{orig}.yaml")))
            .collect();
        for orig in wanted {
            let rel = format!("{folder}/{orig}.yaml");
            if let Some(s) = scan_file(dir, kind, &rel, &orig)? {
                scanned.insert(orig, s);
            }
        }

        // Group the copies by the object they hold.
        let mut groups: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        for s in scanned.values() {
            if let (Some((orig, n)), Some(name)) = (copy_of(&s.stem), s.name.as_deref()) {
                if orig == name {
                    groups
                        .entry(orig.to_string())
                        .or_default()
                        .push((n, s.stem.clone()));
                }
            }
        }
        let mut handled: BTreeSet<String> = BTreeSet::new();
        for (orig, mut copies) in groups {
            copies.sort();
            let orig_rel = format!("{folder}/{orig}.yaml");
            let keeper: String = match scanned.get(&orig) {
                Some(s) if s.name.as_deref() == Some(orig.as_str()) => orig.clone(),
                Some(_) => {
                    for (_, c) in &copies {
                        out.warnings.push(Problem {
                            path: scanned[c].rel.clone(),
                            message: format!("a copy of {kind} {orig} left by the Hedgehog NetBox Plugin, but {orig_rel} holds something else: a person decides which file is {kind} {orig}"),
                            fixable: false,
                        });
                        handled.insert(c.clone());
                    }
                    continue;
                }
                None if names.contains(&format!("{orig}.yaml")) => {
                    // The original is there but unreadable as UTF-8 or too large: leave it all to a person.
                    continue;
                }
                None => {
                    // The original is gone: the first copy takes its name.
                    let (_, first) = copies.remove(0);
                    let s = &scanned[&first];
                    out.actions.push(Action::RenameHnpCopy {
                        from: s.rel.clone(),
                        to: orig_rel.clone(),
                        sha256: s.sha256.clone(),
                    });
                    if s.marked() && s.normalized.is_some() {
                        out.actions.push(strip(s, &orig_rel));
                    }
                    handled.insert(first.clone());
                    first
                }
            };
            let kept = &scanned[&keeper];
            let kept_rel = orig_rel.clone();
            for (_, c) in copies {
                let s = &scanned[&c];
                handled.insert(c.clone());
                if s.same_as(kept) {
                    out.actions.push(Action::RemoveHnpDuplicate {
                        path: s.rel.clone(),
                        original: kept_rel.clone(),
                        sha256: s.sha256.clone(),
                    });
                } else {
                    let to = aside_target(dir, kind, &format!("{c}.yaml"), &mut taken_aside);
                    out.actions.push(Action::SetAsideHnpDuplicate {
                        diff: diff(&kept_rel, &kept.shown(), &s.rel, &s.shown()),
                        from: s.rel.clone(),
                        to,
                        original: kept_rel.clone(),
                        sha256: s.sha256.clone(),
                    });
                }
            }
        }
        for s in scanned.values() {
            if handled.contains(&s.stem) || !s.marked() {
                continue;
            }
            match (&s.normalized, s.name.as_deref()) {
                (Some(_), Some(name)) if name == s.stem => out.actions.push(strip(s, &s.rel)),
                _ => out.warnings.push(Problem {
                    path: s.rel.clone(),
                    message: format!(
                        "written by the Hedgehog NetBox Plugin but not a managed {kind} named {:?} ({}): fix it by hand, or delete it and put the object into raw/",
                        s.stem,
                        s.error.as_deref().unwrap_or("its name differs from the file's")
                    ),
                    fixable: false,
                }),
            }
        }
    }
    out.warnings.extend(set_aside_waiting(dir));
    Ok(out)
}

fn strip(s: &Scanned, path: &str) -> Action {
    Action::StripHnpMarks {
        path: path.to_string(),
        annotations: s.annotations,
        header: s.header,
        sha256: s.sha256.clone(),
    }
}

/// `.hnp/hnp-duplicates/<plural>/<file>`, or `<stem>.<n>.yaml` there when that is taken.
fn aside_target(dir: &RootDir, kind: Kind, file: &str, taken: &mut BTreeSet<String>) -> String {
    let base = format!("{DUPLICATES_DIR}/{}", kind.plural());
    let stem = file.trim_end_matches(".yaml");
    let mut candidate = format!("{base}/{file}");
    let mut n = 2;
    while taken.contains(&candidate) || dir.exists(&candidate) {
        candidate = format!("{base}/{stem}.{n}.yaml");
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

/// Copies set aside by an earlier migration: each needs a person until it is deleted.
fn set_aside_waiting(dir: &RootDir) -> Vec<Problem> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let folder = format!("{DUPLICATES_DIR}/{}", kind.plural());
        let Ok(entries) = dir.list(&folder) else {
            continue;
        };
        let mut files: Vec<String> = entries
            .into_iter()
            .filter(|e| e.kind == FileKind::File)
            .filter_map(|e| e.utf8().map(str::to_string))
            .collect();
        files.sort();
        for f in files {
            let stem = f.trim_end_matches(".yaml");
            let stem = stem.split_once('.').map_or(stem, |(s, _)| s);
            let orig = copy_of(stem).map_or(stem, |(o, _)| o);
            out.push(Problem {
                path: format!("{folder}/{f}"),
                message: format!(
                    "a copy left by the Hedgehog NetBox Plugin that differs from {MANAGED}/{}/{orig}.yaml: to keep its content put it into raw/ (it is ingested as an update); then delete this file",
                    kind.plural()
                ),
                fixable: false,
            });
        }
    }
    out
}

/// The planned content is still there: refuses to act on a file that changed since the plan.
fn check_unchanged(dir: &RootDir, rel: &str, sha256: &str) -> Result<Vec<u8>> {
    let bytes = dir
        .read_max(rel, MAX_SCANNED)
        .map_err(|e| Error::io("cannot read", dir.abs(rel), e))?;
    if sha256_hex(&bytes) != sha256 {
        return Err(Error::Runtime(format!(
            "{rel} changed while migrating; run init again"
        )));
    }
    Ok(bytes)
}

/// What applying the plugin's steps did, for the archive log.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    removed: Vec<String>,
    aside: Vec<String>,
    renamed: Vec<String>,
    stripped: Vec<String>,
}

impl Applied {
    pub fn log_entries(self) -> Vec<LogEntry> {
        let mut out = Vec::new();
        let mut push = |files: Vec<String>, what: &str| {
            if !files.is_empty() {
                out.push(LogEntry {
                    message: Some(format!("{what} ({} file(s))", files.len())),
                    files,
                    ..LogEntry::new(Operation::Migrate)
                });
            }
        };
        push(
            self.renamed,
            "renamed copies left by the Hedgehog NetBox Plugin whose original was gone",
        );
        push(
            self.removed,
            "removed copies left by the Hedgehog NetBox Plugin, identical to their managed file",
        );
        push(
            self.aside,
            "set aside copies left by the Hedgehog NetBox Plugin that differ from their managed file: a person decides",
        );
        push(
            self.stripped,
            "dropped the Hedgehog NetBox Plugin's annotations and header comments",
        );
        out
    }
}

/// Carries out one of the plugin's steps (other actions are not this module's: nothing is done).
pub(crate) fn apply(
    dir: &RootDir,
    action: &Action,
    applied: &mut Applied,
    created: &mut Vec<String>,
) -> Result<()> {
    match action {
        Action::RemoveHnpDuplicate {
            path,
            original,
            sha256,
        } => {
            check_unchanged(dir, path, sha256)?;
            if !dir.exists(original) {
                return Err(Error::Runtime(format!(
                    "{original} disappeared while migrating; run init again"
                )));
            }
            dir.remove_file(path)
                .map_err(|e| Error::io("cannot remove", dir.abs(path), e))?;
            tracing::info!(file = %path, original = %original, "removed a copy identical to its managed file, left by the Hedgehog NetBox Plugin");
            applied.removed.push(format!("{path} (same as {original})"));
        }
        Action::SetAsideHnpDuplicate {
            from, to, sha256, ..
        } => {
            check_unchanged(dir, from, sha256)?;
            if let Some((parent, _)) = to.rsplit_once('/') {
                created.extend(
                    dir.create_dir_all(parent)
                        .map_err(|e| Error::io("cannot create folder", dir.abs(parent), e))?,
                );
            }
            move_no_replace(dir, from, to)?;
            tracing::warn!(file = %from, to = %to, "set aside a copy that differs from its managed file, left by the Hedgehog NetBox Plugin");
            applied.aside.push(format!("{from} -> {to}"));
        }
        Action::RenameHnpCopy { from, to, sha256 } => {
            check_unchanged(dir, from, sha256)?;
            move_no_replace(dir, from, to)?;
            applied.renamed.push(format!("{from} -> {to}"));
        }
        Action::StripHnpMarks { path, sha256, .. } => {
            let bytes = check_unchanged(dir, path, sha256)?;
            let report = parse_source(
                path,
                &bytes,
                &yaml::Limits::default(),
                &FabricSettings::default(),
            );
            let [o] = report.objects.as_slice() else {
                return Err(Error::Runtime(format!(
                    "{path} no longer holds one object; run init again"
                )));
            };
            dir.write_atomic(path, o.normalized().as_bytes())
                .map_err(|e| Error::io("cannot write", dir.abs(path), e))?;
            applied.stripped.push(path.clone());
        }
        _ => {}
    }
    Ok(())
}

fn move_no_replace(dir: &RootDir, from: &str, to: &str) -> Result<()> {
    dir.rename(from, to, true).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Runtime(format!("{to} appeared while migrating; run init again"))
        } else {
            Error::io("cannot move", dir.abs(from), e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_headers_are_recognised() {
        assert_eq!(copy_of("leaf-01-1"), Some(("leaf-01", 1)));
        assert_eq!(copy_of("vpc-12"), Some(("vpc", 12)));
        assert_eq!(copy_of("vpc"), None);
        assert_eq!(copy_of("vpc-"), None);
        assert_eq!(copy_of("-1"), None);
        assert!(has_header(
            "# VPC: v\n# Normalized by Hedgehog NetBox Plugin\n# Generated: x\n---\nkind: VPC\n"
        ));
        assert!(!has_header(
            "kind: VPC\n# Normalized by Hedgehog NetBox Plugin\n"
        ));
        assert!(copy_hint("vpc-1-1", ["vpc-1"].into_iter()).contains("init --migrate"));
        assert_eq!(copy_hint("vpc-1-1", ["vpc-1-1"].into_iter()), "");
        assert_eq!(copy_hint("vpc-1", ["vpc-2"].into_iter()), "");
    }
}
