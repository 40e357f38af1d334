//! The engine's error type. Every error has a class ([`ErrorClass`]) that front ends map — the CLI to an exit
//! code, the server to an HTTP status — in one place each, never from the message text. Errors from Git, the
//! cluster and the database keep the underlying error as their `source`.

use std::path::PathBuf;

/// What kind of failure an error is, for a front end to decide what to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorClass {
    /// Bad arguments or configuration: the operator's to fix.
    Usage,
    /// The fabric, object or file named does not exist.
    NotFound,
    /// Input refused as a whole (it does not validate).
    Rejected,
    /// The state forbids it now: the fabric is busy, the name is taken, the clone conflicts with its remote,
    /// the operation was cancelled.
    Conflict,
    /// The Git client or the remote failed.
    Git,
    /// The fabric's Kubernetes API server failed or cannot be reached.
    Cluster,
    /// The database failed or is damaged.
    Database,
    /// Files could not be read or written, or an internal task failed.
    Io,
}

impl ErrorClass {
    /// The class's stable name (JSON, logs).
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Usage => "usage",
            ErrorClass::NotFound => "notFound",
            ErrorClass::Rejected => "rejected",
            ErrorClass::Conflict => "conflict",
            ErrorClass::Git => "git",
            ErrorClass::Cluster => "cluster",
            ErrorClass::Database => "database",
            ErrorClass::Io => "io",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("fabric {0:?} is not registered (see `hhgitops fabric list`)")]
    UnknownFabric(String),

    /// An object or file named by the operator does not exist.
    #[error("{0}")]
    NotFound(String),

    /// Input refused as a whole.
    #[error("{0}")]
    Rejected(String),

    /// The state forbids it: a name already taken, roots that overlap.
    #[error("{0}")]
    Conflict(String),

    /// Another operation holds the fabric's lock.
    #[error("{0}")]
    Busy(String),

    #[error("{context}: {path}: {source}")]
    Io {
        context: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("database: {0}")]
    Database(String),

    /// A query failed.
    #[error("database: {0}")]
    Sql(#[source] sqlx::Error),

    /// The SQLite file is not a database or has damaged pages: reported at once, with what to do.
    #[error("{}", damaged_message(.path.as_deref(), .detail))]
    DatabaseDamaged {
        path: Option<String>,
        detail: String,
    },

    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },

    #[error("{0}")]
    Runtime(String),

    #[error("git: {0}")]
    Git(String),

    /// The Git client failed (its message says what to do).
    #[error("git: {0}")]
    GitCommand(#[source] hhgitops_git::GitError),

    /// The fabric's cluster: configuration (class usage) or a failure of the API server (class cluster).
    #[error("fabric {fabric:?}: {source}")]
    Cluster {
        fabric: String,
        #[source]
        source: hhgitops_kube::KubeError,
    },

    /// The clone cannot be brought up to date: its commits conflict with the remote's. Nothing is written until
    /// the operator resolves it (`status` shows how); raw files are still validated.
    #[error("git: {0}")]
    GitConflict(String),

    /// The operation was cancelled (its token fired, or its caller went away) before it changed anything.
    #[error("{0}")]
    Cancelled(String),

    /// Another `serve` holds the home (SQLite: one server per home).
    #[error(
        "another `hhgitops serve` is running on home {}: {}; stop it or give this one another --home \
         (with PostgreSQL several servers can share one database, each with a home of its own)",
        home.display(),
        holder.as_deref().unwrap_or("its details could not be read")
    )]
    HomeInUse {
        home: PathBuf,
        /// The running server's pid, host and listen address, as its lock file says.
        holder: Option<String>,
    },
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Usage(_) | Error::Corrupt { .. } | Error::HomeInUse { .. } => ErrorClass::Usage,
            Error::UnknownFabric(_) | Error::NotFound(_) => ErrorClass::NotFound,
            Error::Rejected(_) => ErrorClass::Rejected,
            Error::Conflict(_) | Error::Busy(_) | Error::GitConflict(_) | Error::Cancelled(_) => {
                ErrorClass::Conflict
            }
            Error::Git(_) | Error::GitCommand(_) => ErrorClass::Git,
            Error::Cluster { source, .. } => {
                if source.is_config() {
                    ErrorClass::Usage
                } else {
                    ErrorClass::Cluster
                }
            }
            Error::Database(_) | Error::Sql(_) | Error::DatabaseDamaged { .. } => {
                ErrorClass::Database
            }
            Error::Io { .. } | Error::Runtime(_) => ErrorClass::Io,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match damaged_sqlite(&e) {
            Some(detail) => Error::DatabaseDamaged { path: None, detail },
            None => Error::Sql(e),
        }
    }
}

