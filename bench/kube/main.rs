//! Kubernetes benchmark (SPEC §9, issue "Kubernetes: apply, prune, drift and import"): the ~5,600-object
//! reference fabric against the in-process test API server, through the release binary.
//!
//! Measures, on the same input in the same run:
//! - the first sync (every object created by server-side apply, in dependency order);
//! - the no-op sync (everything in sync): its time, and the write requests the server received (must be 0);
//! - `drift` through the binary (target: under 1 s), and the engine's drift call in-process (what the HTTP
//!   server will run), both as medians.
//!
//! Run with `bench/kube/run.sh [RUNS]`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hhgitops_engine::home::Home;
use hhgitops_engine::Engine;
use hhgitops_testapi::TestApiServer;

struct Args {
    runs: usize,
    binary: PathBuf,
    shared: PathBuf,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        runs: 5,
        binary: PathBuf::from("target/release/hhgitops"),
        shared: PathBuf::from("../shared"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => args.runs = it.next().context("--runs N")?.parse()?,
            "--binary" => args.binary = it.next().context("--binary PATH")?.into(),
            "--shared" => args.shared = it.next().context("--shared DIR")?.into(),
            other => {
                bail!("unknown argument {other:?} (expected --runs N, --binary PATH, --shared DIR)")
            }
        }
    }
    Ok(args)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Bench<'a> {
    binary: &'a Path,
    home: PathBuf,
}

