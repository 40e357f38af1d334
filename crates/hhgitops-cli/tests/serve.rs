//! `hhgitops serve`: the real binary on loopback, called with a real HTTP client.

mod common;
mod kube_support;
mod serve_support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use serve_support::*;

/// The contract of SPEC §8: every route with the scope it needs (`None`: no token needed).
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/livez", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/api/v1/openapi.json", None),
    ("GET", "/api/v1/fabrics", Some("read")),
    ("POST", "/api/v1/fabrics", Some("admin")),
    ("GET", "/api/v1/fabrics/{fabric}", Some("read")),
    ("PATCH", "/api/v1/fabrics/{fabric}", Some("admin")),
    ("DELETE", "/api/v1/fabrics/{fabric}", Some("admin")),
    ("GET", "/api/v1/fabrics/{fabric}/status", Some("read")),
    ("GET", "/api/v1/fabrics/{fabric}/raw", Some("read")),
    ("PUT", "/api/v1/fabrics/{fabric}/raw/{path}", Some("write")),
    ("POST", "/api/v1/validate", Some("write")),
    ("GET", "/api/v1/fabrics/{fabric}/objects", Some("read")),
    (
        "GET",
        "/api/v1/fabrics/{fabric}/objects/{kind}/{name}",
        Some("read"),
    ),
    (
        "DELETE",
        "/api/v1/fabrics/{fabric}/objects/{kind}/{name}",
        Some("write"),
    ),
    ("POST", "/api/v1/fabrics/{fabric}/jobs", Some("write")),
    ("GET", "/api/v1/jobs", Some("read")),
    ("GET", "/api/v1/jobs/{id}", Some("read")),
    ("GET", "/api/v1/jobs/{id}/events", Some("read")),
    ("POST", "/api/v1/jobs/{id}/cancel", Some("write")),
    ("GET", "/api/v1/fabrics/{fabric}/drift", Some("read")),
    ("GET", "/api/v1/fabrics/{fabric}/history", Some("read")),
    ("GET", "/api/v1/fabrics/{fabric}/runs", Some("read")),
    ("POST", "/api/v1/webhooks/git/{fabric}", None),
    ("GET", "/api/v1/tokens", Some("admin")),
    ("POST", "/api/v1/tokens", Some("admin")),
    ("DELETE", "/api/v1/tokens/{name}", Some("admin")),
];

fn concrete(path: &str) -> String {
    path.replace("{fabric}", "nosuchfabric")
        .replace("{path}", "a.yaml")
        .replace("{kind}", "VPC")
        .replace("{name}", "nosuchname")
        .replace("{id}", "nosuchjob")
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_contract_and_every_one_answers() {
    let env = TestEnv::sqlite();
    let t = token(&env, "admin", "admin", &[]);
    let s = serve(&env, &["--no-watch"], &[]);
    let (code, doc) = s.call(s.get("/api/v1/openapi.json", None));
    assert_eq!(code, 200);
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let mut in_doc = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for m in ops.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&m.as_str()) {
                in_doc.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let contract: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(in_doc, contract, "document paths == routes of SPEC §8");
    // Every documented route is served (a path the router lacks answers `no_route`).
    for (m, p, _) in ROUTES {
        let (code, body) = s.call(
            s.req(method(m), &concrete(p), Some(&t))
                .header("content-type", "application/json")
                .body("{}"),
        );
        assert_ne!(body["error"]["code"], "no_route", "{m} {p}: {code} {body}");
        assert_ne!(code, 405, "{m} {p}");
        assert!(code < 500, "{m} {p}: {code} {body}");
    }
    let (code, body) = s.call(s.get("/api/v1/nothing", Some(&t)));
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("no_route"))
    );
}

