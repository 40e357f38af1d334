//! The real `hhgitops serve` on loopback (port 0), with tokens of every kind, for the HTTP tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::common::TestEnv;

pub struct Server {
    pub child: Child,
    pub url: String,
    pub client: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on a free port for `env`'s home; waits for its "listening on" line.
pub fn serve(env: &TestEnv, extra: &[&str], envs: &[(&str, &str)]) -> Server {
    let mut cmd = env.std_cmd();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--shutdown-grace", "10"])
        .args(extra)
        .env("HHGITOPS_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(u) = line.strip_prefix("hhgitops serve: listening on ") {
                    let _ = tx.send(u.to_string());
                    sent = true;
                }
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve prints its address");
    Server {
        child,
        url,
        client: Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    }
}

impl Server {
    pub fn get(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        self.req(reqwest::Method::GET, path, token)
    }

    pub fn req(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.url));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends and returns (status, JSON body or Null).
    pub fn call(&self, r: RequestBuilder) -> (u16, Value) {
        let resp = r.send().expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        // Every API body is camelCase; the OpenAPI document's keys are paths and media types.
        if body.get("openapi").is_none() {
            crate::common::assert_camel_case(&body);
        }
        (status, body)
    }

    /// Polls a job until it ends.
    pub fn wait_job(&self, id: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (s, j) = self.call(self.get(&format!("/api/v1/jobs/{id}"), Some(token)));
            assert_eq!(s, 200, "{j}");
            if !matches!(j["state"].as_str(), Some("queued") | Some("running")) {
                return j;
            }
            assert!(Instant::now() < deadline, "job {id} did not end: {j}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reads a job's event stream to its end: `(event, data)` in order.
    pub fn events(&self, id: &str, token: &str) -> Vec<(String, Value)> {
        let resp: Response = self
            .get(&format!("/api/v1/jobs/{id}/events"), Some(token))
            .send()
            .expect("events");
        assert_eq!(resp.status().as_u16(), 200);
        let mut out = Vec::new();
        let mut event = String::new();
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { break };
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                let v: Value = serde_json::from_str(d).unwrap_or(Value::Null);
                let last = event == "result";
                out.push((event.clone(), v));
                if last {
                    break;
                }
            }
        }
        out
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Tokens of every kind for one home.
pub struct Tokens {
    pub admin: String,
    pub write: String,
    pub read: String,
    pub expired: String,
    pub revoked: String,
}

pub fn token(env: &TestEnv, name: &str, scope: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--name", name, "--scope", scope];
    args.extend_from_slice(extra);
    let out = env.ok(&args);
    let t = out.trim().to_string();
    assert!(t.starts_with("hhg_") && t.len() == 76, "{t}");
    t
}

pub fn tokens(env: &TestEnv) -> Tokens {
    let t = Tokens {
        admin: token(env, "admin", "admin", &[]),
        write: token(env, "writer", "write", &[]),
        read: token(env, "reader", "read", &[]),
        expired: token(env, "old", "admin", &["--expires", "1s"]),
        revoked: token(env, "gone", "admin", &[]),
    };
    env.ok(&["token", "revoke", "gone"]);
    std::thread::sleep(Duration::from_millis(2100));
    t
}

pub fn raw_listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else {
                    let rel = p.strip_prefix(base).unwrap().display().to_string();
                    let bytes = std::fs::read(&p).unwrap_or_default();
                    out.push(format!("{rel}:{}", crate::common::sha256_hex(&bytes)));
                }
            }
        }
    }
    walk(&root.join("raw"), root, &mut out);
    out.sort();
    out
}
