//! The `hhgitops-testapi` binary: prints the path of a usable kubeconfig and serves until stopped.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use kube::api::{Patch, PatchParams};

#[tokio::test]
async fn binary_prints_a_kubeconfig_that_clients_can_use() {
    let Some(crds) = crds_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hhgitops-testapi"))
        .arg("--crds")
        .arg(&crds)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim_end(), kubeconfig.to_str().unwrap());

    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let api = switches(&client_with(&text).await);
    let applied = api
        .patch(
            "leaf-01",
            &PatchParams::apply("hhgitops"),
            &Patch::Apply(&switch("leaf-01", "spine")),
        )
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(applied.unwrap().data["spec"]["role"], "spine");
}

#[test]
fn binary_fails_clearly_without_crds() {
    let out = Command::new(env!("CARGO_BIN_EXE_hhgitops-testapi"))
        .args(["--crds", "/nonexistent/crds"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/crds"), "{stderr}");
}
