//! Support for the Kubernetes tests: a test API server with the Hedgehog CRDs, a fabric pointing at it through
//! a generated kubeconfig, and readers for the server's request log.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use hhgitops_core::Kind;
use hhgitops_testapi::{RequestRecord, TestApiServer};
use serde_json::Value;

use crate::common::{json, shared_dir, TestEnv};

/// A home, a test API server and its kubeconfig.
pub struct Kube {
    pub env: TestEnv,
    pub server: TestApiServer,
    pub kubeconfig: PathBuf,
}

/// The Hedgehog CRDs beside the repository.
pub fn crds_dir() -> Option<PathBuf> {
    let dir = shared_dir()?.join("crds");
    dir.is_dir().then_some(dir)
}

/// A server for the CRDs in `crds` (or the shared ones); `None` (test skipped) when they are absent.
pub fn start_with(crds: Option<&Path>) -> Option<Kube> {
    let dir = match crds {
        Some(d) => d.to_path_buf(),
        None => crds_dir()?,
    };
    let env = TestEnv::sqlite();
    let server = TestApiServer::start(&dir).expect("test API server starts");
    let kubeconfig = env.path("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    Some(Kube {
        env,
        server,
        kubeconfig,
    })
}

pub fn start() -> Option<Kube> {
    start_with(None)
}

impl Kube {
    /// Registers fabric `name` at `<tmp>/<name>-gitops` with the server as its target; returns its root.
    pub fn fabric(&self, name: &str) -> PathBuf {
        let root = self.env.path(&format!("{name}-gitops"));
        self.env.ok(&[
            "fabric",
            "add",
            name,
            "--path",
            root.to_str().unwrap(),
            "--kubeconfig",
            self.kubeconfig.to_str().unwrap(),
        ]);
        root
    }

    /// Runs hhgitops and checks the exit code; returns the output.
    pub fn run(&self, args: &[&str], code: i32) -> Output {
        self.env.expect_code(args, code)
    }

    /// Runs with `--json` and checks the exit code; returns the parsed JSON.
    pub fn json(&self, args: &[&str], code: i32) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        json(&self.env.expect_code(&a, code))
    }

    /// The stored objects of a kind.
    pub fn objects(&self, kind: Kind) -> Vec<Value> {
        self.server.objects(kind.group().name(), kind.plural())
    }

    pub fn object(&self, kind: Kind, name: &str) -> Option<Value> {
        self.server
            .object(kind.group().name(), kind.plural(), "default", name)
    }

    /// How many objects the server stores, over all Hedgehog kinds.
    pub fn total(&self) -> usize {
        Kind::ALL.iter().map(|k| self.objects(*k).len()).sum()
    }

    /// Writes that reached the server (not dry runs).
    pub fn writes(&self) -> Vec<RequestRecord> {
        self.server.writes()
    }
}

/// The kind a request addresses (`/apis/<group>/<version>/namespaces/default/<plural>[/<name>]`).
pub fn kind_of(r: &RequestRecord) -> Option<Kind> {
    let mut parts = r.path.trim_start_matches('/').split('/');
    if parts.next()? != "apis" {
        return None;
    }
    let _group = parts.next()?;
    let _version = parts.next()?;
    if parts.next()? != "namespaces" {
        return None;
    }
    let _ns = parts.next()?;
    Kind::from_plural(parts.next()?)
}

/// The object name a request addresses.
pub fn name_of(r: &RequestRecord) -> Option<String> {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    (parts.len() == 7).then(|| parts[6].to_string())
}

/// Copies a file into the fabric's raw/ folder.
pub fn drop_raw(root: &Path, name: &str, content: &str) {
    std::fs::write(root.join("raw").join(name), content).expect("raw file written");
}

/// The shared sample fabrics (file name, content).
pub fn samples() -> Vec<(String, String)> {
    let Some(dir) = shared_dir() else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir.join("samples"))
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

/// The documents of a multi-document YAML text, as JSON.
pub fn documents(text: &str) -> Vec<Value> {
    hhgitops_core::yaml::parse_stream(text.as_bytes(), &Default::default())
        .expect("YAML parses")
        .into_iter()
        .filter_map(|d| d.root)
        .map(|n| n.to_json())
        .collect()
}

/// Count of documents per kind.
pub fn kind_counts(docs: &[Value]) -> std::collections::BTreeMap<Kind, usize> {
    let mut m = std::collections::BTreeMap::new();
    for d in docs {
        if let Some(k) = d["kind"].as_str().and_then(Kind::from_kind_name) {
            *m.entry(k).or_default() += 1;
        }
    }
    m
}

/// The default vlab sample (spine-leaf with VPCs and a gateway).
pub fn vlab() -> Option<String> {
    samples()
        .into_iter()
        .find(|(n, _)| n.starts_with("vlab-default"))
        .map(|(_, c)| c)
}

/// The outcome of `Kind/name` in a sync report's apply stage.
pub fn outcome<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["apply"]["objects"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["kind"] == kind && o["name"] == name))
        .unwrap_or_else(|| panic!("no outcome for {kind}/{name} in {report}"))
}

/// The drift entry of `Kind/name`.
pub fn entry<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["objects"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["kind"] == kind && o["name"] == name))
        .unwrap_or_else(|| panic!("no drift entry for {kind}/{name} in {report}"))
}