#[test]
fn auth_matrix_for_every_route() {
    let env = TestEnv::sqlite();
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let rank = |scope: &str| {
        ["read", "write", "admin"]
            .iter()
            .position(|x| *x == scope)
            .unwrap()
    };
    let bad = format!("hhg_{}", "0".repeat(72));
    for (m, p, need) in ROUTES {
        let path = concrete(p);
        let send = |token: Option<&str>| {
            s.call(
                s.req(method(m), &path, token)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
        };
        match need {
            None => {
                let (code, body) = send(None);
                assert_ne!(code, 401, "{m} {p} needs no token: {body}");
                assert_ne!(code, 403, "{m} {p} needs no token: {body}");
            }
            Some(need) => {
                for (what, tok) in [
                    ("none", None),
                    ("bad", Some(bad.as_str())),
                    ("malformed", Some("hhg_x")),
                    ("expired", Some(t.expired.as_str())),
                    ("revoked", Some(t.revoked.as_str())),
                ] {
                    let (code, body) = send(tok);
                    assert_eq!(code, 401, "{m} {p} with {what} token: {body}");
                    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
                    assert!(body["error"]["message"].is_string());
                }
                for (scope, tok) in [("read", &t.read), ("write", &t.write), ("admin", &t.admin)] {
                    let (code, body) = send(Some(tok));
                    if rank(scope) < rank(need) {
                        assert_eq!(code, 403, "{m} {p} with a {scope} token: {body}");
                        assert_eq!(body["error"]["code"], "forbidden");
                    } else {
                        assert!(
                            code != 401 && code != 403,
                            "{m} {p} with a {scope} token: {code} {body}"
                        );
                    }
                }
            }
        }
    }
    // The metrics can be made to need a token.
    drop(s);
    let s = serve(&env, &["--no-watch", "--metrics-token-required"], &[]);
    assert_eq!(s.call(s.get("/metrics", None)).0, 401);
    assert_eq!(s.call(s.get("/metrics", Some(&t.read))).0, 200);
}

#[test]
fn tokens_through_the_api_and_the_cli_show_once_track_use_and_revoke() {
    let env = TestEnv::sqlite();
    let admin = token(&env, "admin", "admin", &[]);
    let s = serve(&env, &["--no-watch"], &[]);
    let (code, made) = s.call(
        s.req(Method::POST, "/api/v1/tokens", Some(&admin))
            .json(&json!({"name": "ci", "scope": "write", "expires": "30d"})),
    );
    assert_eq!(code, 201, "{made}");
    let tok = made["token"].as_str().unwrap().to_string();
    assert!(tok.starts_with("hhg_"));
    assert_eq!(made["createdBy"], "admin");
    assert!(made["expiresAt"].is_string());
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/tokens", Some(&admin))
            .json(&json!({"name": "ci", "scope": "read"})),
    );
    assert_eq!(code, 409, "a second token of one name");
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/tokens", Some(&admin))
            .json(&json!({"name": "x", "scope": "root"})),
    );
    assert_eq!(code, 400);
    assert_eq!(s.call(s.get("/api/v1/jobs", Some(&tok))).0, 200);
    let (_, list) = s.call(s.get("/api/v1/tokens", Some(&admin)));
    let ci = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()
        .clone();
    assert!(ci["lastUsedAt"].is_string(), "last use recorded: {ci}");
    assert!(
        ci.get("token").is_none() && !list.to_string().contains(&tok[4..]),
        "tokens are never listed"
    );
    let db = std::fs::read(env.home().join("hhgitops.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(&tok[4..]),
        "only the hash is stored"
    );
    assert_eq!(
        s.call(s.req(Method::DELETE, "/api/v1/tokens/ci", Some(&admin)))
            .0,
        204
    );
    assert_eq!(s.call(s.get("/api/v1/jobs", Some(&tok))).0, 401);
    assert_eq!(
        s.call(s.req(Method::DELETE, "/api/v1/tokens/nobody", Some(&admin)))
            .0,
        404
    );
    let listed = env.ok(&["token", "list", "--json"]);
    let v: Value = serde_json::from_str(&listed).unwrap();
    let ci = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()
        .clone();
    assert_eq!(ci["state"], "revoked");
}

