//! How an ingestion runs: [`IngestOptions`], built from the process's [`Settings`] by the front ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::progress::Progress;
use crate::settings::Settings;
use crate::txn::Failpoint;

/// Default largest raw file accepted (8 MiB: see `hhgitops_core::yaml::DEFAULT_MAX_BYTES`).
pub const DEFAULT_MAX_FILE_SIZE: u64 = hhgitops_core::yaml::DEFAULT_MAX_BYTES as u64;

/// How an ingestion runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Report what would happen; write nothing (no files, no database records).
    pub dry_run: bool,
    /// Only these files (absolute paths). A file outside raw/ is copied into raw/ first.
    pub only: Option<Vec<PathBuf>>,
    pub max_file_size: u64,
    pub lock_timeout: Duration,
    pub failpoint: Failpoint,
    /// Test hook: called with a raw file's path right after it was read (to change or remove it at that moment).
    pub after_read: Option<AfterRead>,
    /// Stops the run at its next safe point (between files, before the commit point); nothing is written then.
    pub cancel: CancellationToken,
    /// Where the run reports its stages (`read`, `parse` per file; `validate`; `write` per object; `commit`,
    /// `index`). None by default.
    pub progress: Progress,
}

/// See [`IngestOptions::after_read`].
#[derive(Clone)]
pub struct AfterRead(pub std::sync::Arc<dyn Fn(&Path) + Send + Sync>);

impl std::fmt::Debug for AfterRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterRead")
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            dry_run: false,
            only: None,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            lock_timeout: crate::settings::DEFAULT_LOCK_TIMEOUT,
            failpoint: Failpoint::default(),
            after_read: None,
            cancel: CancellationToken::new(),
            progress: Progress::none(),
        }
    }
}

impl IngestOptions {
    /// Ingestion options with these settings (lock timeout, file-size limit); the rest at their defaults.
    pub fn from_settings(settings: &Settings) -> IngestOptions {
        IngestOptions {
            max_file_size: settings.max_file_size,
            lock_timeout: settings.lock_timeout,
            ..IngestOptions::default()
        }
    }
}
