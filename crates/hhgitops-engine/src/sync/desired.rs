//! The desired state of a sync's apply and of `drift`: what the managed files say (or a dry-run ingestion would
//! make them say), in the form hhgitops applies; and the live objects it is compared with.

use std::collections::BTreeSet;
use std::sync::Arc;

use hhgitops_core::diff::applied_object;
use hhgitops_core::state::{FabricState, Origin};
use hhgitops_core::validate::parse_source;
use hhgitops_core::{yaml, Diagnostic, Kind};
use hhgitops_kube::{ClientSettings, Cluster, DesiredObjects, References};

use crate::cluster::{connect, kube_error};
use crate::error::Result;
use crate::fabric::Fabric;
use crate::ingest::{FileStatus, IngestReport};
use crate::layout::GitOpsRoot;
use crate::managed::Snapshot;

/// Connects to the fabric's cluster, checks that every kind the fabric manages is served, and lists the live
/// Hedgehog objects (one LIST per served kind).
pub(crate) async fn fetch_live(
    fabric: &Fabric,
    settings: &ClientSettings,
    desired: &Desired,
) -> Result<(Cluster, hhgitops_kube::LiveObjects)> {
    let cluster = connect(fabric, settings).await?;
    let served = cluster
        .served_kinds()
        .await
        .map_err(|e| kube_error(fabric, e))?;
    cluster
        .require(&served, desired.bodies.keys().map(|(k, _)| *k))
        .map_err(|e| kube_error(fabric, e))?;
    let live = cluster
        .list_all(&served)
        .await
        .map_err(|e| kube_error(fabric, e))?;
    Ok((cluster, live))
}

/// The desired state of a fabric: what its managed files say, in the form hhgitops applies.
#[derive(Debug, Default)]
pub(crate) struct Desired {
    pub bodies: DesiredObjects,
    pub refs: References,
    /// Objects whose managed file is broken: neither applied nor pruned until it is fixed.
    pub held: BTreeSet<(Kind, String)>,
    /// Why they are held.
    pub invalid: Vec<Diagnostic>,
}

/// Where the apply stage takes the desired state from.
#[derive(Debug, Default)]
pub(crate) enum DesiredSource {
    /// managed/ as it is on disk.
    #[default]
    Disk,
    /// managed/ with the raw files a dry-run ingestion would accept laid over it (read and parsed again).
    Preview(IngestReport),
    /// The state the ingestion stage of the same sync left, used while managed/ still has the bytes it stands
    /// for (otherwise read from disk).
    Snapshot(Snapshot),
}

/// Reads the desired state (blocking), from where `source` says.
pub(crate) fn desired_state(fabric: &Fabric, source: DesiredSource) -> Result<Desired> {
    match source {
        DesiredSource::Disk => load_desired(fabric, None),
        DesiredSource::Preview(report) => load_desired(fabric, Some(&report)),
        DesiredSource::Snapshot(snap) => {
            if snap.is_current(&GitOpsRoot::new(&fabric.root))? {
                Ok(desired_of(fabric, &snap.state, snap.problems))
            } else {
                tracing::debug!(fabric = %fabric.name, "managed/ changed since the ingestion: read again");
                load_desired(fabric, None)
            }
        }
    }
}

/// Reads the desired state (blocking). With `preview` (the report of a dry-run ingestion), the raw files that
/// ingestion would accept are laid over the managed files, so that a dry-run sync plans what a real one does.
pub(crate) fn load_desired(fabric: &Fabric, preview: Option<&IngestReport>) -> Result<Desired> {
    let crate::managed::Opened {
        root,
        settings,
        managed,
        ..
    } = crate::managed::open(fabric)?;
    let dir = root.sandbox()?;
    let mut state = managed.state;
    let mut hydration = crate::hydration::IngestHydration::for_fabric(fabric, &settings, &state)?;
    if let Some(report) = preview {
        for f in report
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Ingested | FileStatus::Unchanged))
        {
            let Ok(bytes) = dir.read(&f.file) else {
                continue;
            };
            let limits = yaml::Limits {
                max_bytes: usize::MAX,
                ..yaml::Limits::default()
            };
            let rep = match hydration.as_mut() {
                Some(h) => h.parse(&f.file, &bytes, &limits, &settings),
                None => parse_source(&f.file, &bytes, &limits, &settings),
            };
            if rep.errors.is_empty() {
                let file: Arc<str> = Arc::from(f.file.as_str());
                for o in &rep.objects {
                    state.insert(
                        o.object.clone(),
                        Origin {
                            file: file.clone(),
                            document: o.document,
                            span: o.span,
                            root: None,
                        },
                    );
                }
            }
        }
    }
    Ok(desired_of(fabric, &state, managed.problems))
}

/// The desired state of `state`, with the objects of broken managed files (`problems`) held back.
fn desired_of(fabric: &Fabric, state: &FabricState, problems: Vec<Diagnostic>) -> Desired {
    let mut desired = Desired::default();
    for d in &problems {
        if let Some(key) = GitOpsRoot::managed_key(&d.file) {
            if !state.contains(key.0, &key.1) {
                desired.held.insert(key);
            }
        }
    }
    desired.invalid = problems;
    for e in state.iter() {
        let key = (e.object.kind(), e.object.name().to_string());
        desired
            .bodies
            .insert(key.clone(), applied_object(&e.object, &fabric.name));
        desired
            .refs
            .insert(key, hhgitops_kube::refs::references(&e.object));
    }
    desired
}
