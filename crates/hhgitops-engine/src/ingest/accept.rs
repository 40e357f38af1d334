//! Stage 3 of an ingestion, *accept or reject until valid*: files of the run that define the same object are
//! both rejected (cause `conflict`); the rest are laid over the managed state and the whole state validated,
//! rejecting the files errors fall in (cause `state`) until none do. The decisions are core's
//! ([`hhgitops_core::accept`]); this stage maps them to the files' reports.

use hhgitops_core::accept::{accept_until_valid, cross_file_conflicts};
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::FabricState;
use hhgitops_core::validate::SourceReport;
use hhgitops_core::Diagnostic;

use crate::progress::{Operation, Progress};
use crate::report::ErrorRecord;

use super::read::ReadFile;
use super::report::{FileReport, FileStatus};

/// What the stage decided.
pub(super) struct Accepted {
    /// Indices (into the parsed files) of the files accepted.
    pub files: Vec<usize>,
    /// Cross-object checks skipped for lack of data.
    pub unchecked: usize,
    /// Errors of the accepted state located in managed files.
    pub managed_errors: Vec<Diagnostic>,
    /// The accepted state: managed/ with every accepted file laid over it.
    pub state: FabricState,
}

pub(super) fn accept(
    parsed: &[ReadFile],
    reports: &mut [FileReport],
    managed: &FabricState,
    settings: &FabricSettings,
    progress: &Progress,
) -> Accepted {
    let files: Vec<(&str, &SourceReport)> = parsed
        .iter()
        .filter_map(|rf| rf.report.as_ref().map(|r| (rf.rel.as_str(), r)))
        .collect();
    let mut stage = progress.stage(Operation::Ingest, "validate", Some(files.len() as u64));
    for (file, errs) in &cross_file_conflicts(&files) {
        if let Some(r) = reports.iter_mut().find(|r| &r.file == file) {
            r.status = FileStatus::Rejected;
            r.cause = "conflict";
            r.errors
                .extend(errs.iter().map(|d| ErrorRecord::from_diag(d, file)));
        }
    }
    let verdict = accept_until_valid(
        managed,
        parsed,
        |_, rf| {
            rf.report.is_some()
                && reports
                    .iter()
                    .any(|r| r.file == rf.rel && r.status != FileStatus::Rejected)
        },
        |rf| rf.rel.as_str(),
        |state, rf| {
            if let Some(rep) = &rf.report {
                state.insert_report(&rf.rel, rep);
            }
        },
        settings,
    );
    for (i, diags) in verdict.rejected {
        let file = &parsed[i].rel;
        if let Some(r) = reports.iter_mut().find(|r| &r.file == file) {
            r.status = FileStatus::Rejected;
            r.cause = "state";
            r.errors
                .extend(diags.iter().map(|d| ErrorRecord::from_diag(d, file)));
        }
    }
    stage.set(files.len() as u64);
    Accepted {
        files: verdict.accepted,
        unchecked: verdict.unchecked,
        managed_errors: verdict.other_errors,
        state: verdict.state,
    }
}