impl Bench<'_> {
    /// Runs the binary; returns the elapsed time and stdout. `codes` are the acceptable exit codes.
    fn run(&self, args: &[&str], codes: &[i32]) -> Result<(Duration, String)> {
        let t = Instant::now();
        let out = Command::new(self.binary)
            .args(args)
            .env("HHGITOPS_HOME", &self.home)
            .env_remove("HHGITOPS_DATABASE_URL")
            .output()
            .with_context(|| format!("running {}", self.binary.display()))?;
        let elapsed = t.elapsed();
        let code = out.status.code().unwrap_or(-1);
        if !codes.contains(&code) {
            bail!(
                "hhgitops {args:?} exited {code}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
    }
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let work = tempfile::tempdir()?;
    let input = work.path().join("fabric.yaml");
    let gen = Command::new("python3")
        .arg(args.shared.join("tools/gen_vlab_wiring.py"))
        // The reference fabric of bench/ingest.sh (5,669 objects), in the form that validates: every switch
        // within the 48 ports of its `vs` profile.
        .args([
            "--spines",
            "2",
            "--fabric-links",
            "1",
            "--eslag-leaf-groups",
            "2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2",
            "--orphan-leafs",
            "16",
            "--eslag-servers",
            "20",
            "--unbundled-servers",
            "20",
            "--bundled-servers",
            "13",
            "--vpcs",
        ])
        .output()
        .context("running gen_vlab_wiring.py")?;
    if !gen.status.success() {
        bail!(
            "gen_vlab_wiring.py failed: {}",
            String::from_utf8_lossy(&gen.stderr)
        );
    }
    std::fs::write(&input, &gen.stdout)?;
    let objects = String::from_utf8_lossy(&gen.stdout)
        .lines()
        .filter(|l| l.starts_with("kind:"))
        .count();
    println!(
        "input: {objects} objects, {} bytes; {} runs of each repeated measurement",
        gen.stdout.len(),
        args.runs
    );

    let server =
        TestApiServer::start(args.shared.join("crds")).context("starting the test API server")?;
    let kubeconfig = work.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig)?;
    let bench = Bench {
        binary: &args.binary,
        home: work.path().join("home"),
    };
    let root = work.path().join("root");
    bench.run(
        &[
            "-q",
            "fabric",
            "add",
            "bench",
            "--path",
            &root.to_string_lossy(),
            "--kubeconfig",
            &kubeconfig.to_string_lossy(),
        ],
        &[0],
    )?;
    std::fs::copy(&input, root.join("raw/fabric.yaml"))?;
    let (ingest, _) = bench.run(&["-q", "ingest", "--fabric", "bench"], &[0])?;

    // First sync: everything is created.
    server.clear_request_log();
    let (first, out) = bench.run(&["sync", "--fabric", "bench", "--json"], &[0])?;
    let report: serde_json::Value = serde_json::from_str(&out)?;
    let created = report["apply"]["summary"]["created"].as_u64().unwrap_or(0);
    let first_writes = server.writes().len();
    let first_requests = server.request_log().len();

    // No-op syncs: nothing differs, nothing may be written.
    let mut noop = Vec::new();
    let mut noop_writes = 0;
    let mut noop_requests = 0;
    for _ in 0..args.runs {
        server.clear_request_log();
        let rv = server.resource_version();
        let (t, out) = bench.run(&["sync", "--fabric", "bench", "--json"], &[0])?;
        noop.push(t);
        noop_writes += server.writes().len();
        noop_requests = server.request_log().len();
        if server.resource_version() != rv {
            bail!("a no-op sync changed the cluster's state");
        }
        let r: serde_json::Value = serde_json::from_str(&out)?;
        if r["apply"]["summary"]["unchanged"].as_u64() != Some(objects as u64) {
            bail!("the no-op sync found changes: {}", r["apply"]["summary"]);
        }
    }

    // Syncs of the unchanged input dropped into raw/ again: the ingestion parses managed/ and the raw file, finds
    // nothing to write, and the apply stage plans from the same state (parsed once per sync since the pipeline
    // hands it over; before, the apply stage parsed managed/ a second time).
    let mut redrop = Vec::new();
    let mut redrop_writes = 0;
    for _ in 0..args.runs {
        std::fs::copy(&input, root.join("raw/fabric.yaml"))?;
        server.clear_request_log();
        let (t, out) = bench.run(&["sync", "--fabric", "bench", "--json"], &[0])?;
        redrop.push(t);
        redrop_writes += server.writes().len();
        let r: serde_json::Value = serde_json::from_str(&out)?;
        if r["ingest"]["summary"]["unchangedObjects"].as_u64() != Some(objects as u64) {
            bail!(
                "the re-dropped input was not found unchanged: {}",
                r["ingest"]["summary"]
            );
        }
    }

    // Drift through the binary.
    let mut drift_cli = Vec::new();
    for _ in 0..args.runs {
        let (t, _) = bench.run(&["-q", "drift", "--fabric", "bench"], &[0])?;
        drift_cli.push(t);
    }

    // Drift in-process, as the HTTP server will call it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let drift_lib: Vec<Duration> = runtime.block_on(async {
        let engine = Engine::open(Home::from_dir(bench.home.clone())?, None).await?;
        let fabric = engine.fabric("bench").await?;
        let settings = hhgitops_kube::ClientSettings::default();
        let mut times = Vec::new();
        for _ in 0..args.runs {
            let t = Instant::now();
            let r =
                hhgitops_engine::sync::drift(&engine, &fabric, &settings, Duration::from_secs(60))
                    .await?;
            times.push(t.elapsed());
            if r.drift {
                anyhow::bail!("unexpected drift: {:?}", r.summary);
            }
        }
        Ok::<_, anyhow::Error>(times)
    })?;

    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "{:<44} {:>8.3} s",
        "ingest into an empty fabric (context)",
        secs(ingest)
    );
    println!(
        "{:<44} {:>8.3} s   {created} created, {first_writes} writes, {first_requests} requests",
        "first sync (apply everything)",
        secs(first)
    );
    println!(
        "{:<44} {:>8.3} s   {noop_writes} writes over {} runs, {noop_requests} requests per run",
        "no-op sync (median)",
        secs(median(noop)),
        args.runs
    );
    println!(
        "{:<44} {:>8.3} s   {redrop_writes} writes over {} runs",
        "sync of the unchanged input again (median)",
        secs(median(redrop)),
        args.runs
    );
    let cli = median(drift_cli);
    let lib = median(drift_lib);
    println!(
        "{:<44} {:>8.3} s",
        "drift, binary end to end (median)",
        secs(cli)
    );
    println!(
        "{:<44} {:>8.3} s",
        "drift, engine call in-process (median)",
        secs(lib)
    );
    println!(
        "targets: drift under 1 s: {}; no-op sync does no writes: {}",
        if cli < Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        },
        if noop_writes == 0 { "met" } else { "MISSED" }
    );
    Ok(())
}
