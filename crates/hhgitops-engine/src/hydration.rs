//! Hydration during ingestion (SPEC §10): a fabric with the option `hydrate: if-missing` hydrates each raw file
//! against the fabric's managed state (and the files hydrated before it in the same run), so that the managed
//! files are the hydrated objects while the archived original stays as written.
//!
//! Invariant: values are allocated after the highest one in use, so a file of a run that is later rejected leaves
//! a gap, never a value given twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use hhgitops_core::hydrate::HydrateConfig;
use hhgitops_core::model::Object;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::FabricState;
use hhgitops_core::validate::{parse_source_hydrated, SourceReport};
use hhgitops_core::{yaml, Kind};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fabric::Fabric;

pub use crate::config::{hydrate_mode, HydrateMode};

/// Hydration settings of a fabric: its validation settings, and the nodes it was given (none: one control node).
pub fn hydrate_config(settings: &FabricSettings) -> HydrateConfig {
    HydrateConfig::from_settings(settings)
}

/// Hydration over the raw files of one ingestion run.
pub struct IngestHydration {
    cfg: HydrateConfig,
    existing: BTreeMap<(Kind, String), Arc<Object>>,
}

impl IngestHydration {
    /// `None` unless the fabric hydrates during ingestion.
    pub fn for_fabric(
        fabric: &Fabric,
        settings: &FabricSettings,
        state: &FabricState,
    ) -> Result<Option<IngestHydration>> {
        if hydrate_mode(fabric)? != HydrateMode::IfMissing {
            return Ok(None);
        }
        let existing = state
            .iter()
            .map(|e| {
                (
                    (e.object.kind(), e.object.name().to_string()),
                    e.object.clone(),
                )
            })
            .collect();
        Ok(Some(IngestHydration {
            cfg: hydrate_config(settings),
            existing,
        }))
    }

    /// Parses one raw file, hydrated. The objects of a file without errors become part of what later files are
    /// hydrated against.
    pub fn parse(
        &mut self,
        file: &str,
        bytes: &[u8],
        limits: &yaml::Limits,
        settings: &FabricSettings,
    ) -> SourceReport {
        let (report, hydrated) = parse_source_hydrated(
            file,
            bytes,
            limits,
            settings,
            self.existing.values().map(|o| o.as_ref()),
            &self.cfg,
        );
        if let Some(h) = hydrated {
            if report.errors.is_empty() && h.allocated() > 0 {
                tracing::info!(file, allocated = h.allocated(), "hydrated");
            }
        }
        if report.errors.is_empty() {
            for o in &report.objects {
                self.existing
                    .insert((o.kind, o.name.clone()), o.object.clone());
            }
        }
        report
    }
}

/// What `hhgitops hydrate` produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HydrateRun {
    pub files: Vec<String>,
    /// Objects in the output.
    pub objects: usize,
    /// `none`, `partial` or `full` (CATALOGUE §8b.3) of the input as given.
    pub status_before: String,
    /// Values newly allocated.
    pub allocated: usize,
    pub report: Option<hhgitops_core::hydrate::HydrateReport>,
    pub errors: Vec<crate::report::ErrorRecord>,
    /// The hydrated documents, normalized, as one YAML stream (empty when there are errors).
    #[serde(skip)]
    pub documents: String,
}

