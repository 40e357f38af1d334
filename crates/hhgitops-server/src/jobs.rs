//! The job store: jobs and their events live in the database, so they outlive the request that made them,
//! survive a restart as history, and can be claimed by any of several replicas (issue 13).
//!
//! - **Order and exclusion**: a job is claimed only when no job of its fabric is running, oldest first. Claims
//!   are serialized: on PostgreSQL by a transaction-scoped advisory lock around `UPDATE … WHERE id = (SELECT …
//!   FOR UPDATE SKIP LOCKED)`, on SQLite (one process per home) by a mutex in the process.
//! - **Coalescing**: a request equal to a job of the same fabric that is still queued (same type and
//!   parameters) is that job (its `requests` count goes up).
//! - **Leases**: a running job carries its replica (`owner`) and `lease_until`, renewed by heartbeats. A job
//!   whose lease ran out (its replica died) is marked `interrupted`; on SQLite every job still `running` when the
//!   server starts is.
//! - **Events** are rows `(job_id, seq)`; a subscriber reads those after the last it saw, so a late subscriber
//!   gets the past first, and every replica can serve any job's events. The last event of a job is `result`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use hhgitops_engine::db::{Backend, Database};

use crate::error::{ApiError, ApiResult};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    Ingest,
    Sync,
    Drift,
    Import,
    Init,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Ingest => "ingest",
            JobType::Sync => "sync",
            JobType::Drift => "drift",
            JobType::Import => "import",
            JobType::Init => "init",
        }
    }

    pub fn parse(s: &str) -> Option<JobType> {
        match s {
            "ingest" => Some(JobType::Ingest),
            "sync" => Some(JobType::Sync),
            "drift" => Some(JobType::Drift),
            "import" => Some(JobType::Import),
            "init" => Some(JobType::Init),
            _ => None,
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        match s {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "succeeded" => Some(JobState::Succeeded),
            "failed" => Some(JobState::Failed),
            "cancelled" => Some(JobState::Cancelled),
            "interrupted" => Some(JobState::Interrupted),
            _ => None,
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A job's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct JobParams {
    pub dry_run: bool,
    pub prune: bool,
    /// Ingest only these raw files (relative to the GitOps root, `raw/…`); empty: all of raw/.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub fabric: String,
    #[serde(rename = "type")]
    pub job_type: JobType,
    pub state: JobState,
    pub params: JobParams,
    /// The token name (or `watcher`, `webhook`, `scheduler`) that asked for it.
    pub actor: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub cancel_requested: bool,
    /// The replica running it.
    pub owner: Option<String>,
    /// Progress by stage: `{"ingest": {"state": "done", "done": 3, "total": 3}, …}`.
    #[schema(value_type = Object)]
    pub progress: serde_json::Value,
    /// The final report of the operation.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed, in the error shape of the API.
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
    /// Requests coalesced into this job.
    pub requests: i64,
}

/// One stored event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobEvent {
    pub seq: i64,
    /// `progress`, `log` or `result`.
    pub event: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub at: String,
}

/// Filters of a job listing.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub fabric: Option<String>,
    pub state: Option<JobState>,
    pub job_type: Option<JobType>,
}

/// Fixed-width UTC time, `secs` from now: sorts as text.
pub fn ts(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    ))
    .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<Job, sqlx::Error> {
    let decode = |e: String| sqlx::Error::Decode(e.into());
    let t: String = r.try_get("job_type")?;
    let s: String = r.try_get("state")?;
    let params: String = r.try_get("params")?;
    let progress: String = r.try_get("progress")?;
    let result: Option<String> = r.try_get("result")?;
    let error: Option<String> = r.try_get("error")?;
    Ok(Job {
        id: r.try_get("id")?,
        fabric: r.try_get("fabric")?,
        job_type: JobType::parse(&t).ok_or_else(|| decode(format!("job type {t:?}")))?,
        state: JobState::parse(&s).ok_or_else(|| decode(format!("job state {s:?}")))?,
        params: serde_json::from_str(&params).unwrap_or_default(),
        actor: r.try_get("actor")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
        owner: r.try_get("owner")?,
        progress: serde_json::from_str(&progress).unwrap_or(serde_json::json!({})),
        result: result.and_then(|s| serde_json::from_str(&s).ok()),
        error: error.and_then(|s| serde_json::from_str(&s).ok()),
        requests: r.try_get("requests")?,
    })
}

/// Key of the advisory lock that serializes claims and coalescing on PostgreSQL.
const PG_CLAIM_LOCK: i64 = 0x6868_6a6f_6273; // "hhjobs"

/// The job store.
#[derive(Debug, Clone)]
pub struct JobStore {
    db: Database,
    /// Serializes claims and enqueues in this process (all that is needed on SQLite).
    local: Arc<tokio::sync::Mutex<()>>,
}

