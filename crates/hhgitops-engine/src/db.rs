//! The database: an index and a history, never the source of truth (the Git tree is). SQLite in the home by
//! default, PostgreSQL when the URL says so; one set of portable migrations, applied on open.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::error::{Error, Result};

/// Which back end a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(Error::usage(format!(
                "database URL {:?} has an unknown scheme {:?}: use sqlite://FILE or postgres://USER@HOST/DB",
                redact_url(url),
                scheme
            ))),
        }
    }
}

/// Hides a password in a URL so it can be shown in messages.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

/// A connection pool plus the back end it talks to. Cheap to clone; safe to share between tasks.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

/// The page cache of each SQLite connection (a negative size is in KiB).
pub const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -1024";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Database {
    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> Result<Database> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        if backend == Backend::Sqlite {
            probe_sqlite(url).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(std::time::Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA busy_timeout = 30000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        // A page cache of 1 MiB per connection instead of SQLite's 2 MiB: the index of a large
                        // fabric is written once per ingestion and read once per manifest (the server keeps
                        // its listing in memory), so pages are seldom read twice, and each of the pool's
                        // connections would otherwise keep up to 2 MiB.
                        sqlx::query(SQLITE_CACHE_PRAGMA).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| damaged_or(url, e, |e| format!("cannot open {}: {e}", redact_url(url))))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| match Error::from(e) {
                Error::DatabaseDamaged { detail, .. } => Error::DatabaseDamaged {
                    path: sqlite_path(url),
                    detail,
                },
                e => e,
            })?;
        Ok(Database { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at the
    /// start, so a transaction that reads before it writes waits for another writer (the busy timeout) instead
    /// of failing with "database is locked" (SQLITE_BUSY_SNAPSHOT, which no timeout retries) when that writer
    /// committed after its first read. PostgreSQL's `BEGIN` is already right.
    pub async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub async fn close(&self) {
        self.pool.close().await
    }
}

/// Opens one connection to a SQLite file and reads its header and schema before any pool exists: a file that
/// is not a database, or whose schema pages are damaged, is reported at once (a pool would retry the failing
/// connection until its acquire timeout, logging each attempt).
async fn probe_sqlite(url: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .map_err(|e| damaged_or(url, e, |e| format!("cannot open {}: {e}", redact_url(url))))?;
    let checked = sqlx::query("SELECT count(*) FROM sqlite_master")
        .fetch_one(&mut conn)
        .await;
    let _ = conn.close().await;
    checked
        .map(|_| ())
        .map_err(|e| damaged_or(url, e, |e| format!("cannot read {}: {e}", redact_url(url))))
}

/// The SQLite file a `sqlite://` URL names.
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// A damaged SQLite file as [`Error::DatabaseDamaged`] (with its path), any other error as `other` says.
fn damaged_or(url: &str, e: sqlx::Error, other: impl FnOnce(&sqlx::Error) -> String) -> Error {
    match crate::error::damaged_sqlite(&e) {
        Some(detail) => Error::DatabaseDamaged {
            path: sqlite_path(url),
            detail,
        },
        None => Error::Database(other(&e)),
    }
}

/// Reads an optional text column.
pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(
            Backend::from_url("sqlite:///tmp/x.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/d").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/d").unwrap(),
            Backend::Postgres
        );
        let e = Backend::from_url("mysql://u:pw@h/d").unwrap_err();
        assert!(e.to_string().contains("unknown scheme"));
        assert!(!e.to_string().contains("pw"));
    }

    /// Every connection of the pool has the smaller page cache (a pool's later connections too).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_sqlite_connection_has_the_bounded_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Database::open(&url).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = db.pool().acquire().await.unwrap();
            let (size,): (i64,) = sqlx::query_as("PRAGMA cache_size")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(size, -1024, "{SQLITE_CACHE_PRAGMA}");
            held.push(conn);
        }
    }

    /// Two writers on one SQLite file: one commits all the time, the other reads then writes in a transaction.
    /// With a plain deferred `BEGIN` the second fails with "database is locked" (SQLITE_BUSY_SNAPSHOT) as soon
    /// as the first commits between its read and its write; `begin_write` waits instead, so none fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_that_reads_then_writes_waits_for_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Database::open(&url).await.unwrap();
        sqlx::query("CREATE TABLE scratch (n INTEGER NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        let other = db.clone();
        let writer = tokio::spawn(async move {
            for n in 0..400i64 {
                sqlx::query("INSERT INTO scratch (n) VALUES ($1)")
                    .bind(n)
                    .execute(other.pool())
                    .await
                    .unwrap();
            }
        });
        let mut failures = Vec::new();
        for _ in 0..200 {
            let result: std::result::Result<(), sqlx::Error> = async {
                let mut tx = db.begin_write().await?;
                let n: i64 = sqlx::query("SELECT COALESCE(MAX(n), 0) + 1000 AS n FROM scratch")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                tokio::task::yield_now().await;
                sqlx::query("INSERT INTO scratch (n) VALUES ($1)")
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await;
            if let Err(e) = result {
                failures.push(e.to_string());
            }
        }
        writer.await.unwrap();
        assert!(
            failures.is_empty(),
            "{} transactions failed: {:?}",
            failures.len(),
            failures.first()
        );
        let count: i64 = sqlx::query("SELECT count(*) AS c FROM scratch")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .try_get("c")
            .unwrap();
        assert_eq!(count, 600);
    }
}
