//! The engine's error type. Every variant knows whether it is the operator's to fix (usage or configuration,
//! exit 2) or a runtime failure (I/O, Git, cluster, exit 3), so front ends map errors to exit codes in one place.

use std::path::PathBuf;

/// How a front end should treat an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad arguments or configuration: exit 2.
    Usage,
    /// Something failed while running: exit 3.
    Runtime,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("fabric {0:?} is not registered (see `hhgitops fabric list`)")]
    UnknownFabric(String),

    #[error("{context}: {path}: {source}")]
    Io {
        context: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("database: {0}")]
    Database(String),

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

    /// The clone cannot be brought up to date: its commits conflict with the remote's. Nothing is written until
    /// the operator resolves it (`status` shows how); raw files are still validated.
    #[error("git: {0}")]
    GitConflict(String),

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
            Error::Usage(_)
            | Error::UnknownFabric(_)
            | Error::Corrupt { .. }
            | Error::HomeInUse { .. } => ErrorClass::Usage,
            Error::Io { .. }
            | Error::Database(_)
            | Error::DatabaseDamaged { .. }
            | Error::Runtime(_)
            | Error::Git(_)
            | Error::GitConflict(_) => ErrorClass::Runtime,
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
            None => Error::Database(e.to_string()),
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