/// The opaque `continue` of a listing: where the next page starts.
pub fn decode_continue(c: Option<&str>) -> ApiResult<i64> {
    match c {
        None | Some("") => Ok(0),
        Some(c) => c
            .strip_prefix('o')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "invalid continue token {c:?}: pass the one a listing returned"
                ))
            }),
    }
}

pub fn encode_continue(next: i64, total: i64) -> Option<String> {
    (next < total).then(|| format!("o{next}"))
}

impl JobStore {
    pub fn new(db: Database) -> Self {
        JobStore {
            db,
            local: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    async fn serialize_pg(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), sqlx::Error> {
        if self.db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_CLAIM_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Queues a job, or returns the queued job it coalesces with (`true`).
    pub async fn enqueue(
        &self,
        fabric: &str,
        job_type: JobType,
        params: &JobParams,
        actor: &str,
    ) -> Result<(Job, bool), sqlx::Error> {
        self.enqueue_holding(fabric, job_type, params, actor, &[])
            .await
    }

    /// Queues a job with uploads held in the database (`(path under the root, content)`), written into the root
    /// of whichever replica runs it. Coalescing with a queued job replaces that job's held content of the same
    /// path. One transaction: the job and its uploads exist together or not at all.
    pub async fn enqueue_holding(
        &self,
        fabric: &str,
        job_type: JobType,
        params: &JobParams,
        actor: &str,
        held: &[(String, String)],
    ) -> Result<(Job, bool), sqlx::Error> {
        let key = format!(
            "{}:{}",
            job_type.as_str(),
            serde_json::to_string(params).unwrap_or_default()
        );
        let _local = self.local.lock().await;
        let mut tx = self.db.begin_write().await?;
        self.serialize_pg(&mut tx).await?;
        let existing = sqlx::query(
            "SELECT id FROM jobs WHERE fabric = $1 AND state = 'queued' AND coalesce_key = $2 ORDER BY created_at LIMIT 1",
        )
        .bind(fabric)
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, coalesced) = match existing {
            Some(row) => {
                let id: String = row.try_get("id")?;
                sqlx::query("UPDATE jobs SET requests = requests + 1 WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                (id, true)
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                // Enqueues are serialized (advisory lock or mutex): the next number is the queue's order.
                let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM jobs")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                sqlx::query(
                    "INSERT INTO jobs (id, fabric, job_type, params, coalesce_key, state, actor, created_at, \
                     cancel_requested, progress, requests, seq) VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, 0, '{}', 1, $8)",
                )
                .bind(&id)
                .bind(fabric)
                .bind(job_type.as_str())
                .bind(serde_json::to_string(params).unwrap_or_else(|_| "{}".into()))
                .bind(&key)
                .bind(actor)
                .bind(ts(0))
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                (id, false)
            }
        };
        for (path, content) in held {
            sqlx::query("DELETE FROM held_uploads WHERE job_id = $1 AND path = $2")
                .bind(&id)
                .bind(path)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO held_uploads (job_id, path, fabric, content, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(path)
            .bind(fabric)
            .bind(content)
            .bind(ts(0))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let job = self
            .get(&id)
            .await?
            .ok_or_else(|| sqlx::Error::RowNotFound)?;
        Ok((job, coalesced))
    }

    /// Claims the oldest queued job whose fabric has no running job, for `owner`, with a lease of `lease_secs`.
    pub async fn claim(&self, owner: &str, lease_secs: i64) -> Result<Option<Job>, sqlx::Error> {
        let _local = self.local.lock().await;
        let mut tx = self.db.begin_write().await?;
        self.serialize_pg(&mut tx).await?;
        let pick = "SELECT j.id FROM jobs j WHERE j.state = 'queued' AND NOT EXISTS \
                    (SELECT 1 FROM jobs r WHERE r.fabric = j.fabric AND r.state = 'running') \
                    ORDER BY j.seq, j.created_at, j.id LIMIT 1";
        let sql = if self.db.backend() == Backend::Postgres {
            format!(
                "UPDATE jobs SET state = 'running', owner = $1, lease_until = $2, started_at = $3 \
                 WHERE id = ({pick} FOR UPDATE SKIP LOCKED) RETURNING *"
            )
        } else {
            format!(
                "UPDATE jobs SET state = 'running', owner = $1, lease_until = $2, started_at = $3 \
                 WHERE id = ({pick}) RETURNING *"
            )
        };
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(ts(lease_secs))
            .bind(ts(0))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Renews the leases of `ids`, the jobs `owner` is running; returns `(cancel asked for, orphans)`: the ids
    /// among them whose cancellation was asked for (by any replica), and the jobs the database says `owner` runs
    /// that are not among `ids` (a claim whose answer was lost, e.g. in a database outage).
    pub async fn heartbeat(
        &self,
        owner: &str,
        ids: &[String],
        lease_secs: i64,
    ) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
        let until = ts(lease_secs);
        for id in ids {
            sqlx::query(
                "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND owner = $3 AND state = 'running'",
            )
            .bind(&until)
            .bind(id)
            .bind(owner)
            .execute(self.db.pool())
            .await?;
        }
        let rows = sqlx::query(
            "SELECT id, cancel_requested FROM jobs WHERE owner = $1 AND state = 'running'",
        )
        .bind(owner)
        .fetch_all(self.db.pool())
        .await?;
        let mut cancel = Vec::new();
        let mut orphans = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            if !ids.contains(&id) {
                orphans.push(id);
            } else if r.try_get::<i64, _>("cancel_requested")? != 0 {
                cancel.push(id);
            }
        }
        Ok((cancel, orphans))
    }

    /// Puts a job `owner` claimed back in the queue, where it keeps its place (its `seq`): it stopped at a safe
    /// point before its end could be decided (the database went away), or its claim was never run. False when
    /// the job is no longer `owner`'s running job.
    pub async fn requeue(&self, id: &str, owner: &str, why: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL, started_at = NULL, progress = '{}' \
             WHERE id = $1 AND owner = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(owner)
        .execute(self.db.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.append_event(
            id,
            "log",
            &serde_json::json!({"message": format!("queued again: {why}"), "owner": owner}),
        )
        .await?;
        Ok(true)
    }

    /// The uploads held for a job: `(path under the root, content)`.
    pub async fn held_uploads(&self, id: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT path, content FROM held_uploads WHERE job_id = $1 ORDER BY path")
                .bind(id)
                .fetch_all(self.db.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("path")?, r.try_get("content")?)))
            .collect()
    }

    /// Whether an upload of `path` to `fabric` is held for a job that has not ended.
    pub async fn upload_pending(&self, fabric: &str, path: &str) -> Result<bool, sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM held_uploads h JOIN jobs j ON j.id = h.job_id \
             WHERE h.fabric = $1 AND h.path = $2 AND j.state IN ('queued', 'running')",
        )
        .bind(fabric)
        .bind(path)
        .fetch_one(self.db.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Forgets the uploads held for a job (it ended).
    pub async fn drop_held(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM held_uploads WHERE job_id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Marks running jobs interrupted: all of them (`None`, at the start of the only server of a SQLite home)
    /// or those whose lease ran out. Each gets its final `result` event. Returns the ids.
    pub async fn mark_interrupted(&self, only_expired: bool) -> Result<Vec<String>, sqlx::Error> {
        let now = ts(0);
        let rows = if only_expired {
            sqlx::query("SELECT id FROM jobs WHERE state = 'running' AND lease_until < $1")
                .bind(&now)
                .fetch_all(self.db.pool())
                .await?
        } else {
            sqlx::query("SELECT id FROM jobs WHERE state = 'running'")
                .fetch_all(self.db.pool())
                .await?
        };
        let mut out = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let error = serde_json::json!({
                "code": "interrupted",
                "message": "the server running this job stopped before it finished; the fabric's next operation recovers its state",
                "details": null,
            });
            let done = sqlx::query(
                "UPDATE jobs SET state = 'interrupted', finished_at = $1, error = $2 WHERE id = $3 AND state = 'running'",
            )
            .bind(&now)
            .bind(error.to_string())
            .bind(&id)
            .execute(self.db.pool())
            .await?;
            if done.rows_affected() > 0 {
                if let Some(job) = self.get(&id).await? {
                    self.append_event(
                        &id,
                        "result",
                        &serde_json::to_value(&job).unwrap_or_default(),
                    )
                    .await?;
                }
                out.push(id);
            }
        }
        Ok(out)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Job>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Jobs, newest first; `(page, total)`.
    pub async fn list(
        &self,
        f: &JobFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Job>, i64), sqlx::Error> {
        let mut conds = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(x) = &f.fabric {
            binds.push(x.clone());
            conds.push(format!("fabric = ${}", binds.len()));
        }
        if let Some(x) = f.state {
            binds.push(x.as_str().into());
            conds.push(format!("state = ${}", binds.len()));
        }
        if let Some(x) = f.job_type {
            binds.push(x.as_str().into());
            conds.push(format!("job_type = ${}", binds.len()));
        }
        let wh = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) AS n FROM jobs {wh}");
        let mut q = sqlx::query(&count_sql);
        for b in &binds {
            q = q.bind(b);
        }
        let total: i64 = q.fetch_one(self.db.pool()).await?.try_get("n")?;
        let sql = format!(
            "SELECT * FROM jobs {wh} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.bind(limit).bind(offset).fetch_all(self.db.pool()).await?;
        let jobs = rows.iter().map(job_from_row).collect::<Result<_, _>>()?;
        Ok((jobs, total))
    }

    /// The latest succeeded job of a type for a fabric.
    pub async fn latest(
        &self,
        fabric: &str,
        job_type: JobType,
    ) -> Result<Option<Job>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT * FROM jobs WHERE fabric = $1 AND job_type = $2 AND state = 'succeeded' AND result IS NOT NULL \
             ORDER BY finished_at DESC LIMIT 1",
        )
        .bind(fabric)
        .bind(job_type.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Appends an event; returns its sequence number. One writer per job at a time (its owner, or whoever
    /// moved it out of `queued`).
    pub async fn append_event(
        &self,
        id: &str,
        event: &str,
        data: &serde_json::Value,
    ) -> Result<i64, sqlx::Error> {
        let row =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM job_events WHERE job_id = $1")
                .bind(id)
                .fetch_one(self.db.pool())
                .await?;
        let seq: i64 = row.try_get::<i64, _>("n")? + 1;
        sqlx::query(
            "INSERT INTO job_events (job_id, seq, event, data, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(seq)
        .bind(event)
        .bind(data.to_string())
        .bind(hhgitops_engine::clock::now_rfc3339_millis())
        .execute(self.db.pool())
        .await?;
        Ok(seq)
    }

    pub async fn events_after(&self, id: &str, after: i64) -> Result<Vec<JobEvent>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT seq, event, data, at FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id)
        .bind(after)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                Ok(JobEvent {
                    seq: r.try_get("seq")?,
                    event: r.try_get("event")?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    pub async fn set_progress(
        &self,
        id: &str,
        progress: &serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET progress = $1 WHERE id = $2")
            .bind(progress.to_string())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Records the end of `owner`'s running job. False when it is not (any longer) `owner`'s running job (its
    /// lease lapsed and another replica marked it interrupted).
    pub async fn finish(
        &self,
        id: &str,
        owner: &str,
        state: JobState,
        result: Option<&serde_json::Value>,
        error: Option<&serde_json::Value>,
    ) -> Result<bool, sqlx::Error> {
        // Serialized with claims (as enqueues are): the end is stamped inside the lock a claim takes before it
        // stamps the next job's start, so the fabric's next job never starts before this one's recorded end.
        let _local = self.local.lock().await;
        let mut tx = self.db.begin_write().await?;
        self.serialize_pg(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, finished_at = $2, result = $3, error = $4, lease_until = NULL \
             WHERE id = $5 AND owner = $6 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(ts(0))
        .bind(result.map(|r| r.to_string()))
        .bind(error.map(|e| e.to_string()))
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Asks a job to stop: a queued job is cancelled at once, a running one at its next safe point.
    pub async fn request_cancel(&self, id: &str) -> Result<Option<Job>, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', cancel_requested = 1, finished_at = $1 WHERE id = $2 AND state = 'queued'",
        )
        .bind(ts(0))
        .bind(id)
        .execute(self.db.pool())
        .await?;
        if done.rows_affected() > 0 {
            if let Some(job) = self.get(id).await? {
                self.append_event(
                    id,
                    "result",
                    &serde_json::to_value(&job).unwrap_or_default(),
                )
                .await?;
            }
        } else {
            sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND state = 'running'")
                .bind(id)
                .execute(self.db.pool())
                .await?;
        }
        self.get(id).await
    }

    #[allow(clippy::too_many_arguments)]
    /// Records a job that ran elsewhere (a watcher's ingestion): already finished, with its events.
    pub async fn record_finished(
        &self,
        fabric: &str,
        job_type: JobType,
        actor: &str,
        started_at: &str,
        state: JobState,
        events: &[(String, serde_json::Value)],
        result: &serde_json::Value,
    ) -> Result<String, sqlx::Error> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO jobs (id, fabric, job_type, params, coalesce_key, state, actor, created_at, started_at, \
             finished_at, cancel_requested, progress, result, requests) \
             VALUES ($1, $2, $3, '{}', '', $4, $5, $6, $6, $7, 0, $8, $9, 1)",
        )
        .bind(&id)
        .bind(fabric)
        .bind(job_type.as_str())
        .bind(state.as_str())
        .bind(actor)
        .bind(started_at)
        .bind(ts(0))
        .bind(serde_json::json!({"ingest": {"state": "done"}}).to_string())
        .bind(result.to_string())
        .execute(self.db.pool())
        .await?;
        for (event, data) in events {
            self.append_event(&id, event, data).await?;
        }
        if let Some(job) = self.get(&id).await? {
            self.append_event(
                &id,
                "result",
                &serde_json::to_value(&job).unwrap_or_default(),
            )
            .await?;
        }
        Ok(id)
    }

    /// Count of jobs per state (for `/metrics` and readiness).
    pub async fn counts(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }
}
