//! The names of a GitOps root's layout (SPEC §2, docs/layout.md): its folders and record files, and which file
//! names are YAML. A leaf: every module that needs a layout name takes it from here, none from the module that
//! creates the layout.

pub const RAW: &str = "raw";
pub const MANAGED: &str = "managed";
pub const HNP_DIR: &str = ".hnp";
pub const MANIFEST: &str = ".hnp/manifest.yaml";
pub const ARCHIVE_LOG: &str = ".hnp/archive-log.yaml";
/// Keeps the lock file and interrupted transactions out of Git.
pub const HNP_GITIGNORE: &str = ".hnp/.gitignore";
/// Where journaled transactions are staged.
pub const TXN_DIR: &str = ".hnp/txn";
/// The fabric lock's file.
pub const LOCK_FILE: &str = ".hnp/lock";

/// `*.yaml` or `*.yml`, in any case.
pub fn is_yaml_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml")
}
