//! A temporary home, the real binary, and the database back ends to run against.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;

/// Which database a test runs against.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL URL pointing at a schema of this test's own.
    Postgres(String),
}

impl Backend {
    pub fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// SQLite always; PostgreSQL when reachable. In CI (`CI=true`) an unreachable PostgreSQL is a failure.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match postgres_schema() {
        Some(url) => v.push(Backend::Postgres(url)),
        None => {
            if std::env::var("CI").is_ok_and(|c| c == "true") {
                panic!(
                    "PostgreSQL is not reachable at {}: CI must run these tests on it",
                    pg_base()
                );
            }
            eprintln!(
                "note: PostgreSQL not reachable at {}: PostgreSQL variant skipped",
                pg_base()
            );
        }
    }
    v
}

fn pg_base() -> String {
    std::env::var("HHGITOPS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG.to_string())
}

/// The lock that keeps tests which restart PostgreSQL (`tests/replicas_outage.rs`, exclusive) from running
/// beside tests that use it (shared, held for the life of the test process).
pub fn postgres_lock_path() -> PathBuf {
    std::env::temp_dir().join("hhgitops-test-postgres.lock")
}

static PG_SHARED: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();

fn hold_postgres_shared() {
    PG_SHARED.get_or_init(|| {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(postgres_lock_path())
            .ok()?;
        f.lock_shared().ok()?;
        Some(f)
    });
}

/// Waits until no other test process uses PostgreSQL, then keeps the others out while the returned file is
/// open. Call it before anything else touches PostgreSQL in this process.
pub fn take_postgres_exclusive() -> std::fs::File {
    PG_SHARED.get_or_init(|| None);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(postgres_lock_path())
        .expect("open the PostgreSQL test lock");
    f.lock().expect("lock the PostgreSQL test lock");
    f
}

/// Creates a fresh schema and returns a URL whose search_path points at it.
fn postgres_schema() -> Option<String> {
    hold_postgres_shared();
    let base = pg_base();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        use sqlx::Connection;
        let connect = sqlx::PgConnection::connect(&base);
        let mut conn = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
            .await
            .ok()?
            .ok()?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .ok()?;
        Some(())
    })?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options[search_path]={schema}"))
}

/// A temporary home and database.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    /// Whether dropping this environment drops its PostgreSQL schema (not for a second home sharing it).
    owns_schema: bool,
}

impl Drop for TestEnv {
    /// Drops the test's PostgreSQL schema so test runs do not pile up schemas.
    fn drop(&mut self) {
        if !self.owns_schema {
            return;
        }
        if let Backend::Postgres(url) = &self.backend {
            let Some(schema) = url.rsplit("search_path]=").next().map(str::to_string) else {
                return;
            };
            let base = pg_base();
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            });
        }
    }
}

impl TestEnv {
    pub fn new(backend: Backend) -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("tempdir"),
            backend,
            owns_schema: true,
        }
    }

    /// Another home on the same database (another process, as on another machine): its own temporary
    /// directory, the same PostgreSQL schema. Drop it before `self`.
    pub fn second_home(&self) -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("tempdir"),
            backend: self.backend.clone(),
            owns_schema: false,
        }
    }

    pub fn sqlite() -> TestEnv {
        TestEnv::new(Backend::Sqlite)
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A scratch folder inside the test's temporary directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The real binary with this home and database.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("hhgitops").expect("binary");
        c.env_remove("HHGITOPS_DATABASE_URL");
        c.env("HHGITOPS_HOME", self.home());
        c.env("NO_COLOR", "1");
        if let Backend::Postgres(url) = &self.backend {
            c.env("HHGITOPS_DATABASE_URL", url);
        }
        c
    }

    /// The real binary as a plain `std::process::Command` (for children a test spawns and stops itself).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("hhgitops"));
        c.env_remove("HHGITOPS_DATABASE_URL");
        c.env("HHGITOPS_HOME", self.home());
        if let Backend::Postgres(url) = &self.backend {
            c.env("HHGITOPS_DATABASE_URL", url);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run hhgitops")
    }

    /// Runs and asserts the exit code, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            code(&out),
            0,
            "hhgitops {args:?} failed:\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    pub fn expect_code(&self, args: &[&str], expected: i32) -> Output {
        let out = self.run(args);
        assert_eq!(
            code(&out),
            expected,
            "hhgitops {args:?}:\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        );
        out
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sets up a fabric at `<tmp>/gitops` and returns its root.
pub fn fabric_at(env: &TestEnv, name: &str) -> PathBuf {
    let root = env.path(&format!("{name}-gitops"));
    env.ok(&["fabric", "add", name, "--path", root.to_str().unwrap()]);
    root
}

/// The root of fabric `fabric`, as `fabric show` reports it.
pub fn root_of(env: &TestEnv, fabric: &str) -> PathBuf {
    let show = crate::json(&env.expect_code(&["fabric", "show", fabric, "--json"], 0));
    PathBuf::from(show["root"].as_str().unwrap())
}
