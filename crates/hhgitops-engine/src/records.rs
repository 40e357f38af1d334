//! The `.hnp/` records of a GitOps root: the manifest (layout version, fabric, inventory) and the archive log
//! (every operation). Both are versioned YAML, documented in docs/layout.md, written atomically.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::{ARCHIVE_LOG, MANIFEST};
use crate::sandbox::RootDir;

/// Largest manifest or archive log read: hhgitops' own files have their own limit, never the raw-file limit
/// (a fabric of a few hundred thousand objects has a manifest of a few hundred megabytes).
pub const MAX_RECORD_BYTES: u64 = 2 << 30;

/// The YAML limits for hhgitops' own files: their size, no aliases, shallow.
pub fn record_limits() -> hhgitops_core::yaml::Limits {
    hhgitops_core::yaml::Limits {
        max_bytes: MAX_RECORD_BYTES as usize,
        max_alias_nodes: 0,
        max_depth: 32,
        max_nodes: usize::MAX,
        max_entries: usize::MAX,
    }
}

/// The layout version this build writes and understands.
pub const LAYOUT_VERSION: u32 = 1;
/// The archive-log format version this build writes and understands.
pub const LOG_VERSION: u32 = 1;

/// `.hnp/manifest.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub layout_version: u32,
    pub fabric: String,
    /// Every managed object, sorted by kind (apply order), then name.
    #[serde(default)]
    pub inventory: Vec<InventoryEntry>,
}

/// One managed object in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryEntry {
    pub kind: String,
    pub name: String,
    /// Relative to the GitOps root: `managed/vpcs/vpc-1.yaml`.
    pub file: String,
    /// sha256 of the managed file.
    pub sha256: String,
    /// Where the object came from; absent for objects not ingested from raw/ (imported, or found by reindex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The raw file and document an object came from. The file's name and hash are shared by every object of that
/// file (a large raw file's thousands of inventory entries hold one copy of each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// The raw file, relative to the GitOps root, as it was named when ingested.
    #[serde(with = "shared_str")]
    pub file: Arc<str>,
    /// 1-based document index.
    pub document: usize,
    /// sha256 of the raw file.
    #[serde(with = "shared_str")]
    pub sha256: Arc<str>,
}

/// A shared string read and written as a plain string.
mod shared_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(d).map(Arc::from)
    }
}

/// Makes the entries of one raw file share its name and hash again (after a manifest was read: each entry's
/// copy was read on its own).
pub fn share_sources(inventory: &mut [InventoryEntry]) {
    let mut seen: std::collections::HashSet<Arc<str>> = std::collections::HashSet::new();
    let mut share = |s: &mut Arc<str>| match seen.get(s) {
        Some(known) => *s = known.clone(),
        None => {
            seen.insert(s.clone());
        }
    };
    for src in inventory.iter_mut().filter_map(|e| e.source.as_mut()) {
        share(&mut src.file);
        share(&mut src.sha256);
    }
}

impl Manifest {
    pub fn new(fabric: &str) -> Self {
        Manifest {
            layout_version: LAYOUT_VERSION,
            fabric: fabric.to_string(),
            inventory: Vec::new(),
        }
    }

    /// Sorts the inventory into its canonical order (kind in apply order, then name).
    pub fn sort(&mut self) {
        self.inventory.sort_by(inventory_order);
    }

    pub fn to_yaml(&self) -> Result<String> {
        let mut out = Vec::new();
        self.write_yaml(&mut out)?;
        String::from_utf8(out).map_err(|e| Error::Runtime(format!("manifest: {e}")))
    }

