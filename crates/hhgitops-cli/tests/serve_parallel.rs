//! The server's periodic syncs of several fabrics run at the same time, never more than `--workers` at once
//! (issue 16, "many fabrics"): three fabrics, two workers, a sync interval of one second; a test hook right after
//! each ingestion reads its raw file notes when it started, waits until two fabrics have started (a server that
//! synced one fabric after the other would wait in vain) and notes when it ended. Needs the `test-hooks` feature.

mod common;
mod serve_support;

use std::time::{Duration, Instant};

use common::*;
use serve_support::*;

/// The most intervals open at one instant.
fn max_overlap(intervals: &[(f64, f64)]) -> usize {
    let mut points: Vec<(f64, i32)> = Vec::new();
    for &(s, e) in intervals {
        points.push((s, 1));
        points.push((e, -1));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut open, mut max) = (0i32, 0i32);
    for (_, d) in points {
        open += d;
        max = max.max(open);
    }
    max as usize
}

#[test]
fn periodic_syncs_of_several_fabrics_run_in_parallel_within_the_worker_bound() {
    let env = TestEnv::sqlite();
    let names = ["f1", "f2", "f3"];
    let roots: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let root = fabric_at(&env, name);
            let content = format!("{NAMESPACES}---\n{}", vpc("vpc-a", 1 + i as u32));
            std::fs::write(root.join("raw/a.yaml"), content).unwrap();
            root
        })
        .collect();
    let log = env.path("hook-log");
    std::fs::create_dir_all(&log).unwrap();
    let hook = format!(
        r#"d={log}; n=$(basename "$(dirname "$(dirname "$1")")"); date +%s.%N > "$d/$n.start"; i=0
while [ "$(ls "$d" | grep -c '\.start$')" -lt 2 ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
sleep 0.5; date +%s.%N > "$d/$n.end""#,
        log = log.display()
    );
    let server = serve(
        &env,
        &["--no-watch", "--workers", "2", "--sync-interval", "1s"],
        &[("HHGITOPS_TEST_AFTER_READ", hook.as_str())],
    );
    let end = Instant::now() + Duration::from_secs(60);
    let done = |n: &str| log.join(format!("{n}-gitops.end")).exists();
    while !names.iter().all(|n| done(n)) {
        assert!(
            Instant::now() < end,
            "not every fabric was synced: {:?}",
            std::fs::read_dir(&log)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every fabric's sync went through: its raw file ingested.
    let end = Instant::now() + Duration::from_secs(30);
    while !roots
        .iter()
        .all(|r| r.join("managed/vpcs/vpc-a.yaml").is_file())
    {
        assert!(Instant::now() < end, "a sync did not finish its ingestion");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A clean stop lets a sync in progress finish (a kill would leave its transaction for the next run).
    server.terminate();
    let read = |p: std::path::PathBuf| -> f64 {
        std::fs::read_to_string(&p).unwrap().trim().parse().unwrap()
    };
    let intervals: Vec<(f64, f64)> = names
        .iter()
        .map(|n| {
            (
                read(log.join(format!("{n}-gitops.start"))),
                read(log.join(format!("{n}-gitops.end"))),
            )
        })
        .collect();
    assert_eq!(
        max_overlap(&intervals),
        2,
        "two of the three syncs at a time, never three: {intervals:?}"
    );
    for (name, root) in names.iter().zip(&roots) {
        assert_consistent(&env, name, root);
    }
}
