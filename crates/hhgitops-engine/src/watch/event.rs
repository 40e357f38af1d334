//! What a watcher reports: [`WatchEvent`], one per thing that happened, in the stable JSON form printed by
//! `hhgitops ingest --watch --json` (one object per line) and later streamed by the HTTP server.

use serde::Serialize;

use crate::gitops::GitOutcome;
use crate::ingest::{FileReport, ManagedReport, Summary};
use crate::txn::Recovery;

/// One event of a watch.
///
/// JSON (a stable interface; fields are only ever added). Every event has `time` (RFC 3339 UTC, milliseconds),
/// `event` (its type) and `fabric` (absent only for events about the watch as a whole, such as a registry that
/// cannot be read):
///
/// ```text
/// {"time":"2025-01-01T10:00:00.123Z","fabric":"f","event":"watching","root":"/srv/f","raw":"/srv/f/raw",
///  "mode":"events","debounce_ms":100}                                  (mode "poll" adds "poll_ms")
/// {"time":…,"fabric":"f","event":"file","file":"raw/vpcs.yaml","status":"ingested","documents":3,
///  "created":["VPC/vpc-1"],"updated":[],"unchanged":[],"archived_to":"raw/vpcs.yaml.archived","errors":[]}
///     status: ingested | unchanged | rejected | skipped; as in `ingest --json` (SPEC §7), errors are
///     {"document","line","column","kind","name","path","message"} (+ "file" when located in another file);
///     "previously_rejected": true when the content was already rejected; "note" says why a file was skipped
/// {"time":…,"fabric":"f","event":"refused","file":"raw/link.yaml","reason":"…"}
/// {"time":…,"fabric":"f","event":"run","startup":false,"files":2,"duration_ms":41,
///  "summary":{"files":2,"ingested":1,…},"recovery":{"rolled_forward":0,"discarded":0},
///  "git":{"commit":"9f1c…","message":"ingest raw/vpcs.yaml: +3 VPC","pushed":true,"rebases":0}}
///     one per ingestion run, after its "file" events; "startup" marks the first run of a fabric; "git" only
///     for a fabric in Git (as in `ingest --json`); "git_error" when the run reached the tree but its commit or
///     push failed
/// {"time":…,"fabric":"f","event":"managed","edited":[],"adopted":[],"removed":["VPC/old"],"errors":[…]}
///     hand changes found in managed/ (reported when there are some, and when the errors change)
/// {"time":…,"fabric":"f","event":"error","message":"…"}                 (+ "file" when about one file)
///     the watch goes on; the fabric's status keeps the last error
/// {"time":…,"fabric":"f","event":"stopped","reason":"removed from the registry"}
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchEvent {
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fabric: Option<String>,
    #[serde(flatten)]
    pub kind: WatchEventKind,
}

/// How a fabric's raw/ is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchModeName {
    /// File-system events (inotify and the like), plus a slow safety rescan.
    Events,
    /// Scans at a fixed interval.
    Poll,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all_fields = "camelCase")]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum WatchEventKind {
    /// The fabric's raw/ is watched (again, after raw/ came back or the mode changed).
    Watching {
        root: String,
        raw: String,
        mode: WatchModeName,
        #[serde(skip_serializing_if = "Option::is_none")]
        poll_ms: Option<u64>,
        debounce_ms: u64,
    },
    /// What a run did with one raw file.
    File(FileReport),
    /// A raw file refused outright (e.g. a symbolic link leading out of the root); reported once.
    Refused { file: String, reason: String },
    /// One ingestion run finished.
    Run {
        startup: bool,
        files: usize,
        duration_ms: u64,
        /// The longest a file of this run waited from its last change the watcher saw (a file-system event or
        /// a scan) to the run's start: debounce, settling and waiting for a slot. Absent for a startup run
        /// without files.
        #[serde(skip_serializing_if = "Option::is_none")]
        latency_ms: Option<u64>,
        summary: Summary,
        recovery: Recovery,
        /// The commit (and push) of the run, for a fabric in Git.
        #[serde(skip_serializing_if = "Option::is_none")]
        git: Option<GitOutcome>,
        /// The run was applied to the tree but its commit or push failed; the next run commits what is left.
        #[serde(skip_serializing_if = "Option::is_none")]
        git_error: Option<String>,
    },
    /// Hand changes or errors found in managed/.
    Managed(ManagedReport),
    /// Something failed; watching goes on.
    Error {
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    /// The fabric is no longer watched.
    Stopped { reason: String },
}

impl WatchEvent {
    pub fn new(fabric: Option<&str>, kind: WatchEventKind) -> WatchEvent {
        WatchEvent {
            time: crate::clock::now_rfc3339_millis(),
            fabric: fabric.map(str::to_string),
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let ev = WatchEvent::new(
            Some("f"),
            WatchEventKind::Stopped {
                reason: "shutdown".into(),
            },
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["event"], "stopped");
        assert_eq!(v["fabric"], "f");
        assert_eq!(v["reason"], "shutdown");
        let time = v["time"].as_str().unwrap();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.',
            "{v}"
        );
        let ev = WatchEvent::new(
            None,
            WatchEventKind::Error {
                message: "m".into(),
                file: None,
            },
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"time": v["time"], "event": "error", "message": "m"})
        );
        let ev = WatchEvent::new(
            Some("f"),
            WatchEventKind::Watching {
                root: "/r".into(),
                raw: "/r/raw".into(),
                mode: WatchModeName::Poll,
                poll_ms: Some(100),
                debounce_ms: 50,
            },
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            (
                v["mode"].as_str(),
                v["pollMs"].as_u64(),
                v["debounceMs"].as_u64()
            ),
            (Some("poll"), Some(100), Some(50))
        );
    }
}