#[test]
fn browser_session_cookie_and_same_origin_rule() {
    let env = TestEnv::sqlite();
    let admin = token(&env, "admin", "admin", &[]);
    let s = serve(&env, &["--no-watch"], &[]);
    let (code, _) = s.call(s.get("/login", None));
    assert_eq!(code, 200);
    let r = s
        .req(Method::POST, "/login", None)
        .form(&[("token", "hhg_wrong")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .req(Method::POST, "/login", None)
        .form(&[("token", admin.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let pair = cookie.split(';').next().unwrap().to_string();
    assert_eq!(
        s.call(s.get("/api/v1/fabrics", None).header("cookie", &pair))
            .0,
        200
    );
    // An unsafe request with the cookie from another origin is refused; from this origin it passes auth.
    let host = s.url.trim_start_matches("http://").to_string();
    let post = |origin: &str| {
        s.call(
            s.req(Method::POST, "/api/v1/tokens", None)
                .header("cookie", &pair)
                .header("origin", origin)
                .json(&json!({"name": format!("t{}", origin.len()), "scope": "read"})),
        )
    };
    let (code, body) = post("http://evil.example");
    assert_eq!(code, 403, "{body}");
    let (code, body) = post(&format!("http://{host}"));
    assert_eq!(code, 201, "{body}");
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/tokens", None)
            .header("cookie", &pair)
            .header("sec-fetch-site", "cross-site")
            .json(&json!({"name": "z", "scope": "read"})),
    );
    assert_eq!(code, 403);
    let r = s.req(Method::POST, "/logout", None).send().unwrap();
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

#[test]
fn upload_job_ingests_with_events_in_order_and_the_same_result() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let t = tokens(&env);
    let s = serve(&env, &[], &[]);
    let body = format!(
        "{NAMESPACES}---\n{}---\n{}",
        vpc("vpc-1", 1),
        vpc("vpc-2", 2)
    );
    let r = s
        .req(
            Method::PUT,
            "/api/v1/fabrics/f/raw/site/vpcs.yaml",
            Some(&t.write),
        )
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let job: Value = r.json().unwrap();
    assert_eq!(
        location,
        format!("/api/v1/jobs/{}", job["id"].as_str().unwrap())
    );
    assert_eq!(job["type"], "ingest");
    assert_eq!(job["actor"], "writer");
    let id = job["id"].as_str().unwrap();
    let events = s.events(id, &t.read);
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.last(), Some(&"result"), "{events:?}");
    assert_eq!(names.iter().filter(|n| **n == "result").count(), 1);
    let (_, result) = events.last().unwrap();
    let done = s.wait_job(id, &t.read);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(result["state"], done["state"]);
    assert_eq!(
        result["result"], done["result"],
        "the result event is the job's result"
    );
    let files = done["result"]["files"].as_array().unwrap();
    assert_eq!(files[0]["file"], "raw/site/vpcs.yaml");
    assert_eq!(files[0]["status"], "ingested", "{done}");
    assert!(root.join("managed/vpcs/vpc-1.yaml").is_file());
    assert!(!root.join("raw/site/vpcs.yaml").exists(), "archived");
    // A late subscriber gets the same events again, from the start.
    let again = s.events(id, &t.read);
    assert_eq!(again.len(), events.len());
    if files[0].get("takenBy").is_none() {
        let stages: Vec<String> = events
            .iter()
            .filter(|(e, d)| e == "progress" && d.get("operation").is_none())
            .map(|(_, d)| {
                format!(
                    "{}:{}",
                    d["stage"].as_str().unwrap_or(""),
                    d["state"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(stages, vec!["ingest:started", "ingest:done"], "{events:?}");
    }
    // The objects are listed, paged, filtered.
    let (code, page) = s.call(s.get("/api/v1/fabrics/f/objects?kind=VPC&limit=1", Some(&t.read)));
    assert_eq!(code, 200, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cont = page["continue"].as_str().unwrap().to_string();
    let (_, page2) = s.call(s.get(
        &format!("/api/v1/fabrics/f/objects?kind=VPC&limit=1&continue={cont}"),
        Some(&t.read),
    ));
    assert_eq!(page2["items"][0]["name"], "vpc-2");
    assert!(page2.get("continue").is_none());
    let (_, page) = s.call(s.get("/api/v1/fabrics/f/objects?name=c-2", Some(&t.read)));
    assert_eq!(page["total"], 1);
    // The name filter ignores ASCII case, as SQLite's LIKE did.
    let (_, page) = s.call(s.get("/api/v1/fabrics/f/objects?name=VPC-2", Some(&t.read)));
    assert_eq!(page["total"], 1, "{page}");

    let (code, obj) = s.call(s.get("/api/v1/fabrics/f/objects/VPC/vpc-1", Some(&t.read)));
    assert_eq!(code, 200, "{obj}");
    assert!(obj["yaml"].as_str().unwrap().contains("vpc-1"));
    assert_eq!(obj["source"]["file"], "raw/site/vpcs.yaml");
    assert_eq!(
        s.call(s.get("/api/v1/fabrics/f/objects/VPC/none", Some(&t.read)))
            .0,
        404
    );
    assert_eq!(
        s.call(s.get("/api/v1/fabrics/f/objects/Nope/x", Some(&t.read)))
            .0,
        400
    );
    let (_, hist) = s.call(s.get("/api/v1/fabrics/f/history", Some(&t.read)));
    assert!(hist["total"].as_i64().unwrap() >= 2, "{hist}");
    assert_eq!(hist["items"][0]["operation"], "ingest");
    let (_, runs) = s.call(s.get("/api/v1/fabrics/f/runs", Some(&t.read)));
    assert!(
        runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["outcome"] == "success" && r["created"] == 4),
        "{runs}"
    );
    let (_, st) = s.call(s.get("/api/v1/fabrics/f/status", Some(&t.read)));
    assert_eq!(st["total"], 4, "two namespaces and two VPCs: {st}");
    let (_, jobs) = s.call(s.get("/api/v1/jobs?fabric=f&state=succeeded", Some(&t.read)));
    assert!(jobs["total"].as_i64().unwrap() >= 1);
    assert_eq!(
        s.call(s.get("/api/v1/jobs?state=bogus", Some(&t.read))).0,
        400
    );
    // A file dropped by hand is taken by the watcher and shows up as a job of actor `watcher`.
    std::fs::write(root.join("raw/more.yaml"), vpc("vpc-3", 3)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, jobs) = s.call(s.get("/api/v1/jobs?fabric=f&type=ingest", Some(&t.read)));
        let w = jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| {
                j["actor"] == "watcher"
                    && j["result"]["files"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|x| x["file"] == "raw/more.yaml"))
            })
            .cloned();
        if let Some(w) = w {
            assert_eq!(w["state"], "succeeded", "{w}");
            let ev = s.events(w["id"].as_str().unwrap(), &t.read);
            assert_eq!(ev.last().unwrap().0, "result");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher's ingestion appears as a job: {jobs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(root.join("managed/vpcs/vpc-3.yaml").is_file());
    // The watcher's ingestion replaced the index: the listing shows it, not the one the server read before.
    let (_, page) = s.call(s.get("/api/v1/fabrics/f/objects?kind=VPC", Some(&t.read)));
    assert_eq!(page["total"], 3, "{page}");
    assert_eq!(page["items"][2]["name"], "vpc-3", "{page}");
    // So does an ingestion by another process on the same home (the CLI; the watcher may take the file first,
    // which changes the index all the same).
    std::fs::write(root.join("raw/cli.yaml"), vpc("vpc-4", 4)).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    let (_, page) = s.call(s.get("/api/v1/fabrics/f/objects?kind=VPC", Some(&t.read)));
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(page["items"][3]["name"], "vpc-4", "{page}");
}

#[test]
fn rejected_traversing_oversized_and_pending_uploads_leave_raw_as_it_was() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let t = tokens(&env);
    std::fs::write(root.join("raw/keep.yaml"), "not: [valid").unwrap();
    let s = serve(&env, &["--no-watch", "--max-file-size", "4096"], &[]);
    let before = raw_listing(&root);
    let broken = vpc("vpc-1", 1).replace("vlan: 1001", "vlan: banana");
    let (code, body) = s.call(
        s.req(
            Method::PUT,
            "/api/v1/fabrics/f/raw/bad.yaml",
            Some(&t.write),
        )
        .body(broken.clone()),
    );
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["code"], "rejected");
    let err = &body["error"]["details"]["files"][0]["errors"][0];
    assert_eq!(body["error"]["details"]["files"][0]["file"], "raw/bad.yaml");
    assert!(
        err["line"].as_u64().unwrap() > 0 && err["column"].as_u64().unwrap() > 0,
        "{err}"
    );
    assert!(err["path"].as_str().unwrap().contains("vlan"), "{err}");
    assert_eq!(raw_listing(&root), before, "raw/ unchanged");
    // Dry run: the same report, 200, nothing written — also for a valid file.
    let (code, rep) = s.call(
        s.req(
            Method::PUT,
            "/api/v1/fabrics/f/raw/ok.yaml?dryRun=true",
            Some(&t.write),
        )
        .body(format!("{NAMESPACES}---\n{}", vpc("vpc-9", 9))),
    );
    assert_eq!(code, 200, "{rep}");
    assert_eq!(rep["files"][0]["valid"], true);
    assert_eq!(raw_listing(&root), before);
    let (code, rep) = s.call(
        s.req(
            Method::POST,
            "/api/v1/validate?fabric=f&file=x.yaml",
            Some(&t.write),
        )
        .body(broken),
    );
    assert_eq!(code, 200);
    assert_eq!(rep["files"][0]["valid"], false);
    assert_eq!(rep["files"][0]["file"], "x.yaml");
    assert_eq!(
        s.call(
            s.req(Method::POST, "/api/v1/validate?fabric=nope", Some(&t.write))
                .body("a: 1")
        )
        .0,
        404
    );
    for bad in [
        "%2e%2e/x.yaml",
        "a/%2e%2e/%2e%2e/x.yaml",
        "..%2Fx.yaml",
        ".hidden.yaml",
        "x.txt",
        "sub/.git/x.yaml",
        "%2Fetc%2Fx.yaml",
    ] {
        let (code, body) = s.call(
            s.req(
                Method::PUT,
                &format!("/api/v1/fabrics/f/raw/{bad}"),
                Some(&t.write),
            )
            .body(vpc("vpc-5", 5)),
        );
        // The client removes some dot segments itself (then no route matches): refused either way.
        assert!(
            code == 400 || (code == 404 && body["error"]["code"] == "no_route"),
            "{bad}: {code} {body}"
        );
    }
    let (code, body) = s.call(
        s.req(
            Method::PUT,
            "/api/v1/fabrics/f/raw/big.yaml",
            Some(&t.write),
        )
        .body("#".repeat(5000)),
    );
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    // A chunked body (no length) is cut off at the limit, not read to its end.
    let stream = reqwest::blocking::Body::new(ChunkReader { left: 100 << 20 });
    let started = std::time::Instant::now();
    let r = s
        .req(
            Method::PUT,
            "/api/v1/fabrics/f/raw/big.yaml",
            Some(&t.write),
        )
        .body(stream)
        .send();
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(raw_listing(&root), before, "raw/ unchanged");
    // A pending file is replaced only when asked.
    let (code, body) = s.call(
        s.req(
            Method::PUT,
            "/api/v1/fabrics/f/raw/keep.yaml",
            Some(&t.write),
        )
        .body(vpc("vpc-4", 4)),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(raw_listing(&root), before);
    let (code, body) = s.call(
        s.req(
            Method::PUT,
            "/api/v1/fabrics/f/raw/keep.yaml?replace=true",
            Some(&t.write),
        )
        .body(format!("{NAMESPACES}---\n{}", vpc("vpc-4", 4))),
    );
    assert_eq!(code, 202, "{body}");
    let done = s.wait_job(body["id"].as_str().unwrap(), &t.read);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(root.join("managed/vpcs/vpc-4.yaml").is_file());
    assert_eq!(
        s.call(
            s.req(
                Method::PUT,
                "/api/v1/fabrics/nope/raw/a.yaml",
                Some(&t.write)
            )
            .body("a: 1")
        )
        .0,
        404
    );
}

/// 100 MiB of comment lines, sent without a length.
struct ChunkReader {
    left: usize,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left).min(8192);
        buf[..n].fill(b'#');
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn fabrics_through_the_api() {
    let env = TestEnv::sqlite();
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let dir = env.path("api-root");
    let (code, body) = s.call(s.req(Method::POST, "/api/v1/fabrics", Some(&t.admin)).json(
        &json!({"name": "g", "path": dir, "syncInterval": "10m", "webhookSecretEnv": "G_SECRET"}),
    ));
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["fabric"]["syncInterval"], "10m");
    assert!(dir.join("raw").is_dir() && dir.join(".hnp/manifest.yaml").is_file());
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/fabrics", Some(&t.admin))
            .json(&json!({"name": "g", "path": dir})),
    );
    // A second registration is refused: the engine's class for a taken name is "conflict".
    assert_eq!(code, 409);
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/fabrics", Some(&t.admin))
            .json(&json!({"name": "Bad_Name"})),
    );
    assert_eq!(code, 400);
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/fabrics", Some(&t.admin))
            .json(&json!({"name": "h", "bogus": 1})),
    );
    assert_eq!(code, 400);
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/fabrics", Some(&t.admin))
            .body("{")
            .header("content-type", "application/json"),
    );
    assert_eq!(code, 400);
    let (_, list) = s.call(s.get("/api/v1/fabrics", Some(&t.read)));
    assert_eq!(list[0]["name"], "g");
    let (code, f) = s.call(
        s.req(Method::PATCH, "/api/v1/fabrics/g", Some(&t.admin))
            .json(&json!({"syncInterval": null, "context": "c1"})),
    );
    assert_eq!(code, 200, "{f}");
    assert!(f["syncInterval"].is_null());
    assert_eq!(f["context"], "c1");
    assert_eq!(f["webhookSecretEnv"], "G_SECRET");
    let (code, _) = s.call(
        s.req(Method::PATCH, "/api/v1/fabrics/g", Some(&t.admin))
            .json(&json!({"syncInterval": "1s"})),
    );
    assert_eq!(code, 400, "too short an interval");
    // An empty path is refused with its field named (the fuzzer found it answered 500), nothing changed.
    for body in [json!({"kubeconfig": ""}), json!({"context": " "})] {
        let (code, e) = s.call(
            s.req(Method::PATCH, "/api/v1/fabrics/g", Some(&t.admin))
                .json(&body),
        );
        assert_eq!(
            (code, e["error"]["code"].as_str()),
            (400, Some("invalid")),
            "{body}: {e}"
        );
        let field = body.as_object().unwrap().keys().next().unwrap().clone();
        assert!(
            e["error"]["message"].as_str().unwrap().contains(&field),
            "{e}"
        );
    }
    let (_, f) = s.call(s.get("/api/v1/fabrics/g", Some(&t.read)));
    assert_eq!(f["context"], "c1", "{f}");
    assert_eq!(
        s.call(
            s.req(Method::PATCH, "/api/v1/fabrics/nope", Some(&t.admin))
                .json(&json!({}))
        )
        .0,
        404
    );
    assert_eq!(
        s.call(s.get("/api/v1/fabrics/g/drift", Some(&t.read))).0,
        404,
        "no drift report yet"
    );
    let (code, raw) = s.call(s.get("/api/v1/fabrics/g/raw", Some(&t.read)));
    assert_eq!(code, 200);
    assert_eq!(raw["pending"], json!([]));
    let (code, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/g/jobs", Some(&t.write))
            .json(&json!({"type": "bogus"})),
    );
    assert_eq!(code, 400, "{job}");
    let (code, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/g/jobs", Some(&t.write))
            .json(&json!({"type": "init"})),
    );
    assert_eq!(code, 202);
    let done = s.wait_job(job["id"].as_str().unwrap(), &t.read);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(
        s.call(s.req(
            Method::POST,
            &format!("/api/v1/jobs/{}/cancel", job["id"].as_str().unwrap()),
            Some(&t.write)
        ))
        .0,
        409
    );
    // The fabric's gauges are on /metrics while it is registered, and gone once it is removed.
    let gauges = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                [
                    "hhgitops_raw_files_pending{",
                    "hhgitops_raw_files_rejected{",
                    "hhgitops_managed_objects{",
                ]
                .iter()
                .any(|g| l.starts_with(g))
                    && l.contains("fabric=\"g\"")
            })
            .map(str::to_string)
            .collect()
    };
    let text = s.get("/metrics", None).send().unwrap().text().unwrap();
    assert_eq!(gauges(&text).len(), 3, "{text}");
    let (code, _) = s.call(s.req(Method::DELETE, "/api/v1/fabrics/g", Some(&t.admin)));
    assert_eq!(code, 200);
    let text = s.get("/metrics", None).send().unwrap().text().unwrap();
    assert_eq!(gauges(&text), Vec::<String>::new(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("hhgitops_jobs_total{") && l.contains("fabric=\"g\"")),
        "its counters stay (they count what happened): {text}"
    );
    assert!(dir.join(".hnp/manifest.yaml").is_file(), "files are kept");
    assert_eq!(s.call(s.get("/api/v1/fabrics/g", Some(&t.read))).0, 404);
    let (code, ready) = s.call(s.get("/readyz?verbose", None));
    assert_eq!(code, 200);
    assert_eq!(ready["checks"][0]["name"], "database");
    let text = s.get("/metrics", None).send().unwrap().text().unwrap();
    assert!(text.contains("hhgitops_http_requests_total"), "{text}");
    assert!(text.contains("hhgitops_jobs_total"), "{text}");
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("hhgitops_"), "{line}");
    }
    assert_eq!(s.terminate(), Some(0), "SIGTERM stops cleanly");
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

