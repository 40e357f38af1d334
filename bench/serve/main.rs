//! Server benchmark (SPEC §9, issue "`hhgitops serve`"), on the ~5,600-object reference fabric synced to the
//! in-process test API server, against a RELEASE build of the real binary:
//! - p50/p99 latency and throughput of `GET …/status` and of a page of 100 objects with 64 concurrent clients
//!   (a small blocking load client: 64 threads, one keep-alive connection each), idle and while an ingestion
//!   of the whole fabric runs (every object changed: a full validation and 5,600 managed files written);
//! - resident memory (VmRSS and its peak, VmHWM) of a server watching 10 such fabrics, after each was read;
//! - time from a signed GitHub push webhook to its sync job starting (client side: until the job is seen
//!   `running`; server side: the job's `startedAt − createdAt`).
//!
//! Targets (SPEC §9): a page of 100 objects and a fabric status p99 under 50 ms with 64 concurrent clients; a
//! server watching 10 such fabrics under 200 MiB. Run with `bench/serve.sh`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hhgitops_testapi::TestApiServer;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

struct Args {
    binary: PathBuf,
    shared: PathBuf,
    requests: usize,
    fabrics: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        binary: PathBuf::from("target/release/hhgitops"),
        shared: PathBuf::from("../shared"),
        requests: 50,
        fabrics: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--binary" => args.binary = it.next().context("--binary PATH")?.into(),
            "--shared" => args.shared = it.next().context("--shared DIR")?.into(),
            "--requests" => args.requests = it.next().context("--requests N")?.parse()?,
            "--fabrics" => args.fabrics = it.next().context("--fabrics N")?.parse()?,
            other => bail!(
                "unknown argument {other:?} (expected --binary PATH, --shared DIR, --requests N, --fabrics N)"
            ),
        }
    }
    Ok(args)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(binary: &Path, home: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(binary)
        .args(args)
        .env("HHGITOPS_HOME", home)
        .env_remove("HHGITOPS_DATABASE_URL")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !out.status.success() {
        bail!(
            "hhgitops {args:?} exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(binary: &Path, home: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Result<Serve> {
    let mut cmd = Command::new(binary);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("HHGITOPS_HOME", home)
        .env_remove("HHGITOPS_DATABASE_URL")
        .env("HHGITOPS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().context("serve stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().context("serve ended")??;
        if let Some(u) = line.strip_prefix("hhgitops serve: listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Serve { child, base })
}

/// CPU time (user + system) a process has used so far, in seconds (`/proc/<pid>/stat` utime and stime).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces): utime and stime are the
    // 14th and 15th fields of the line, the 12th and 13th after the name.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

/// The CPU the load generator (this process) and the server used while `f` ran, as shares of the machine's
/// cores over its wall time: the figures are only as good as the server's share.
fn cpu_share<T>(server: u32, f: impl FnOnce() -> T) -> (T, String) {
    let me = std::process::id();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let (c0, s0, t0) = (cpu_seconds(me), cpu_seconds(server), Instant::now());
    let out = f();
    let wall = t0.elapsed().as_secs_f64().max(1e-9);
    let (c, s) = (cpu_seconds(me) - c0, cpu_seconds(server) - s0);
    (
        out,
        format!(
            "CPU over {wall:.1} s on {cores} cores: load generator {c:.1} s ({:.0}% of the machine), server {s:.1} s ({:.0}%)",
            100.0 * c / (wall * cores),
            100.0 * s / (wall * cores)
        ),
    )
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn wait_job(http: &reqwest::blocking::Client, base: &str, token: &str, id: &str) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let j: Value = http
            .get(format!("{base}/api/v1/jobs/{id}"))
            .bearer_auth(token)
            .send()?
            .json()?;
        match j["state"].as_str() {
            Some("queued" | "running") if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Some("succeeded") => return Ok(j),
            other => bail!("job {id} ended {other:?}: {}", j["error"]),
        }
    }
}

/// 64 clients, each sending `per_client` requests to `path` (or until `stop` is set, when given), on one
/// keep-alive connection each. Returns the latencies of successful answers, the failures and the wall time.
fn load(
    base: &str,
    token: &str,
    path: &str,
    clients: usize,
    per_client: usize,
    stop: Option<Arc<AtomicBool>>,
) -> Result<(Vec<Duration>, usize, Duration)> {
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..clients)
            .map(|_| {
                let url = format!("{base}{path}");
                let stop = stop.clone();
                sc.spawn(move || {
                    let http = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(120))
                        .pool_max_idle_per_host(1)
                        .build()
                        .expect("client");
                    let mut lat = Vec::new();
                    let mut failed = 0;
                    let mut n = 0;
                    loop {
                        match &stop {
                            Some(s) if s.load(Ordering::Relaxed) => break,
                            None if n >= per_client => break,
                            _ => {}
                        }
                        n += 1;
                        let t = Instant::now();
                        match http.get(&url).bearer_auth(token).send() {
                            Ok(r) if r.status().is_success() => {
                                if r.bytes().is_ok() {
                                    lat.push(t.elapsed());
                                } else {
                                    failed += 1;
                                }
                            }
                            _ => failed += 1,
                        }
                    }
                    (lat, failed)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let wall = started.elapsed();
    let mut all = Vec::new();
    let mut failed = 0;
    for (l, f) in results {
        all.extend(l);
        failed += f;
    }
    Ok((all, failed, wall))
}

fn report(label: &str, lat: &[Duration], failed: usize, wall: Duration) {
    let p99 = ms(pct(lat, 0.99));
    println!(
        "{label:<44} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>9.0} {:>6}  {}",
        lat.len(),
        ms(pct(lat, 0.5)),
        p99,
        ms(pct(lat, 1.0)),
        lat.len() as f64 / wall.as_secs_f64(),
        failed,
        if p99 < 50.0 && failed == 0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// The reference input (CATALOGUE §8's large parameters), without the spine-leaf Connections past the `vs`
/// profile's ports (which full validation rejects), as `bench/ui` uses it.
fn reference_input(shared: &Path) -> Result<String> {
    let gen = Command::new("python3")
        .arg(shared.join("tools/gen_vlab_wiring.py"))
        .args([
            "--spines",
            "8",
            "--eslag-leaf-groups",
            "2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2",
            "--orphan-leafs",
            "16",
            "--eslag-servers",
            "16",
            "--unbundled-servers",
            "16",
            "--bundled-servers",
            "16",
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
    let text = String::from_utf8_lossy(&gen.stdout).into_owned();
    Ok(text
        .split("\n---\n")
        .filter(|d| !(d.contains("kind: Connection") && d.contains("--fabric--")))
        .collect::<Vec<_>>()
        .join("\n---\n"))
}

/// Seconds since midnight of an RFC 3339 UTC time (`…THH:MM:SS.fffZ`); the bench runs within one day.
fn seconds_of_day(t: Option<&str>) -> Option<f64> {
    let time = t?.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// The same objects, each with a label saying `round`: every object changes.
fn relabelled(input: &str, round: usize) -> String {
    input.replace(
        "\nmetadata:\n",
        &format!("\nmetadata:\n  labels:\n    bench: r{round}\n"),
    )
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let bin = &args.binary;
    let work = tempfile::tempdir()?;
    let input = reference_input(&args.shared)?;
    let objects = input.lines().filter(|l| l.starts_with("kind:")).count();
    println!(
        "input: {objects} objects, {} bytes; binary {}; 64 clients × {} requests per measurement; load average {}",
        input.len(),
        bin.display(),
        args.requests,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let api =
        TestApiServer::start(args.shared.join("crds")).context("starting the test API server")?;
    let kubeconfig = work.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig)?;
    let home = work.path().join("home");
    let root = work.path().join("bench");
    run(
        bin,
        &home,
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
    )?;
    std::fs::write(root.join("raw/fabric.yaml"), &input)?;
    run(bin, &home, &["-q", "sync", "--fabric", "bench"])?;
    run(
        bin,
        &home,
        &[
            "-q",
            "fabric",
            "set",
            "bench",
            "--webhook-secret-env",
            "BENCH_WEBHOOK_SECRET",
        ],
    )?;
    let token = run(
        bin,
        &home,
        &["token", "create", "--name", "bench", "--scope", "admin"],
    )?
    .trim()
    .to_string();

    // 1. Latency and throughput, idle and while an ingestion of the whole fabric runs.
    let secret = "bench-webhook-secret";
    let server = serve(
        bin,
        &home,
        &["--no-watch"],
        &[("BENCH_WEBHOOK_SECRET", secret)],
    )?;
    let base = server.base.clone();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let status_path = "/api/v1/fabrics/bench/status";
    let page_path = "/api/v1/fabrics/bench/objects?limit=100&kind=Connection";
    for p in [status_path, page_path] {
        let r = http.get(format!("{base}{p}")).bearer_auth(&token).send()?;
        if !r.status().is_success() {
            bail!("{p}: {}", r.status());
        }
        let v: Value = r.json()?;
        if p == page_path && v["items"].as_array().map_or(0, Vec::len) != 100 {
            bail!("{p}: not a page of 100: {}", v["total"]);
        }
        if p == status_path && v["total"].as_i64().unwrap_or(0) < 5000 {
            bail!("{p}: {} objects", v["total"]);
        }
    }
    // The status computed afresh (what every call cost before the status cache: a change in raw/ before each
    // request makes the cache miss) against the status answered from the cache, sequentially.
    let mut fresh = Vec::new();
    let mut cached = Vec::new();
    for i in 0..30 {
        let marker = root.join(format!("raw/.bench-{i}"));
        std::fs::write(&marker, b"")?;
        for (v, _) in [(&mut fresh, 0), (&mut cached, 1)] {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{status_path}"))
                .bearer_auth(&token)
                .send()?;
            let _ = r.bytes()?;
            v.push(t.elapsed());
        }
        std::fs::remove_file(&marker)?;
    }
    println!(
        "GET …/status one at a time: computed afresh (a change in raw/ before each) median {:.2} ms, p99 {:.2} ms; \
         from the status cache median {:.2} ms, p99 {:.2} ms",
        ms(pct(&fresh, 0.5)),
        ms(pct(&fresh, 0.99)),
        ms(pct(&cached, 0.5)),
        ms(pct(&cached, 0.99))
    );
    println!(
        "\n{:<44} {:>6} {:>8} {:>8} {:>8} {:>9} {:>6}  target p99 < 50 ms",
        "64 concurrent clients", "n", "p50 ms", "p99 ms", "max ms", "req/s", "failed"
    );
    for (label, path) in [
        ("GET …/status", status_path),
        ("GET …/objects (a page of 100)", page_path),
    ] {
        let (r, cpu) = cpu_share(server.child.id(), || {
            load(&base, &token, path, 64, args.requests, None)
        });
        let (lat, failed, wall) = r?;
        report(label, &lat, failed, wall);
        println!("  ({cpu})");
    }
    for (round, (label, path)) in [
        ("GET …/status, during an ingestion", status_path),
        ("GET …/objects (100), during an ingestion", page_path),
    ]
    .into_iter()
    .enumerate()
    {
        // Every object relabelled: the job validates the whole fabric and writes every managed file.
        let r = http
            .put(format!("{base}/api/v1/fabrics/bench/raw/fabric.yaml"))
            .bearer_auth(&token)
            .body(relabelled(&input, round + 1))
            .send()?;
        if r.status().as_u16() != 202 {
            bail!("upload: {} {}", r.status(), r.text().unwrap_or_default());
        }
        let job: Value = r.json()?;
        let id = job["id"].as_str().context("job id")?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            let (base, token, http, id) = (base.clone(), token.clone(), http.clone(), id.clone());
            std::thread::spawn(move || {
                let r = wait_job(&http, &base, &token, &id);
                stop.store(true, Ordering::Relaxed);
                r
            })
        };
        let (r, cpu) = cpu_share(server.child.id(), || {
            load(&base, &token, path, 64, 0, Some(stop))
        });
        let (lat, failed, wall) = r?;
        let done = watcher
            .join()
            .map_err(|_| anyhow::anyhow!("job watcher"))??;
        let files = &done["result"]["files"][0];
        report(label, &lat, failed, wall);
        println!("  ({cpu})");
        println!(
            "  (the ingestion took {:.1} s: {} updated, {} unchanged)",
            wall.as_secs_f64(),
            files["updated"].as_array().map_or(0, Vec::len),
            files["unchanged"].as_array().map_or(0, Vec::len)
        );
    }

    // 2. Time from a webhook to its sync starting.
    let mut client_side = Vec::new();
    let mut server_side = Vec::new();
    for i in 0..5 {
        let body =
            serde_json::to_vec(&json!({"ref": "refs/heads/main", "after": format!("{i:040}")}))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
        mac.update(&body);
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let t = Instant::now();
        let r = http
            .post(format!("{base}/api/v1/webhooks/git/bench"))
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header(
                "x-github-delivery",
                format!("bench-{i}-{}", uuid::Uuid::new_v4()),
            )
            .header("x-hub-signature-256", sig)
            .body(body)
            .send()?;
        if r.status().as_u16() != 202 {
            bail!("webhook: {} {}", r.status(), r.text().unwrap_or_default());
        }
        let job: Value = r.json()?;
        let id = job["id"].as_str().context("job id")?.to_string();
        loop {
            let j: Value = http
                .get(format!("{base}/api/v1/jobs/{id}"))
                .bearer_auth(&token)
                .send()?
                .json()?;
            if j["state"] != "queued" {
                client_side.push(t.elapsed());
                break;
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("the webhook's job did not start: {j}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let done = wait_job(&http, &base, &token, &id)?;
        if let (Some(c), Some(s)) = (
            seconds_of_day(done["createdAt"].as_str()),
            seconds_of_day(done["startedAt"].as_str()),
        ) {
            server_side.push(Duration::from_secs_f64((s - c).max(0.0)));
        }
    }
    println!(
        "\nwebhook → sync job started (5 pushes, fabric idle): client side median {:.1} ms, max {:.1} ms; \
         server side (startedAt − createdAt) median {:.1} ms, max {:.1} ms",
        ms(pct(&client_side, 0.5)),
        ms(pct(&client_side, 1.0)),
        ms(pct(&server_side, 0.5)),
        ms(pct(&server_side, 1.0)),
    );
    let (rss, hwm) = memory(server.child.id());
    println!("server after the runs above (one fabric, no watcher): VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB");
    drop(server);

    // 3. Resident memory of a server watching N such fabrics.
    for i in 1..args.fabrics {
        let name = format!("bench{i}");
        let r = work.path().join(&name);
        run(
            bin,
            &home,
            &["-q", "fabric", "add", &name, "--path", &r.to_string_lossy()],
        )?;
        std::fs::write(r.join("raw/fabric.yaml"), &input)?;
        run(bin, &home, &["-q", "ingest", "--fabric", &name])?;
    }
    let server = serve(bin, &home, &[], &[])?;
    let base = server.base.clone();
    let names: Vec<String> = std::iter::once("bench".to_string())
        .chain((1..args.fabrics).map(|i| format!("bench{i}")))
        .collect();
    // Every fabric watched and read once (status, a page of objects).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let fabrics: Value = http
            .get(format!("{base}/api/v1/fabrics"))
            .bearer_auth(&token)
            .send()?
            .json()?;
        let watching = fabrics
            .as_array()
            .map_or(0, |a| a.iter().filter(|f| f["watcher"].is_object()).count());
        if watching == names.len() || Instant::now() > deadline {
            println!("\nwatched fabrics: {watching} of {}", names.len());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for n in &names {
        for p in [
            format!("/api/v1/fabrics/{n}/status"),
            format!("/api/v1/fabrics/{n}/objects?limit=100"),
            format!("/fabrics/{n}"),
        ] {
            let r = http
                .get(format!("{base}{p}"))
                .header("cookie", format!("hhgitops_session={token}"))
                .bearer_auth(&token)
                .send()?;
            if !r.status().is_success() {
                bail!("{p}: {}", r.status());
            }
            let _ = r.bytes()?;
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let (rss, hwm) = memory(server.child.id());
    println!(
        "server watching {} fabrics of {objects} objects each: VmRSS {rss:.1} MiB, peak VmHWM {hwm:.1} MiB \
         (target under 200 MiB: {})",
        names.len(),
        if hwm < 200.0 { "met" } else { "NOT met" }
    );
    drop(server);
    drop(api);
    Ok(())
}