    /// Writes the manifest's YAML to `out` entry by entry, in canonical order, never as one JSON tree of the
    /// whole inventory nor as one string (memory: the text of a large fabric's manifest is larger than its
    /// input); the bytes are those of emitting the whole manifest at once (kubectl style: list items at their
    /// key's indentation, keys sorted).
    pub fn write_yaml(&self, out: &mut dyn std::io::Write) -> Result<()> {
        let err = |e: serde_json::Error| Error::Runtime(format!("manifest: {e}"));
        let io = |e: std::io::Error| Error::Runtime(format!("manifest: {e}"));
        out.write_all(
            b"# hhgitops manifest: layout version, fabric, and the inventory of managed objects.\n# Written by hhgitops; see docs/layout.md.\n",
        )
        .map_err(io)?;
        let emit = hhgitops_core::yaml::emit;
        let empty = Manifest {
            layout_version: self.layout_version,
            fabric: self.fabric.clone(),
            inventory: Vec::new(),
        };
        let head = emit(&serde_json::to_value(&empty).map_err(err)?);
        if self.inventory.is_empty() {
            return out.write_all(head.as_bytes()).map_err(io);
        }
        // The other fields as they are emitted, with the entries where the empty list stands.
        let (before, after) = head.split_once("inventory: []\n").ok_or_else(|| {
            Error::Runtime("manifest: the emitter wrote no empty inventory".into())
        })?;
        out.write_all(before.as_bytes()).map_err(io)?;
        out.write_all(b"inventory:\n").map_err(io)?;
        let mut order: Vec<&InventoryEntry> = self.inventory.iter().collect();
        order.sort_by(|a, b| inventory_order(a, b));
        for e in order {
            out.write_all(emit(&serde_json::to_value([e]).map_err(err)?).as_bytes())
                .map_err(io)?;
        }
        out.write_all(after.as_bytes()).map_err(io)
    }

    pub fn write(&self, root: &RootDir) -> Result<()> {
        write_record(root, MANIFEST, self.to_yaml()?.as_bytes())
    }
}

/// The canonical order of the inventory: kind in apply order, then name.
fn inventory_order(a: &InventoryEntry, b: &InventoryEntry) -> std::cmp::Ordering {
    let ka = hhgitops_core::Kind::from_kind_name(&a.kind);
    let kb = hhgitops_core::Kind::from_kind_name(&b.kind);
    (ka, &a.kind, &a.name).cmp(&(kb, &b.kind, &b.name))
}

/// Writes one of hhgitops' own files atomically, through the root's sandbox.
pub fn write_record(root: &RootDir, rel: &str, bytes: &[u8]) -> Result<()> {
    root.write_atomic(rel, bytes)
        .map_err(|e| Error::io("cannot write", root.abs(rel), e))
}

/// What an archive-log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Init,
    Migrate,
    Ingest,
    Reject,
    Update,
    Delete,
    Import,
}

/// `.hnp/archive-log.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveLog {
    pub log_version: u32,
    pub fabric: String,
    #[serde(default)]
    pub entries: Vec<LogEntry>,
}

/// One operation. Paths are relative to the GitOps root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogEntry {
    /// RFC 3339 UTC.
    pub time: String,
    pub operation: Option<Operation>,
    /// The files the operation read or moved (raw files; for migrate, `from -> to`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub updated: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Entries carried over from a Hedgehog NetBox Plugin log keep the original operation name here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_operation: Option<String>,
    /// Who the operation ran for (the server's token name, or `watcher`); absent from the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl LogEntry {
    pub fn new(operation: Operation) -> Self {
        LogEntry {
            time: crate::clock::now_rfc3339(),
            operation: Some(operation),
            actor: crate::actor::current(),
            ..Default::default()
        }
    }
}

impl ArchiveLog {
    pub fn new(fabric: &str) -> Self {
        ArchiveLog {
            log_version: LOG_VERSION,
            fabric: fabric.to_string(),
            entries: Vec::new(),
        }
    }

    pub fn to_yaml(&self) -> Result<String> {
        let v =
            serde_json::to_value(self).map_err(|e| Error::Runtime(format!("archive log: {e}")))?;
        Ok(format!(
            "# hhgitops archive log: every operation on this GitOps root, oldest first. Append-only.\n# Written by hhgitops; see docs/layout.md.\n{}",
            hhgitops_core::yaml::emit(&v)
        ))
    }

    pub fn write(&self, root: &RootDir) -> Result<()> {
        write_record(root, ARCHIVE_LOG, self.to_yaml()?.as_bytes())
    }

    /// The archive log of a root (a new one when there is none).
    pub fn read(root: &RootDir, fabric: &str) -> Result<ArchiveLog> {
        match read_yaml(root, ARCHIVE_LOG)? {
            Some(v) => parse_archive_log(&root.abs(ARCHIVE_LOG), v),
            None => Ok(ArchiveLog::new(fabric)),
        }
    }