fn damaged_message(path: Option<&str>, detail: &str) -> String {
    let (file, mv) = match path {
        Some(p) => (p.to_string(), format!("mv {p} {p}.damaged")),
        None => (
            "file (--database; by default HOME/hhgitops.db)".to_string(),
            "mv FILE FILE.damaged".to_string(),
        ),
    };
    format!(
        "the SQLite database {file} is damaged ({detail}). It holds only the fabric registry, an index and the \
         run history; the GitOps trees hold the truth. Move it aside ({mv}), register the fabrics again with \
         `hhgitops fabric add` (same names and options); their objects are indexed from their trees on the next \
         command (or `hhgitops reindex --fabric NAME`)"
    )
}

/// SQLite's own words when a file is not a database (SQLITE_NOTADB, 26) or has damaged pages (SQLITE_CORRUPT,
/// 11, "database disk image is malformed").
pub(crate) fn damaged_sqlite(e: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    // Extended result codes keep the primary code in their low byte (SQLITE_CORRUPT_INDEX is 779).
    let primary = d
        .code()
        .and_then(|c| c.parse::<i64>().ok())
        .map(|c| c & 0xff);
    let msg = d.message();
    let damaged = matches!(primary, Some(11 | 26))
        || msg.contains("file is not a database")
        || msg.contains("database disk image is malformed");
    damaged.then(|| msg.to_string())
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match &e {
            sqlx::migrate::MigrateError::Execute(inner)
            | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => {
                if let Some(detail) = damaged_sqlite(inner) {
                    return Error::DatabaseDamaged { path: None, detail };
                }
            }
            _ => {}
        }
        Error::Database(format!("migrations: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_the_class_front_ends_map() {
        let io = || std::io::Error::other("disk");
        let cases: Vec<(Error, ErrorClass)> = vec![
            (Error::usage("bad flag"), ErrorClass::Usage),
            (
                Error::Corrupt {
                    path: "x".into(),
                    message: "link".into(),
                },
                ErrorClass::Usage,
            ),
            (Error::UnknownFabric("f".into()), ErrorClass::NotFound),
            (Error::NotFound("VPC/a".into()), ErrorClass::NotFound),
            (Error::Rejected("no".into()), ErrorClass::Rejected),
            (Error::Conflict("taken".into()), ErrorClass::Conflict),
            (Error::Busy("busy".into()), ErrorClass::Conflict),
            (Error::GitConflict("diverged".into()), ErrorClass::Conflict),
            (Error::Cancelled("stop".into()), ErrorClass::Conflict),
            (Error::Git("push".into()), ErrorClass::Git),
            (Error::Sql(sqlx::Error::PoolTimedOut), ErrorClass::Database),
            (Error::Database("migrations".into()), ErrorClass::Database),
            (Error::io("cannot read", "/x", io()), ErrorClass::Io),
            (Error::Runtime("task".into()), ErrorClass::Io),
        ];
        for (e, class) in cases {
            assert_eq!(e.class(), class, "{e}");
        }
    }

    #[test]
    fn underlying_errors_are_kept_as_the_source() {
        use std::error::Error as _;
        let e = Error::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(e, Error::Sql(_)), "{e:?}");
        assert!(e.source().is_some(), "the sqlx error is the source");
        assert!(e.to_string().starts_with("database: "), "{e}");
        let e = Error::io("cannot read", "/x", std::io::Error::other("disk"));
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("disk"));
    }
}
