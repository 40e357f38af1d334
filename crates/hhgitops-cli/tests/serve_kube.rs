//! `serve` jobs against the test API server: a sync with its progress, a cancel at a safe point, and a server
//! killed in the middle of a job.

mod common;
mod kube_support;
mod serve_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use hhgitops_core::Kind;
use reqwest::Method;
use serde_json::{json, Value};
use serve_support::*;

/// The job's own stages (the engine's stages, with an `operation`, come between them).
fn stages(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .filter(|(e, d)| e == "progress" && d.get("operation").is_none())
        .map(|(_, d)| {
            format!(
                "{}:{}",
                d["stage"].as_str().unwrap_or(""),
                d["state"].as_str().unwrap_or("")
            )
        })
        .collect()
}

const INPUT: &str = "vpcs.yaml";

fn input() -> String {
    format!(
        "{NAMESPACES}---\n{}---\n{}",
        vpc("vpc-1", 1),
        vpc("vpc-2", 2)
    )
}

/// Waits until the job has a progress event for `stage:state`.
fn wait_stage(s: &Server, id: &str, token: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, j) = s.call(s.get(&format!("/api/v1/jobs/{id}"), Some(token)));
        let p = &j["progress"];
        let (stage, state) = want.split_once(':').unwrap();
        if p[stage]["state"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "job never reached {want}: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn git_fabric(k: &kube_support::Kube, remote: &Path) -> PathBuf {
    let out = k.env.ok(&[
        "fabric",
        "add",
        "f",
        "--git-url",
        &format!("file://{}", remote.display()),
        "--kubeconfig",
        k.kubeconfig.to_str().unwrap(),
    ]);
    let _ = out;
    let v: Value = serde_json::from_str(&k.env.ok(&["fabric", "show", "f", "--json"])).unwrap();
    PathBuf::from(v["root"].as_str().unwrap())
}

#[test]
fn a_sync_job_reports_its_stages_and_applies_to_the_cluster() {
    let Some(k) = kube_support::start() else {
        return;
    };
    let root = k.fabric("f");
    std::fs::write(root.join("raw").join(INPUT), input()).unwrap();
    let t = tokens(&k.env);
    let s = serve(&k.env, &["--no-watch"], &[]);
    let (code, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "sync", "dryRun": true})),
    );
    assert_eq!(code, 202, "{job}");
    let dry = s.wait_job(job["id"].as_str().unwrap(), &t.read);
    assert_eq!(dry["state"], "succeeded", "{dry}");
    assert!(k.objects(Kind::VPC).is_empty(), "a dry run changes nothing");
    let (code, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "sync"})),
    );
    assert_eq!(code, 202);
    let id = job["id"].as_str().unwrap().to_string();
    let events = s.events(&id, &t.read);
    assert_eq!(
        stages(&events),
        [
            "layout:started",
            "layout:done",
            "ingest:started",
            "ingest:done",
            "apply:started",
            "apply:done"
        ],
        "{events:?}"
    );
    let done = s.wait_job(&id, &t.read);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["actor"], "writer");
    assert_eq!(k.objects(Kind::VPC).len(), 2);
    assert!(
        done["result"]["apply"]["summary"]["created"]
            .as_u64()
            .unwrap()
            >= 2,
        "{done}"
    );
    assert_eq!(done["progress"]["apply"]["state"], "done");
    // Drift through a job; the latest report is served, filtered.
    let (_, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "drift"})),
    );
    let d = s.wait_job(job["id"].as_str().unwrap(), &t.read);
    assert_eq!(d["state"], "succeeded", "{d}");
    let (code, drift) = s.call(s.get("/api/v1/fabrics/f/drift?status=in-sync", Some(&t.read)));
    assert_eq!(code, 200, "{drift}");
    assert_eq!(drift["job"], d["id"]);
    assert!(drift["report"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["status"] == "in-sync"));
    let (_, page) = s.call(s.get(
        "/api/v1/fabrics/f/objects?drift=in-sync&kind=VPC",
        Some(&t.read),
    ));
    assert_eq!(page["total"], 2, "{page}");
    // Failed jobs are easy to find: a fabric whose kubeconfig is gone.
    let (code, _) = s.call(
        s.req(Method::PATCH, "/api/v1/fabrics/f", Some(&t.admin))
            .json(&json!({"kubeconfig": k.env.path("missing-kubeconfig")})),
    );
    assert_eq!(code, 200);
    let (_, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "drift"})),
    );
    let failed = s.wait_job(job["id"].as_str().unwrap(), &t.read);
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["error"]["message"].is_string());
    let (_, list) = s.call(s.get("/api/v1/jobs?state=failed", Some(&t.read)));
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], failed["id"]);
}

