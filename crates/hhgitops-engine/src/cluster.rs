//! A fabric's Kubernetes target and the connection to it (the cluster side itself is `hhgitops-kube`): what
//! `sync`, `drift`, `import` and the reading of the cluster's fabric configuration share.

use hhgitops_kube::{ClientSettings, Cluster, ClusterTarget, KubeError};

use crate::error::{Error, Result};
use crate::fabric::Fabric;

/// The Kubernetes target of a fabric.
pub fn target_of(fabric: &Fabric) -> ClusterTarget {
    ClusterTarget {
        kubeconfig: fabric.kubeconfig.clone(),
        context: fabric.kube_context.clone(),
    }
}

/// Maps a cluster error to the engine's classes: configuration (exit 2) or runtime (exit 3).
pub fn kube_error(fabric: &Fabric, e: KubeError) -> Error {
    Error::Cluster {
        fabric: fabric.name.clone(),
        source: e,
    }
}

/// Connects to the fabric's cluster.
pub async fn connect(fabric: &Fabric, settings: &ClientSettings) -> Result<Cluster> {
    target_of(fabric)
        .connect(settings)
        .await
        .map_err(|e| kube_error(fabric, e))
}
