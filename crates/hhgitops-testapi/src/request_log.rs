//! The record of every request the server received, for assertions such as "a no-op sync does no writes".

use std::sync::{Arc, Mutex, MutexGuard};

/// One request as received (and, once answered, its status code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    /// The response status; `None` while the request is still being handled (or a watch is streaming).
    pub status: Option<u16>,
}

impl RequestRecord {
    /// The decoded value of query parameter `name`, if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Whether this request asked for a dry run (`dryRun=All`).
    pub fn is_dry_run(&self) -> bool {
        self.query_param("dryRun").as_deref() == Some("All")
    }

    /// Whether this request could change stored state: POST, PUT, PATCH or DELETE, not a dry run.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !self.is_dry_run()
    }
}

/// Shared, append-only request log. Records carry a sequence number so that a status can be filled in after
/// the log was cleared in between.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestLog {
    state: Arc<Mutex<LogState>>,
}

#[derive(Debug, Default)]
struct LogState {
    last_id: u64,
    records: Vec<(u64, RequestRecord)>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record and returns its sequence number, for [`RequestLog::set_status`].
    pub fn push(&self, record: RequestRecord) -> u64 {
        let mut s = self.lock();
        s.last_id += 1;
        let id = s.last_id;
        s.records.push((id, record));
        id
    }

    pub fn set_status(&self, id: u64, status: u16) {
        let mut s = self.lock();
        if let Some((_, rec)) = s.records.iter_mut().rev().find(|(i, _)| *i == id) {
            rec.status = Some(status);
        }
    }

    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.lock().records.iter().map(|(_, r)| r.clone()).collect()
    }

    pub fn clear(&self) {
        self.lock().records.clear();
    }
}
