//! The GitOps layout of SPEC §2: what `init` creates, what `init --check` reports, how loose files and
//! directories written by the Hedgehog NetBox Plugin (HNP) are brought into the layout.
//!
//! Invariants: nothing outside the GitOps root is touched; nothing is overwritten or deleted (moves keep the
//! bytes; an existing target is never replaced); planning is separate from doing, so `--dry-run` and
//! `--check` share the code that decides.

use std::path::{Path, PathBuf};

use hhgitops_core::Kind;

use crate::atomic::{create_dirs, remove_created_dirs};
use crate::error::{Error, Result};
use crate::records::{
    is_hnp_archive_log, parse_archive_log, read_manifest, read_yaml, write_record, ArchiveLog,
    LogEntry, Manifest, ManifestState, Operation,
};
use crate::sandbox::{FileKind, RootDir};

pub mod plan;
pub use plan::{Action, InitPlan, InitReport, Problem};

pub use crate::names::{
    is_yaml_name, ARCHIVE_LOG, HNP_DIR, HNP_GITIGNORE, LOCK_FILE, MANAGED, MANIFEST, RAW, TXN_DIR,
};
const HNP_GITIGNORE_CONTENT: &str =
    "# Written by hhgitops: run-time files that never belong in Git.\nlock\ntxn/\n";

/// A fabric's GitOps root and the paths inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOpsRoot {
    root: PathBuf,
}

impl GitOpsRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        GitOpsRoot { root: root.into() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn raw_dir(&self) -> PathBuf {
        self.root.join(RAW)
    }

    pub fn managed_dir(&self) -> PathBuf {
        self.root.join(MANAGED)
    }

    pub fn kind_dir(&self, kind: Kind) -> PathBuf {
        self.managed_dir().join(kind.plural())
    }

