//! Stage 2 of an ingestion, *parse*: each raw file read is parsed and checked on its own (syntax, envelope,
//! strict schema, object rules; hydrated first when the fabric hydrates), unless it is a rejection already
//! recorded whose content and context are the same (see [`RejectionContext`]): then its stored errors are
//! reported again and it is not parsed.

use std::collections::BTreeMap;

use hhgitops_core::settings::FabricSettings;
use hhgitops_core::validate::parse_source;
use hhgitops_core::yaml;

use crate::hydration::IngestHydration;
use crate::index::Rejection;
use crate::progress::{Operation, Progress};
use crate::report::ErrorRecord;

use super::read::ReadFile;
use super::report::{FileReport, FileStatus};

/// Parses the files read; returns those that parsed without errors (their reports marked `unchanged` until the
/// later stages decide). Reports of files rejected before with the same content and context take the stored
/// errors (`previously_rejected`).
#[allow(clippy::too_many_arguments)]
pub(super) fn parse_all(
    read: Vec<ReadFile>,
    reports: &mut [FileReport],
    rejections: &BTreeMap<String, Rejection>,
    key_now: &str,
    mut hydration: Option<&mut IngestHydration>,
    limits: &yaml::Limits,
    settings: &FabricSettings,
    progress: &Progress,
) -> Vec<ReadFile> {
    let unchanged_rejection = |fr: &FileReport| {
        rejections
            .get(&fr.file)
            .filter(|r| !fr.sha256.is_empty() && r.sha256 == fr.sha256 && r.context == key_now)
    };
    for fr in reports.iter_mut() {
        if fr.status == FileStatus::Rejected && fr.cause == "size" {
            fr.previously_rejected = unchanged_rejection(fr).is_some();
        }
    }
    let mut stage = progress.stage(Operation::Ingest, "parse", Some(read.len() as u64));
    let mut parsed = Vec::with_capacity(read.len());
    for mut rf in read {
        stage.step(|| rf.rel.clone());
        let Some(fr) = reports.iter_mut().find(|r| r.file == rf.rel) else {
            continue;
        };
        if let Some(r) = unchanged_rejection(fr) {
            fr.previously_rejected = true;
            fr.errors = serde_json::from_value(r.errors.clone()).unwrap_or_default();
            fr.cause = cause_name(&r.cause);
            continue;
        }
        let report = match hydration.as_deref_mut() {
            Some(h) => h.parse(&rf.rel, &rf.bytes, limits, settings),
            None => parse_source(&rf.rel, &rf.bytes, limits, settings),
        };
        fr.documents = report.documents;
        if !report.errors.is_empty() {
            fr.errors = report
                .errors
                .iter()
                .map(|d| ErrorRecord::from_diag(d, &rf.rel))
                .collect();
            fr.cause = "content";
            continue;
        }
        fr.status = FileStatus::Unchanged;
        rf.report = Some(report);
        parsed.push(rf);
    }
    parsed
}

/// What a rejection depends on besides the file's own content: the validator's version, the fabric settings and
/// the file-size limit, the managed files (path and hash of each, as on disk), and the raw files of the run
/// (path and hash of each: another file may define the same object, or what a reference needs). A file whose
/// content was rejected is skipped on a later run only while this digest is the same, so a rejection whose
/// cause is gone — the conflicting file removed, the missing object added, the limit raised — is validated
/// again.
pub(super) struct RejectionContext {
    settings: String,
}

impl RejectionContext {
    pub(super) fn new(settings: &FabricSettings, max_file_size: u64) -> Self {
        let settings = serde_json::to_string(settings).unwrap_or_default();
        RejectionContext {
            settings: format!(
                "hhgitops {}\nsettings {settings}\nmax-file-size {max_file_size}\n",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }

    /// The digest for managed files (path → hash) and raw files (path, hash).
    pub(super) fn key<'a>(
        &self,
        managed: &BTreeMap<String, String>,
        raw: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.settings.as_bytes());
        for (file, sha) in managed {
            h.update(format!("managed {file} {sha}\n").as_bytes());
        }
        let mut raw: Vec<(&str, &str)> = raw.collect();
        raw.sort_unstable();
        for (file, sha) in raw {
            h.update(format!("raw {file} {sha}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The stored name of a rejection's cause as the static name a report carries.
fn cause_name(stored: &str) -> &'static str {
    match stored {
        "size" => "size",
        "conflict" => "conflict",
        "state" => "state",
        _ => "content",
    }
}
