//! managed/ on disk, for every operation that reads it: the listing of managed files, the managed state parsed
//! from them (compared with the manifest inventory), errors in them located at their field, and a snapshot of
//! the state an operation hands to the next stage so that no file is parsed twice.
//!
//! Invariants:
//! - Only `managed/<plural>/<name>.yaml` regular files count (dotfiles, temp files, other names are left out),
//!   always read through the root's sandbox ([`crate::sandbox::RootDir`]).
//! - Loading never writes and never fails on a bad managed file: a file that does not parse, or that holds
//!   something else than its name says, is a problem of the state (reported, its object held back).
//! - Managed files are parsed without keeping their trees or their normalized form: the bytes on disk are
//!   hashed, which is what the manifest records.
//! - A [`Snapshot`] is used only while every managed file still has the hash it had when the snapshot was made
//!   ([`Snapshot::is_current`]); otherwise the state is loaded again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::FabricState;
use hhgitops_core::validate::parse_source;
use hhgitops_core::{yaml, Diagnostic, Kind};

use crate::atomic::sha256_hex;
use crate::error::{Error, Result};
use crate::fabric::Fabric;
use crate::layout::GitOpsRoot;
use crate::records::{InventoryEntry, Manifest};
use crate::sandbox::{FileKind, RootDir};

/// One managed file as found on disk.
#[derive(Debug, Clone)]
pub struct ManagedFile {
    pub file: String,
    pub sha256: String,
}

/// managed/ as it is on disk.
#[derive(Debug, Clone, Default)]
pub struct ManagedState {
    pub state: FabricState,
    pub files: BTreeMap<(Kind, String), ManagedFile>,
    /// Inventory entries whose file is gone.
    pub missing: Vec<(Kind, String)>,
    /// Valid files whose hash differs from the inventory, or that the inventory lacks.
    pub untracked_or_edited: BTreeMap<(Kind, String), InventoryEntry>,
    /// Files that fail to parse, or hold something else than their name says.
    pub problems: Vec<Diagnostic>,
    /// Every managed file read (valid or not): path → sha256 of its bytes.
    pub hashes: BTreeMap<String, String>,
}

/// A fabric's managed/ opened for one operation: its root, settings, manifest and managed state, each read once.
#[derive(Debug)]
pub struct Opened {
    pub root: GitOpsRoot,
    pub settings: FabricSettings,
    pub manifest: Manifest,
    pub managed: ManagedState,
}

/// Reads a fabric's settings, current manifest and managed state (blocking).
pub fn open(fabric: &Fabric) -> Result<Opened> {
    let root = GitOpsRoot::new(&fabric.root);
    let settings = crate::config::fabric_settings(fabric)?;
    let manifest = root.current_manifest(&fabric.name)?;
    let managed = load(&root, &manifest, &settings)?;
    Ok(Opened {
        root,
        settings,
        manifest,
        managed,
    })
}

/// The managed files of one kind (`<name>.yaml`, dotfiles and other files left out), sorted.
pub fn list(dir: &RootDir, root: &GitOpsRoot, kind: Kind) -> Result<Vec<String>> {
    let rel = format!("managed/{}", kind.plural());
    let entries = match dir.list(&rel) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", root.abs(&rel), e)),
    };
    let mut names: Vec<String> = entries
        .into_iter()
        .filter(|e| e.kind == FileKind::File)
        .filter_map(|e| e.utf8().map(str::to_string))
        .filter(|n| !n.starts_with('.') && n.ends_with(".yaml"))
        .collect();
    names.sort();
    Ok(names)
}

/// Every managed file (`managed/<plural>/<name>.yaml`) with the sha256 of its bytes.
pub fn hashes(root: &GitOpsRoot) -> Result<BTreeMap<String, String>> {
    let dir = root.sandbox()?;
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        for name in list(&dir, root, kind)? {
            let rel = format!("managed/{}/{name}", kind.plural());
            let bytes = dir
                .read(&rel)
                .map_err(|e| Error::io("cannot read", root.abs(&rel), e))?;
            out.insert(rel, sha256_hex(&bytes));
        }
    }
    Ok(out)
}

/// True when the managed files are exactly those of the manifest's inventory, each with its recorded hash.
pub fn matches_manifest(root: &GitOpsRoot, manifest: &Manifest) -> Result<bool> {
    let mut expected: BTreeMap<&str, &str> = manifest
        .inventory
        .iter()
        .map(|e| (e.file.as_str(), e.sha256.as_str()))
        .collect();
    let dir = root.sandbox()?;
    for kind in Kind::ALL {
        for name in list(&dir, root, kind)? {
            let rel = format!("managed/{}/{name}", kind.plural());
            let Some(sha) = expected.remove(rel.as_str()) else {
                return Ok(false);
            };
            let bytes = dir
                .read(&rel)
                .map_err(|e| Error::io("cannot read", root.abs(&rel), e))?;
            if sha256_hex(&bytes) != sha {
                return Ok(false);
            }
        }
    }
    Ok(expected.is_empty())
}