#[test]
fn cancel_stops_a_sync_at_its_next_safe_point_and_queued_jobs_coalesce() {
    let Some(k) = kube_support::start() else {
        return;
    };
    let remote = bare_remote(&k.env, "remote");
    let root = git_fabric(&k, &remote);
    std::fs::write(root.join("raw").join(INPUT), input()).unwrap();
    let t = tokens(&k.env);
    // The push of the ingestion takes a while: the job is cancelled during it.
    let s = serve(
        &k.env,
        &["--no-watch"],
        &[("HHGITOPS_TEST_BEFORE_PUSH", "sleep 3")],
    );
    let (_, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "sync"})),
    );
    let id = job["id"].as_str().unwrap().to_string();
    // Two more syncs while it runs: they coalesce into one queued job.
    wait_stage(&s, &id, &t.read, "ingest:started");
    // The ingestion takes the job's cancellation token: cancelled before its commit point it would stop there
    // with nothing written. Here it is cancelled once its transaction committed (past that point, during the
    // push), so it finishes.
    wait_stage(&s, &id, &t.read, "ingest.commit:done");
    let (_, q1) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "sync"})),
    );
    let (_, q2) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.admin))
            .json(&json!({"type": "sync"})),
    );
    assert_eq!(q1["id"], q2["id"], "identical queued jobs coalesce");
    assert_eq!(q2["requests"], 2);
    assert_eq!(q2["state"], "queued");
    let (code, c) = s.call(s.req(
        Method::POST,
        &format!("/api/v1/jobs/{}/cancel", q1["id"].as_str().unwrap()),
        Some(&t.write),
    ));
    assert_eq!(code, 202);
    assert_eq!(c["state"], "cancelled", "a queued job is cancelled at once");
    let (code, c) = s.call(s.req(
        Method::POST,
        &format!("/api/v1/jobs/{id}/cancel"),
        Some(&t.write),
    ));
    assert_eq!(code, 202, "{c}");
    assert_eq!(c["cancelRequested"], true);
    let done = s.wait_job(&id, &t.read);
    assert_eq!(done["state"], "cancelled", "{done}");
    assert_eq!(
        done["progress"]["ingest"]["state"], "done",
        "the stage in progress finished: {done}"
    );
    assert!(
        done["progress"].get("apply").is_none(),
        "apply never started: {done}"
    );
    assert!(k.objects(Kind::VPC).is_empty(), "nothing applied");
    assert!(
        done["result"]["ingest"]["files"].is_array(),
        "what was done is reported: {done}"
    );
    let events = s.events(&id, &t.read);
    assert_eq!(events.last().unwrap().1["state"], "cancelled");
    assert_consistent(&k.env, "f", &root);
}

#[test]
fn a_server_killed_mid_job_leaves_it_interrupted_and_the_fabric_whole() {
    let Some(k) = kube_support::start() else {
        return;
    };
    let remote = bare_remote(&k.env, "remote");
    let root = git_fabric(&k, &remote);
    std::fs::write(root.join("raw").join(INPUT), input()).unwrap();
    let t = tokens(&k.env);
    let s = serve(
        &k.env,
        &["--no-watch"],
        &[("HHGITOPS_TEST_BEFORE_PUSH", "sleep 30")],
    );
    let (_, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "sync"})),
    );
    let id = job["id"].as_str().unwrap().to_string();
    wait_stage(&s, &id, &t.read, "ingest:started");
    std::thread::sleep(Duration::from_millis(1500));
    s.kill9();
    let s = serve(&k.env, &["--no-watch"], &[]);
    let (_, j) = s.call(s.get(&format!("/api/v1/jobs/{id}"), Some(&t.read)));
    assert_eq!(j["state"], "interrupted", "{j}");
    assert_eq!(j["error"]["code"], "interrupted");
    let events = s.events(&id, &t.read);
    assert_eq!(
        events.last().unwrap().0,
        "result",
        "an interrupted job's stream ends too"
    );
    let (_, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "sync"})),
    );
    let done = s.wait_job(job["id"].as_str().unwrap(), &t.read);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(k.objects(Kind::VPC).len(), 2);
    assert_consistent(&k.env, "f", &root);
    assert!(root.join("managed/vpcs/vpc-1.yaml").is_file());
}
