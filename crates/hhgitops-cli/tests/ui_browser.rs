//! The web UI on the real `serve` binary: plain HTTP checks of every page (server-rendered, no inline code,
//! sessions and CSRF), and headless Chromium over WebDriver for what a person does: sign in, read the overview,
//! upload a file with a defect and then fixed, plan and confirm a sync followed live, find a `kubectl` change in
//! the drift page, and a form posted from another origin. Screenshots of every page go to
//! `target/ui-screenshots/` (not committed).

mod browser_support;
mod common;
mod kube_support;
mod serve_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use browser_support::Browser;
use common::*;
use hhgitops_core::Kind;
use reqwest::Method;
use serve_support::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn cookie(token: &str) -> String {
    format!("hhgitops_session={token}")
}

/// Checks a page's HTML has no inline script, inline style or event-handler attribute.
fn assert_no_inline_code(path: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag_end = lower[i..].find('>').map(|e| i + e).unwrap_or(lower.len());
        let tag = &lower[i..tag_end];
        assert!(tag.contains(" src="), "{path}: inline script {tag}");
        assert!(
            lower[tag_end..].starts_with("></script>"),
            "{path}: a script with a body"
        );
    }
    assert!(!lower.contains(" style="), "{path}: inline style attribute");
    assert!(!lower.contains("<style"), "{path}: inline style element");
    let bytes = lower.as_bytes();
    for (i, _) in lower.match_indices(" on") {
        let rest = &bytes[i + 3..];
        let n = rest.iter().take_while(|b| b.is_ascii_lowercase()).count();
        assert!(
            !(n > 0 && rest.get(n) == Some(&b'=')),
            "{path}: event-handler attribute near {}",
            &lower[i..(i + 30).min(lower.len())]
        );
    }
}

/// A fabric `f` with two VPCs ingested through the command line; returns its root.
fn fabric_with_vpcs(env: &TestEnv) -> std::path::PathBuf {
    let root = fabric_at(env, "f");
    std::fs::write(
        root.join("raw/base.yaml"),
        format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-1", 1),
            vpc("vpc-2", 2)
        ),
    )
    .unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    root
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..at + 32].to_string()
}