#[test]
fn git_webhooks_of_each_host_valid_invalid_missing_and_replayed() {
    let env = TestEnv::sqlite();
    fabric_at(&env, "f");
    env.ok(&[
        "fabric",
        "set",
        "f",
        "--webhook-secret-env",
        "F_HOOK_SECRET",
    ]);
    fabric_at(&env, "nohook");
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[("F_HOOK_SECRET", "s3cr3t")]);
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let post = |headers: &[(&str, String)]| {
        let mut r = s
            .req(Method::POST, "/api/v1/webhooks/git/f", None)
            .body(body.clone());
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        s.call(r)
    };
    let jobs_now = || {
        s.call(s.get("/api/v1/jobs?fabric=f", Some(&t.read))).1["total"]
            .as_i64()
            .unwrap()
    };
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Headers, Headers)> = vec![
        (
            "github",
            vec![
                (
                    "x-hub-signature-256",
                    format!("sha256={}", hmac_hex("s3cr3t", &body)),
                ),
                ("x-github-delivery", "gh-1".into()),
            ],
            vec![
                (
                    "x-hub-signature-256",
                    format!("sha256={}", hmac_hex("wrong", &body)),
                ),
                ("x-github-delivery", "gh-2".into()),
            ],
        ),
        (
            "gitea",
            vec![
                ("x-gitea-signature", hmac_hex("s3cr3t", &body)),
                ("x-gitea-delivery", "gt-1".into()),
            ],
            vec![
                ("x-gitea-signature", hmac_hex("s3cr3t", b"other")),
                ("x-gitea-delivery", "gt-2".into()),
            ],
        ),
        (
            "gitlab",
            vec![
                ("x-gitlab-token", "s3cr3t".into()),
                ("x-gitlab-event-uuid", "gl-1".into()),
            ],
            vec![
                ("x-gitlab-token", "s3cr3".into()),
                ("x-gitlab-event-uuid", "gl-2".into()),
            ],
        ),
    ];
    for (host, good, bad) in cases {
        let n = jobs_now();
        let (code, b) = post(&bad);
        assert_eq!(code, 401, "{host} bad signature: {b}");
        let (code, b) = post(&[]);
        assert_eq!(code, 401, "{host} missing signature: {b}");
        assert_eq!(jobs_now(), n, "{host}: nothing queued");
        let (code, job) = post(&good);
        assert_eq!(code, 202, "{host}: {job}");
        assert_eq!(job["actor"], format!("webhook:{host}"));
        assert_eq!(job["type"], "ingest", "no cluster: an ingest");
        let (code, again) = post(&good);
        assert_eq!(code, 200, "{host} replay: {again}");
        assert_eq!(again["ignored"], true);
        s.wait_job(job["id"].as_str().unwrap(), &t.read);
        assert_eq!(jobs_now(), n + 1, "{host}: one job, the replay ignored");
    }
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/webhooks/git/nohook", None)
            .header("x-gitlab-token", "s3cr3t")
            .body("{}"),
    );
    assert_eq!(
        code, 409,
        "a fabric without a webhook secret takes no webhooks"
    );
    let (code, _) = s.call(
        s.req(Method::POST, "/api/v1/webhooks/git/nosuch", None)
            .body("{}"),
    );
    assert_eq!(code, 404);
}

