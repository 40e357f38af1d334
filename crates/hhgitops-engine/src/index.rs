//! Database records of a fabric: the object index (a copy of the manifest's inventory, rebuilt whenever the
//! manifest's hash says it is stale), runs, and rejection records.

use serde::Serialize;
use sqlx::Row;

use crate::db::{opt_text, Database};
use crate::error::Result;
use crate::records::InventoryEntry;

/// One recorded run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: String,
    pub fabric: String,
    pub operation: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `success`, `rejected` (some input rejected), `failed`, `interrupted`.
    pub outcome: String,
    pub files: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub rejected: i64,
    pub message: String,
    /// Who the run was for (a token's name, or `watcher`); absent for runs from the command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// Counts a run ends with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    pub files: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub rejected: i64,
}

/// A stored rejection: the file stays rejected while its content has this hash and everything else it was
/// judged against (see [`crate::ingest`]'s rejection context) is as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub file: String,
    pub sha256: String,
    /// Digest of what the rejection depended on besides the content: the managed state, the other raw files,
    /// the settings and the file-size limit. Another value on a later run means: validate the file again.
    pub context: String,
    /// Why it was rejected: `content`, `size`, `conflict` (another raw file defines the same object) or
    /// `state` (a rule over the whole fabric: a missing reference, a collision).
    pub cause: String,
    /// JSON array of error objects (SPEC §7 error form).
    pub errors: serde_json::Value,
    pub rejected_at: String,
}

#[derive(Debug, Clone)]
pub struct FabricRecords {
    db: Database,
    fabric: String,
}

impl FabricRecords {
    pub fn new(db: &Database, fabric: &str) -> Self {
        FabricRecords {
            db: db.clone(),
            fabric: fabric.to_string(),
        }
    }

