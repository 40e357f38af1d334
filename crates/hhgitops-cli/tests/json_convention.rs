//! One JSON convention: every `--json` document is camelCase (checked by `common::json` on every document the
//! tests parse), and a failed `--json` command prints the HTTP API's error shape on stdout.

mod common;

use common::*;

#[test]
fn a_failed_json_command_prints_the_api_error_shape() {
    let env = TestEnv::sqlite();
    let out = env.expect_code(&["status", "--fabric", "nope", "--json"], 2);
    let v = json(&out);
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fabric \"nope\" is not registered"),
        "{v}"
    );
    assert!(v["error"].get("details").is_some(), "{v}");
    assert!(stderr(&out).contains("hhgitops: error: fabric \"nope\""));
    // Without --json, stdout stays empty.
    let out = env.expect_code(&["status", "--fabric", "nope"], 2);
    assert!(stdout(&out).is_empty());
}

#[test]
fn the_key_check_finds_snake_case_and_skips_data_keyed_maps() {
    let v = serde_json::json!({"okKey": 1, "counts": {"VPC": 1}, "list": [{"dry_run": true}],
                               "obj": {"apiVersion": "v1", "kind": "X", "any_key": 1}});
    assert_eq!(
        non_camel_case_keys(&v),
        vec!["$.list[0].dry_run".to_string()]
    );
}

#[test]
fn ingest_and_status_documents_are_camel_case() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(
        root.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(r["dryRun"], false, "{r}");
    assert!(r["files"][0]["archivedTo"].is_string(), "{r}");
    let s = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert!(s["lastRuns"][0]["startedAt"].is_string(), "{s}");
}
