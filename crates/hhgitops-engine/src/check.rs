//! `validate`: files checked offline as one fabric state, optionally merged over a fabric's managed state.
//! Writes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hhgitops_core::settings::FabricSettings;
use hhgitops_core::validate::{parse_source_without_trees, relocate_in_source, validate_state};
use hhgitops_core::{yaml, Diagnostic};
use serde::Serialize;

use crate::config::fabric_settings;
use crate::error::{Error, Result};
use crate::fabric::Fabric;
use crate::layout::GitOpsRoot;
use crate::managed::load as load_managed;
use crate::records::{read_manifest, ManifestState};
use crate::report::ErrorRecord;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileValidation {
    pub file: String,
    pub valid: bool,
    pub documents: usize,
    pub errors: Vec<ErrorRecord>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    pub files: Vec<FileValidation>,
    /// Cross-object checks skipped for lack of data.
    pub unchecked: usize,
    /// Objects validated (files plus, with a fabric, its managed state).
    pub objects: usize,
    /// Errors in the fabric's managed files (only with a fabric and files given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managed_errors: Vec<Diagnostic>,
}

impl ValidationReport {
    pub fn valid(&self) -> bool {
        self.files.iter().all(|f| f.valid)
    }
}

/// Validates `files` (as the operator named them) as one state; with `fabric`, merged over its managed state, and
/// with `fabric` and no files, that managed state itself.
pub fn validate_files(files: &[PathBuf], fabric: Option<&Fabric>) -> Result<ValidationReport> {
    validate_files_with(files, fabric, None)
}

/// [`validate_files`] with the settings of a fabric controller configuration file (`--fabric-config`) laid over
/// the fabric's (or the defaults).
pub fn validate_files_with(
    files: &[PathBuf],
    fabric: Option<&Fabric>,
    fabric_config: Option<&std::path::Path>,
) -> Result<ValidationReport> {
    let span = fabric.map(|f| crate::progress::operation_span("validate", &f.name));
    let _entered = span.as_ref().map(|s| s.enter());
    let mut settings = match fabric {
        Some(f) => fabric_settings(f)?,
        None => FabricSettings::default(),
    };
    if let Some(path) = fabric_config {
        let stored = crate::config::read_config_file(path)?;
        stored
            .config
            .apply(&mut settings)
            .map_err(|e| Error::usage(format!("--fabric-config {}: {e}", path.display())))?;
    }
    let limits = yaml::Limits::default();
    let mut state = hhgitops_core::state::FabricState::new();
    let mut reports: Vec<FileValidation> = Vec::new();
    let mut managed_files: Vec<String> = Vec::new();
    if let Some(f) = fabric {
        let root = GitOpsRoot::new(&f.root);
        let manifest = match read_manifest(&root.sandbox()?)? {
            ManifestState::Current(m) => m,
            _ => crate::records::Manifest::new(&f.name),
        };
        let managed = load_managed(&root, &manifest, &settings)?;
        state = managed.state.clone();
        if files.is_empty() {
            let mut by_file: BTreeMap<String, Vec<ErrorRecord>> = BTreeMap::new();
            for d in &managed.problems {
                by_file
                    .entry(d.file.clone())
                    .or_default()
                    .push(ErrorRecord::from_diag(d, &d.file));
            }
            for mf in managed.files.values() {
                managed_files.push(mf.file.clone());
                by_file.entry(mf.file.clone()).or_default();
            }
            for (file, errors) in by_file {
                reports.push(FileValidation {
                    file,
                    valid: errors.is_empty(),
                    documents: 1,
                    errors,
                });
            }
        }
    }
    // A fabric that hydrates during ingestion validates files as they would be ingested: hydrated.
    let mut hydration = match fabric {
        Some(f) => crate::hydration::IngestHydration::for_fabric(f, &settings, &state)?,
        None => None,
    };
    // Files checked without their parsed trees (memory); their state errors are located again below.
    let mut treeless = Vec::new();
    for p in files {
        let name = p.display().to_string();
        let bytes = std::fs::read(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory => Error::usage(
                format!("{}: {e}: name a YAML file to validate", p.display()),
            ),
            _ => Error::io("cannot read", p, e),
        })?;
        let rep = match hydration.as_mut() {
            Some(h) => h.parse(&name, &bytes, &limits, &settings),
            None => {
                treeless.push((p, name.clone()));
                parse_source_without_trees(&name, &bytes, &limits, &settings)
            }
        };
        state.insert_report(&name, &rep);
        reports.push(FileValidation {
            file: name.clone(),
            valid: rep.errors.is_empty(),
            documents: rep.documents,
            errors: rep
                .errors
                .iter()
                .map(|d| ErrorRecord::from_diag(d, &name))
                .collect(),
        });
    }
    let mut result = validate_state(&state, &settings);
    for (p, name) in treeless {
        let at: Vec<usize> = (0..result.errors.len())
            .filter(|&i| result.errors[i].file == name)
            .collect();
        if at.is_empty() {
            continue;
        }
        if let Ok(bytes) = std::fs::read(p) {
            let mut diags: Vec<_> = at.iter().map(|&i| result.errors[i].clone()).collect();
            relocate_in_source(&bytes, &limits, &mut diags);
            for (i, d) in at.into_iter().zip(diags) {
                result.errors[i] = d;
            }
        }
    }
    if let Some(f) = fabric {
        crate::managed::relocate(&GitOpsRoot::new(&f.root), &mut result.errors);
    }
    let mut managed_errors = Vec::new();
    for d in result.errors {
        match reports.iter_mut().find(|r| r.file == d.file) {
            Some(r) => {
                r.valid = false;
                r.errors.push(ErrorRecord::from_diag(&d, &r.file.clone()));
            }
            None => managed_errors.push(d),
        }
    }
    Ok(ValidationReport {
        objects: state.len(),
        files: reports,
        unchecked: result.unchecked,
        managed_errors,
    })
}