    pub async fn start_run(&self, operation: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO runs (id, fabric, operation, started_at, finished_at, outcome, files, created, updated, \
             unchanged, deleted, rejected, message, detail, actor) \
             VALUES ($1, $2, $3, $4, NULL, 'running', 0, 0, 0, 0, 0, 0, '', '{}', $5)",
        )
        .bind(&id)
        .bind(&self.fabric)
        .bind(operation)
        .bind(crate::clock::now_rfc3339_precise())
        .bind(crate::actor::current())
        .execute(self.db.pool())
        .await?;
        Ok(id)
    }

    pub async fn finish_run(
        &self,
        id: &str,
        outcome: &str,
        counts: RunCounts,
        message: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET finished_at = $1, outcome = $2, files = $3, created = $4, updated = $5, unchanged = $6, \
             deleted = $7, rejected = $8, message = $9, detail = $10 WHERE id = $11",
        )
        .bind(crate::clock::now_rfc3339_precise())
        .bind(outcome)
        .bind(counts.files)
        .bind(counts.created)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.deleted)
        .bind(counts.rejected)
        .bind(message)
        .bind(detail.to_string())
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Runs left `running` by a process that died are marked `interrupted`. Call with the fabric lock held.
    pub async fn mark_interrupted(&self) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE runs SET outcome = 'interrupted', finished_at = $1 WHERE fabric = $2 AND outcome = 'running'",
        )
        .bind(crate::clock::now_rfc3339_precise())
        .bind(&self.fabric)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn last_runs(&self, limit: i64) -> Result<Vec<Run>> {
        let rows = sqlx::query(
            "SELECT * FROM runs WHERE fabric = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
        )
        .bind(&self.fabric)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Run {
                    id: r.try_get("id")?,
                    fabric: r.try_get("fabric")?,
                    operation: r.try_get("operation")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: opt_text(r, "finished_at")?,
                    outcome: r.try_get("outcome")?,
                    files: r.try_get("files")?,
                    created: r.try_get("created")?,
                    updated: r.try_get("updated")?,
                    unchanged: r.try_get("unchanged")?,
                    deleted: r.try_get("deleted")?,
                    rejected: r.try_get("rejected")?,
                    message: r.try_get("message")?,
                    actor: opt_text(r, "actor")?,
                })
            })
            .collect()
    }

    /// The manifest hash the index was built from.
    pub async fn index_manifest_sha(&self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT index_manifest_sha256 FROM fabrics WHERE name = $1")
            .bind(&self.fabric)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(r) => opt_text(&r, "index_manifest_sha256"),
            None => Ok(None),
        }
    }

    /// Replaces the whole object index of the fabric, in one transaction.
    pub async fn replace_index(
        &self,
        entries: &[InventoryEntry],
        manifest_sha: Option<&str>,
    ) -> Result<()> {
        self.replace_index_with(entries, manifest_sha, None).await
    }

    /// [`replace_index`](Self::replace_index), counting the rows written in `stage` (per statement of 100).
    pub async fn replace_index_with(
        &self,
        entries: &[InventoryEntry],
        manifest_sha: Option<&str>,
        mut stage: Option<&mut crate::progress::Stage>,
    ) -> Result<()> {
        let now = crate::clock::now_rfc3339();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM managed_objects WHERE fabric = $1")
            .bind(&self.fabric)
            .execute(&mut *tx)
            .await?;
        const COLS: usize = 9;
        let sqlite = self.db.backend() == crate::db::Backend::Sqlite;
        for chunk in entries.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO managed_objects (fabric, kind, name, file, sha256, source_file, source_document, \
                 source_sha256, indexed_at) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for c in 0..COLS {
                    if c > 0 {
                        sql.push(',');
                    }
                    // SQLite resolves `$N` names one by one per bind (quadratic in a long statement): plain `?`
                    // there, numbered placeholders for PostgreSQL.
                    if sqlite {
                        sql.push('?');
                    } else {
                        sql.push_str(&format!("${}", i * COLS + c + 1));
                    }
                }
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(&self.fabric)
                    .bind(&e.kind)
                    .bind(&e.name)
                    .bind(&e.file)
                    .bind(&e.sha256)
                    .bind(e.source.as_ref().map(|s| s.file.to_string()))
                    .bind(e.source.as_ref().map(|s| s.document as i64))
                    .bind(e.source.as_ref().map(|s| s.sha256.to_string()))
                    .bind(&now);
            }
            q.execute(&mut *tx).await?;
            if let Some(s) = stage.as_deref_mut() {
                s.set(s.done() + chunk.len() as u64);
            }
        }
        sqlx::query("UPDATE fabrics SET index_manifest_sha256 = $1 WHERE name = $2")
            .bind(manifest_sha)
            .bind(&self.fabric)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Object counts per kind, from the index.
    pub async fn counts_per_kind(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT kind, COUNT(*) AS n FROM managed_objects WHERE fabric = $1 GROUP BY kind ORDER BY kind")
            .bind(&self.fabric)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("kind")?, r.try_get("n")?)))
            .collect()
    }

    pub async fn rejections(&self) -> Result<Vec<Rejection>> {
        let rows = sqlx::query("SELECT * FROM rejections WHERE fabric = $1 ORDER BY file")
            .bind(&self.fabric)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let errors: String = r.try_get("errors")?;
                Ok(Rejection {
                    file: r.try_get("file")?,
                    sha256: r.try_get("sha256")?,
                    context: r.try_get("context")?,
                    cause: r.try_get("cause")?,
                    errors: serde_json::from_str(&errors).unwrap_or(serde_json::Value::Null),
                    rejected_at: r.try_get("rejected_at")?,
                })
            })
            .collect()
    }

    /// Stores rejections and clears the records of files that are gone or were ingested, in one transaction.
    pub async fn update_rejections(&self, set: &[Rejection], clear: &[String]) -> Result<()> {
        if set.is_empty() && clear.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for f in clear.iter().chain(set.iter().map(|r| &r.file)) {
            sqlx::query("DELETE FROM rejections WHERE fabric = $1 AND file = $2")
                .bind(&self.fabric)
                .bind(f)
                .execute(&mut *tx)
                .await?;
        }
        for r in set {
            sqlx::query("INSERT INTO rejections (fabric, file, sha256, context, cause, errors, rejected_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&self.fabric)
                .bind(&r.file)
                .bind(&r.sha256)
                .bind(&r.context)
                .bind(&r.cause)
                .bind(r.errors.to_string())
                .bind(&r.rejected_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
