//! A job's progress from the engine's progress events: an ingestion of the ~5,600-object reference fabric
//! streams `progress` events per engine stage with growing `done`, the right `total` and the current object,
//! throttled (tens of events, not thousands), and the job's progress document shows each stage's counts.

mod common;
mod serve_support;

use std::collections::BTreeMap;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use serve_support::*;

#[test]
fn an_ingest_job_streams_throttled_progress_by_stage() {
    let Some(input) = reference_fabric() else {
        return;
    };
    let objects = String::from_utf8_lossy(&input)
        .lines()
        .filter(|l| l.starts_with("kind:"))
        .count() as u64;
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/fabric.yaml"), &input).unwrap();
    let write = token(&env, "writer", "write", &[]);
    let read = token(&env, "reader", "read", &[]);
    let s = serve(&env, &["--no-watch"], &[]);
    let (code, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&write))
            .json(&json!({"type": "ingest"})),
    );
    assert_eq!(code, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let events = s.events(&id, &read);
    let done = s.wait_job(&id, &read);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(
        done["result"]["summary"]["created"], objects,
        "{}",
        done["result"]["summary"]
    );

    // The engine's stages: `progress` events with an operation, per `operation.stage` key, in order.
    let mut stages: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut order = Vec::new();
    for (e, d) in &events {
        if e == "progress" && d.get("operation").is_some() {
            let key = d["key"].as_str().unwrap().to_string();
            if !stages.contains_key(&key) {
                order.push(key.clone());
            }
            assert_eq!(
                key,
                format!(
                    "{}.{}",
                    d["operation"].as_str().unwrap(),
                    d["stage"].as_str().unwrap()
                )
            );
            stages.entry(key).or_default().push(d);
        }
    }
    assert!(!stages.is_empty(), "engine progress events: {events:?}");
    let engine_events: usize = stages.values().map(Vec::len).sum();
    eprintln!(
        "{engine_events} engine progress events for {objects} objects: {:?}",
        stages
            .iter()
            .map(|(k, v)| (k.as_str(), v.len()))
            .collect::<Vec<_>>()
    );
    assert!(
        engine_events < 600,
        "throttled: {engine_events} events for {objects} objects"
    );
    for (key, evs) in &stages {
        let dones: Vec<u64> = evs.iter().map(|d| d["done"].as_u64().unwrap()).collect();
        assert!(dones.windows(2).all(|w| w[0] <= w[1]), "{key}: {dones:?}");
        assert_eq!(dones[0], 0, "{key}: its first event");
        if let Some(total) = evs[0]["total"].as_u64() {
            assert!(evs.iter().all(|d| d["total"] == total), "{key}");
            assert_eq!(*dones.last().unwrap(), total, "{key}: its last event");
            assert_eq!(evs.last().unwrap()["state"], "done");
        }
    }
    // A stage over the objects: the right total, several distinct counts on the way, the object it was at.
    let (key, evs) = stages
        .iter()
        .filter(|(_, evs)| evs[0]["total"].as_u64() == Some(objects))
        .max_by_key(|(_, evs)| evs.len())
        .unwrap_or_else(|| panic!("no stage over the {objects} objects: {:?}", stages.keys()));
    let mut distinct: Vec<u64> = evs.iter().map(|d| d["done"].as_u64().unwrap()).collect();
    distinct.dedup();
    assert!(distinct.len() >= 3, "{key}: growing done {distinct:?}");
    assert!(
        evs.iter()
            .any(|d| d["current"].as_str().is_some_and(|c| c.contains('/'))),
        "{key}: the current object"
    );
    // The job's document: per stage its counts, the same as the last event.
    for (key, evs) in &stages {
        let p = &done["progress"][key.as_str()];
        let last = evs.last().unwrap();
        assert_eq!(p["done"], last["done"], "{key}: {p}");
        assert_eq!(p["total"], last["total"], "{key}: {p}");
    }
    // The engine's stages came between the job's own `ingest` stage start and end.
    let pos =
        |pred: &dyn Fn(&Value) -> bool| events.iter().position(|(e, d)| e == "progress" && pred(d));
    let started = pos(&|d| d["stage"] == "ingest" && d["state"] == "started").unwrap();
    let ended = pos(&|d| d["stage"] == "ingest" && d["state"] == "done").unwrap();
    let first_engine = pos(&|d| d.get("operation").is_some()).unwrap();
    let last_engine = events
        .iter()
        .rposition(|(e, d)| e == "progress" && d.get("operation").is_some())
        .unwrap();
    assert!(
        started < first_engine && last_engine < ended,
        "every engine event within the job's ingest stage: {order:?}"
    );
}

#[test]
fn an_ingest_job_cancelled_before_its_commit_point_stops_there_with_nothing_written() {
    let Some(input) = reference_fabric() else {
        return;
    };
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/fabric.yaml"), &input).unwrap();
    let write = token(&env, "writer", "write", &[]);
    let read = token(&env, "reader", "read", &[]);
    let s = serve(&env, &["--no-watch"], &[]);
    let (_, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&write))
            .json(&json!({"type": "ingest"})),
    );
    let id = job["id"].as_str().unwrap().to_string();
    // Cancelled while it parses the ~5,600 objects: the engine holds the job's token.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, j) = s.call(s.get(&format!("/api/v1/jobs/{id}"), Some(&read)));
        if j["progress"].get("ingest.parse").is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{j}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, _) = s.call(s.req(
        Method::POST,
        &format!("/api/v1/jobs/{id}/cancel"),
        Some(&write),
    ));
    assert_eq!(code, 202);
    let done = s.wait_job(&id, &read);
    assert_eq!(done["state"], "cancelled", "{done}");
    assert_eq!(done["progress"]["ingest"]["state"], "cancelled", "{done}");
    assert_ne!(
        done["progress"]["ingest.commit"]["done"], 1,
        "the transaction never committed: {done}"
    );
    assert!(root.join("raw/fabric.yaml").is_file(), "raw/ as it was");
    let managed_files = walk_files(&root.join("managed"));
    assert!(
        managed_files.is_empty(),
        "nothing written: {managed_files:?}"
    );
    assert_consistent(&env, "f", &root);
    // The fabric is whole: the next ingestion does it all.
    let (_, again) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&write))
            .json(&json!({"type": "ingest"})),
    );
    let again = s.wait_job(again["id"].as_str().unwrap(), &read);
    assert_eq!(again["state"], "succeeded", "{again}");
    assert!(!walk_files(&root.join("managed")).is_empty());
}

fn walk_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
