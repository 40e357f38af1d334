//! `ingest --all` works on several fabrics at the same time, never more than `--jobs` (or `HHGITOPS_JOBS`), and
//! each fabric ends up exactly as a lone ingestion leaves it.

mod common;

use common::*;

/// The most intervals open at one instant.
fn max_overlap(mut intervals: Vec<(f64, f64)>) -> usize {
    let mut points: Vec<(f64, i32)> = Vec::new();
    for (s, e) in intervals.drain(..) {
        points.push((s, 1));
        points.push((e, -1));
    }
    // Ends before starts at the same instant.
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut open, mut max) = (0i32, 0i32);
    for (_, d) in points {
        open += d;
        max = max.max(open);
    }
    max as usize
}

#[test]
fn ingest_all_runs_fabrics_in_parallel_within_the_bound() {
    let env = TestEnv::sqlite();
    let names = ["f1", "f2", "f3", "f4", "f5"];
    let mut roots = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let root = fabric_at(&env, name);
        let content = format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-a", 1 + i as u32),
            vpc("vpc-b", 10 + i as u32)
        );
        std::fs::write(root.join("raw/a.yaml"), content).unwrap();
        roots.push(root);
    }
    let log = env.path("hook-log");
    std::fs::create_dir_all(&log).unwrap();
    // Right after a fabric's raw file is read: note the start, wait (up to 15 s) until two fabrics have
    // started, hold on a little, note the end. Run one at a time, the first would wait in vain.
    let hook = format!(
        r#"d={log}; n=$(basename "$(dirname "$(dirname "$1")")"); date +%s.%N > "$d/$n.start"; i=0
while [ "$(ls "$d" | grep -c '\.start$')" -lt 2 ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
sleep 0.3; date +%s.%N > "$d/$n.end""#,
        log = log.display()
    );
    let out = env
        .cmd()
        .env("HHGITOPS_TEST_AFTER_READ", &hook)
        .env("HHGITOPS_JOBS", "2")
        .args(["ingest", "--all", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let fabrics = report["fabrics"].as_array().unwrap();
    let order: Vec<&str> = fabrics
        .iter()
        .map(|f| f["fabric"].as_str().unwrap())
        .collect();
    assert_eq!(order, names, "reports in registry order");
    let read = |p: std::path::PathBuf| -> f64 {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .parse()
            .unwrap()
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
        max_overlap(intervals),
        2,
        "two fabrics at a time, never more"
    );
    for (name, root) in names.iter().zip(&roots) {
        assert!(!root.join("raw/a.yaml").exists(), "{name}");
        assert!(root.join("managed/vpcs/vpc-a.yaml").exists(), "{name}");
        assert!(root.join("managed/vpcs/vpc-b.yaml").exists(), "{name}");
        assert_consistent(&env, name, root);
    }
    let f3 = std::fs::read_to_string(roots[2].join("managed/vpcs/vpc-a.yaml")).unwrap();
    assert!(
        f3.contains("10.0.3.0/24"),
        "each fabric got its own input: {f3}"
    );

    // A flag the user can see, checked like the variable.
    let out = env.run(&["ingest", "--all", "--jobs", "0"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn overlap_counting() {
    assert_eq!(max_overlap(vec![(0.0, 1.0), (1.0, 2.0)]), 1);
    assert_eq!(max_overlap(vec![(0.0, 2.0), (1.0, 3.0), (1.5, 1.7)]), 3);
}
