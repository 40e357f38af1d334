//! A schema-driven fuzzer against the OpenAPI document: `schemathesis` (PyPI; `.ci/run` installs it) sends
//! generated requests — valid and invalid, for every operation of the document — to the real server on
//! loopback with a real admin token, and checks every answer: no 5xx, and no status code, content type or body
//! that contradicts the document. Bounded: a fixed seed, a few examples per operation.
//!
//! `POST /api/v1/fabrics` is left out: it registers a fabric at whatever path it is given, and a fuzzer would
//! make folders wherever its strings point. Its validation is covered by `serve.rs`.

mod common;
mod serve_support;

use std::process::Command;

use common::*;
use serve_support::*;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|c| c == "true")
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_contradicting_the_document() {
    let have = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            !in_ci(),
            "schemathesis is not installed: CI must run this test"
        );
        eprintln!(
            "note: schemathesis not found (python3 -m pip install schemathesis): test skipped"
        );
        return;
    }
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(
        root.join("raw/vpcs.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    fabric_at(&env, "spare");
    let admin = token(&env, "fuzz-admin", "admin", &[]);
    token(&env, "spare-token", "read", &[]);
    // Path parameters fixed to what exists, so requests reach the routes' logic rather than 404; the
    // destructive operations get their own victims (the fuzzer reuses values it saw in answers, such as the
    // admin token's name, and would revoke it or unregister `f`).
    std::fs::write(
        env.path("schemathesis.toml"),
        r#"[parameters]
fabric = "f"
kind = "VPC"

[[operations]]
include-operation-id = "delete_fabric"
parameters = { fabric = "spare" }

[[operations]]
include-operation-id = "revoke_token"
parameters = { name = "spare-token" }
"#,
    )
    .unwrap();
    let s = serve(&env, &["--no-watch"], &[]);
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    let _ = std::fs::remove_dir_all(&report);
    let out = Command::new("schemathesis")
        .current_dir(env.path(""))
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", s.url))
        .args(["--url", &s.url])
        .args(["-H", &format!("Authorization: Bearer {admin}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--exclude-operation-id",
            "create_fabric",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--seed",
            "20261201",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
        ])
        .arg(&report)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems (report in {}):\n{stdout}\n{stderr}",
        report.display()
    );
    // It really ran operations against the server.
    assert!(
        stdout.contains("passed") && !stdout.contains("No operations"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Authentication failed"),
        "the admin token stayed valid throughout: {stdout}"
    );
    // The server is still whole and still answers: the fabric is registered, its status reads.
    let (code, st) = s.call(s.get("/api/v1/fabrics/f/status", Some(&admin)));
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["fabric"], "f");
    let (code, ready) = s.call(s.get("/readyz", None));
    assert_eq!(code, 200, "{ready}");
}
