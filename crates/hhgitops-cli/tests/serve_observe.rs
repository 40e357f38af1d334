//! What `serve` shows about the work it did: `/metrics` after real uploads, syncs, drift reports and watcher
//! runs (labelled per fabric and status, never per object), and the actor of every run record and archive-log
//! entry (the token's name for API work, `watcher` for the watcher's runs).

mod common;
mod kube_support;
mod serve_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use serve_support::*;

/// The value of the sample `name{labels}` whose labels include all of `want`.
fn sample(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, labels) = match head.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        if metric != name {
            continue;
        }
        let got: BTreeMap<&str, &str> = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if want.iter().all(|(k, v)| got.get(k) == Some(v)) {
            return value.parse().ok();
        }
    }
    None
}

fn metrics(s: &Server) -> String {
    let r = s.get("/metrics", None).send().expect("metrics");
    assert_eq!(r.status().as_u16(), 200);
    r.text().unwrap()
}

fn job(s: &Server, token: &str, body: Value) -> Value {
    let (code, j) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(token))
            .json(&body),
    );
    assert_eq!(code, 202, "{j}");
    let done = s.wait_job(j["id"].as_str().unwrap(), token);
    assert_eq!(done["state"], "succeeded", "{done}");
    done
}

/// Polls `/metrics` until `pred` holds for it.
fn wait_metrics(s: &Server, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = metrics(s);
        if pred(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what}:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn metrics_after_real_work_and_the_actor_of_runs_and_archive_log_entries() {
    let Some(k) = kube_support::start() else {
        eprintln!("skipped: the Hedgehog CRDs are not beside the repository");
        return;
    };
    let root = k.fabric("f");
    let t = tokens(&k.env);

    // Without watchers: a file dropped by hand stays pending; API work is the token's.
    {
        let s = serve(&k.env, &["--no-watch"], &[]);
        let text = metrics(&s);
        assert_eq!(
            sample(&text, "hhgitops_raw_files_pending", &[("fabric", "f")]),
            Some(0.0),
            "{text}"
        );
        let body = format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-1", 1),
            vpc("vpc-2", 2)
        );
        let (code, up) = s.call(
            s.req(
                Method::PUT,
                "/api/v1/fabrics/f/raw/vpcs.yaml",
                Some(&t.write),
            )
            .body(body),
        );
        assert_eq!(code, 202, "{up}");
        let done = s.wait_job(up["id"].as_str().unwrap(), &t.write);
        assert_eq!(done["state"], "succeeded", "{done}");
        job(&s, &t.write, json!({"type": "sync"}));
        k.server
            .merge_patch(
                "vpc.githedgehog.com/v1beta1",
                "VPC",
                "default",
                "vpc-1",
                &json!({"metadata": {"labels": {"changed": "by-hand"}}}),
                "kubectl-edit",
            )
            .expect("patch in the cluster");
        job(&s, &t.write, json!({"type": "drift"}));
        // Dropped by hand, with no watcher to take it: pending.
        std::fs::write(root.join("raw/hand.yaml"), vpc("vpc-3", 3)).unwrap();

        let text = metrics(&s);
        let drift = |status: &str| {
            sample(
                &text,
                "hhgitops_drift_objects",
                &[("fabric", "f"), ("status", status)],
            )
        };
        assert_eq!(drift("drifted"), Some(1.0), "{text}");
        assert_eq!(drift("missing"), Some(0.0), "every status is set: {text}");
        assert!(drift("in-sync").unwrap_or(0.0) >= 3.0, "{text}");
        assert_eq!(
            sample(&text, "hhgitops_raw_files_pending", &[("fabric", "f")]),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "hhgitops_raw_files_rejected", &[("fabric", "f")]),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "hhgitops_managed_objects", &[("fabric", "f")]),
            Some(4.0),
            "{text}"
        );
        for (ty, n) in [("ingest", 1.0), ("sync", 1.0), ("drift", 1.0)] {
            assert!(
                sample(
                    &text,
                    "hhgitops_jobs_total",
                    &[("type", ty), ("outcome", "succeeded"), ("fabric", "f")]
                )
                .is_some_and(|v| v >= n),
                "{ty}: {text}"
            );
        }
        assert!(
            sample(
                &text,
                "hhgitops_stage_duration_seconds_count",
                &[("stage", "apply")]
            )
            .is_some_and(|v| v >= 1.0),
            "{text}"
        );
        // Labels name fabrics, statuses, routes — never an object.
        for name in ["vpc-1", "vpc-2", "vpc-3", "hand.yaml"] {
            assert!(!text.contains(name), "{name} in /metrics:\n{text}");
        }

        // A delete through the API is the token's too.
        let (code, del) = s.call(s.req(
            Method::DELETE,
            "/api/v1/fabrics/f/objects/VPC/vpc-2",
            Some(&t.write),
        ));
        assert_eq!(code, 200, "{del}");

        let (_, runs) = s.call(s.get("/api/v1/fabrics/f/runs", Some(&t.read)));
        let runs = runs["items"].as_array().unwrap().clone();
        for op in ["ingest", "sync", "delete"] {
            let r = runs
                .iter()
                .find(|r| r["operation"] == op)
                .unwrap_or_else(|| panic!("a {op} run: {runs:?}"));
            assert_eq!(r["actor"], "writer", "{r}");
        }
        let (_, st) = s.call(s.get("/api/v1/fabrics/f/status", Some(&t.read)));
        assert!(
            st["lastRuns"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["actor"] == "writer"),
            "{st}"
        );
        let (_, hist) = s.call(s.get("/api/v1/fabrics/f/history", Some(&t.read)));
        let entries = hist["items"].as_array().unwrap();
        let ingest = entries
            .iter()
            .find(|e| e["operation"] == "ingest")
            .expect("an ingest entry");
        assert_eq!(ingest["actor"], "writer", "{ingest}");
        let delete = entries
            .iter()
            .find(|e| e["operation"] == "delete")
            .expect("a delete entry");
        assert_eq!(delete["actor"], "writer", "{delete}");
        // The fabric was registered from the command line: its init entry names nobody.
        let init = entries
            .iter()
            .find(|e| e["operation"] == "init")
            .expect("an init entry");
        assert!(init.get("actor").is_none(), "{init}");
        // The archive log on disk says the same.
        let log = std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
        assert!(log.contains("actor: writer"), "{log}");
        // The web UI shows who ran what.
        let page = s
            .get("/fabrics/f/history", None)
            .header("cookie", format!("hhgitops_session={}", t.read))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(page.contains("<td>writer</td>"), "{page}");
        s.terminate();
    }

    // With the watcher: the hand-dropped file is taken, a bad one rejected; their runs are the watcher's.
    let s = serve(&k.env, &[], &[]);
    std::fs::write(
        root.join("raw/bad.yaml"),
        "kind: Nope\nmetadata: {name: x}\n",
    )
    .unwrap();
    let text = wait_metrics(&s, "the watcher took both files", |text| {
        sample(text, "hhgitops_raw_files_rejected", &[("fabric", "f")]) == Some(1.0)
            && sample(text, "hhgitops_raw_files_pending", &[("fabric", "f")]) == Some(0.0)
    });
    assert!(root.join("managed/vpcs/vpc-3.yaml").is_file());
    let count = sample(
        &text,
        "hhgitops_watcher_latency_seconds_count",
        &[("fabric", "f")],
    )
    .unwrap_or(0.0);
    assert!(count >= 1.0, "{text}");
    let sum = sample(
        &text,
        "hhgitops_watcher_latency_seconds_sum",
        &[("fabric", "f")],
    )
    .unwrap();
    assert!(
        sum > 0.0 && sum < 60.0 * count,
        "from file event to ingestion start: {sum} s over {count} runs"
    );
    let (_, runs) = s.call(s.get("/api/v1/fabrics/f/runs", Some(&t.read)));
    assert!(
        runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["operation"] == "ingest" && r["actor"] == "watcher"),
        "{runs}"
    );
    let (_, hist) = s.call(s.get("/api/v1/fabrics/f/history", Some(&t.read)));
    let entries = hist["items"].as_array().unwrap();
    let hand = entries
        .iter()
        .find(|e| e["operation"] == "ingest" && e["files"][0] == "raw/hand.yaml")
        .unwrap_or_else(|| panic!("the watcher's entry: {entries:?}"));
    assert_eq!(hand["actor"], "watcher", "{hand}");
    let bad = entries
        .iter()
        .find(|e| e["operation"] == "reject")
        .unwrap_or_else(|| panic!("the rejection's entry: {entries:?}"));
    assert_eq!(bad["actor"], "watcher", "{bad}");
}
