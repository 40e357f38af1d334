//! Web UI benchmark (SPEC §9, issue "The web UI"): the ~5,600-object reference fabric synced to the in-process
//! test API server, 100 of its objects changed there by another field manager, a drift report computed by the
//! server, then for the overview, the fabric page, an objects page (100 rows) and the drift page:
//! - server time (median and p99 of sequential requests) and HTML size, beside the JSON API answering the same
//!   question (the peer, measured in the same run), with the ratio;
//! - the objects page under 64 concurrent clients (p99);
//! - time to first paint in headless Chromium (Performance API, `first-contentful-paint`, median).
//!
//! Targets (SPEC §9): a page of 100 objects and a fabric status p99 under 50 ms with 64 concurrent clients; the
//! fabric's pages under 100 KB of HTML each. Run with `bench/ui.sh [RUNS]`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::{ClientBuilder, Locator};
use hhgitops_testapi::TestApiServer;
use serde_json::{json, Value};

struct Args {
    runs: usize,
    binary: PathBuf,
    shared: PathBuf,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        runs: 30,
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

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(binary: &Path, home: &Path, args: &[&str], codes: &[i32]) -> Result<String> {
    let out = Command::new(binary)
        .args(args)
        .env("HHGITOPS_HOME", home)
        .env_remove("HHGITOPS_DATABASE_URL")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let code = out.status.code().unwrap_or(-1);
    if !codes.contains(&code) {
        bail!(
            "hhgitops {args:?} exited {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Median first-contentful-paint (ms after navigation start) of each page, through chromedriver.
fn first_paint(base: &str, token: &str, pages: &[(&str, String)], runs: usize) -> Result<Vec<f64>> {
    let (Some(chromium), Some(driver)) = (find("chromium"), find("chromedriver")) else {
        bail!("chromium and chromedriver are needed for the first-paint measurement");
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let profile = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let caps = json!({"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,1000",
            format!("--user-data-dir={}", profile.path().display())]}});
        let caps = caps.as_object().cloned().unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        let c = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => bail!("no WebDriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        c.goto(&format!("{base}/login")).await?;
        c.find(Locator::Css("#token")).await?.send_keys(token).await?;
        c.find(Locator::Css("form[action='/login'] button")).await?.click().await?;
        c.wait().for_element(Locator::Css("header.top .who")).await?;
        let mut out = Vec::new();
        for (_, path) in pages {
            let mut fcp = Vec::new();
            for _ in 0..runs {
                c.goto(&format!("{base}{path}")).await?;
                // The paint entry is recorded after the load event the navigation waited for: wait for it
                // (buffered, so one recorded before the observer is still seen), at most 5 s.
                let v = c
                    .execute_async(
                        "const done = arguments[arguments.length - 1];\
                         const seen = (l) => { const e = l.getEntriesByName('first-contentful-paint')[0]; \
                           if (e) { done(e.startTime); } };\
                         new PerformanceObserver(seen).observe({type: 'paint', buffered: true});\
                         setTimeout(() => done(null), 5000);",
                        vec![],
                    )
                    .await?;
                if let Some(t) = v.as_f64() {
                    fcp.push(t);
                }
            }
            fcp.sort_by(|a, b| a.total_cmp(b));
            out.push(fcp.get(fcp.len() / 2).copied().unwrap_or(f64::NAN));
        }
        let _ = c.close().await;
        Ok(out)
    });
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let work = tempfile::tempdir()?;
    let gen = Command::new("python3")
        .arg(args.shared.join("tools/gen_vlab_wiring.py"))
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
    // The generator numbers spine-leaf fabric ports past what the `vs` switch profile has (E1/48), which full
    // validation rejects: those Connections are left out (counted below), the rest is the reference fabric.
    let text = String::from_utf8_lossy(&gen.stdout).into_owned();
    let docs: Vec<&str> = text.split("\n---\n").collect();
    let kept: Vec<&str> = docs
        .iter()
        .copied()
        .filter(|d| !(d.contains("kind: Connection") && d.contains("--fabric--")))
        .collect();
    let left_out = docs.len() - kept.len();
    let input = kept.join("\n---\n");
    let objects = input.lines().filter(|l| l.starts_with("kind:")).count();
    println!(
        "input: {objects} objects ({left_out} spine-leaf Connections past the vs profile's ports left out), {} bytes; \
         binary {}; {} sequential requests per page; load average {}",
        input.len(),
        args.binary.display(),
        args.runs,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    let server =
        TestApiServer::start(args.shared.join("crds")).context("starting the test API server")?;
    let kubeconfig = work.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig)?;
    let home = work.path().join("home");
    let root = work.path().join("root");
    let bin = &args.binary;
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
        &[0],
    )?;
    std::fs::write(root.join("raw/fabric.yaml"), &input)?;
    run(bin, &home, &["-q", "sync", "--fabric", "bench"], &[0])?;
    // 100 objects changed in the cluster by another field manager.
    let vpcs = server.objects("vpc.githedgehog.com", "vpcs");
    let mut changed = 0;
    for v in vpcs.iter().take(100) {
        let name = v["metadata"]["name"].as_str().unwrap_or("");
        server
            .merge_patch(
                "vpc.githedgehog.com/v1beta1",
                "VPC",
                "default",
                name,
                &json!({"metadata": {"labels": {"bench": "drift"}}}),
                "kubectl-edit",
            )
            .map_err(|e| anyhow::anyhow!("patch {name}: {e:?}"))?;
        changed += 1;
    }
    if changed != 100 {
        bail!("the fabric has {changed} VPCs; 100 needed");
    }
    let token = run(
        bin,
        &home,
        &["token", "create", "--name", "bench", "--scope", "admin"],
        &[0],
    )?
    .trim()
    .to_string();
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch"])
        .env("HHGITOPS_HOME", &home)
        .env("HHGITOPS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("serve stdout")?;
    let serve = Serve(child);
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().context("serve ended")??;
        if let Some(u) = line.strip_prefix("hhgitops serve: listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let job: Value = http
        .post(format!("{base}/api/v1/fabrics/bench/jobs"))
        .bearer_auth(&token)
        .json(&json!({"type": "drift"}))
        .send()?
        .json()?;
    let id = job["id"].as_str().context("a job id")?.to_string();
    loop {
        let j: Value = http
            .get(format!("{base}/api/v1/jobs/{id}"))
            .bearer_auth(&token)
            .send()?
            .json()?;
        match j["state"].as_str() {
            Some("succeeded") => break,
            Some("queued" | "running") => std::thread::sleep(Duration::from_millis(200)),
            other => bail!("drift job ended {other:?}: {}", j["error"]),
        }
    }
    let drift: Value = http
        .get(format!("{base}/api/v1/fabrics/bench/drift?status=drifted"))
        .bearer_auth(&token)
        .send()?
        .json()?;
    let drifted = drift["report"]["objects"].as_array().map_or(0, Vec::len);
    println!("drift report: {drifted} drifted objects");

    let cookie = format!("hhgitops_session={token}");
    let pages: Vec<(&str, String, String)> = vec![
        ("overview", "/".into(), "/api/v1/fabrics".into()),
        (
            "fabric page",
            "/fabrics/bench".into(),
            "/api/v1/fabrics/bench/status".into(),
        ),
        (
            "objects page (100)",
            "/fabrics/bench/objects?page=3".into(),
            "/api/v1/fabrics/bench/objects?limit=100".into(),
        ),
        (
            "drift page",
            "/fabrics/bench/drift".into(),
            "/api/v1/fabrics/bench/drift".into(),
        ),
    ];
    let time = |path: &str, api: bool| -> Result<(Vec<Duration>, usize)> {
        let mut times = Vec::new();
        let mut size = 0;
        for i in 0..args.runs + 3 {
            let mut r = http.get(format!("{base}{path}"));
            r = if api {
                r.bearer_auth(&token)
            } else {
                r.header("cookie", &cookie)
            };
            let t = Instant::now();
            let resp = r.send()?;
            let status = resp.status();
            let body = resp.bytes()?;
            let e = t.elapsed();
            if !status.is_success() {
                bail!("{path}: {status}");
            }
            size = body.len();
            if i >= 3 {
                times.push(e);
            }
        }
        Ok((times, size))
    };
    println!(
        "{:<20} {:>10} {:>10} {:>10} | {:>10} {:>10} {:>10} | {:>7}",
        "page", "HTML KB", "median ms", "p99 ms", "API KB", "median ms", "p99 ms", "ratio"
    );
    let mut html_max = 0usize;
    for (label, page, api) in &pages {
        let (t, size) = time(page, false)?;
        let (ta, sa) = time(api, true)?;
        html_max = html_max.max(size);
        let (m, p) = (pct(t.clone(), 0.5), pct(t, 0.99));
        let (ma, pa) = (pct(ta.clone(), 0.5), pct(ta, 0.99));
        println!(
            "{label:<20} {:>10.1} {:>10.2} {:>10.2} | {:>10.1} {:>10.2} {:>10.2} | {:>6.2}x",
            size as f64 / 1024.0,
            ms(m),
            ms(p),
            sa as f64 / 1024.0,
            ms(ma),
            ms(pa),
            ms(m) / ms(ma)
        );
    }
    // 64 concurrent clients on an objects page and on the fabric page.
    for (label, path) in [
        ("objects page (100)", "/fabrics/bench/objects?page=3"),
        ("fabric page", "/fabrics/bench"),
    ] {
        let all: Vec<Duration> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..64)
                .map(|_| {
                    let http = http.clone();
                    let url = format!("{base}{path}");
                    let cookie = cookie.clone();
                    sc.spawn(move || {
                        let mut v = Vec::new();
                        for _ in 0..5 {
                            let t = Instant::now();
                            if let Ok(r) = http.get(&url).header("cookie", &cookie).send() {
                                let _ = r.bytes();
                            }
                            v.push(t.elapsed());
                        }
                        v
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        println!(
            "{label}, 64 concurrent clients × 5: median {:.1} ms, p99 {:.1} ms (target p99 < 50 ms: {})",
            ms(pct(all.clone(), 0.5)),
            ms(pct(all.clone(), 0.99)),
            if ms(pct(all, 0.99)) < 50.0 { "met" } else { "NOT met" }
        );
    }
    println!(
        "largest page: {:.1} KB of HTML (target under 100 KB: {})",
        html_max as f64 / 1024.0,
        if html_max < 100 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
    let paint_pages: Vec<(&str, String)> = pages.iter().map(|(l, p, _)| (*l, p.clone())).collect();
    match first_paint(&base, &token, &paint_pages, 5) {
        Ok(fcp) => {
            for ((label, _), t) in paint_pages.iter().zip(fcp) {
                println!(
                    "first contentful paint, {label}: {t:.0} ms (median of 5, headless Chromium)"
                );
            }
        }
        Err(e) => println!("first paint not measured: {e}"),
    }
    drop(serve);
    Ok(())
}