/// Reads every managed file into a fabric state, comparing with the manifest inventory.
pub fn load(
    root: &GitOpsRoot,
    manifest: &Manifest,
    settings: &FabricSettings,
) -> Result<ManagedState> {
    let mut out = ManagedState::default();
    let limits = yaml::Limits::default();
    let dir = root.sandbox()?;
    for kind in Kind::ALL {
        for file_name in list(&dir, root, kind)? {
            let rel = format!("managed/{}/{file_name}", kind.plural());
            let bytes = dir
                .read(&rel)
                .map_err(|e| Error::io("cannot read", root.abs(&rel), e))?;
            let sha = sha256_hex(&bytes);
            out.hashes.insert(rel.clone(), sha.clone());
            let rep = parse_source(&rel, &bytes, &limits, settings);
            if !rep.errors.is_empty() {
                out.problems.extend(rep.errors.iter().cloned());
                continue;
            }
            let stem = file_name.trim_end_matches(".yaml");
            if rep.objects.len() != 1 || rep.objects[0].kind != kind || rep.objects[0].name != stem
            {
                out.problems.push(
                    Diagnostic::new(format!(
                        "a managed file holds exactly one {kind} named {stem:?}; found {}{}",
                        rep.objects
                            .iter()
                            .map(|o| format!("{} {}", o.kind, o.name))
                            .collect::<Vec<_>>()
                            .join(", "),
                        crate::hnp::copy_hint(stem, rep.objects.iter().map(|o| o.name.as_str()))
                    ))
                    .in_file(&rel),
                );
                continue;
            }
            let o = &rep.objects[0];
            out.state.insert(
                o.object.clone(),
                hhgitops_core::state::Origin {
                    file: Arc::from(rel.as_str()),
                    document: 1,
                    span: o.span,
                    // Parsed trees of managed files are not kept (memory); errors in them are located again
                    // by `relocate` when there are any.
                    root: None,
                },
            );
            out.files.insert(
                (kind, stem.to_string()),
                ManagedFile {
                    file: rel.clone(),
                    sha256: sha.clone(),
                },
            );
        }
    }
    let mut in_manifest = BTreeSet::new();
    for e in &manifest.inventory {
        let Some(kind) = Kind::from_kind_name(&e.kind) else {
            continue;
        };
        let key = (kind, e.name.clone());
        in_manifest.insert(key.clone());
        match out.files.get(&key) {
            None => {
                if !out.problems.iter().any(|p| p.file == e.file) {
                    out.missing.push(key);
                }
            }
            Some(f) if f.sha256 != e.sha256 => {
                out.untracked_or_edited.insert(
                    key,
                    InventoryEntry {
                        kind: e.kind.clone(),
                        name: e.name.clone(),
                        file: f.file.clone(),
                        sha256: f.sha256.clone(),
                        source: None,
                    },
                );
            }
            Some(_) => {}
        }
    }
    for (key, f) in &out.files {
        if !in_manifest.contains(key) {
            out.untracked_or_edited.insert(
                key.clone(),
                InventoryEntry {
                    kind: key.0.to_string(),
                    name: key.1.clone(),
                    file: f.file.clone(),
                    sha256: f.sha256.clone(),
                    source: None,
                },
            );
        }
    }
    Ok(out)
}

/// Points errors in managed files at their field: managed objects are validated without their parsed trees, so
/// such errors start out at the document; the few files concerned are parsed again here.
pub fn relocate(root: &GitOpsRoot, diags: &mut [Diagnostic]) {
    let Ok(dir) = root.dir() else { return };
    let mut cache: BTreeMap<String, Option<hhgitops_core::yaml::Node>> = BTreeMap::new();
    for d in diags.iter_mut() {
        if !d.file.starts_with("managed/") || d.path.is_empty() {
            continue;
        }
        let node = cache.entry(d.file.clone()).or_insert_with(|| {
            let bytes = dir.read(&d.file).ok()?;
            let docs = yaml::parse_stream(&bytes, &yaml::Limits::default()).ok()?;
            docs.into_iter().find_map(|doc| doc.root)
        });
        if let (Some(n), Some(p)) = (node.as_ref(), hhgitops_core::FieldPath::parse(&d.path)) {
            let span = n.locate(&p);
            d.line = span.line;
            d.column = span.column;
        }
    }
}

/// The state of managed/ as one stage left it, for the next stage of the same operation (a sync's ingestion
/// hands it to its apply stage): the objects (parsed trees dropped), the problems of the files that were not
/// rewritten, and the hash of every managed file it stands for.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub state: FabricState,
    pub problems: Vec<Diagnostic>,
    /// `managed/…` path → sha256, of every managed file (valid or not) the state stands for.
    pub hashes: BTreeMap<String, String>,
}

impl Snapshot {
    /// A snapshot of `state` without its parsed trees (memory), for the files `hashes` lists.
    pub fn new(
        state: &FabricState,
        problems: Vec<Diagnostic>,
        hashes: BTreeMap<String, String>,
    ) -> Self {
        let mut light = FabricState::new();
        for e in state.iter() {
            let mut origin = e.origin.clone();
            origin.root = None;
            light.insert(e.object.clone(), origin);
        }
        Snapshot {
            state: light,
            problems,
            hashes,
        }
    }

