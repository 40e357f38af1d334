//! The run record of an operation (table `runs`): started when the work starts, finished once with an
//! [`Outcome`], the counts, a one-line message and a detail document. One guard for ingest, import, delete,
//! apply and the Git half's failures.
//!
//! Invariants:
//! - A run is started under the fabric lock, after runs left `running` by a dead process are marked
//!   `interrupted` ([`RunRecord::start`]).
//! - A run is finished exactly once. A guard dropped unfinished (the work returned early) finishes its run as
//!   `failed` in the background, so no run stays `running` after its process went on.
//! - Dry runs record nothing ([`RunRecord::none`]).

use crate::error::{Error, Result};
use crate::index::{FabricRecords, RunCounts};

/// How a run ended, as stored in `runs.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Done, with input refused (exit 1).
    Rejected,
    Failed,
    /// Stopped at a safe point before anything was written.
    Cancelled,
    /// The clone is blocked by a Git conflict: input validated, nothing written.
    Blocked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Blocked => "blocked",
        }
    }

    /// `success`, or `rejected` when input was refused.
    pub fn done(rejections: bool) -> Outcome {
        if rejections {
            Outcome::Rejected
        } else {
            Outcome::Success
        }
    }

    /// The outcome of a run that ended with `e`.
    pub fn of_error(e: &Error) -> Outcome {
        match e {
            Error::Cancelled(_) => Outcome::Cancelled,
            Error::GitConflict(_) => Outcome::Blocked,
            _ => Outcome::Failed,
        }
    }
}

/// A started run; finish it with [`RunRecord::finish`] or [`RunRecord::fail`].
#[derive(Debug)]
pub struct RunRecord {
    records: FabricRecords,
    id: Option<String>,
}

impl RunRecord {
    /// Marks runs a dead process left `running` as `interrupted`, then starts a run of `operation`. Call with the
    /// fabric lock held.
    pub async fn start(records: &FabricRecords, operation: &str) -> Result<RunRecord> {
        records.mark_interrupted().await?;
        Self::start_only(records, operation).await
    }

    /// Starts a run without looking at other runs (a record of a later stage of the same operation).
    pub async fn start_only(records: &FabricRecords, operation: &str) -> Result<RunRecord> {
        let id = records.start_run(operation).await?;
        Ok(RunRecord {
            records: records.clone(),
            id: Some(id),
        })
    }

    /// A run that records nothing (dry runs).
    pub fn none(records: &FabricRecords) -> RunRecord {
        RunRecord {
            records: records.clone(),
            id: None,
        }
    }

    /// A run started and finished at once (what a stage that did nothing else records).
    pub async fn record(
        records: &FabricRecords,
        operation: &str,
        outcome: Outcome,
        counts: RunCounts,
        message: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        Self::start_only(records, operation)
            .await?
            .finish(outcome, counts, message, detail)
            .await
    }

    pub fn is_recorded(&self) -> bool {
        self.id.is_some()
    }

    pub async fn finish(
        mut self,
        outcome: Outcome,
        counts: RunCounts,
        message: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        match self.id.take() {
            Some(id) => {
                self.records
                    .finish_run(&id, outcome.as_str(), counts, message, detail)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Records the error the run ended with as `outcome` (best effort).
    pub async fn fail_as(self, outcome: Outcome, e: &Error) {
        let _ = self
            .finish(
                outcome,
                RunCounts::default(),
                &e.to_string(),
                &serde_json::json!({}),
            )
            .await;
    }

    /// Records the error the run ended with (best effort: the error itself is what the caller reports).
    pub async fn fail(self, e: &Error) {
        let _ = self
            .finish(
                Outcome::of_error(e),
                RunCounts::default(),
                &e.to_string(),
                &serde_json::json!({}),
            )
            .await;
    }
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let records = self.records.clone();
        rt.spawn(async move {
            let _ = records
                .finish_run(
                    &id,
                    Outcome::Failed.as_str(),
                    RunCounts::default(),
                    "ended without a result",
                    &serde_json::json!({}),
                )
                .await;
        });
    }
}
