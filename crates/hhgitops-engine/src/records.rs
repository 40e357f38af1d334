//! The `.hnp/` records of a GitOps root: the manifest (layout version, fabric, inventory) and the archive log
//! (every operation). Both are versioned YAML, documented in docs/layout.md, written atomically.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::{ARCHIVE_LOG, MANIFEST};
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// The raw file, relative to the GitOps root, as it was named when ingested.
    pub file: String,
    /// 1-based document index.
    pub document: usize,
    /// sha256 of the raw file.
    pub sha256: String,
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
        self.inventory.sort_by(|a, b| {
            let ka = hhgitops_core::Kind::from_kind_name(&a.kind);
            let kb = hhgitops_core::Kind::from_kind_name(&b.kind);
            (ka, &a.kind, &a.name).cmp(&(kb, &b.kind, &b.name))
        });
    }

    pub fn to_yaml(&self) -> Result<String> {
        let mut m = self.clone();
        m.sort();
        let v = serde_json::to_value(&m).map_err(|e| Error::Runtime(format!("manifest: {e}")))?;
        Ok(format!(
            "# hhgitops manifest: layout version, fabric, and the inventory of managed objects.\n# Written by hhgitops; see docs/layout.md.\n{}",
            hhgitops_core::yaml::emit(&v)
        ))
    }

    pub fn write(&self, root: &RootDir) -> Result<()> {
        write_record(root, MANIFEST, self.to_yaml()?.as_bytes())
    }
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
    Ok(first.map(|n| n.to_json()))
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
    let Some(v) = read_yaml(root, MANIFEST)? else {
        return Ok(ManifestState::Missing);
    };
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
    serde_json::from_value(v).map(ManifestState::Current).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: format!("not a valid manifest ({e}); restore it from Git or move it aside and run `hhgitops init`"),
    })
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
