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

    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },

    #[error("{0}")]
    Runtime(String),

    #[error("git: {0}")]
    Git(String),

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
            Error::Io { .. } | Error::Database(_) | Error::Runtime(_) | Error::Git(_) => {
                ErrorClass::Runtime
            }
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
        Error::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Database(format!("migrations: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
