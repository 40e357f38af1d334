//! Headless Chromium driven over WebDriver (`chromedriver` on a free loopback port, `fantoccini`), for the web
//! UI tests. Missing Chromium or its driver skips a test with a note, except under `CI=true`, where it fails.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub struct Browser {
    pub rt: tokio::runtime::Runtime,
    pub client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for n in names {
        for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where screenshots go: `target/ui-screenshots/` of the workspace (never committed).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `None` (skipped) when either is missing outside CI.
    pub fn start() -> Option<Browser> {
        let chromium = find(&["chromium", "chromium-browser", "google-chrome"]);
        let driver = find(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var("CI").is_ok_and(|c| c == "true") {
                panic!("chromium and chromedriver are required in CI (Debian packages chromium, chromium-driver)");
            }
            eprintln!("note: chromium or chromedriver not found: browser test skipped");
            return None;
        };
        let port = free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let url = format!("http://127.0.0.1:{port}");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps: serde_json::Map<String, Value> = caps.as_object().cloned().unwrap_or_default();
        let mut browser = Browser {
            rt,
            client: None,
            driver: child,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = loop {
            let attempt = browser.rt.block_on(async {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await
            });
            match attempt {
                Ok(c) => break c,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no WebDriver session: {e}");
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        };
        browser.client = Some(client);
        Some(browser)
    }

    pub fn c(&self) -> &Client {
        self.client.as_ref().expect("session")
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.c().goto(url)).expect("navigates");
    }

    pub fn url(&self) -> String {
        self.rt
            .block_on(self.c().current_url())
            .expect("url")
            .to_string()
    }

    pub fn source(&self) -> String {
        self.rt.block_on(self.c().source()).expect("source")
    }

    /// The text of the first element matching `css`, waiting up to 60 s for it. A live page may replace the
    /// element between finding and reading it: then it is found again.
    pub fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.rt.block_on(async {
                let e = self
                    .c()
                    .wait()
                    .at_most(Duration::from_secs(60))
                    .for_element(Locator::Css(css))
                    .await
                    .unwrap_or_else(|e| panic!("no element {css}: {e}"));
                e.text().await
            });
            match got {
                Ok(t) => return t,
                Err(e) => assert!(Instant::now() < deadline, "{css}: {e}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn texts(&self, css: &str) -> Vec<String> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            for e in self.c().find_all(Locator::Css(css)).await.expect("find") {
                // An element replaced meanwhile (a live page) is skipped; callers that wait poll again.
                if let Ok(t) = e.text().await {
                    out.push(t);
                }
            }
            out
        })
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.rt.block_on(async {
            let e = self
                .c()
                .wait()
                .at_most(Duration::from_secs(60))
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no element {css}: {e}"));
            e.attr(name).await.expect("attr")
        })
    }

    pub fn exists(&self, css: &str) -> bool {
        self.rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .map(|v| !v.is_empty())
            .unwrap_or(false)
    }

    pub fn click(&self, css: &str) {
        self.rt.block_on(async {
            let e = self
                .c()
                .wait()
                .at_most(Duration::from_secs(60))
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no element {css}: {e}"));
            e.click()
                .await
                .unwrap_or_else(|e| panic!("click {css}: {e}"));
        })
    }

    pub fn type_into(&self, css: &str, text: &str) {
        self.rt.block_on(async {
            let e = self
                .c()
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no element {css}: {e}"));
            e.clear().await.ok();
            e.send_keys(text).await.expect("keys");
        })
    }

    /// Waits until `css` matches an element whose text contains `want`.
    pub fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let all = self.texts(css);
            if let Some(t) = all.iter().find(|t| t.contains(want)) {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {css} containing {want:?}; found {all:?} at {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a script in the page and returns its value.
    pub fn js(&self, script: &str) -> Value {
        self.rt
            .block_on(self.c().execute(script, vec![]))
            .expect("script runs")
    }

    /// Saves a screenshot as `target/ui-screenshots/<name>.png`.
    pub fn shot(&self, name: &str) {
        let png = self.rt.block_on(self.c().screenshot()).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png)
            .expect("screenshot saved");
    }

    /// Signs in through the login form.
    pub fn login(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/login"));
        self.type_into("#token", token);
        self.click("form[action='/login'] button[type=submit]");
        self.wait_text("header.top .who", "Signed in as");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Reloads the page and waits for its content.
    pub fn refresh_ok(&self) {
        self.rt.block_on(self.c().refresh()).expect("reloads");
        self.text("main");
    }
}
