//! Several `serve` replicas on one PostgreSQL, each with a home of its own (as on several machines): jobs run
//! exactly once in per-fabric order whichever replica took them, any replica answers about any job, a replica
//! killed mid-job leaves the job `interrupted` and the next one completes, leadership of each fabric's watcher is
//! spread and taken over when its holder dies, and uploads to a Git-backed fabric reach their ingestion whichever
//! replica runs it. PostgreSQL only (SQLite is one server per home); each test has its own schema.

mod common;
mod serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::Value;
use serve_support::*;

fn postgres() -> Option<TestEnv> {
    backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
        .map(TestEnv::new)
}

/// The `files` of the archive log's `ingest` entries, in the order they were written.
fn ingested_files(root: &Path) -> Vec<String> {
    let bytes = std::fs::read(root.join(".hnp/archive-log.yaml")).expect("archive log");
    let docs = hhgitops_core::yaml::parse_stream(&bytes, &Default::default()).expect("parses");
    let v = docs
        .into_iter()
        .find_map(|d| d.root)
        .expect("log document")
        .to_json();
    let mut out = Vec::new();
    for e in v["entries"].as_array().cloned().unwrap_or_default() {
        if e["operation"] == "ingest" {
            for f in e["files"].as_array().cloned().unwrap_or_default() {
                out.push(f.as_str().unwrap_or("").to_string());
            }
        }
    }
    out
}

fn upload(s: &Server, token: &str, fabric: &str, file: &str, body: String) -> Value {
    let (code, job) = s.call(
        s.req(
            Method::PUT,
            &format!("/api/v1/fabrics/{fabric}/raw/{file}"),
            Some(token),
        )
        .body(body),
    );
    assert_eq!(code, 202, "upload {fabric}/{file}: {job}");
    job
}

fn job_on(s: &Server, id: &str, token: &str) -> Value {
    let (code, j) = s.call(s.get(&format!("/api/v1/jobs/{id}"), Some(token)));
    assert_eq!(code, 200, "{j}");
    j
}

/// A path fabric whose managed state holds the namespaces (so VPC uploads validate).
fn seeded_fabric(env: &TestEnv, name: &str) -> PathBuf {
    let root = fabric_at(env, name);
    std::fs::write(root.join("raw/namespaces.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", name]);
    root
}

fn fabric_view(s: &Server, token: &str, fabric: &str) -> Value {
    let (code, v) = s.call(s.get(&format!("/api/v1/fabrics/{fabric}"), Some(token)));
    assert_eq!(code, 200, "{v}");
    v
}

/// The replica id a server announces (`/metrics`: `hhgitops_replica_info{replica="…"} 1`).
fn replica_id(s: &Server) -> String {
    let text = s
        .get("/metrics", None)
        .send()
        .expect("metrics")
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("hhgitops_replica_info{replica=\"")
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no hhgitops_replica_info in /metrics:\n{text}"))
}

