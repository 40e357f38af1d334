//! Progress of long operations (ingest, sync, import, onboard, reindex, apply, drift), reported to a sink the
//! caller supplies: the CLI draws a bar from it on a terminal, the server stores it in the job and streams it.
//!
//! Invariants:
//! - Reporting never blocks and never fails the operation: a sink must return at once (a sink that sends over a
//!   channel uses `try_send` and drops what does not fit; the next event carries the counts again).
//! - A sink may be called from a blocking thread as well as from an async task, so it is `Send + Sync` and its
//!   `report` is a plain function.
//! - Events of one operation are reported in order; `done` never goes down within a stage and is at most
//!   `total` when a total is known.
//! - No event carries file contents or secrets: `current` names an object (`kind/name`) or a file (its path
//!   relative to the fabric's root).

use std::sync::Arc;

use serde::Serialize;

/// The operation an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    Ingest,
    Import,
    Sync,
    Apply,
    Drift,
    Onboard,
    Reindex,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Ingest => "ingest",
            Operation::Import => "import",
            Operation::Sync => "sync",
            Operation::Apply => "apply",
            Operation::Drift => "drift",
            Operation::Onboard => "onboard",
            Operation::Reindex => "reindex",
        }
    }
}

/// One progress report: in `stage` of `operation`, `done` of `total` units, now at `current`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEvent {
    pub operation: Operation,
    /// The stage's name, e.g. `read`, `parse`, `validate`, `write`, `commit`, `index`, `pull`, `push`,
    /// `apply`, `drift`.
    pub stage: &'static str,
    /// Units done in this stage (files or objects).
    pub done: u64,
    /// Units in this stage, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// What is being worked on: `kind/name` or a path relative to the fabric's root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

/// Receives progress events. See the module's invariants.
pub trait ProgressSink: Send + Sync {
    fn report(&self, event: &ProgressEvent);
}

/// A handle operations report through: cheap to clone, and a no-op when nobody listens (the default).
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn ProgressSink>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(sink)"
        } else {
            "Progress(none)"
        })
    }
}

impl Progress {
    /// Reports to nobody.
    pub fn none() -> Progress {
        Progress(None)
    }

    pub fn new(sink: Arc<dyn ProgressSink>) -> Progress {
        Progress(Some(sink))
    }

    /// Whether anybody listens (to skip building `current` strings when nobody does).
    pub fn is_active(&self) -> bool {
        self.0.is_some()
    }

    pub fn report(&self, event: ProgressEvent) {
        if let Some(sink) = &self.0 {
            sink.report(&event);
        }
    }

    /// A stage of `operation` with `total` units (when known); reports its start at once.
    pub fn stage(&self, operation: Operation, stage: &'static str, total: Option<u64>) -> Stage {
        let s = Stage {
            progress: self.clone(),
            operation,
            stage,
            total,
            done: 0,
        };
        s.emit(None);
        s
    }
}

/// A stage in progress: counts what is done in it.
#[derive(Debug)]
pub struct Stage {
    progress: Progress,
    operation: Operation,
    stage: &'static str,
    total: Option<u64>,
    done: u64,
}

impl Stage {
    /// One more unit done, now at `current` (computed only when somebody listens).
    pub fn step(&mut self, current: impl FnOnce() -> String) {
        self.done += 1;
        if let Some(total) = self.total {
            self.done = self.done.min(total);
        }
        if self.progress.is_active() {
            self.emit(Some(current()));
        }
    }

    /// Moves to `done` units (never back).
    pub fn set(&mut self, done: u64) {
        let done = self.total.map_or(done, |t| done.min(t));
        if done > self.done {
            self.done = done;
            self.emit(None);
        }
    }

    pub fn done(&self) -> u64 {
        self.done
    }

    fn emit(&self, current: Option<String>) {
        self.progress.report(ProgressEvent {
            operation: self.operation,
            stage: self.stage,
            done: self.done,
            total: self.total,
            current,
        });
    }
}

/// The span an operation logs inside (`operation{operation=ingest fabric=f}`): every engine operation enters one,
/// and the work it runs on other threads (the fabric lock's, blocking file work) inherits it.
pub fn operation_span(operation: &str, fabric: &str) -> tracing::Span {
    tracing::info_span!("operation", operation = %operation, fabric = %fabric)
}

/// Runs `work` inside its [`operation_span`]: what an operation's public entry point is.
pub async fn in_operation<F: std::future::Future>(
    operation: &str,
    fabric: &str,
    work: F,
) -> F::Output {
    tracing::Instrument::instrument(work, operation_span(operation, fabric)).await
}

/// A sink that keeps every event: for tests and for callers that want the list afterwards.
#[derive(Debug, Default)]
pub struct Recorder(std::sync::Mutex<Vec<ProgressEvent>>);

impl Recorder {
    pub fn events(&self) -> Vec<ProgressEvent> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ProgressSink for Recorder {
    fn report(&self, event: &ProgressEvent) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_counts_up_to_its_total_and_names_what_it_is_at() {
        let rec = Arc::new(Recorder::default());
        let p = Progress::new(rec.clone());
        let mut s = p.stage(Operation::Ingest, "parse", Some(2));
        s.step(|| "raw/a.yaml".into());
        s.step(|| "raw/b.yaml".into());
        s.step(|| "raw/c.yaml".into());
        s.set(1);
        let ev = rec.events();
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].done, 0);
        assert_eq!(ev[0].current, None);
        assert_eq!(ev[2].current.as_deref(), Some("raw/b.yaml"));
        assert_eq!(ev[3].done, 2, "done never passes the total");
        let json = serde_json::to_value(&ev[1]).unwrap();
        assert_eq!(json["operation"], "ingest");
        assert_eq!(json["total"], 2);
    }

    #[test]
    fn without_a_sink_nothing_is_computed() {
        let p = Progress::none();
        let mut s = p.stage(Operation::Sync, "apply", None);
        s.step(|| panic!("current is not computed when nobody listens"));
        assert_eq!(s.done(), 1);
    }
}
