//! Test support shared by the integration tests of every crate (a dev-dependency only): a temporary home and
//! database, the real binary, bare Git remotes, small fabric fixtures, the shared samples beside the repository,
//! and the checks every `--json` document must pass (camelCase keys).
//!
//! `../shared` (relative to the repository root) holds the samples, CRDs and tools. Tests that need it skip with
//! a note when it is absent, except under `CI=true`, where its absence fails the run ([`shared_dir`]).

use std::path::{Path, PathBuf};
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
            if in_ci() {
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

/// Creates a fresh schema and returns a URL whose search_path points at it.
fn postgres_schema() -> Option<String> {
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

/// Every file and folder below `root`, relative, sorted; folders end with `/`.
pub fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(p);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Whether this run is CI's (`CI=true`): there, what a test needs and lacks is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|c| c == "true")
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` beside the repository, where it is expected (samples, CRDs, tools); `HHGITOPS_TEST_SHARED`
/// names it elsewhere (a work tree whose parent has no `shared`).
pub fn shared_path() -> PathBuf {
    std::env::var_os("HHGITOPS_TEST_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

/// The shared samples, CRDs and tools beside the repository. Absent: `None` with a note (the test skips),
/// except under `CI=true`, where a missing `../shared` fails the test.
pub fn shared_dir() -> Option<PathBuf> {
    let p = shared_path();
    if p.is_dir() {
        Some(p)
    } else if in_ci() {
        panic!(
            "{} not found beside the repository: CI must run the tests that need the shared samples",
            p.display()
        );
    } else {
        eprintln!("note: ../shared not found beside the repository: test skipped");
        None
    }
}

/// A folder of `../shared` (`samples`, `crds`, `tools`), with the same rule as [`shared_dir`] for its absence.
pub fn shared_subdir(name: &str) -> Option<PathBuf> {
    let dir = shared_dir()?.join(name);
    if dir.is_dir() {
        Some(dir)
    } else if in_ci() {
        panic!(
            "{} not found: CI must run the tests that need it",
            dir.display()
        );
    } else {
        eprintln!("note: {} not found: test skipped", dir.display());
        None
    }
}

/// The shared sample fabrics (`../shared/samples/*.yaml`): file name and content, sorted by name; empty when
/// `../shared` is absent outside CI.
pub fn samples() -> Vec<(String, String)> {
    let Some(dir) = shared_subdir("samples") else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("samples folder")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".yaml"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("sample readable"),
            )
        })
        .collect();
    out.sort();
    out
}

/// An empty bare Git repository at `path` with branch `main`, for a fabric's remote.
pub fn git_bare(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).expect("remote folder");
    let ok = std::process::Command::new("git")
        .current_dir(path)
        .args(["init", "-q", "--bare", "-b", "main"])
        .status()
        .expect("git runs")
        .success();
    assert!(ok, "git init --bare {}", path.display());
    path.to_path_buf()
}

/// Namespaces that small test fabrics need.
pub const NAMESPACES: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: default
spec:
  ranges:
  - from: 1000
    to: 2999
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: IPv4Namespace
metadata:
  name: default
spec:
  subnets:
  - 10.0.0.0/16
";

/// A valid VPC with one subnet (`n` picks subnet 10.0.n.0/24 and VLAN 1000+n).
pub fn vpc(name: &str, n: u32) -> String {
    format!(
        "apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: {name}
spec:
  subnets:
    default:
      subnet: 10.0.{n}.0/24
      gateway: 10.0.{n}.1
      vlan: {vlan}
",
        vlan = 1000 + n
    )
}

/// Sets up a fabric at `<tmp>/gitops` and returns its root.
pub fn fabric_at(env: &TestEnv, name: &str) -> PathBuf {
    let root = env.path(&format!("{name}-gitops"));
    env.ok(&["fabric", "add", name, "--path", root.to_str().unwrap()]);
    root
}

/// Parses stdout as one JSON document and checks that every key is camelCase ([`assert_camel_case`]).
pub fn json(out: &Output) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)));
    assert_camel_case(&v);
    v
}

/// Parses every line of stdout as a JSON document (`ingest --watch --json`), each checked as [`json`] does.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert_camel_case(&v);
            v
        })
        .collect()
}

/// Maps whose keys are data, not field names: object counts by kind (`{"VPC": 3}`), fabric settings by name,
/// HTTP headers. Their values are still walked.
const DATA_KEYED: &[&str] = &["counts", "values", "kinds", "headers", "progress"];

/// Fields whose whole value is data (a setting's value, a field's value in Git or in the cluster, an object as
/// JSON, labels): not walked.
const OPAQUE: &[&str] = &["value", "desired", "live", "json", "labels", "annotations"];

/// A key of SPEC §7's convention: a lower-case ASCII letter, then letters and digits (`rootRule`, `inSync`).
pub fn is_camel_case(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// The keys of `v`, at any depth, that are not camelCase, each with its JSON path. The entries of
/// [`DATA_KEYED`] maps, the [`OPAQUE`] values and Kubernetes objects (anything with `apiVersion` and `kind`, whose keys are the
/// API's) are data and not judged.
pub fn non_camel_case_keys(v: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, path: &str, data_keys: bool, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.contains_key("apiVersion") && m.contains_key("kind") {
                    return;
                }
                for (k, child) in m {
                    if !data_keys && !is_camel_case(k) {
                        out.push(format!("{path}.{k}"));
                    }
                    if OPAQUE.contains(&k.as_str()) {
                        continue;
                    }
                    let data = !data_keys && DATA_KEYED.contains(&k.as_str());
                    walk(child, &format!("{path}.{k}"), data, out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), false, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "$", false, &mut out);
    out
}

/// Fails on any key of `v` that is not camelCase (see [`non_camel_case_keys`]).
pub fn assert_camel_case(v: &serde_json::Value) {
    let bad = non_camel_case_keys(v);
    assert!(
        bad.is_empty(),
        "keys that are not camelCase: {bad:?} in {v}"
    );
}

/// Checks the invariants that must hold between runs: no transaction debris, every inventory entry has its file
/// with the recorded hash, every managed file is in the inventory, and the index (status counts) agrees.
pub fn assert_consistent(env: &TestEnv, fabric: &str, root: &Path) {
    let txn = root.join(".hnp/txn");
    if txn.is_dir() {
        assert_eq!(
            std::fs::read_dir(&txn).unwrap().count(),
            0,
            "transaction debris left in {}",
            txn.display()
        );
    }
    let inventory = manifest_inventory(root);
    let mut listed = std::collections::BTreeSet::new();
    for e in &inventory {
        let f = e["file"].as_str().unwrap().to_string();
        let bytes = std::fs::read(root.join(&f))
            .unwrap_or_else(|_| panic!("inventory lists {f}, which is missing"));
        assert_eq!(
            sha256_hex(&bytes),
            e["sha256"].as_str().unwrap(),
            "hash of {f}"
        );
        listed.insert(f);
    }
    let on_disk: std::collections::BTreeSet<String> = tree(&root.join("managed"))
        .into_iter()
        .filter(|f| f.ends_with(".yaml"))
        .map(|f| format!("managed/{f}"))
        .collect();
    assert_eq!(listed, on_disk, "manifest inventory and managed/ agree");
    let st = json(&env.expect_code(&["status", "--fabric", fabric, "--json"], 0));
    assert_eq!(
        st["total"].as_u64().unwrap() as usize,
        on_disk.len(),
        "index agrees with the tree: {st}"
    );
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The manifest's inventory entries.
pub fn manifest_inventory(root: &Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(root.join(".hnp/manifest.yaml")).expect("manifest");
    let docs =
        hhgitops_core::yaml::parse_stream(&bytes, &Default::default()).expect("manifest parses");
    let v = docs
        .into_iter()
        .find_map(|d| d.root)
        .expect("manifest document")
        .to_json();
    v["inventory"].as_array().cloned().unwrap_or_default()
}