#[test]
fn a_second_serve_on_one_sqlite_home_is_refused_naming_the_first() {
    let env = TestEnv::sqlite();
    let first = serve(&env, &["--no-watch"], &[]);
    let out = env.run(&["serve", "--listen", "127.0.0.1:0", "--no-watch"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a second serve on the same home must exit 2"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another `hhgitops serve` is running"),
        "the refusal names the running server: {err}"
    );
    assert!(
        err.contains(&format!("pid {}", first.child.id())),
        "the refusal names the running server's pid: {err}"
    );
    // The first one still answers.
    let (status, _) = first.call(first.get("/livez", None));
    assert_eq!(status, 200);
}

/// The status the server answers: never older than its own writes (once an upload's job has ended its objects
/// are counted, with no wait), and a change made by another process (`hhgitops ingest` on the same home) seen
/// within the re-check bound of the status cache (250 ms plus one re-check). In a Git-backed fabric every
/// commit names who it was made for (the upload's the token, the watcher's `watcher`), and the fabric page
/// shows the newest commit after each change.
#[test]
fn status_after_own_writes_and_other_processes_and_commits_naming_their_actor() {
    const RECHECK_BOUND: Duration = Duration::from_millis(600);
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "remote");
    env.ok(&["fabric", "add", "g", "--git-url", &file_url(&remote)]);
    let root = root_of(&env, "g");
    let t = tokens(&env);
    let s = serve(&env, &["--no-watch"], &[]);
    let status = || {
        let (code, st) = s.call(s.get("/api/v1/fabrics/g/status", Some(&t.read)));
        assert_eq!(code, 200, "{st}");
        st
    };
    let head = || git(&remote, &["rev-parse", "main"]).trim().to_string();
    let fabric_page = || {
        s.get("/fabrics/g", None)
            .header("cookie", format!("hhgitops_session={}", t.read))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert_eq!(status()["total"], 0);

    // An upload: the status read right after its job ended counts its objects.
    let (code, up) = s.call(
        s.req(
            Method::PUT,
            "/api/v1/fabrics/g/raw/vpcs.yaml",
            Some(&t.write),
        )
        .body(format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1))),
    );
    assert_eq!(code, 202, "{up}");
    let done = s.wait_job(up["id"].as_str().unwrap(), &t.read);
    assert_eq!(done["state"], "succeeded", "{done}");
    let st = status();
    assert_eq!(st["total"], 3, "{st}");
    assert_eq!(st["pending"], json!([]), "{st}");
    assert_eq!(st["lastRuns"][0]["actor"], "writer", "{st}");
    // Its commit, pushed, names the token; the fabric page shows it.
    let body = git(&remote, &["log", "-1", "--format=%B", "main"]);
    assert!(body.contains("\n\nHhgitops-Actor: token:writer"), "{body}");
    let first = head();
    assert!(
        fabric_page().contains(&format!("<code>{}</code>", &first[..10])),
        "the fabric page shows the upload's commit {first}"
    );

    // Another process ingests into the same home: seen once the bound has passed.
    std::fs::write(root.join("raw/more.yaml"), vpc("vpc-2", 2)).unwrap();
    env.ok(&["ingest", "--fabric", "g"]);
    std::thread::sleep(RECHECK_BOUND);
    let st = status();
    assert_eq!(
        st["total"], 4,
        "the command line's ingestion is counted: {st}"
    );
    assert_eq!(st["pending"], json!([]), "{st}");
    assert!(
        st["lastRuns"][0].get("actor").is_none_or(Value::is_null),
        "{st}"
    );
    let second = head();
    assert_ne!(first, second);
    let body = git(&remote, &["log", "-1", "--format=%B", "main"]);
    assert!(
        !body.contains("Hhgitops-Actor"),
        "the command line's commit names nobody: {body}"
    );
    assert!(
        fabric_page().contains(&format!("<code>{}</code>", &second[..10])),
        "the fabric page shows the command line's commit {second}"
    );
    assert_eq!(s.terminate(), Some(0));

    // The watcher's commits name it.
    let s = serve(&env, &[], &[]);
    std::fs::write(root.join("raw/hand.yaml"), vpc("vpc-3", 3)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body = git(&remote, &["log", "-1", "--format=%B", "main"]);
        if body.contains("\n\nHhgitops-Actor: watcher") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no commit of the watcher: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.terminate(), Some(0));
}
