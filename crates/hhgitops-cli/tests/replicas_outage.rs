//! PostgreSQL restarted while two `serve` replicas work: both turn unready, then ready again; every job queued
//! before the restart ends `succeeded`, and each upload is ingested exactly once (one ingestion commit per
//! upload on the fabric's remote, in per-fabric order).
//!
//! This restarts the machine's PostgreSQL (`pg_ctlcluster … restart`): it is its own test binary with one test,
//! and it takes the PostgreSQL test lock exclusively (every other test process that uses PostgreSQL holds it
//! shared), so no other PostgreSQL test runs meanwhile. Skipped where the cluster cannot be restarted.

mod common;
mod serve_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serve_support::*;

/// The cluster's version folder under /etc/postgresql, when `pg_ctlcluster` can restart it here.
fn cluster() -> Option<String> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()?;
    let ok = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "status"])
        .output()
        .ok()?
        .status
        .success();
    ok.then_some(version)
}

/// (replica index, `/readyz` status or none when the request failed).
type Sample = (usize, Option<u16>);

fn ready(s: &Server) -> Option<u16> {
    s.get("/readyz?verbose", None)
        .timeout(Duration::from_secs(10))
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

#[test]
fn postgresql_restarted_while_two_replicas_work_unready_then_ready_no_job_lost_or_run_twice() {
    let Some(version) = cluster() else {
        eprintln!("note: pg_ctlcluster cannot restart PostgreSQL here: test skipped");
        return;
    };
    let _exclusive = take_postgres_exclusive();
    let Some(backend) = backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
    else {
        return;
    };
    let a = TestEnv::new(backend);
    let b = a.second_home();
    let fabrics = ["g1", "g2"];
    let mut remotes: Vec<PathBuf> = Vec::new();
    for f in fabrics {
        let remote = a.path(&format!("{f}.git"));
        std::fs::create_dir_all(&remote).unwrap();
        git(&remote, &["init", "-q", "--bare", "-b", "main"]);
        a.ok(&[
            "fabric",
            "add",
            f,
            "--git-url",
            &format!("file://{}", remote.display()),
        ]);
        remotes.push(remote);
    }
    let t = tokens(&a);
    // Each ingestion takes a second between its commit and its push, so jobs are running when PostgreSQL goes.
    let slow = [("HHGITOPS_TEST_BEFORE_PUSH", "sleep 1")];
    let sa = serve(&a, &["--no-watch", "--workers", "2"], &slow);
    let sb = serve(&b, &["--no-watch", "--workers", "2"], &slow);
    let servers = [&sa, &sb];
    let put = |s: &Server, f: &str, file: &str, body: String| -> String {
        let (code, job) = s.call(
            s.req(
                Method::PUT,
                &format!("/api/v1/fabrics/{f}/raw/{file}"),
                Some(&t.write),
            )
            .body(body),
        );
        assert_eq!(code, 202, "{job}");
        job["id"].as_str().unwrap().to_string()
    };
    for f in fabrics {
        let id = put(&sa, f, "ns.yaml", NAMESPACES.to_string());
        assert_eq!(sa.wait_job(&id, &t.read)["state"], "succeeded");
    }
    let mut jobs: Vec<(usize, String, String)> = Vec::new();
    for i in 0..12u32 {
        let fi = (i % 2) as usize;
        let file = format!("v{i:02}.yaml");
        let id = put(
            servers[((i / 2) % 2) as usize],
            fabrics[fi],
            &file,
            vpc(&format!("vpc-{i}"), i + 1),
        );
        jobs.push((fi, file, id));
    }

    // Readiness of both replicas, watched through the restart.
    let seen: Arc<Mutex<Vec<Sample>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let watchers: Vec<_> = urls
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                while !stop.load(Ordering::SeqCst) {
                    let code = client
                        .get(format!("{u}/readyz"))
                        .send()
                        .ok()
                        .map(|r| r.status().as_u16());
                    seen.lock().unwrap().push((i, code));
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();
    // Wait for work in flight, then restart PostgreSQL.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !jobs.iter().any(|(_, _, id)| {
        sa.call(sa.get(&format!("/api/v1/jobs/{id}"), Some(&t.read)))
            .1["state"]
            == "running"
    }) {
        assert!(Instant::now() < deadline, "no job started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let restarted = Instant::now();
    // Stop, stay down long enough for the replicas' readiness checks to see it (a bare `restart` can be quicker than
    // their next check), then start again.
    for (action, pause) in [("stop", 3), ("start", 0)] {
        let out = std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", action])
            .output()
            .expect("pg_ctlcluster");
        assert!(
            out.status.success(),
            "{action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(pause));
    }
    eprintln!(
        "PostgreSQL restarted in {:.1}s",
        restarted.elapsed().as_secs_f64()
    );
    // Both come back.
    let deadline = Instant::now() + Duration::from_secs(90);
    for s in servers {
        while ready(s) != Some(200) {
            assert!(Instant::now() < deadline, "{} never ready again", s.url);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!(
        "both replicas ready {:.1}s after the restart began",
        restarted.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for w in watchers {
        w.join().unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    for i in 0..2 {
        let codes: Vec<Option<u16>> = seen
            .iter()
            .filter(|(s, _)| *s == i)
            .map(|(_, c)| *c)
            .collect();
        assert!(
            codes.contains(&Some(503)),
            "replica {i} never said it was unready: {codes:?}"
        );
        assert_eq!(codes.first(), Some(&Some(200)), "ready before: {codes:?}");
        assert_eq!(codes.last(), Some(&Some(200)), "ready after: {codes:?}");
    }

    // No job lost: every one ends succeeded, through either replica.
    for (i, (_, file, id)) in jobs.iter().enumerate() {
        let j = servers[i % 2].wait_job(id, &t.read);
        assert_eq!(j["state"], "succeeded", "{file}: {j}");
        let events = servers[(i + 1) % 2].events(id, &t.read);
        assert_eq!(
            events.iter().filter(|(e, _)| e == "result").count(),
            1,
            "{events:?}"
        );
    }
    // None run twice: one ingestion commit per upload on each remote, in the order they were queued.
    for (fi, remote) in remotes.iter().enumerate() {
        let log = git(remote, &["log", "--format=%s", "--reverse", "main"]);
        let ingests: Vec<&str> = log.lines().filter(|m| m.starts_with("ingest ")).collect();
        let mut want = vec!["ingest raw/ns.yaml: +1 VLANNamespace, +1 IPv4Namespace".to_string()];
        want.extend(
            jobs.iter()
                .filter(|(f, _, _)| *f == fi)
                .map(|(_, file, _)| format!("ingest raw/{file}: +1 VPC")),
        );
        assert_eq!(ingests, want, "{}", fabrics[fi]);
    }
    drop(sa);
    drop(sb);
    drop(b);
}