/// The value of `hhgitops_fabric_leader{fabric="F"}` on a server.
fn leader_gauge(s: &Server, fabric: &str) -> Option<f64> {
    let text = s
        .get("/metrics", None)
        .send()
        .expect("metrics")
        .text()
        .unwrap();
    let prefix = format!("hhgitops_fabric_leader{{fabric=\"{fabric}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn two_replicas_run_twenty_jobs_over_three_fabrics_once_each_in_per_fabric_order() {
    let Some(a) = postgres() else { return };
    let b = a.second_home();
    let fabrics = ["f1", "f2", "f3"];
    let roots: Vec<PathBuf> = fabrics.iter().map(|f| seeded_fabric(&a, f)).collect();
    let t = tokens(&a);
    let sa = serve(&a, &["--no-watch", "--workers", "2"], &[]);
    let sb = serve(&b, &["--no-watch", "--workers", "2"], &[]);
    let servers = [&sa, &sb];

    // 20 uploads, each its own ingestion job, alternating replicas and fabrics.
    let mut jobs: Vec<(usize, String, String)> = Vec::new(); // (fabric index, file, job id)
    for i in 0..20u32 {
        let fi = (i % 3) as usize;
        let file = format!("v{i:02}.yaml");
        let job = upload(
            servers[(i % 2) as usize],
            &t.write,
            fabrics[fi],
            &file,
            vpc(&format!("vpc-{i}"), i + 1),
        );
        assert_eq!(job["state"], "queued", "{job}");
        jobs.push((
            fi,
            format!("raw/{file}"),
            job["id"].as_str().unwrap().to_string(),
        ));
    }

    // Every job ends; each replica answers about every job, with the same record.
    let mut done: BTreeMap<String, Value> = BTreeMap::new();
    for (i, (_, _, id)) in jobs.iter().enumerate() {
        let j = servers[(i + 1) % 2].wait_job(id, &t.read);
        assert_eq!(j["state"], "succeeded", "{j}");
        let other = job_on(servers[i % 2], id, &t.read);
        assert_eq!(other["state"], j["state"]);
        assert_eq!(other["owner"], j["owner"]);
        assert_eq!(other["result"], j["result"]);
        done.insert(id.clone(), j);
    }
    let owners: BTreeSet<String> = done
        .values()
        .map(|j| j["owner"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(owners.len(), 2, "both replicas ran jobs: {owners:?}");

    // Events from the database: the replica that did not run a job streams it, ending with one result.
    for (_, _, id) in &jobs {
        let owner = done[id]["owner"].as_str().unwrap();
        for s in servers {
            let events = s.events(id, &t.read);
            let results = events.iter().filter(|(e, _)| e == "result").count();
            assert_eq!(results, 1, "{events:?}");
            let starts: Vec<&Value> = events
                .iter()
                .filter(|(e, d)| e == "log" && d["message"] == "started")
                .map(|(_, d)| d)
                .collect();
            assert_eq!(starts.len(), 1, "run once: {events:?}");
            assert_eq!(starts[0]["owner"], owner);
            assert_eq!(events.last().unwrap().1["state"], "succeeded");
        }
    }

    for (fi, root) in roots.iter().enumerate() {
        let mine: Vec<&(usize, String, String)> =
            jobs.iter().filter(|(f, _, _)| *f == fi).collect();
        // Exactly once and in order: the archive log holds each upload once, in the order it was queued.
        let want: Vec<String> = std::iter::once("raw/namespaces.yaml".to_string())
            .chain(mine.iter().map(|(_, file, _)| file.clone()))
            .collect();
        assert_eq!(ingested_files(root), want, "fabric {}", fabrics[fi]);
        // One job of a fabric at a time: each starts after the previous one finished.
        for w in mine.windows(2) {
            let (prev, next) = (&done[&w[0].2], &done[&w[1].2]);
            assert!(
                next["startedAt"].as_str() >= prev["finishedAt"].as_str(),
                "{} started before {} finished:\n{prev}\n{next}",
                w[1].1,
                w[0].1
            );
        }
        assert!(std::fs::read_dir(root.join("raw"))
            .unwrap()
            .flatten()
            .all(|e| e.file_name().to_string_lossy().ends_with(".archived")));
        assert_consistent(&a, fabrics[fi], root);
    }
    drop(sa);
    drop(sb);
    drop(b);
}

#[test]
fn a_replica_killed_mid_job_leaves_it_interrupted_and_the_next_job_completes() {
    let Some(a) = postgres() else { return };
    let b = a.second_home();
    let remote = bare_remote(&a, "remote");
    a.ok(&[
        "fabric",
        "add",
        "g",
        "--git-url",
        &format!("file://{}", remote.display()),
    ]);
    let t = tokens(&a);
    // Replica A stops between its commit and its push, long enough to be killed there.
    let sa = serve(
        &a,
        &["--no-watch"],
        &[("HHGITOPS_TEST_BEFORE_PUSH", "sleep 20")],
    );
    let first = upload(&sa, &t.write, "g", "one.yaml", NAMESPACES.to_string());
    let id = first["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job_on(&sa, &id, &t.read);
        if j["progress"]["ingest"]["state"] == "started" {
            break;
        }
        assert!(Instant::now() < deadline, "never started ingesting: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sb = serve(&b, &["--no-watch"], &[]);
    let a_id = replica_id(&sa);
    sa.kill9();
    let killed = Instant::now();

    // B marks it interrupted once its lease lapsed; the fabric's next job (queued meanwhile) then runs on B.
    let second = upload(&sb, &t.write, "g", "two.yaml", NAMESPACES.to_string());
    let j = sb.wait_job(&id, &t.read);
    assert_eq!(j["state"], "interrupted", "{j}");
    assert_eq!(j["owner"], a_id.as_str());
    assert_eq!(j["error"]["code"], "interrupted");
    eprintln!(
        "the killed replica's job was interrupted {:.1}s after the kill",
        killed.elapsed().as_secs_f64()
    );
    let events = sb.events(&id, &t.read);
    assert_eq!(events.last().unwrap().0, "result");
    let j2 = sb.wait_job(second["id"].as_str().unwrap(), &t.read);
    assert_eq!(j2["state"], "succeeded", "{j2}");
    assert_ne!(j2["owner"], a_id.as_str());
    // The dead replica's commit never reached the remote; B's ingestion did, once.
    let log = remote_log(&remote);
    assert_eq!(
        log.iter()
            .filter(|m| m.starts_with("ingest "))
            .cloned()
            .collect::<Vec<_>>(),
        vec!["ingest raw/two.yaml: +1 VLANNamespace, +1 IPv4Namespace".to_string()],
        "{log:?}"
    );
    let root_b = PathBuf::from(
        json(&b.expect_code(&["fabric", "show", "g", "--json"], 0))["root"]
            .as_str()
            .unwrap(),
    );
    assert!(root_b.starts_with(b.home()), "{root_b:?}");
    assert_consistent(&b, "g", &root_b);
    // The interrupted upload is submitted again and completes too.
    let again = upload(&sb, &t.write, "g", "one.yaml", vpc("vpc-1", 1));
    let j3 = sb.wait_job(again["id"].as_str().unwrap(), &t.read);
    assert_eq!(j3["state"], "succeeded", "{j3}");
    assert_eq!(remote_log(&remote)[0], "ingest raw/one.yaml: +1 VPC");
    assert_consistent(&b, "g", &root_b);
    drop(sb);
    drop(b);
}

#[test]
fn leadership_is_spread_and_a_killed_leaders_fabric_is_watched_by_another_within_20s() {
    let Some(a) = postgres() else { return };
    let b = a.second_home();
    let fabrics = ["w1", "w2", "w3"];
    let roots: BTreeMap<&str, PathBuf> =
        fabrics.iter().map(|f| (*f, seeded_fabric(&a, f))).collect();
    let t = tokens(&a);
    let sa = serve(&a, &[], &[]);
    let sb = serve(&b, &[], &[]);
    let (ida, idb) = (replica_id(&sa), replica_id(&sb));
    assert_ne!(ida, idb);

    // Spread: every fabric has one leader, both replicas lead some, and every replica says the same.
    let deadline = Instant::now() + Duration::from_secs(60);
    let leaders: BTreeMap<String, String> = loop {
        let mut m = BTreeMap::new();
        for f in fabrics {
            if let Some(r) = fabric_view(&sa, &t.read, f)["leader"]["replica"].as_str() {
                m.insert(f.to_string(), r.to_string());
            }
        }
        let distinct: BTreeSet<&String> = m.values().collect();
        if m.len() == 3 && distinct.len() == 2 {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "leadership not spread over both replicas: {m:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    std::thread::sleep(Duration::from_secs(3));
    for f in fabrics {
        let va = fabric_view(&sa, &t.read, f);
        let vb = fabric_view(&sb, &t.read, f);
        assert_eq!(va["leader"]["replica"], leaders[f].as_str(), "stable: {va}");
        assert_eq!(vb["leader"]["replica"], leaders[f].as_str(), "{vb}");
        assert_eq!(va["leader"]["thisReplica"], leaders[f] == ida);
        assert_eq!(vb["leader"]["thisReplica"], leaders[f] == idb);
        // /metrics of each replica says which fabrics it leads.
        let led = |id: &str| if leaders[f] == id { 1.0 } else { 0.0 };
        assert_eq!(leader_gauge(&sa, f).unwrap_or(0.0), led(&ida), "{f} on A");
        assert_eq!(leader_gauge(&sb, f).unwrap_or(0.0), led(&idb), "{f} on B");
        // Only the leader watches it.
        assert_eq!(!va["watcher"].is_null(), leaders[f] == ida, "{va}");
        assert_eq!(!vb["watcher"].is_null(), leaders[f] == idb, "{vb}");
    }

    // Kill the replica leading some fabric; a file dropped into that fabric's raw/ is ingested by the other.
    let (fabric, _) = leaders
        .iter()
        .find(|(_, r)| **r == ida)
        .expect("A leads one");
    let fabric = fabric.clone();
    sa.kill9();
    let killed = Instant::now();
    let root = &roots[fabric.as_str()];
    std::fs::write(root.join("raw/dropped.yaml"), vpc("vpc-dropped", 9)).unwrap();
    let managed = root.join("managed/vpcs/vpc-dropped.yaml");
    while !managed.is_file() {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "the file dropped into {fabric}'s raw/ was not ingested within 20 s of its leader's death"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{fabric}: taken over and the dropped file ingested {:.1}s after its leader was killed",
        killed.elapsed().as_secs_f64()
    );
    let v = fabric_view(&sb, &t.read, &fabric);
    assert_eq!(v["leader"]["replica"], idb.as_str(), "{v}");
    assert_eq!(v["leader"]["thisReplica"], true);
    assert_eq!(leader_gauge(&sb, &fabric), Some(1.0));
    // The watcher's ingestion is a job of actor `watcher` (recorded once its run has ended).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = sb.call(sb.get(
            &format!("/api/v1/jobs?fabric={fabric}&type=ingest"),
            Some(&t.read),
        ));
        let by_watcher = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["actor"] == "watcher");
        if by_watcher {
            break;
        }
        assert!(Instant::now() < deadline, "no watcher job: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Eventually B leads all three.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = fabrics
            .iter()
            .all(|f| fabric_view(&sb, &t.read, f)["leader"]["replica"] == idb.as_str());
        if all {
            break;
        }
        assert!(Instant::now() < deadline, "B does not lead every fabric");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_consistent(&a, &fabric, root);
    drop(sb);
    drop(b);
}

#[test]
fn uploads_to_a_git_fabric_through_either_replica_end_as_one_commit_each() {
    let Some(a) = postgres() else { return };
    let b = a.second_home();
    let remote = bare_remote(&a, "remote");
    a.ok(&[
        "fabric",
        "add",
        "g",
        "--git-url",
        &format!("file://{}", remote.display()),
    ]);
    let t = tokens(&a);
    let root_of = |env: &TestEnv| {
        PathBuf::from(
            json(&env.expect_code(&["fabric", "show", "g", "--json"], 0))["root"]
                .as_str()
                .unwrap(),
        )
    };
    let (root_a, root_b) = (root_of(&a), root_of(&b));
    assert!(root_a.starts_with(a.home()), "{root_a:?}");
    assert!(root_b.starts_with(b.home()), "{root_b:?}");

    // Round 1: A only serves the API (no workers); B runs every job, uploads through A included.
    let sa = serve(&a, &["--no-watch", "--workers", "0"], &[]);
    let sb = serve(&b, &["--no-watch"], &[]);
    let (ida, idb) = (replica_id(&sa), replica_id(&sb));
    let j1 = upload(&sa, &t.write, "g", "ns.yaml", NAMESPACES.to_string());
    assert!(
        !root_a.join("raw/ns.yaml").exists(),
        "held in the database, not written into A's clone"
    );
    let j1 = sb.wait_job(j1["id"].as_str().unwrap(), &t.read);
    assert_eq!(j1["state"], "succeeded", "{j1}");
    assert_eq!(j1["owner"], idb.as_str());
    let j2 = upload(&sb, &t.write, "g", "a.yaml", vpc("vpc-1", 1));
    let j2 = sa.wait_job(j2["id"].as_str().unwrap(), &t.read);
    assert_eq!(j2["state"], "succeeded", "{j2}");
    assert_eq!(j2["owner"], idb.as_str());
    drop(sa);
    assert_eq!(sb.terminate(), Some(0));

    // Round 2: the other way round. B first, alone and without workers: its upload stays queued, and a second
    // upload of the same path is refused like a pending file.
    let sb = serve(&b, &["--no-watch", "--workers", "0"], &[]);
    let j3 = upload(&sb, &t.write, "g", "b.yaml", vpc("vpc-2", 2));
    let (code, e) = sb.call(
        sb.req(Method::PUT, "/api/v1/fabrics/g/raw/b.yaml", Some(&t.write))
            .body(vpc("vpc-2", 2)),
    );
    assert_eq!(code, 409, "{e}");
    assert_eq!(
        job_on(&sb, j3["id"].as_str().unwrap(), &t.read)["state"],
        "queued"
    );
    let sa = serve(&a, &["--no-watch"], &[]);
    let ida2 = replica_id(&sa);
    assert_ne!(ida2, ida);
    let j3 = sa.wait_job(j3["id"].as_str().unwrap(), &t.read);
    assert_eq!(j3["state"], "succeeded", "{j3}");
    assert_eq!(j3["owner"], ida2.as_str());
    let j4 = upload(&sa, &t.write, "g", "c.yaml", vpc("vpc-3", 3));
    let j4 = sb.wait_job(j4["id"].as_str().unwrap(), &t.read);
    assert_eq!(j4["state"], "succeeded", "{j4}");

    // One ingestion commit per upload on the remote, in order; nothing else of theirs.
    let log = remote_log(&remote);
    let ingests: Vec<&String> = log.iter().filter(|m| m.starts_with("ingest ")).collect();
    assert_eq!(
        ingests,
        vec![
            "ingest raw/c.yaml: +1 VPC",
            "ingest raw/b.yaml: +1 VPC",
            "ingest raw/a.yaml: +1 VPC",
            "ingest raw/ns.yaml: +1 VLANNamespace, +1 IPv4Namespace",
        ],
        "{log:?}"
    );
    // Each replica worked in its own clone, inside its own home.
    assert!(root_b.join("managed/vpcs/vpc-1.yaml").is_file());
    assert!(root_a.join("managed/vpcs/vpc-3.yaml").is_file());
    assert!(
        root_a.join("managed/vpcs/vpc-1.yaml").is_file(),
        "A pulled B's work"
    );
    assert_consistent(&a, "g", &root_a);
    drop(sa);
    drop(sb);
    drop(b);
}
