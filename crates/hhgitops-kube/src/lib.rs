//! hhgitops on the Kubernetes side: a fabric's API server as hhgitops uses it.
//!
//! - [`target`]: where the API server is (kubeconfig file and context, or in-cluster) and the client settings
//!   (timeouts, concurrency); TLS verification always on.
//! - [`cluster`]: discovery of the Hedgehog kinds the server serves, one LIST per kind, server-side apply
//!   (field manager `hhgitops`, forced, strict field validation) and delete of one object. Resources come from
//!   the kinds table of `hhgitops-core`; nothing here spells a plural.
//! - [`refs`]: what each object depends on (the order of applies and deletes).
//! - [`reconcile`]: the plan of a sync from the drift computation (`hhgitops_core::diff`) and its execution in
//!   dependency order, where a rejection holds back only its dependents and an API failure stops the run.
//!
//! What it is not: it reads no files of a GitOps root and knows nothing of the database; the engine decides
//! what the desired state is and records what happened. No global state: every function takes the cluster it
//! works on, and every future may be dropped (cancelled) at any await point.

pub mod cluster;
pub mod error;
pub mod reconcile;
pub mod refs;
pub mod target;

pub use cluster::{api_resource, ClientSettings, Cluster, LiveObjects, NAMESPACE};
pub use error::{KubeError, RequestError};
pub use hhgitops_core::diff::{APPLIED_ANNOTATION, FABRIC_LABEL, FIELD_MANAGER};
pub use reconcile::{
    execute, plan, Action, DesiredObjects, ExecuteOptions, Execution, ExecutionSummary,
    ObjectOutcome, PlannedObject, References, Status,
};
pub use target::ClusterTarget;