#[test]
fn pages_are_server_rendered_without_inline_code_behind_a_session_and_csrf() {
    let env = TestEnv::sqlite();
    fabric_with_vpcs(&env);
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let pages = [
        "/",
        "/fabrics/f",
        "/fabrics/f/raw",
        "/fabrics/f/objects",
        "/fabrics/f/objects?kind=VPC&name=vpc-&page=1",
        "/fabrics/f/objects/VPC/vpc-1",
        "/fabrics/f/drift",
        "/fabrics/f/history",
        "/jobs",
        "/jobs?state=failed",
        "/tokens",
    ];
    for p in pages {
        let r = s.get(p, None).send().unwrap();
        assert_eq!(r.status().as_u16(), 303, "{p} without a session");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with("/login?next=%2F"), "{p}: {loc}");
        let r = s
            .get(p, None)
            .header("cookie", cookie(&t.admin))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{p}");
        assert_eq!(r.headers()["content-security-policy"], CSP, "{p}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = r.text().unwrap();
        assert!(html.starts_with("<!doctype html>"), "{p}");
        assert!(html.contains("<main id=\"main\">"), "{p}");
        assert_no_inline_code(p, &html);
    }
    // What the pages show comes from the fabric, rendered on the server (no script needed to read it).
    let get = |p: &str| {
        s.get(p, None)
            .header("cookie", cookie(&t.admin))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let overview = get("/");
    assert!(overview.contains("<a href=\"/fabrics/f/objects\" data-count=\"objects\">4</a>"));
    let objects = get("/fabrics/f/objects?kind=VPC");
    assert!(
        objects.contains("data-object=\"VPC/vpc-1\"")
            && objects.contains("data-object=\"VPC/vpc-2\"")
    );
    assert!(
        !objects.contains("VLANNamespace/default"),
        "the kind filter is applied on the server"
    );
    assert!(objects.contains("1–2 of 2"));
    let object = get("/fabrics/f/objects/VPC/vpc-1");
    assert!(object.contains("vlan: 1001"), "{object}");
    assert!(object.contains("raw/base.yaml"));
    assert!(
        object.contains("href=\"/fabrics/f/objects/VLANNamespace/default\"")
            || object.contains("IPv4Namespace/default")
    );
    let login = s.get("/login", None).send().unwrap();
    assert_eq!(login.headers()["content-security-policy"], CSP);
    assert_no_inline_code("/login", &login.text().unwrap());
    let missing = s
        .get("/fabrics/nope", None)
        .header("cookie", cookie(&t.read))
        .send()
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    // A read token may look but not act, and does not see the tokens page.
    let r = s
        .get("/tokens", None)
        .header("cookie", cookie(&t.read))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // Static assets: embedded, cached for a year, the pinned htmx exactly.
    let html = get("/");
    let at = html
        .find("/static/htmx-2.0.11.min.js?v=")
        .expect("htmx linked");
    let url = &html[at..html[at..].find('"').unwrap() + at];
    let r = s.get(url, None).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let body = r.bytes().unwrap();
    assert_eq!(
        sha256_hex(&body),
        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    );

    assert_eq!(
        s.get("/static/README.md", None)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    // CSRF: the session's form token and the same-origin rule, both required.
    let csrf = csrf_of(&get("/fabrics/f"));
    let post = |origin: Option<&str>, token: &str| {
        let mut r = s
            .req(Method::POST, "/fabrics/f/jobs", None)
            .header("cookie", cookie(&t.write))
            .form(&[("csrf", token), ("type", "ingest")]);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send().unwrap()
    };
    let jobs_total = || s.call(s.get("/api/v1/jobs", Some(&t.read))).1["total"].clone();
    let write_csrf = csrf_of(
        &s.get("/fabrics/f", None)
            .header("cookie", cookie(&t.write))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert_ne!(csrf, write_csrf, "each session has its own form token");
    assert_eq!(post(None, &write_csrf).status().as_u16(), 403, "no Origin");
    assert_eq!(
        post(Some("http://evil.example"), &write_csrf)
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        post(Some(&s.url), &csrf).status().as_u16(),
        403,
        "another session's token"
    );
    assert_eq!(post(Some(&s.url), "").status().as_u16(), 403, "no token");
    assert_eq!(jobs_total(), 0, "nothing refused was queued");
    let ok = post(Some(&s.url), &write_csrf);
    assert_eq!(ok.status().as_u16(), 303);
    let loc = ok.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/jobs/"), "{loc}");
    assert_eq!(jobs_total(), 1);
    let job = s.wait_job(loc.trim_start_matches("/jobs/"), &t.read);
    assert_eq!(job["actor"], "writer");
    // The job page of a finished job renders its report without any script.
    let page = get(&loc);
    assert!(page.contains("data-state=\"succeeded\""), "{page}");
    assert!(
        !page.contains("data-events="),
        "a finished job is not followed"
    );
}

#[test]
fn sign_in_wrong_token_sign_out_and_the_empty_state() {
    let env = TestEnv::sqlite();
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let Some(b) = Browser::start() else { return };
    b.goto(&format!("{}/", s.url));
    assert!(b.url().contains("/login?next=%2F"), "{}", b.url());
    b.shot("login");
    b.type_into("#token", &t.revoked);
    b.click("form[action='/login'] button[type=submit]");
    let alert = b.text("[role=alert]");
    assert!(alert.contains("revoked"), "{alert}");
    assert!(b.url().ends_with("/login"), "{}", b.url());
    b.shot("login-refused");
    b.type_into("#token", "hhg_not-a-token");
    b.click("form[action='/login'] button[type=submit]");
    assert!(!b.text("[role=alert]").is_empty());
    b.login(&s.url, &t.read);
    assert!(
        b.url().ends_with("/"),
        "back where it was asked: {}",
        b.url()
    );
    assert_eq!(b.text("#empty-h"), "No fabric yet");
    assert!(b.text(".empty").contains("hhgitops fabric add NAME"));
    assert!(b.text("header.top .who").contains("reader"));
    b.shot("overview-empty");
    // Keyboard: the skip link is the first focusable element and leads to the content.
    let first = b.js("return document.querySelector('a, button, input, select').className");
    assert_eq!(first, "skip");
    b.click("header.top form[action='/logout'] button");
    b.wait_text("h1", "Sign in");
    b.goto(&format!("{}/jobs", s.url));
    assert!(b.url().contains("/login?next=%2Fjobs"), "{}", b.url());
}

#[test]
fn upload_with_a_defect_shows_the_located_error_then_the_fixed_file_is_ingested() {
    let env = TestEnv::sqlite();
    let root = fabric_with_vpcs(&env);
    env.ok(&[
        "fabric",
        "add",
        "g",
        "--path",
        env.path("g-gitops").to_str().unwrap(),
    ]);
    let status = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    let total = status["total"].as_i64().unwrap();
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let Some(b) = Browser::start() else { return };
    b.login(&s.url, &t.admin);
    assert_eq!(
        b.text("tr[data-fabric='f'] [data-count='objects']"),
        total.to_string()
    );
    assert_eq!(b.text("tr[data-fabric='g'] [data-count='objects']"), "0");
    assert_eq!(b.text("tr[data-fabric='f'] [data-count='rejected']"), "0");
    b.shot("overview");

    b.goto(&format!("{}/fabrics/f", s.url));
    assert_eq!(b.text("[data-count='total']"), total.to_string());
    assert_eq!(b.text("dd[data-kind='VPC']"), "2");
    b.shot("fabric");

    // A file with a defect: an unknown field, four lines into the VPC.
    let good = format!("{}---\n{}", vpc("vpc-3", 3), vpc("vpc-4", 4));
    let bad = good.replacen("      vlan: 1003", "      vlna: 1003", 1);
    let bad_line = bad.lines().position(|l| l.contains("vlna")).unwrap() + 1;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("more-vpcs.yaml");
    std::fs::write(&file, &bad).unwrap();
    b.goto(&format!("{}/fabrics/f/raw", s.url));
    assert!(b.text("#pending-h").contains("(0)"));
    b.type_into("#file", file.to_str().unwrap());
    b.click("form[enctype='multipart/form-data'] button[type=submit]");
    b.text("#upload-result[data-valid='false']");
    let marked = b.text("#upload-result .source li.marked");
    assert!(marked.contains("vlna: 1003"), "{marked}");
    assert!(
        marked.starts_with(&bad_line.to_string()),
        "the line number: {marked}"
    );
    let message = b.text("#upload-result .source li.msg");
    assert!(message.contains("vlna"), "{message}");
    assert_eq!(
        b.attr("#upload-result .source", "data-error-line")
            .as_deref(),
        Some(bad_line.to_string().as_str())
    );
    assert_eq!(
        b.texts("#upload-result .source li:not(.caret):not(.msg)")
            .len(),
        7,
        "3 lines each side"
    );
    assert!(!root.join("raw/more-vpcs.yaml").exists(), "nothing written");
    b.shot("raw-upload-rejected");

    // The fixed file: validated, written, ingested as a job followed live.
    std::fs::write(&file, &good).unwrap();
    b.type_into("#file", file.to_str().unwrap());
    b.click("form[enctype='multipart/form-data'] button[type=submit]");
    b.text("#upload-result[data-valid='true']");
    b.shot("raw-upload-accepted");
    b.click("#upload-result a[href^='/jobs/']");
    b.text("#job-body[data-state='succeeded']");
    assert!(b
        .wait_text("li[data-stage='ingest']", "ingest: done")
        .contains("done"));
    assert_eq!(
        b.text("[data-section='Ingest'] dd[data-key='created']"),
        "2"
    );
    b.shot("job-ingest");
    b.goto(&format!("{}/fabrics/f/objects?name=vpc-", s.url));
    let rows = b.texts("#objects tbody tr");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(b.exists("tr[data-object='VPC/vpc-3']") && b.exists("tr[data-object='VPC/vpc-4']"));
    b.shot("objects");
    b.click("tr[data-object='VPC/vpc-3'] a");
    assert!(b.text("pre").contains("vlan: 1003"));
    assert!(b.source().contains("raw/more-vpcs.yaml"));
    b.shot("object");
    b.goto(&format!("{}/fabrics/f/history", s.url));
    assert!(b.source().contains("raw/more-vpcs.yaml"));
    b.shot("history");
    b.goto(&format!("{}/fabrics/f/raw", s.url));
    b.shot("raw");
    b.goto(&format!("{}/jobs", s.url));
    assert_eq!(b.texts("tbody tr[data-job]").len(), 1);
    b.shot("jobs");
    b.goto(&format!("{}/jobs?state=failed", s.url));
    assert_eq!(b.text(".empty"), "No jobs yet.");

    // Tokens (admin): created and shown once, listed, revoked.
    b.goto(&format!("{}/tokens", s.url));
    b.type_into("#tname", "ci-reader");
    b.click("form[action='/tokens'] button[type=submit]");
    let token = b.attr("#new-token", "value").unwrap();
    assert!(token.starts_with("hhg_") && token.len() == 76, "{token}");
    b.shot("tokens-created");
    let (code, _) = s.call(s.get("/api/v1/fabrics", Some(&token)));
    assert_eq!(code, 200, "the new token works");
    b.goto(&format!("{}/tokens", s.url));
    assert!(!b.source().contains(&token), "shown only once");
    b.click("tr[data-token='ci-reader'] button");
    b.wait_text("tr[data-token='ci-reader']", "revoked");
    b.shot("tokens");
    let (code, _) = s.call(s.get("/api/v1/fabrics", Some(&token)));
    assert_eq!(code, 401);
}

fn kubectl(k: &kube_support::Kube, args: &[&str]) {
    let home = k.env.path("kubectl-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .arg("--cache-dir")
        .arg(home.join("cache"))
        .args(args)
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_sync_plan_is_confirmed_and_followed_live_then_a_kubectl_change_shows_in_drift() {
    let Some(k) = kube_support::start() else {
        return;
    };
    let root = k.fabric("f");
    std::fs::write(
        root.join("raw/vpcs.yaml"),
        format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-1", 1),
            vpc("vpc-2", 2)
        ),
    )
    .unwrap();
    let t = tokens(&k.env);
    let s = serve(&k.env, &["--no-watch"], &[]);
    let Some(b) = Browser::start() else { return };
    b.login(&s.url, &t.write);
    b.goto(&format!("{}/fabrics/f/drift", s.url));
    assert!(b.text(".empty").contains("No drift report yet"));
    b.shot("drift-empty");

    b.goto(&format!("{}/fabrics/f", s.url));
    b.click("#sync-plan");
    b.text("#plan");
    assert_eq!(b.text("[data-plan='create']"), "4 create");
    assert_eq!(b.text("[data-plan='update']"), "0 update");
    assert_eq!(b.text("[data-plan='prune']"), "0 prune");
    assert!(b.exists("#outcomes tr[data-object='VPC/vpc-1']"));
    assert!(k.objects(Kind::VPC).is_empty(), "a plan changes nothing");
    b.shot("sync-plan");

    // The first apply request waits 2 s, so the job is still running when its page starts following it.
    k.server.faults().inject(
        hhgitops_testapi::FaultRule::delay(Duration::from_secs(2))
            .method("PATCH")
            .times(1),
    );
    b.click("#confirm-sync");
    b.text("#job-body[data-events]");
    // Mark this document: if the page reloaded instead of following the job live, the mark would be gone.
    b.js("window.hhgitopsMark = 42; return null;");
    b.text("#job-body[data-state='succeeded']");
    assert_eq!(
        b.js("return window.hhgitopsMark"),
        serde_json::json!(42),
        "followed without a reload"
    );
    let stages = b.texts("ol.stages li");
    assert_eq!(stages.len(), 3, "{stages:?}");
    assert!(stages.iter().all(|s| s.contains(": done")), "{stages:?}");
    assert!(b.text("[data-section='Apply']").contains("created"));
    assert_eq!(b.text("[data-section='Apply'] dd[data-key='created']"), "4");
    b.shot("sync-live");
    b.refresh_ok();
    assert_eq!(
        b.attr("#job-body", "data-state").as_deref(),
        Some("succeeded")
    );
    assert_eq!(k.objects(Kind::VPC).len(), 2);

    // Someone changes a VPC with kubectl; the drift page shows the path, both values and who changed it.
    kubectl(
        &k,
        &[
            "patch",
            "vpcs.vpc.githedgehog.com",
            "vpc-1",
            "--type=merge",
            "-p",
            r#"{"spec":{"subnets":{"default":{"vlan":1042}}}}"#,
        ],
    );
    b.goto(&format!("{}/fabrics/f/drift", s.url));
    b.click("#compute-drift");
    b.text("#job-body[data-state='succeeded']");
    b.goto(&format!("{}/fabrics/f/drift", s.url));
    assert_eq!(
        b.attr("#drift-list details", "data-object").as_deref(),
        Some("VPC/vpc-1"),
        "not in sync first"
    );
    assert_eq!(b.text("dd[data-status='drifted']"), "1");
    assert!(
        !b.exists(".drift-detail"),
        "no detail before it is expanded"
    );
    b.click("details[data-object='VPC/vpc-1'] summary");
    let row = b.text("details[data-object='VPC/vpc-1'] tr[data-path='spec.subnets.default.vlan']");
    assert!(row.contains("1001") && row.contains("1042"), "{row}");
    assert!(row.contains("kubectl-patch"), "{row}");
    assert!(
        !b.exists("details[data-object='VPC/vpc-2'] .drift-detail"),
        "only the expanded one loaded"
    );
    b.shot("drift");
    b.goto(&format!("{}/fabrics/f/objects?drift=drifted", s.url));
    assert_eq!(b.texts("#objects tbody tr").len(), 1);
    b.goto(&format!("{}/fabrics/f/objects/VPC/vpc-1", s.url));
    assert!(b.text("table.drift-fields").contains("1042"));
    b.shot("object-drifted");
    b.goto(&format!("{}/fabrics/f", s.url));
    b.shot("fabric-with-cluster");
}

#[test]
fn a_form_posted_from_another_origin_is_refused() {
    let env = TestEnv::sqlite();
    fabric_with_vpcs(&env);
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let Some(b) = Browser::start() else { return };
    b.login(&s.url, &t.write);
    b.goto(&format!("{}/fabrics/f", s.url));
    let csrf = b.attr("input[name='csrf']", "value").unwrap();
    // Another origin (another port of the same host) serves a form aimed at this server, even with this
    // session's form token: the browser says where it comes from, and the server refuses it.
    let evil = TcpListener::bind("127.0.0.1:0").unwrap();
    let evil_url = format!("http://{}", evil.local_addr().unwrap());
    let page = format!(
        "<!doctype html><html><body><form method=\"post\" action=\"{}/fabrics/f/jobs\">\
         <input name=\"csrf\" value=\"{csrf}\"><input name=\"type\" value=\"ingest\">\
         <button id=\"go\" type=\"submit\">go</button></form></body></html>",
        s.url
    );
    std::thread::spawn(move || {
        for conn in evil.incoming().take(4) {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    b.goto(&evil_url);
    b.click("#go");
    b.wait_text("h1", "Refused");
    assert!(b.text("[role=alert]").contains("cross-origin"));
    b.shot("cross-origin-refused");
    let (_, jobs) = s.call(s.get("/api/v1/jobs", Some(&t.read)));
    assert_eq!(jobs["total"], 0, "{jobs}");
    // The same action from the server's own page is accepted.
    b.goto(&format!("{}/fabrics/f", s.url));
    b.click("#ingest-now");
    b.text("#job-body");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, jobs) = s.call(s.get("/api/v1/jobs", Some(&t.read)));
        if jobs["total"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{jobs}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_job_page_shows_the_engine_stages_live_with_counts_and_the_current_object() {
    // The ~5,600-object reference fabric in its validating form (bench/ingest.sh).
    let Some(wiring) = reference_fabric() else {
        return;
    };
    let objects = String::from_utf8_lossy(&wiring)
        .lines()
        .filter(|l| l.starts_with("kind:"))
        .count();
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/fabric.yaml"), &wiring).unwrap();
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let Some(b) = Browser::start() else { return };
    b.login(&s.url, &t.write);
    let (code, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&serde_json::json!({"type": "ingest"})),
    );
    assert_eq!(code, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    b.goto(&format!("{}/jobs/{id}", s.url));
    // While it runs, the page follows the engine's stages: a row per stage with its count (and bar).
    let mut live = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = b.js(
            "var body = document.getElementById('job-body');
             var rows = Array.prototype.map.call(document.querySelectorAll('ol.steps li'), function (li) {
               return li.getAttribute('data-step') + ' ' + li.querySelector('[data-count]').textContent;
             });
             return {state: body ? body.getAttribute('data-state') : null, live: !!(body && body.getAttribute('data-events')), rows: rows};",
        );
        if v["live"] == true {
            for r in v["rows"].as_array().unwrap() {
                live.insert(r.as_str().unwrap().to_string());
            }
        }
        if v["state"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "the job did not end: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        live.len() >= 2,
        "stage counts changed while the page followed the job: {live:?}"
    );
    // The report replaced the live part; the stages stay with their final counts, the same after a refresh.
    let write = b.wait_text("ol.steps li[data-step='ingest.write']", "of");
    let digits = objects.to_string();
    let all: String = digits
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = i > 0 && (digits.len() - i) % 3 == 0;
            sep.then_some(',').into_iter().chain(std::iter::once(c))
        })
        .collect();
    assert!(write.contains(&format!("{all} of {all}")), "{write}");
    assert_eq!(
        b.attr("ol.steps li[data-step='ingest.write'] progress", "max"),
        Some(objects.to_string())
    );
    b.shot("job-ingest-stages");
    b.refresh_ok();
    let again = b.text("ol.steps li[data-step='ingest.write']");
    assert!(again.contains(&format!("{all} of {all}")), "{again}");
    assert!(
        !b.text("ol.steps li[data-step='ingest.write'] [data-current]")
            .is_empty(),
        "the object it was at"
    );
}
