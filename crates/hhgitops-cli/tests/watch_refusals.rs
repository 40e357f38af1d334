//! The watcher survives every kind of refusal (issue 10, "the watcher survives any error of any file"): the real
//! binary's `ingest --watch --json`, fed in turn a file with bad YAML, a file over the size limit, an alias
//! bomb, a name that is not UTF-8, a FIFO, a symbolic link, a name too long to archive, an object name too long
//! for a managed file and a file that vanishes while it is read; after each the watch is still running, and a
//! good file dropped at the end is ingested. Needs the `test-hooks` feature (`HHGITOPS_TEST_AFTER_READ` removes
//! the vanishing file right after it was read).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);

struct Watch {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Watch {
    fn start(env: &TestEnv, args: &[&str], after_read: &str) -> Watch {
        let mut cmd = env.std_cmd();
        cmd.env("HHGITOPS_TEST_AFTER_READ", after_read)
            .arg("ingest")
            .args(args)
            .args(["--watch", "--json"]);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn hhgitops");
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Watch { child, out, err }
    }

    fn events(&self) -> Vec<Value> {
        self.out
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                assert_camel_case(&v);
                v
            })
            .collect()
    }

    fn dump(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.out.lock().unwrap().join("\n"),
            self.err.lock().unwrap().join("\n")
        )
    }

    /// Waits for an event matching `pred`; panics (with the output) at the deadline or when the watch exits.
    fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the watch exited ({status}) before: {what}\n{}",
                    self.dump()
                );
            }
            if Instant::now() > end {
                panic!("timed out waiting for: {what}\n{}", self.dump());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn assert_running(&mut self, after: &str) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the watch stopped after {after}\n{}",
            self.dump()
        );
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a file beside raw/ and renames it into place, as tools that publish atomically do.
fn drop_bytes(root: &Path, name: &[u8], content: &[u8]) {
    let staging = root.join(format!(".staging-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&staging, content).unwrap();
    let target = root.join("raw").join(std::ffi::OsStr::from_bytes(name));
    std::fs::rename(&staging, &target).unwrap();
}

fn is_file_event(e: &Value, file: &str, status: &str) -> bool {
    e["event"] == "file" && e["file"] == file && e["status"] == status
}

#[test]
fn the_watcher_survives_every_kind_of_refusal_and_still_ingests_a_good_file() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let mut w = Watch::start(
        &env,
        &["--fabric", "f", "--max-file-size", "4096"],
        r#"case "$1" in *vanishing.yaml) rm -f "$1" ;; esac"#,
    );
    w.wait_event("the startup run", |e| {
        e["event"] == "run" && e["startup"] == true
    });
    assert!(root.join("managed/vlannamespaces/default.yaml").is_file());

    // Bad YAML.
    drop_bytes(&root, b"bad.yaml", b"kind: VPC\nmetadata: [unclosed\n");
    let e = w.wait_event("bad.yaml rejected", |e| {
        is_file_event(e, "raw/bad.yaml", "rejected")
    });
    assert!(e["errors"][0]["line"].as_u64().unwrap() > 0, "{e}");
    w.assert_running("bad YAML");

    // Over the size limit.
    let mut big = vpc("big", 7);
    while big.len() <= 4096 {
        big.push_str("# padding to cross the limit of this watch\n");
    }
    drop_bytes(&root, b"big.yaml", big.as_bytes());
    let e = w.wait_event("big.yaml rejected", |e| {
        is_file_event(e, "raw/big.yaml", "rejected")
    });
    assert!(e.to_string().contains("4096"), "the limit is named: {e}");
    w.assert_running("a file over the size limit");

    // An alias bomb, small on disk.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (i, prev) in ('b'..='j').zip('a'..) {
        bomb.push_str(&format!(
            "{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    drop_bytes(&root, b"bomb.yaml", bomb.as_bytes());
    w.wait_event("bomb.yaml rejected", |e| {
        is_file_event(e, "raw/bomb.yaml", "rejected")
    });
    w.assert_running("an alias bomb");

    // A name that is not UTF-8.
    drop_bytes(&root, b"bad-\xff.yaml", vpc("vpc-3", 3).as_bytes());
    let e = w.wait_event("the non-UTF-8 name refused", |e| {
        e["event"] == "refused" && e["reason"].as_str().unwrap_or("").contains("UTF-8")
    });
    assert!(e["file"].as_str().unwrap().starts_with("raw/bad-"), "{e}");
    w.assert_running("a name that is not UTF-8");

    // A FIFO: never opened for reading (a read would block the watch for good).
    let fifo = root.join("raw/pipe.yaml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = w.wait_event("the FIFO refused", |e| {
        e["event"] == "refused" && e["file"] == "raw/pipe.yaml"
    });
    assert!(e["reason"].as_str().unwrap().contains("FIFO"), "{e}");
    w.assert_running("a FIFO");

    // A symbolic link, to a file outside the root and to one inside .hnp/.
    let outside = env.path("outside.yaml");
    std::fs::write(&outside, vpc("vpc-4", 4)).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("raw/out.yaml")).unwrap();
    std::os::unix::fs::symlink(root.join(".hnp/manifest.yaml"), root.join("raw/in.yaml")).unwrap();
    for f in ["raw/out.yaml", "raw/in.yaml"] {
        let e = w.wait_event(&format!("{f} refused"), |e| {
            e["event"] == "refused" && e["file"] == f
        });
        assert!(
            e["reason"].as_str().unwrap().contains("symbolic link"),
            "{e}"
        );
    }
    w.assert_running("symbolic links");

    // A raw name too long to archive (`<name>.archived` over 255 bytes).
    let long = format!("{}.yaml", "l".repeat(245));
    drop_bytes(&root, long.as_bytes(), vpc("vpc-5", 5).as_bytes());
    let rel = format!("raw/{long}");
    let e = w.wait_event("the long raw name refused", |e| {
        e["file"] == rel.as_str() && (e["event"] == "refused" || e["status"] == "rejected")
    });
    assert!(e.to_string().contains("240 bytes"), "{e}");
    w.assert_running("a raw name too long to archive");

    // An object name too long for a managed file.
    let name = format!(
        "{}.{}.{}.{}",
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(63),
        "e".repeat(60)
    );
    drop_bytes(
        &root,
        b"long-object.yaml",
        format!("apiVersion: wiring.githedgehog.com/v1beta1\nkind: SwitchGroup\nmetadata:\n  name: {name}\n")
            .as_bytes(),
    );
    let e = w.wait_event("long-object.yaml rejected", |e| {
        is_file_event(e, "raw/long-object.yaml", "rejected")
    });
    assert_eq!(e["errors"][0]["path"], "metadata.name", "{e}");
    assert!(e.to_string().contains("limited to 250 characters"), "{e}");
    w.assert_running("an object name too long for a file name");

    // A file that vanishes while it is read (removed by the test hook right after the read).
    drop_bytes(&root, b"vanishing.yaml", vpc("vpc-6", 6).as_bytes());
    let e = w.wait_event("vanishing.yaml skipped", |e| {
        is_file_event(e, "raw/vanishing.yaml", "skipped")
    });
    assert!(e["note"].as_str().unwrap().contains("vanished"), "{e}");
    w.assert_running("a file that vanished while read");

    // After all that, a good file is ingested.
    drop_bytes(&root, b"good.yaml", vpc("vpc-1", 1).as_bytes());
    let e = w.wait_event("good.yaml ingested", |e| {
        is_file_event(e, "raw/good.yaml", "ingested")
    });
    assert_eq!(e["created"], serde_json::json!(["VPC/vpc-1"]), "{e}");
    assert!(root.join("managed/vpcs/vpc-1.yaml").is_file());
    assert!(root.join("raw/good.yaml.archived").is_file());
    // Nothing refused was taken: no managed file for any of them, every refused file still where it was.
    for n in ["big", "vpc-3", "vpc-4", "vpc-5", "vpc-6"] {
        assert!(!root.join(format!("managed/vpcs/{n}.yaml")).exists(), "{n}");
    }
    for f in [
        "raw/bad.yaml",
        "raw/big.yaml",
        "raw/bomb.yaml",
        "raw/long-object.yaml",
    ] {
        assert!(root.join(f).is_file(), "{f} stays in raw/");
    }
    assert!(root.join(&rel).is_file());
    assert!(root.join("raw/out.yaml").is_symlink());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), vpc("vpc-4", 4));
    // Each refusal is reported once, not on every rescan.
    let events = w.events();
    for f in ["raw/pipe.yaml", "raw/out.yaml", "raw/in.yaml"] {
        let n = events
            .iter()
            .filter(|e| e["event"] == "refused" && e["file"] == f)
            .count();
        assert_eq!(n, 1, "{f} reported {n} times\n{}", w.dump());
    }
    w.assert_running("the good file");
    drop(w);
    assert_consistent(&env, "f", &root);
}