    /// Appends entries to the root's log (read, append, atomic rewrite).
    pub fn append(
        root: &RootDir,
        fabric: &str,
        entries: impl IntoIterator<Item = LogEntry>,
    ) -> Result<()> {
        let mut log = ArchiveLog::read(root, fabric)?;
        log.entries.extend(entries);
        log.write(root)
    }
}

/// Reads one of hhgitops' own YAML files (`rel` beneath the root, with the records' own limits) into JSON.
/// `Ok(None)` when the file does not exist or holds no document.
pub fn read_yaml(root: &RootDir, rel: &str) -> Result<Option<serde_json::Value>> {
    Ok(read_yaml_node(root, rel)?.map(|n| n.to_json()))
}

/// One of hhgitops' own YAML files as its parsed tree (`None`: the file does not exist).
fn read_yaml_node(root: &RootDir, rel: &str) -> Result<Option<hhgitops_core::yaml::Node>> {
    let path = root.abs(rel);
    let bytes = match root.read_max(rel, MAX_RECORD_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    let docs = hhgitops_core::yaml::parse_stream(&bytes, &record_limits()).map_err(|e| {
        Error::Corrupt {
            path: path.clone(),
            message: format!("unreadable YAML at {}:{}: {}", e.line, e.column, e.message),
        }
    })?;
    drop(bytes);
    let mut roots = docs.into_iter().filter_map(|d| d.root);
    let first = roots.next();
    if roots.next().is_some() {
        return Err(Error::Corrupt {
            path,
            message: "holds more than one document".into(),
        });
    }
    Ok(first)
}

/// What a manifest file turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestState {
    Missing,
    Current(Manifest),
    /// Written by the Hedgehog NetBox Plugin: needs an upgrade.
    Hnp(serde_json::Value),
}

/// True when a mapping looks like the Hedgehog NetBox Plugin's manifest.
pub fn is_hnp_manifest(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|m| {
        !m.contains_key("layoutVersion")
            && [
                "fabric_name",
                "crd_directories",
                "archive_strategy",
                "structure_version",
                "gitops_initialized",
            ]
            .iter()
            .any(|k| m.contains_key(*k))
    })
}

pub fn read_manifest(root: &RootDir) -> Result<ManifestState> {
    let path = &root.abs(MANIFEST);
    let Some(node) = read_yaml_node(root, MANIFEST)? else {
        return Ok(ManifestState::Missing);
    };
    // Anything that is not a manifest of this layout, or does not decode, takes the checks below, which say what
    // is wrong with it.
    if let Some(manifest) = decode_current(&node) {
        return Ok(ManifestState::Current(manifest));
    }
    let v = node.to_json();
    drop(node);
    if is_hnp_manifest(&v) {
        return Ok(ManifestState::Hnp(v));
    }
    if let Some(ver) = v.get("layoutVersion").and_then(|x| x.as_u64()) {
        if ver != u64::from(LAYOUT_VERSION) {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                message: format!(
                    "unknown layout version {ver} (this hhgitops understands {LAYOUT_VERSION}): upgrade hhgitops"
                ),
            });
        }
    }
    let mut manifest: Manifest = serde_json::from_value(v).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: format!("not a valid manifest ({e}); restore it from Git or move it aside and run `hhgitops init`"),
    })?;
    share_sources(&mut manifest.inventory);
    Ok(ManifestState::Current(manifest))
}

/// A manifest of this layout decoded straight from its YAML tree (memory: the same manifest as a JSON tree beside
/// the YAML tree was ten times its size), its sources shared; `None` when it is not one or does not decode.
fn decode_current(node: &hhgitops_core::yaml::Node) -> Option<Manifest> {
    let version = node.get_key("layoutVersion")?.to_json().as_u64()?;
    if version != u64::from(LAYOUT_VERSION) {
        return None;
    }
    let mut manifest: Manifest = hhgitops_core::yaml::decode(node).ok()?;
    share_sources(&mut manifest.inventory);
    Some(manifest)
}

/// True when a mapping looks like the Hedgehog NetBox Plugin's archive log.
pub fn is_hnp_archive_log(v: &serde_json::Value) -> bool {
    v.as_object()
        .is_some_and(|m| !m.contains_key("logVersion") && m.contains_key("operations"))
}

