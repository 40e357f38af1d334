//! The hhgitops engine: everything that touches the world — the home, the database, fabrics, the GitOps layout
//! on disk, ingestion, watching, Git and Kubernetes — built on the pure `hhgitops-core`.
//!
//! It is a library first: the CLI and the coming HTTP server call the same functions. No global state, no
//! terminal assumptions (progress is reported through callbacks, output is returned as values), and every
//! operation is safe to run from many tasks at once (per-fabric locks serialize what must be serialized).

pub mod actor;
pub mod atomic;
pub mod changeset;
pub mod check;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod context;
pub mod db;
pub mod engine;
pub mod error;
pub mod fabric;
pub mod gitops;
pub mod hnp;
pub mod home;
pub mod homelock;
pub mod hydration;
pub mod index;
pub mod ingest;
pub mod init;
pub mod layout;
pub mod lock;
pub mod maintain;
pub mod managed;
pub mod memory;
pub mod names;
pub mod onboard;
pub mod progress;
pub mod rawfiles;
pub mod records;
pub mod report;
pub mod roots;
pub mod run;
pub mod sandbox;
pub mod settings;
pub mod status;
pub mod sync;
pub mod txn;
pub mod watch;

pub use engine::Engine;
pub use error::{Error, ErrorClass, Result};
pub use settings::Settings;
