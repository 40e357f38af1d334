//! An in-process Kubernetes API server for tests.
//!
//! `hhgitops-testapi` serves the Hedgehog CRDs (or any CRDs found in a directory given at run time) over the
//! parts of the Kubernetes REST protocol that hhgitops uses, so that sync, drift and import can be tested
//! for real: through `kube` clients, and through a real `kubectl`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hhgitops_testapi::TestApiServer;
//!
//! let server = TestApiServer::start("crds/")?;
//! server.write_kubeconfig("/tmp/kubeconfig")?;
//! // … run the code under test against the kubeconfig …
//! assert!(server.writes().is_empty(), "a no-op sync must not write");
//! let switches = server.objects("wiring.githedgehog.com", "switches");
//! # drop(switches);
//! server.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! # What it is
//!
//! - HTTPS on 127.0.0.1 with a random port, a CA generated at start (TLS verification stays on: the CA is in
//!   the generated kubeconfig), and a bearer token; HTTP/1.1 and HTTP/2.
//! - Discovery: `/version`, `/api`, `/api/v1` (namespaces), `/apis`, `/apis/<group>`,
//!   `/apis/<group>/<version>` with kinds, plurals, short names, categories, scope, verbs and the status
//!   subresource, and aggregated discovery (`apidiscovery.k8s.io/v2`) on `/api` and `/apis` when asked for;
//!   `/openapi/v2` (an empty document, JSON or protobuf) and `/openapi/v3` (paths with their query
//!   parameters, and the CRD schemas with `metadata` as ObjectMeta), enough for `kubectl explain`.
//! - Per resource: get, list (label selectors with `=`, `==`, `!=`, `in`, `notin`, exists, `!`; field
//!   selectors on `metadata.name`/`metadata.namespace`; `limit`/`continue`), watch (`ADDED`, `MODIFIED`,
//!   `DELETED` from a resourceVersion, or the current state first; `sendInitialEvents` with the closing
//!   `BOOKMARK`; `timeoutSeconds`), create, replace (optimistic concurrency), delete (preconditions,
//!   finalizers) and delete-collection, the `status` subresource, and the patch types
//!   `application/apply-patch+yaml` (server-side apply), `application/merge-patch+json`,
//!   `application/strategic-merge-patch+json` (treated as a merge patch) and `application/json-patch+json`.
//! - Server-side apply with managed fields in the standard `FieldsV1` format: per-manager ownership, removal
//!   of fields a manager stopped applying, `409 Conflict` when another manager owns a field with a different
//!   value unless `force=true`. `dryRun=All` on every write. `fieldValidation` (`Ignore`, `Warn` with
//!   `Warning` headers, `Strict`).
//! - The API server's object handling for custom resources: structural pruning of unknown fields,
//!   null pruning and schema defaults, OpenAPI validation (types, required, enum, bounds, lengths, item
//!   counts, patterns …) reported as `422 Invalid` with field causes, `metadata` rules (names, labels,
//!   annotations), uid/creationTimestamp/generation/resourceVersion set by the server, a global
//!   resourceVersion, and no write at all for a no-op update or apply.
//! - Server-side printing: `kubectl get` receives Tables built from the CRDs' printer columns.
//! - Every error is a `Status` object (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, …).
//! - Test controls: the stored objects ([`TestApiServer::objects`]), the request log
//!   ([`TestApiServer::request_log`], [`TestApiServer::writes`]), direct create/apply/patch/delete to seed or
//!   disturb state, and fault injection ([`Faults`]: delays, error responses, admission-webhook denials).
//!
//! # What it is not
//!
//! Not a Kubernetes: no controllers, no garbage collection, no authorization, no admission webhooks other
//! than the injected denials, no CRD registration over the API (CRDs come from the directory), no CEL
//! (`x-kubernetes-validations`), no conversion between versions beyond rewriting `apiVersion`, no protobuf
//! (except the namespace and delete bodies kubectl sends) or CBOR. Server-side apply treats every list as
//! atomic (the Hedgehog CRDs declare no list types). State lives in memory and dies with the server.
//!
//! # Invariants
//!
//! The store ([`store`]) and everything it calls do no I/O (the clock for timestamps and random uids aside);
//! the HTTP layer only translates. The server runs on its own thread and runtime, so tests may block (for example on
//! a `kubectl` child process) without stalling it.

pub mod crd;
pub mod discovery;
pub mod faults;
mod http;
pub mod kubeconfig;
pub mod managed;
pub mod meta;
pub mod patch;
mod protobuf;
pub mod request_log;
pub mod schema;
pub mod selector;
mod server;
pub mod status;
pub mod store;
pub mod table;
mod tls;

pub use faults::{FaultAction, FaultRule, Faults};
pub use request_log::RequestRecord;
pub use server::{ServerOptions, StartError, TestApiServer};
pub use status::ApiError;
pub use tls::TlsError;