pub fn parse_archive_log(path: &std::path::Path, v: serde_json::Value) -> Result<ArchiveLog> {
    if let Some(ver) = v.get("logVersion").and_then(|x| x.as_u64()) {
        if ver != u64::from(LOG_VERSION) {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                message: format!(
                    "unknown archive-log version {ver} (this hhgitops understands {LOG_VERSION})"
                ),
            });
        }
    }
    serde_json::from_value(v).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: format!("not a valid archive log ({e}); restore it from Git"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest as one JSON tree emitted at once: what `to_yaml` must write byte for byte.
    fn emitted_whole(m: &Manifest) -> String {
        let mut m = m.clone();
        m.sort();
        let v = serde_json::to_value(&m).unwrap();
        format!(
            "# hhgitops manifest: layout version, fabric, and the inventory of managed objects.\n# Written by hhgitops; see docs/layout.md.\n{}",
            hhgitops_core::yaml::emit(&v)
        )
    }

    #[test]
    fn the_manifest_written_entry_by_entry_is_the_manifest_emitted_whole() {
        let entry = |kind: &str, name: &str, source: bool| InventoryEntry {
            kind: kind.into(),
            name: name.into(),
            file: format!("managed/x/{name}.yaml"),
            sha256: "0".repeat(64),
            source: source.then(|| Source {
                file: "raw/a b: c.yaml".into(),
                document: 3,
                sha256: "1".repeat(64).into(),
            }),
        };
        let mut m = Manifest::new("true");
        assert_eq!(m.to_yaml().unwrap(), emitted_whole(&m));
        m.inventory = vec![
            entry("VPC", "vpc-2", true),
            entry("VLANNamespace", "default", false),
            entry("Switch", "1", true),
            entry("VPC", "vpc-1", false),
            entry("Unknown", "yes", true),
        ];
        let text = m.to_yaml().unwrap();
        assert_eq!(text, emitted_whole(&m));
        assert!(text.contains("inventory:\n- "), "{text}");
        // And it reads back as the same manifest.
        let docs = hhgitops_core::yaml::parse_stream(text.as_bytes(), &record_limits()).unwrap();
        let back: Manifest =
            serde_json::from_value(docs[0].root.as_ref().unwrap().to_json()).unwrap();
        let mut sorted = m.clone();
        sorted.sort();
        assert_eq!(back, sorted);
    }

    /// `read_manifest` decodes a manifest straight from its YAML tree: the manifest written, with the entries of
    /// one raw file sharing its name and hash; a manifest that does not decode is still reported as before (the
    /// checks of the JSON path).
    #[test]
    fn a_manifest_read_back_is_the_manifest_written_with_shared_sources() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".hnp")).unwrap();
        let dir = crate::layout::GitOpsRoot::new(tmp.path())
            .sandbox()
            .unwrap();
        let entry = |name: &str, sha: &str| InventoryEntry {
            kind: "VPC".into(),
            name: name.into(),
            file: format!("managed/vpcs/{name}.yaml"),
            // Strings a YAML reader would take for numbers or booleans unless quoted.
            sha256: sha.into(),
            source: Some(Source {
                file: "raw/null.yaml".into(),
                document: 2,
                sha256: "12".repeat(32).into(),
            }),
        };
        let mut m = Manifest::new("fab");
        m.inventory = vec![entry("vpc-1", "true"), entry("vpc-2", &"9".repeat(64))];
        m.inventory.push(InventoryEntry {
            source: None,
            ..entry("vpc-3", "0x10")
        });
        m.write(&dir).unwrap();
        // Decoded from the YAML tree itself, not by the JSON fallback.
        let node = read_yaml_node(&dir, MANIFEST).unwrap().unwrap();
        assert_eq!(decode_current(&node).as_ref(), Some(&m));
        let ManifestState::Current(back) = read_manifest(&dir).unwrap() else {
            panic!("not read as a current manifest");
        };
        assert_eq!(back, m);
        let (a, b) = (
            back.inventory[0].source.as_ref().unwrap(),
            back.inventory[1].source.as_ref().unwrap(),
        );
        assert!(Arc::ptr_eq(&a.file, &b.file) && Arc::ptr_eq(&a.sha256, &b.sha256));

        std::fs::write(
            tmp.path().join(MANIFEST),
            "layoutVersion: 1\nfabric: fab\ninventory: []\nextra: 1\n",
        )
        .unwrap();
        let e = read_manifest(&dir).unwrap_err().to_string();
        assert!(
            e.contains("not a valid manifest") && e.contains("extra"),
            "{e}"
        );
    }
}