    /// True when managed/ holds exactly the files the snapshot stands for, with the same bytes (a hash of each
    /// file is read: no parsing).
    pub fn is_current(&self, root: &GitOpsRoot) -> Result<bool> {
        Ok(hashes(root)? == self.hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vpc(name: &str, vlan: u16) -> String {
        format!(
            "apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: {name}\nspec:\n  subnets:\n    s1:\n      subnet: 10.10.{}.0/24\n      vlan: {vlan}\n",
            vlan - 1000
        )
    }

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, GitOpsRoot) {
        let tmp = tempfile::tempdir().unwrap();
        let root = GitOpsRoot::new(tmp.path());
        for d in ["raw", "managed", ".hnp"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        for (rel, text) in files {
            let p = tmp.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        (tmp, root)
    }

    #[test]
    fn load_compares_with_the_inventory_and_keeps_problems_apart() {
        let good = vpc("vpc-1", 1001);
        let (_tmp, root) = root_with(&[
            ("managed/vpcs/vpc-1.yaml", &good),
            ("managed/vpcs/vpc-2.yaml", &vpc("vpc-2", 1002)),
            ("managed/vpcs/wrong.yaml", &vpc("vpc-3", 1003)),
            ("managed/vpcs/.hidden.yaml", "not: [yaml"),
            ("managed/vpcs/notes.txt", "ignored"),
        ]);
        let mut manifest = Manifest::new("f");
        for (name, sha) in [
            ("vpc-1", sha256_hex(good.as_bytes())),
            ("vpc-9", "0".repeat(64)),
        ] {
            manifest.inventory.push(InventoryEntry {
                kind: "VPC".into(),
                name: name.into(),
                file: format!("managed/vpcs/{name}.yaml"),
                sha256: sha,
                source: None,
            });
        }
        let m = load(&root, &manifest, &FabricSettings::default()).unwrap();
        assert_eq!(m.state.len(), 2);
        assert!(m.state.contains(Kind::VPC, "vpc-1") && m.state.contains(Kind::VPC, "vpc-2"));
        assert_eq!(m.missing, [(Kind::VPC, "vpc-9".to_string())]);
        assert_eq!(
            m.untracked_or_edited.keys().cloned().collect::<Vec<_>>(),
            [(Kind::VPC, "vpc-2".to_string())],
            "vpc-1 matches its entry; vpc-2 is not in the inventory"
        );
        assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
        assert_eq!(m.problems[0].file, "managed/vpcs/wrong.yaml");
        assert!(m.problems[0]
            .message
            .contains("exactly one VPC named \"wrong\""));
        assert_eq!(
            m.hashes.len(),
            3,
            "every file read, valid or not; dotfiles and other names left out"
        );
        assert!(!matches_manifest(&root, &manifest).unwrap());
    }

    #[test]
    fn a_snapshot_is_current_only_while_every_file_keeps_its_bytes() {
        let (tmp, root) = root_with(&[("managed/vpcs/vpc-1.yaml", &vpc("vpc-1", 1001))]);
        let m = load(&root, &Manifest::new("f"), &FabricSettings::default()).unwrap();
        let snap = Snapshot::new(&m.state, m.problems.clone(), m.hashes.clone());
        assert!(snap.is_current(&root).unwrap());
        assert!(snap.state.iter().all(|e| e.origin.root.is_none()));
        std::fs::write(
            tmp.path().join("managed/vpcs/vpc-1.yaml"),
            vpc("vpc-1", 1009),
        )
        .unwrap();
        assert!(!snap.is_current(&root).unwrap(), "an edited file");
        std::fs::write(
            tmp.path().join("managed/vpcs/vpc-1.yaml"),
            vpc("vpc-1", 1001),
        )
        .unwrap();
        assert!(snap.is_current(&root).unwrap());
        std::fs::write(
            tmp.path().join("managed/vpcs/vpc-2.yaml"),
            vpc("vpc-2", 1002),
        )
        .unwrap();
        assert!(!snap.is_current(&root).unwrap(), "a file more");
    }

    #[test]
    fn relocate_points_errors_in_managed_files_at_their_field() {
        let (_tmp, root) = root_with(&[("managed/vpcs/vpc-1.yaml", &vpc("vpc-1", 1001))]);
        let mut diags = vec![
            Diagnostic::new("x")
                .in_file("managed/vpcs/vpc-1.yaml")
                .with_path(&hhgitops_core::FieldPath::parse("spec.subnets.s1.vlan").unwrap()),
            Diagnostic::new("y").in_file("raw/a.yaml"),
        ];
        relocate(&root, &mut diags);
        assert_eq!((diags[0].line, diags[0].column), (9, 13));
        assert_eq!(
            (diags[1].line, diags[1].column),
            (0, 0),
            "only managed files"
        );
    }
}