impl HydrateRun {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Hydrates `files` together (SPEC §10): from scratch, or around what `fabric` already uses; `fab` is hhfab's
/// `fab.yaml`, `fabric_config` a controller configuration whose settings are used (without a fabric).
pub fn hydrate_files(
    files: &[std::path::PathBuf],
    fabric: Option<&Fabric>,
    fab: Option<&std::path::Path>,
    fabric_config: Option<&std::path::Path>,
) -> Result<HydrateRun> {
    use hhgitops_core::hydrate::{decode_documents, hydrate, parse_fab_yaml, status};
    let mut settings = match fabric {
        Some(f) => crate::config::fabric_settings(f)?,
        None => FabricSettings::default(),
    };
    if let Some(path) = fabric_config {
        let stored = crate::config::read_config_file(path)?;
        stored
            .config
            .apply(&mut settings)
            .map_err(|e| Error::usage(format!("--fabric-config {}: {e}", path.display())))?;
    }
    let mut cfg = hydrate_config(&settings);
    if let Some(path) = fab {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::usage(format!("--fab {}: {e}", path.display())))?;
        cfg = parse_fab_yaml(&bytes, &cfg)
            .map_err(|e| Error::usage(format!("--fab {}: {e}", path.display())))?;
    }
    let existing: Vec<Arc<Object>> = match fabric {
        Some(f) => {
            let root = crate::layout::GitOpsRoot::new(&f.root);
            let manifest = root.current_manifest(&f.name)?;
            let managed = crate::managed::load(&root, &manifest, &settings)?;
            managed.state.iter().map(|e| e.object.clone()).collect()
        }
        None => Vec::new(),
    };
    let limits = yaml::Limits::default();
    let mut run = HydrateRun {
        files: Vec::new(),
        objects: 0,
        status_before: String::new(),
        allocated: 0,
        report: None,
        errors: Vec::new(),
        documents: String::new(),
    };
    // (file, parsed documents); objects with the file index and document index they came from.
    let mut parsed: Vec<(String, Vec<yaml::Document>)> = Vec::new();
    let mut objects: Vec<Object> = Vec::new();
    let mut origin: Vec<(usize, usize)> = Vec::new();
    for p in files {
        let name = p.display().to_string();
        let bytes = std::fs::read(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory => {
                Error::usage(format!("{name}: {e}: name a YAML file to hydrate"))
            }
            _ => Error::io("cannot read", p, e),
        })?;
        run.files.push(name.clone());
        let docs = match yaml::parse_stream(&bytes, &limits) {
            Ok(d) => d,
            Err(e) => {
                let mut d = hhgitops_core::Diagnostic::new(e.message)
                    .in_file(&name)
                    .at(hhgitops_core::Span::new(e.line, e.column));
                d.document = e.document;
                run.errors
                    .push(crate::report::ErrorRecord::from_diag(&d, ""));
                continue;
            }
        };
        let (decoded, errors) = decode_documents(&name, &docs);
        run.errors.extend(
            errors
                .iter()
                .map(|d| crate::report::ErrorRecord::from_diag(d, "")),
        );
        for d in decoded {
            if objects
                .iter()
                .any(|o| o.kind() == d.object.kind() && o.name() == d.object.name())
            {
                let e = hhgitops_core::Diagnostic::new(format!(
                    "duplicate object: {} {} is given twice",
                    d.object.kind(),
                    d.object.name()
                ))
                .in_file(&name)
                .in_document(d.document);
                run.errors
                    .push(crate::report::ErrorRecord::from_diag(&e, ""));
                continue;
            }
            origin.push((parsed.len(), d.document));
            objects.push(d.object);
        }
        parsed.push((name, docs));
    }
    if !run.errors.is_empty() {
        return Ok(run);
    }
    run.status_before = status(&objects.iter().collect::<Vec<_>>())
        .name()
        .to_string();
    match hydrate(&mut objects, existing.iter().map(|o| o.as_ref()), &cfg) {
        Ok(report) => {
            run.allocated = report.allocated();
            run.report = Some(report);
            run.objects = objects.len();
            let docs: Vec<String> = objects
                .iter()
                .map(hhgitops_core::normalize::normalize)
                .collect();
            run.documents = docs.join("---\n");
        }
        Err(errors) => {
            for e in errors {
                let at = e.kind.and_then(|k| {
                    objects
                        .iter()
                        .position(|o| o.kind() == k && o.name() == e.name)
                        .map(|i| origin[i])
                });
                let mut d = hhgitops_core::Diagnostic::new(e.message.clone());
                if let Some(k) = e.kind {
                    d = d.for_object(k.name(), e.name.clone());
                }
                let path = hhgitops_core::FieldPath::parse(&e.path).unwrap_or_default();
                if !e.path.is_empty() {
                    d = d.with_path(&path);
                }
                if let Some((fi, doc)) = at {
                    let (file, docs) = &parsed[fi];
                    d = d.in_file(file).in_document(doc);
                    if let Some(root) = docs
                        .iter()
                        .find(|x| x.index == doc)
                        .and_then(|x| x.root.as_ref())
                    {
                        d = d.at(root.locate(&path));
                    }
                }
                run.errors
                    .push(crate::report::ErrorRecord::from_diag(&d, ""));
            }
        }
    }
    Ok(run)
}
