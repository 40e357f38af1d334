//! `drift`: every object of a fabric compared with its cluster — one LIST per kind, then the pure comparison of
//! `hhgitops_core::diff`. Changes nothing (it takes the fabric lock only to read a consistent managed state).

use std::time::Duration;

use hhgitops_core::diff::{fabric_drift, DriftEntry, DriftSummary};
use hhgitops_core::Diagnostic;
use hhgitops_kube::ClientSettings;
use serde::Serialize;

use crate::context::Context;
use crate::error::Result;
use crate::fabric::Fabric;
use crate::progress::{Operation, Progress};

use super::desired::{fetch_live, load_desired};

/// A fabric's drift.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub fabric: String,
    /// The API server's address.
    pub cluster: String,
    /// Every object in Git or in the cluster, in kind (apply) order, then by name.
    pub objects: Vec<DriftEntry>,
    pub summary: DriftSummary,
    /// True when any object is not in sync (built-in SwitchProfiles excepted) or a managed file is broken.
    pub drift: bool,
    /// Managed files that do not parse: their objects are not compared.
    pub invalid: Vec<Diagnostic>,
}

/// Compares a fabric's managed state with its cluster.
pub async fn drift(
    engine: &Context,
    fabric: &Fabric,
    client: &ClientSettings,
    lock_timeout: Duration,
) -> Result<DriftReport> {
    drift_with(engine, fabric, client, lock_timeout, &Progress::none()).await
}

/// [`drift`], reporting its stages to `progress` (operation `drift`: `read`, `list`, `compare`).
pub async fn drift_with(
    engine: &Context,
    fabric: &Fabric,
    client: &ClientSettings,
    lock_timeout: Duration,
    progress: &Progress,
) -> Result<DriftReport> {
    let work = async move {
        let started = std::time::Instant::now();
        let mut stage = progress.stage(Operation::Drift, "read", Some(1));
        // The managed state is read under the lock, on the lock's thread; the cluster is read without it.
        let desired = crate::lock::with_fabric_lock(
            engine,
            fabric,
            lock_timeout,
            &tokio_util::sync::CancellationToken::new(),
            |_engine, fabric, _cancel| async move { load_desired(&fabric, None) },
        )
        .await?;
        stage.set(1);
        let read = started.elapsed();
        let total = desired.bodies.len() as u64;
        let mut stage = progress.stage(Operation::Drift, "list", Some(total));
        let (cluster, live) = fetch_live(fabric, client, &desired).await?;
        stage.set(total);
        let listed = started.elapsed();
        let mut stage = progress.stage(Operation::Drift, "compare", Some(total));
        let mut objects = fabric_drift(&desired.bodies, &live, &fabric.name);
        stage.set(total);
        tracing::debug!(
            fabric = %fabric.name,
            desired = desired.bodies.len(),
            live = live.len(),
            read_ms = read.as_millis() as u64,
            list_ms = (listed - read).as_millis() as u64,
            compare_ms = (started.elapsed() - listed).as_millis() as u64,
            "drift computed"
        );
        objects.retain(|e| !desired.held.contains(&(e.kind, e.name.clone())));
        let summary = DriftSummary::of(&objects);
        Ok(DriftReport {
            fabric: fabric.name.clone(),
            cluster: cluster.url().to_string(),
            drift: summary.drift() > 0 || !desired.invalid.is_empty(),
            objects,
            summary,
            invalid: desired.invalid,
        })
    };
    crate::progress::in_operation("drift", &fabric.name, work).await
}