    /// `managed/<plural>/<name>.yaml`, relative.
    pub fn managed_rel(kind: Kind, name: &str) -> String {
        format!("{MANAGED}/{}/{name}.yaml", kind.plural())
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    /// Opens the root (which must exist) as a sandbox, without looking at the layout.
    pub fn dir(&self) -> Result<RootDir> {
        RootDir::open(&self.root).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::usage(format!(
                "the GitOps root {} does not exist: run `hhgitops init`",
                self.root.display()
            )),
            _ => Error::io("cannot open the GitOps root", &self.root, e),
        })
    }

    /// Opens the root as a sandbox for a command that works in its layout: every layout folder and record that
    /// is a symbolic link (or anything but what it should be) is a layout error, and the command refuses.
    pub fn sandbox(&self) -> Result<RootDir> {
        let dir = self.dir()?;
        if let Some(p) = Self::layout_links(&dir).into_iter().next() {
            return Err(Error::Corrupt {
                path: dir.abs(&p.path),
                message: p.message,
            });
        }
        Ok(dir)
    }

    /// Layout entries that are symbolic links or of the wrong type (`raw`, `managed`, `managed/<kind>`, `.hnp`,
    /// `.hnp/txn`, the records and the lock): never followed, reported, never fixed by `init`.
    pub fn layout_links(dir: &RootDir) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut want: Vec<(String, FileKind)> = Self::layout_dirs()
            .into_iter()
            .map(|d| (d, FileKind::Dir))
            .collect();
        want.push((TXN_DIR.into(), FileKind::Dir));
        for f in [MANIFEST, ARCHIVE_LOG, HNP_GITIGNORE, LOCK_FILE] {
            want.push((f.into(), FileKind::File));
        }
        for (rel, kind) in want {
            match dir.kind(&rel) {
                Ok(None) => {}
                Ok(Some(k)) if k == kind => {}
                Ok(Some(FileKind::Symlink)) => out.push(Problem {
                    message: format!(
                        "is a symbolic link: layout {} must be real ones inside the GitOps root (hhgitops never follows links there); replace the link with a {}",
                        if kind == FileKind::Dir { "folders" } else { "files" },
                        if kind == FileKind::Dir { "folder holding its files" } else { "copy of the file" },
                    ),
                    path: rel,
                    fixable: false,
                }),
                Ok(Some(k)) => out.push(Problem {
                    message: format!(
                        "is {} where {} should be: move it away and run init again",
                        k.describe(),
                        kind.describe()
                    ),
                    path: rel,
                    fixable: false,
                }),
                // A parent that is a link or a file: reported for the parent.
                Err(_) => {}
            }
        }
        out
    }

    /// The manifest, for commands that need a complete layout: a missing or HNP-format manifest is a usage
    /// error that says to run `init`.
    pub fn current_manifest(&self, fabric: &str) -> Result<Manifest> {
        let path = self.manifest_path();
        match read_manifest(&self.sandbox()?)? {
            ManifestState::Current(m) => Ok(m),
            ManifestState::Missing => Err(Error::usage(format!(
                "{} is missing: run `hhgitops init --fabric {fabric}`",
                path.display()
            ))),
            ManifestState::Hnp(_) => Err(Error::usage(format!(
                "{} was written by the Hedgehog NetBox Plugin: run `hhgitops init --fabric {fabric}` to upgrade it",
                path.display()
            ))),
        }
    }

    /// `managed/<plural>/<name>.yaml` → (kind, name): the inverse of [`GitOpsRoot::managed_rel`].
    pub fn managed_key(rel: &str) -> Option<(Kind, String)> {
        let rest = rel.strip_prefix("managed/")?;
        let (plural, file) = rest.split_once('/')?;
        let name = file.strip_suffix(".yaml")?;
        Some((Kind::from_plural(plural)?, name.to_string()))
    }

    pub fn archive_log_path(&self) -> PathBuf {
        self.root.join(ARCHIVE_LOG)
    }

    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A path relative to the root, with `/` separators.
    pub fn rel(&self, p: &Path) -> String {
        rel_path(&self.root, p)
    }

    /// The folders of the layout, relative, in creation order.
    pub fn layout_dirs() -> Vec<String> {
        let mut v = vec![RAW.to_string(), MANAGED.to_string()];
        v.extend(
            Kind::ALL
                .iter()
                .map(|k| format!("{MANAGED}/{}", k.plural())),
        );
        v.push(HNP_DIR.to_string());
        v
    }

    /// Makes the layout's folders that a fresh clone lacks (Git keeps no empty folders), for a root whose
    /// current manifest is in place. Creates folders only, so Git sees no change; anything else missing is
    /// left to `init`.
    pub fn restore_empty_dirs(&self) -> Result<()> {
        if !self.manifest_path().is_file() {
            return Ok(());
        }
        for rel in Self::layout_dirs() {
            let p = self.root.join(&rel);
            if std::fs::symlink_metadata(&p).is_err() {
                std::fs::create_dir_all(&p).map_err(|e| Error::io("cannot create", &p, e))?;
            }
        }
        Ok(())
    }

    /// Inspects the root and decides what `init` would do. Changes nothing. Loose YAML files are moved into
    /// raw/ only with `migrate`; without it they are reported (warnings).
    pub fn plan_init(&self, fabric: &str, migrate: bool) -> Result<InitPlan> {
        let mut plan = InitPlan::default();
        if self.root.exists() && !self.root.is_dir() {
            plan.blocking.push(Problem {
                path: String::new(),
                message: format!(
                    "{} is a file, not a folder: move it away or choose another path",
                    self.root.display()
                ),
                fixable: false,
            });
            return Ok(plan);
        }
        if !self.root.exists() {
            plan.actions.push(Action::CreateDir { path: ".".into() });
            for rel in Self::layout_dirs() {
                plan.actions.push(Action::CreateDir { path: rel });
            }
            for path in [MANIFEST, ARCHIVE_LOG] {
                plan.actions.push(if path == MANIFEST {
                    Action::WriteManifest { path: path.into() }
                } else {
                    Action::WriteArchiveLog { path: path.into() }
                });
            }
            plan.actions.push(Action::WriteGitignore {
                path: HNP_GITIGNORE.into(),
            });
            return Ok(plan);
        }
        let dir = self.dir()?;
        plan.blocking.extend(Self::layout_links(&dir));
        for rel in Self::layout_dirs() {
            if plan.blocking.iter().any(|p| p.path == rel) {
                continue;
            }
            match dir.kind(&rel) {
                Ok(Some(FileKind::Dir)) => {}
                Ok(None) => plan.actions.push(Action::CreateDir { path: rel }),
                _ => plan.blocking.push(Problem {
                    path: rel.clone(),
                    message: "is a file where a folder should be: move it away (e.g. into raw/) and run init again".into(),
                    fixable: false,
                }),
            }
        }

        // Loose YAML outside raw/, managed/ and .hnp/.
        let mut taken = std::collections::BTreeSet::new();
        for from in self.loose_yaml_files(&dir)? {
            let to = self.migration_target(&dir, &from, &mut taken);
            if migrate {
                plan.actions.push(Action::MoveLoose { from, to });
            } else {
                plan.loose.push(Action::MoveLoose { from, to });
            }
        }

        match read_manifest(&dir) {
            Ok(ManifestState::Missing) => plan.actions.push(Action::WriteManifest {
                path: MANIFEST.into(),
            }),
            Ok(ManifestState::Hnp(_)) => plan.actions.push(Action::UpgradeManifest {
                path: MANIFEST.into(),
            }),
            Ok(ManifestState::Current(m)) => {
                if m.fabric != fabric {
                    plan.warnings.push(Problem {
                        path: MANIFEST.into(),
                        message: format!(
                            "names fabric {:?}, registered here as {fabric:?}",
                            m.fabric
                        ),
                        fixable: false,
                    });
                }
            }
            Err(e) => plan.blocking.push(Problem {
                path: MANIFEST.into(),
                message: problem_message(&e),
                fixable: false,
            }),
        }
        match read_yaml(&dir, ARCHIVE_LOG) {
            Ok(None) => plan.actions.push(Action::WriteArchiveLog {
                path: ARCHIVE_LOG.into(),
            }),
            Ok(Some(v)) if is_hnp_archive_log(&v) => {
                let entries = v
                    .get("operations")
                    .and_then(|o| o.as_array())
                    .map_or(0, |a| a.len());
                plan.actions.push(Action::UpgradeArchiveLog {
                    path: ARCHIVE_LOG.into(),
                    entries,
                });
            }
            Ok(Some(v)) => {
                if let Err(e) = parse_archive_log(&self.archive_log_path(), v) {
                    plan.blocking.push(Problem {
                        path: ARCHIVE_LOG.into(),
                        message: problem_message(&e),
                        fixable: false,
                    });
                }
            }
            Err(e) => plan.blocking.push(Problem {
                path: ARCHIVE_LOG.into(),
                message: problem_message(&e),
                fixable: false,
            }),
        }
        if !dir.exists(HNP_GITIGNORE) {
            plan.actions.push(Action::WriteGitignore {
                path: HNP_GITIGNORE.into(),
            });
        }
        // Managed files HNP left: its annotations, header comments and `<name>-N.yaml` copies.
        let hnp = crate::hnp::scan(&dir)?;
        if migrate {
            plan.actions.extend(hnp.actions);
        } else {
            plan.hnp.extend(hnp.actions);
        }
        plan.warnings.extend(hnp.warnings);
        Ok(plan)
    }

    /// `init --check`: every problem, fixable or not. Empty means the layout is complete.
    pub fn check(&self, fabric: &str) -> Result<Vec<Problem>> {
        let plan = self.plan_init(fabric, true)?;
        let mut problems: Vec<Problem> = plan
            .actions
            .iter()
            .map(|a| match a {
                Action::CreateDir { path } => Problem {
                    path: path.clone(),
                    message: "folder is missing".into(),
                    fixable: true,
                },
                Action::WriteManifest { path }
                | Action::WriteArchiveLog { path }
                | Action::WriteGitignore { path } => Problem {
                    path: path.clone(),
                    message: "file is missing".into(),
                    fixable: true,
                },
                Action::MoveLoose { from, to } => Problem {
                    path: from.clone(),
                    message: format!("loose YAML outside raw/: `init --migrate` moves it to {to}"),
                    fixable: true,
                },
                Action::UpgradeManifest { path } | Action::UpgradeArchiveLog { path, .. } => {
                    Problem {
                        path: path.clone(),
                        message: "written by the Hedgehog NetBox Plugin: init upgrades it".into(),
                        fixable: true,
                    }
                }
                Action::RemoveHnpDuplicate { path, original, .. } => Problem {
                    path: path.clone(),
                    message: format!("a copy of {original} left by the Hedgehog NetBox Plugin, identical to it: `init --migrate` removes it"),
                    fixable: true,
                },
                Action::SetAsideHnpDuplicate { from, to, original, .. } => Problem {
                    path: from.clone(),
                    message: format!("a copy left by the Hedgehog NetBox Plugin that differs from {original}: `init --migrate` moves it to {to} for a person to decide (`init --dry-run --migrate` shows the difference)"),
                    fixable: true,
                },
                Action::RenameHnpCopy { from, to, .. } => Problem {
                    path: from.clone(),
                    message: format!("a copy left by the Hedgehog NetBox Plugin whose original is gone: `init --migrate` renames it to {to}"),
                    fixable: true,
                },
                Action::StripHnpMarks { path, .. } => Problem {
                    path: path.clone(),
                    message: "carries the Hedgehog NetBox Plugin's annotations or header comment: `init --migrate` rewrites it in normalized form".into(),
                    fixable: true,
                },
            })
            .collect();
        problems.extend(plan.blocking);
        problems.extend(plan.warnings);
        Ok(problems)
    }

    /// Carries out a plan made by [`plan_init`]. Refuses while the plan has blocking problems. If a step fails,
    /// the folders this call created are removed again (files it moved stay moved: a move is never undone by
    /// deleting, and the archive log records each completed move).
    pub fn apply_init(&self, fabric: &str, plan: &InitPlan) -> Result<InitReport> {
        if let Some(p) = plan.blocking.first() {
            return Err(Error::Corrupt {
                path: self.root.join(&p.path),
                message: p.message.clone(),
            });
        }
        let mut created: Vec<PathBuf> = Vec::new();
        let mut created_inside: Vec<String> = Vec::new();
        let result = self.apply_actions(fabric, plan, &mut created, &mut created_inside);
        if result.is_err() {
            if let Ok(dir) = RootDir::open(&self.root) {
                dir.remove_created(&created_inside);
            }
            remove_created_dirs(&created);
        }
        result.map(|actions| InitReport {
            actions,
            warnings: plan.warnings.clone(),
            loose: plan.loose.clone(),
            hnp: plan.hnp.clone(),
        })
    }

    fn apply_actions(
        &self,
        fabric: &str,
        plan: &InitPlan,
        created: &mut Vec<PathBuf>,
        created_inside: &mut Vec<String>,
    ) -> Result<Vec<Action>> {
        if plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreateDir { path } if path == "."))
        {
            created.extend(create_dirs(&self.root)?);
        }
        let dir = self.dir()?;
        if let Some(p) = Self::layout_links(&dir).into_iter().next() {
            return Err(Error::Corrupt {
                path: dir.abs(&p.path),
                message: p.message,
            });
        }
        let mkdir = |rel: &str, created_inside: &mut Vec<String>| -> Result<()> {
            created_inside.extend(
                dir.create_dir_all(rel)
                    .map_err(|e| Error::io("cannot create folder", dir.abs(rel), e))?,
            );
            Ok(())
        };
        let mut done = Vec::new();
        let mut log_entries: Vec<LogEntry> = Vec::new();
        let mut moves: Vec<String> = Vec::new();
        let mut upgraded_log: Option<ArchiveLog> = None;
        let mut hnp_applied = crate::hnp::Applied::default();
        for action in &plan.actions {
            match action {
                Action::CreateDir { path } => {
                    if path != "." {
                        mkdir(path, created_inside)?;
                    }
                }
                Action::MoveLoose { from, to } => {
                    if let Some((parent, _)) = to.rsplit_once('/') {
                        mkdir(parent, created_inside)?;
                    }
                    // Never over an existing entry (a dangling link included).
                    dir.rename(from, to, true).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            Error::Runtime(format!("{to} appeared while migrating; run init again"))
                        } else {
                            Error::io("cannot move", dir.abs(from), e)
                        }
                    })?;
                    moves.push(format!("{from} -> {to}"));
                }
                Action::WriteManifest { .. } => {
                    Manifest::new(fabric).write(&dir)?;
                }
                Action::UpgradeManifest { .. } => {
                    let legacy = read_yaml(&dir, MANIFEST)?.unwrap_or_default();
                    Manifest::new(fabric).write(&dir)?;
                    log_entries.push(LogEntry {
                        message: Some(format!(
                            "upgraded the Hedgehog NetBox Plugin manifest (fabric_name {})",
                            legacy
                                .get("fabric_name")
                                .and_then(|v| v.as_str())
                                .unwrap_or("?")
                        )),
                        ..LogEntry::new(Operation::Migrate)
                    });
                }
                Action::UpgradeArchiveLog { .. } => {
                    let legacy = read_yaml(&dir, ARCHIVE_LOG)?.unwrap_or_default();
                    upgraded_log = Some(self.convert_hnp_log(fabric, &legacy));
                }
                Action::WriteArchiveLog { .. } => {
                    upgraded_log.get_or_insert_with(|| ArchiveLog::new(fabric));
                }
                Action::WriteGitignore { path } => {
                    write_record(&dir, path, HNP_GITIGNORE_CONTENT.as_bytes())?;
                }
                Action::RemoveHnpDuplicate { .. }
                | Action::SetAsideHnpDuplicate { .. }
                | Action::RenameHnpCopy { .. }
                | Action::StripHnpMarks { .. } => {
                    crate::hnp::apply(&dir, action, &mut hnp_applied, created_inside)?;
                }
            }
            done.push(action.clone());
        }
        if !moves.is_empty() {
            log_entries.push(LogEntry {
                files: moves,
                message: Some("moved loose YAML files into raw/".into()),
                ..LogEntry::new(Operation::Migrate)
            });
        }
        log_entries.extend(hnp_applied.log_entries());
        if !done.is_empty() {
            let creates = done
                .iter()
                .filter(|a| matches!(a, Action::CreateDir { .. } | Action::WriteManifest { .. }))
                .count();
            if creates > 0 {
                log_entries.insert(
                    0,
                    LogEntry {
                        message: Some("created the layout".into()),
                        ..LogEntry::new(Operation::Init)
                    },
                );
            }
            for w in &plan.warnings {
                log_entries.push(LogEntry {
                    message: Some(format!("needs a person: {w}")),
                    ..LogEntry::new(Operation::Migrate)
                });
            }
            match upgraded_log {
                Some(mut log) => {
                    log.entries.extend(log_entries);
                    log.write(&dir)?;
                }
                None => ArchiveLog::append(&dir, fabric, log_entries)?,
            }
        }
        Ok(done)
    }

    /// Rewrites an HNP archive log: entries kept in order, operations mapped, paths made relative.
    fn convert_hnp_log(&self, fabric: &str, legacy: &serde_json::Value) -> ArchiveLog {
        let mut log = ArchiveLog::new(fabric);
        let ops = legacy
            .get("operations")
            .and_then(|o| o.as_array())
            .cloned()
            .unwrap_or_default();
        for op in ops {
            let s = |k: &str| op.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let legacy_op = s("operation").unwrap_or_else(|| "unknown".into());
            let operation = match legacy_op.as_str() {
                "ingestion" | "ingest" => Operation::Ingest,
                "migration" | "migrate" => Operation::Migrate,
                "deletion" | "delete" => Operation::Delete,
                "import" => Operation::Import,
                _ => Operation::Update,
            };
            let mut files: Vec<String> = Vec::new();
            if let Some(f) = s("original_file") {
                files.push(self.relativize_legacy(&f));
            }
            if let Some(f) = s("migrated_to") {
                files.push(self.relativize_legacy(&f));
            }
            let created = op
                .get("documents_created")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .map(|x| self.relativize_legacy(x))
                        .collect()
                })
                .unwrap_or_default();
            log.entries.push(LogEntry {
                time: s("timestamp").unwrap_or_default(),
                operation: Some(operation),
                files,
                archived_to: s("archived_to").map(|f| self.relativize_legacy(&f)),
                documents: op
                    .get("document_count")
                    .and_then(|v| v.as_u64())
                    .map(|n| n as usize),
                created,
                legacy_operation: Some(legacy_op),
                ..Default::default()
            });
        }
        log.entries.push(LogEntry {
            message: Some("upgraded the Hedgehog NetBox Plugin archive log: history kept, paths made relative".into()),
            ..LogEntry::new(Operation::Migrate)
        });
        log
    }

    /// Turns an absolute path written by HNP (possibly on another machine) into one relative to this root:
    /// the part from the last `raw`, `managed`, `unmanaged` or `.hnp` component on. Paths already relative stay.
    fn relativize_legacy(&self, p: &str) -> String {
        let path = Path::new(p);
        if let Ok(rel) = path.strip_prefix(&self.root) {
            return self.rel(&self.root.join(rel));
        }
        if !path.is_absolute() {
            return p.to_string();
        }
        let comps: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match comps
            .iter()
            .rposition(|c| matches!(c.as_str(), "raw" | "managed" | "unmanaged" | ".hnp"))
        {
            Some(i) => comps[i..].join("/"),
            None => comps.last().cloned().unwrap_or_default(),
        }
    }

    /// Loose `*.yaml`/`*.yml` files under the root but outside raw/, managed/ and .hnp/ (and dot-folders),
    /// found through the sandbox: links (to files or folders) are neither entered nor moved.
    pub fn loose_yaml_files(&self, dir: &RootDir) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(folder) = stack.pop() {
            let entries = dir
                .list(&folder)
                .map_err(|e| Error::io("cannot list", dir.abs(&folder), e))?;
            for entry in entries {
                let Some(name) = entry.utf8() else { continue };
                if name.starts_with('.') {
                    continue;
                }
                let rel = if folder.is_empty() {
                    name.to_string()
                } else {
                    format!("{folder}/{name}")
                };
                match entry.kind {
                    FileKind::Dir => {
                        if folder.is_empty() && (name == RAW || name == MANAGED) {
                            continue;
                        }
                        stack.push(rel);
                    }
                    FileKind::File if is_yaml_name(name) => out.push(rel),
                    _ => {}
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// `raw/<relative path>`, or with `.migrated-N` before the extension when that is taken.
    fn migration_target(
        &self,
        dir: &RootDir,
        from: &str,
        taken: &mut std::collections::BTreeSet<String>,
    ) -> String {
        let base = format!("{RAW}/{from}");
        let mut candidate = base.clone();
        let mut n = 1;
        while taken.contains(&candidate) || dir.exists(&candidate) {
            let (stem, ext) = match base.rfind('.') {
                Some(i) => (&base[..i], &base[i..]),
                None => (base.as_str(), ""),
            };
            candidate = format!("{stem}.migrated-{n}{ext}");
            n += 1;
        }
        taken.insert(candidate.clone());
        candidate
    }
}

/// `p` relative to `root`, with `/` separators (`p` itself when it is not under `root`).
pub fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn problem_message(e: &Error) -> String {
    match e {
        Error::Corrupt { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
