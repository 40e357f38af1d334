//! `ingest --watch`: the real binary watching raw/ as a child process. Tests wait for conditions with a
//! deadline (polling the output and the file system), never for fixed times.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);

/// A watching `hhgitops` child process; killed when dropped.
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
    /// `hhgitops ingest <args> --watch`.
    fn start(env: &TestEnv, args: &[&str]) -> Watch {
        let mut cmd = env.std_cmd();
        cmd.arg("ingest").args(args).arg("--watch");
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn hhgitops");
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Watch { child, out, err }
    }

    fn stdout(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    fn stderr(&self) -> Vec<String> {
        self.err.lock().unwrap().clone()
    }

    /// stdout as JSON events (with `--json`).
    fn events(&self) -> Vec<Value> {
        self.stdout()
            .iter()
            .map(|l| {
                let v = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                assert_camel_case(&v);
                v
            })
            .collect()
    }

    fn dump(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout().join("\n"),
            self.stderr().join("\n")
        )
    }

    /// Polls until `pred` holds (every 20 ms, up to the deadline); panics with the output otherwise.
    fn wait_until(&mut self, what: &str, mut pred: impl FnMut(&Watch) -> bool) {
        let end = Instant::now() + DEADLINE;
        loop {
            if pred(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                if !pred(self) {
                    panic!("hhgitops exited ({status}) before: {what}\n{}", self.dump());
                }
                return;
            }
            if Instant::now() > end {
                panic!("timed out waiting for: {what}\n{}", self.dump());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a JSON event matching `pred` and returns it.
    fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        self.wait_until(what, |w| {
            found = w.events().into_iter().find(|e| pred(e));
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits for the `file` event of `file` (in `fabric`, when given) and returns it.
    fn wait_file(&mut self, fabric: Option<&str>, file: &str) -> Value {
        self.wait_event(&format!("a file event for {file}"), |e| {
            e["event"] == "file" && e["file"] == file && fabric.is_none_or(|f| e["fabric"] == f)
        })
    }

    fn file_events(&self, file: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "file" && e["file"] == file)
            .collect()
    }

    fn signal(&self, sig: &str) {
        let st = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(st.is_ok_and(|s| s.success()), "kill -{sig}");
    }

    /// Sends SIGTERM and waits for the exit code.
    fn terminate(self) -> (i32, Watch) {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Waits for an exit already asked for, and for the last lines.
    fn wait_exit(mut self) -> (i32, Watch) {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let end_read = Instant::now() + Duration::from_secs(5);
                while Instant::now() < end_read
                    && !self.stdout().last().is_some_and(|l| l.contains("stopped"))
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return (status.code().unwrap_or(-1), self);
            }
            if Instant::now() > end {
                panic!("hhgitops did not stop\n{}", self.dump());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a file outside raw/ and renames it into place, as tools that publish atomically do.
fn drop_file(root: &Path, rel: &str, content: &str) {
    let target = root.join(rel);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let staging = root.join(format!(".staging-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&staging, content).unwrap();
    std::fs::rename(&staging, &target).unwrap();
}

fn managed(root: &Path, rel: &str) -> PathBuf {
    root.join("managed").join(rel)
}

fn strings(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

/// Waits until the startup run of `fabric` is reported.
fn wait_started(w: &mut Watch, fabric: &str) {
    w.wait_event(&format!("the startup run of {fabric}"), |e| {
        e["event"] == "run" && e["startup"] == true && e["fabric"] == fabric
    });
}

#[test]
fn startup_backlog_is_ingested_in_one_run_with_documented_json() {
    // SQLite, and PostgreSQL when reachable.
    for backend in backends() {
        let env = TestEnv::new(backend);
        let root = fabric_at(&env, "f");
        std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
        std::fs::write(root.join("raw/vpc-1.yaml"), vpc("vpc-1", 1)).unwrap();
        std::fs::create_dir_all(root.join("raw/sub")).unwrap();
        std::fs::write(root.join("raw/sub/vpc-2.yml"), vpc("vpc-2", 2)).unwrap();
        let mut w = Watch::start(&env, &["--fabric", "f", "--json"]);
        wait_started(&mut w, "f");
        let events = w.events();
        let watching = &events[0];
        assert_eq!(watching["event"], "watching", "{}", w.dump());
        assert_eq!(
            (watching["fabric"].as_str(), watching["mode"].as_str()),
            (Some("f"), Some("events"))
        );
        assert_eq!(watching["debounceMs"], 100);
        assert!(
            watching["raw"].as_str().unwrap().ends_with("raw")
                && watching["time"].as_str().unwrap().ends_with('Z')
        );
        let files: Vec<&Value> = events.iter().filter(|e| e["event"] == "file").collect();
        assert_eq!(files.len(), 3, "{}", w.dump());
        let vpc1 = files
            .iter()
            .find(|e| e["file"] == "raw/vpc-1.yaml")
            .unwrap();
        assert_eq!(vpc1["status"], "ingested");
        assert_eq!(vpc1["fabric"], "f");
        assert_eq!(vpc1["documents"], 1);
        assert_eq!(strings(&vpc1["created"]), ["VPC/vpc-1"]);
        assert_eq!(vpc1["archivedTo"], "raw/vpc-1.yaml.archived");
        assert_eq!(vpc1["errors"], serde_json::json!([]));
        let runs: Vec<&Value> = events.iter().filter(|e| e["event"] == "run").collect();
        assert_eq!(runs.len(), 1, "one startup run: {}", w.dump());
        assert_eq!(
            (
                runs[0]["files"].as_u64(),
                runs[0]["summary"]["created"].as_u64()
            ),
            (Some(3), Some(4))
        );
        assert!(runs[0]["durationMs"].is_u64());
        assert!(
            managed(&root, "vpcs/vpc-2.yaml").is_file()
                && root.join("raw/sub/vpc-2.yml.archived").is_file()
        );

        let (code, w) = w.terminate();
        assert_eq!(code, 0, "{}", w.dump());
        let last = w.events().pop().unwrap();
        assert_eq!(
            (last["event"].as_str(), last["reason"].as_str()),
            (Some("stopped"), Some("shutdown"))
        );
        assert_consistent(&env, "f", &root);
    }
}

#[test]
fn a_new_file_is_ingested_and_reported_as_one_line() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let mut w = Watch::start(&env, &["--fabric", "f"]);
    w.wait_until("the watching line", |w| {
        w.stdout().iter().any(|l| l.starts_with("watching f: "))
    });
    drop_file(&root, "raw/ns.yaml", NAMESPACES);
    w.wait_until("ns.yaml ingested", |w| {
        w.stdout()
            .iter()
            .any(|l| l == "raw/ns.yaml: ingested, +1 IPv4Namespace +1 VLANNamespace")
    });
    std::fs::write(
        root.join("raw/vpcs.yaml"),
        format!("{}---\n{}---\n{}", vpc("a", 1), vpc("b", 2), vpc("c", 3)),
    )
    .unwrap();
    w.wait_until("vpcs.yaml ingested", |w| {
        w.stdout()
            .iter()
            .any(|l| l == "raw/vpcs.yaml: ingested, +3 VPC")
    });
    assert!(managed(&root, "vpcs/c.yaml").is_file());
    let (code, w) = w.terminate();
    assert_eq!(code, 0, "{}", w.dump());
    assert!(
        w.stdout().last().unwrap().starts_with("stopped watching f"),
        "{}",
        w.dump()
    );
    assert_consistent(&env, "f", &root);
}

#[test]
fn a_file_written_in_pieces_is_ingested_once_and_complete() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    // Pauses (~100 ms) shorter than the debounce (1 s); every prefix is valid YAML on its own.
    let mut w = Watch::start(&env, &["--fabric", "f", "--json", "--debounce", "1s"]);
    wait_started(&mut w, "f");
    let mut full = String::new();
    for i in 1..=5 {
        let piece = format!(
            "{}{}",
            if i > 1 { "---\n" } else { "" },
            vpc(&format!("v{i}"), i)
        );
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("raw/vpcs.yaml"))
            .unwrap();
        f.write_all(piece.as_bytes()).unwrap();
        drop(f);
        full.push_str(&piece);
        std::thread::sleep(Duration::from_millis(100));
    }
    let ev = w.wait_file(None, "raw/vpcs.yaml");
    assert_eq!(ev["status"], "ingested", "{}", w.dump());
    assert_eq!(
        strings(&ev["created"]),
        ["VPC/v1", "VPC/v2", "VPC/v3", "VPC/v4", "VPC/v5"]
    );
    assert_eq!(
        std::fs::read_to_string(root.join("raw/vpcs.yaml.archived")).unwrap(),
        full
    );
    // A later file goes through a later run; the pieced file was taken once only.
    drop_file(&root, "raw/marker.yaml", &vpc("marker", 9));
    w.wait_file(None, "raw/marker.yaml");
    assert_eq!(w.file_events("raw/vpcs.yaml").len(), 1, "{}", w.dump());
    assert_consistent(&env, "f", &root);
}

#[test]
fn a_writer_holding_the_file_open_past_the_debounce_is_waited_for() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let mut w = Watch::start(&env, &["--fabric", "f", "--json", "--debounce", "100ms"]);
    wait_started(&mut w, "f");
    // One open file, pauses (400 ms) longer than the debounce: the open writer (close-write not seen yet) holds it.
    let mut f = std::fs::File::create(root.join("raw/slow.yaml")).unwrap();
    for i in 1..=3 {
        let piece = format!(
            "{}{}",
            if i > 1 { "---\n" } else { "" },
            vpc(&format!("s{i}"), i)
        );
        f.write_all(piece.as_bytes()).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert!(
            w.file_events("raw/slow.yaml").is_empty(),
            "taken while still open:\n{}",
            w.dump()
        );
    }
    drop(f);
    let ev = w.wait_file(None, "raw/slow.yaml");
    assert_eq!(
        strings(&ev["created"]),
        ["VPC/s1", "VPC/s2", "VPC/s3"],
        "{}",
        w.dump()
    );
}

#[test]
fn temp_files_then_rename_copies_and_moved_folders_are_taken_under_their_final_names() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let mut w = Watch::start(&env, &["--fabric", "f", "--json"]);
    wait_started(&mut w, "f");
    drop_file(&root, "raw/ns.yaml", NAMESPACES);
    w.wait_file(None, "raw/ns.yaml");
    // rsync: a dot-temp file written slowly, then renamed.
    let temp = root.join("raw/.vpc-r.yaml.Xy12Ab");
    let content = vpc("r", 1);
    let (a, b) = content.split_at(content.len() / 2);
    std::fs::write(&temp, a).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&temp)
        .unwrap()
        .write_all(b.as_bytes())
        .unwrap();
    std::fs::rename(&temp, root.join("raw/vpc-r.yaml")).unwrap();
    // An editor: backup and swap files beside the file it saves.
    std::fs::write(root.join("raw/vpc-e.yaml~"), "old").unwrap();
    std::fs::write(root.join("raw/.vpc-e.yaml.swp"), "swap").unwrap();
    drop_file(&root, "raw/vpc-e.yaml", &vpc("e", 2));
    // cp straight into raw/, and a folder moved in.
    let outside = env.path("outside");
    std::fs::create_dir_all(outside.join("batch")).unwrap();
    std::fs::write(outside.join("vpc-c.yaml"), vpc("c", 3)).unwrap();
    std::fs::copy(outside.join("vpc-c.yaml"), root.join("raw/vpc-c.yaml")).unwrap();
    std::fs::write(outside.join("batch/vpc-m.yaml"), vpc("m", 4)).unwrap();
    std::fs::rename(outside.join("batch"), root.join("raw/batch")).unwrap();
    for f in [
        "raw/vpc-r.yaml",
        "raw/vpc-e.yaml",
        "raw/vpc-c.yaml",
        "raw/batch/vpc-m.yaml",
    ] {
        let ev = w.wait_file(None, f);
        assert_eq!(ev["status"], "ingested", "{f}: {}", w.dump());
    }
    assert_eq!(
        std::fs::read_to_string(root.join("raw/vpc-r.yaml.archived")).unwrap(),
        content
    );
    let files: Vec<String> = w
        .events()
        .iter()
        .filter(|e| e["event"] == "file")
        .map(|e| e["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        files.len(),
        5,
        "each file once, temp files never: {files:?}"
    );
    assert!(
        root.join("raw/vpc-e.yaml~").exists() && root.join("raw/.vpc-e.yaml.swp").exists(),
        "temp files left alone"
    );
    assert_consistent(&env, "f", &root);
}

#[test]
fn a_rejected_file_is_not_retried_until_it_is_fixed() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let mut w = Watch::start(&env, &["--fabric", "f"]);
    w.wait_until("ns.yaml ingested", |w| {
        w.stdout()
            .iter()
            .any(|l| l.starts_with("raw/ns.yaml: ingested"))
    });
    let bad = vpc("v", 1).replace("vlan: 1001", "vlan: 5000");
    drop_file(&root, "raw/v.yaml", &bad);
    w.wait_until("v.yaml rejected", |w| {
        w.stdout()
            .iter()
            .any(|l| l.starts_with("raw/v.yaml: rejected, "))
    });
    w.wait_until("its errors on stderr", |w| {
        w.stderr()
            .iter()
            .any(|l| l.starts_with("raw/v.yaml:") && l.contains("vlan"))
    });
    assert_eq!(
        std::fs::read_to_string(root.join("raw/v.yaml")).unwrap(),
        bad,
        "a rejected file stays byte for byte"
    );
    // Other files come and go; the rejected one is left alone.
    drop_file(&root, "raw/other.yaml", &vpc("other", 2));
    w.wait_until("other.yaml ingested", |w| {
        w.stdout()
            .iter()
            .any(|l| l.starts_with("raw/other.yaml: ingested"))
    });
    assert_eq!(
        w.stdout()
            .iter()
            .filter(|l| l.starts_with("raw/v.yaml:"))
            .count(),
        1,
        "{}",
        w.dump()
    );
    // Fixed: taken again.
    drop_file(&root, "raw/v.yaml", &vpc("v", 1));
    w.wait_until("v.yaml ingested", |w| {
        w.stdout()
            .iter()
            .any(|l| l == "raw/v.yaml: ingested, +1 VPC")
    });
    assert!(managed(&root, "vpcs/v.yaml").is_file());
    assert_consistent(&env, "f", &root);
}

#[test]
fn with_all_fabrics_added_and_removed_meanwhile_are_picked_up_and_dropped() {
    // SQLite, and PostgreSQL when reachable.
    for backend in backends() {
        let env = TestEnv::new(backend);
        let a = fabric_at(&env, "a");
        let mut w = Watch::start(&env, &["--all", "--json"]);
        wait_started(&mut w, "a");
        let b = fabric_at(&env, "b");
        wait_started(&mut w, "b");
        drop_file(&b, "raw/ns.yaml", NAMESPACES);
        let ev = w.wait_file(Some("b"), "raw/ns.yaml");
        assert_eq!(ev["status"], "ingested");
        env.ok(&["fabric", "remove", "a"]);
        let ev = w.wait_event("a stopped", |e| {
            e["event"] == "stopped" && e["fabric"] == "a"
        });
        assert_eq!(ev["reason"], "removed from the registry");
        // Still watching b; a's files are no longer taken.
        drop_file(&a, "raw/ns.yaml", NAMESPACES);
        drop_file(&b, "raw/vpc.yaml", &vpc("v", 1));
        w.wait_file(Some("b"), "raw/vpc.yaml");
        assert!(a.join("raw/ns.yaml").is_file());
        assert!(
            w.events()
                .iter()
                .all(|e| !(e["event"] == "file" && e["fabric"] == "a")),
            "{}",
            w.dump()
        );
        let (code, w) = w.terminate();
        assert_eq!(code, 0, "{}", w.dump());
    }
}

#[test]
fn two_fabrics_are_watched_at_once() {
    let env = TestEnv::sqlite();
    let a = fabric_at(&env, "a");
    let b = fabric_at(&env, "b");
    let mut w = Watch::start(&env, &["--all"]);
    w.wait_until("both watched", |w| {
        let out = w.stdout();
        out.iter().any(|l| l.starts_with("watching a: "))
            && out.iter().any(|l| l.starts_with("watching b: "))
    });
    drop_file(&a, "raw/ns.yaml", NAMESPACES);
    drop_file(&b, "raw/ns.yaml", NAMESPACES);
    drop_file(&a, "raw/vpc.yaml", &vpc("va", 1));
    drop_file(&b, "raw/vpc.yaml", &vpc("vb", 2));
    w.wait_until("four files ingested", |w| {
        let out = w.stdout();
        [
            "a: raw/ns.yaml: ingested",
            "b: raw/ns.yaml: ingested",
            "a: raw/vpc.yaml: ingested",
            "b: raw/vpc.yaml: ingested",
        ]
        .iter()
        .all(|p| out.iter().any(|l| l.starts_with(p)))
    });
    assert!(managed(&a, "vpcs/va.yaml").is_file() && managed(&b, "vpcs/vb.yaml").is_file());
    assert!(!managed(&a, "vpcs/vb.yaml").exists());
    let (code, w) = w.terminate();
    assert_eq!(code, 0, "{}", w.dump());
    assert_consistent(&env, "a", &a);
    assert_consistent(&env, "b", &b);
}

#[test]
fn polling_mode_takes_new_and_renamed_files() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let mut w = Watch::start(&env, &["--fabric", "f", "--json", "--poll", "100ms"]);
    let ev = w.wait_event("watching", |e| e["event"] == "watching");
    assert_eq!(
        (ev["mode"].as_str(), ev["pollMs"].as_u64()),
        (Some("poll"), Some(100))
    );
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    assert_eq!(
        w.wait_file(None, "raw/ns.yaml")["status"],
        "ingested",
        "{}",
        w.dump()
    );
    drop_file(&root, "raw/sub/vpc.yaml", &vpc("v", 1));
    assert_eq!(
        w.wait_file(None, "raw/sub/vpc.yaml")["status"],
        "ingested",
        "{}",
        w.dump()
    );
    assert_consistent(&env, "f", &root);
}

#[test]
fn a_burst_of_files_is_ingested_in_few_runs() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let mut w = Watch::start(&env, &["--fabric", "f", "--json"]);
    wait_started(&mut w, "f");
    let staging = env.path("staging");
    std::fs::create_dir_all(&staging).unwrap();
    for i in 1..=20 {
        std::fs::write(staging.join(format!("b{i}.yaml")), vpc(&format!("b{i}"), i)).unwrap();
    }
    for i in 1..=20 {
        std::fs::rename(
            staging.join(format!("b{i}.yaml")),
            root.join(format!("raw/b{i}.yaml")),
        )
        .unwrap();
    }
    w.wait_until("20 files ingested", |w| {
        w.events()
            .iter()
            .filter(|e| e["event"] == "file" && e["status"] == "ingested")
            .count()
            == 21
    });
    let runs = w
        .events()
        .iter()
        .filter(|e| e["event"] == "run" && e["startup"] == false)
        .count();
    assert!(runs <= 3, "{runs} runs for one burst:\n{}", w.dump());
    assert_consistent(&env, "f", &root);
}

#[test]
fn raw_deleted_and_recreated_is_watched_again() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let mut w = Watch::start(&env, &["--fabric", "f", "--json"]);
    wait_started(&mut w, "f");
    std::fs::remove_dir_all(root.join("raw")).unwrap();
    let ev = w.wait_event("raw/ missing", |e| e["event"] == "error");
    assert!(
        ev["message"].as_str().unwrap().contains("is missing"),
        "{ev}"
    );
    std::fs::create_dir(root.join("raw")).unwrap();
    w.wait_until("watching again", |w| {
        w.events()
            .iter()
            .filter(|e| e["event"] == "watching")
            .count()
            == 2
    });
    drop_file(&root, "raw/ns.yaml", NAMESPACES);
    assert_eq!(
        w.wait_file(None, "raw/ns.yaml")["status"],
        "ingested",
        "{}",
        w.dump()
    );
}

#[test]
fn sigterm_stops_cleanly_and_leaves_no_partial_state() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let mut w = Watch::start(&env, &["--fabric", "f", "--json", "--debounce", "20ms"]);
    wait_started(&mut w, "f");
    // A stream of files, so that runs are going on when the signal comes.
    for i in 1..=40 {
        drop_file(&root, &format!("raw/t{i}.yaml"), &vpc(&format!("t{i}"), i));
        if i == 10 {
            w.wait_event("a run with stream files", |e| {
                e["event"] == "run" && e["startup"] == false
            });
        }
        if i == 15 {
            w.signal("TERM");
        }
    }
    let (code, w) = w.wait_exit();
    assert_eq!(code, 0, "{}", w.dump());
    let events = w.events();
    assert_eq!(events.last().unwrap()["event"], "stopped", "{}", w.dump());
    assert_consistent(&env, "f", &root);
    // Every file is either untouched in raw/ or fully ingested (archived, its object managed).
    let inventory = manifest_inventory(&root);
    for i in 1..=40 {
        let raw = root.join(format!("raw/t{i}.yaml"));
        let archived = root.join(format!("raw/t{i}.yaml.archived"));
        let listed = inventory.iter().any(|e| e["name"] == format!("t{i}"));
        assert!(
            raw.is_file() != archived.is_file(),
            "t{i}: exactly one of raw and archive"
        );
        assert_eq!(
            archived.is_file(),
            listed,
            "t{i}: archived exactly when managed"
        );
    }
    // The next run takes the rest.
    env.ok(&["ingest", "--fabric", "f"]);
    assert_eq!(manifest_inventory(&root).len(), 42);
    assert_consistent(&env, "f", &root);
}

#[test]
fn usage_errors() {
    let env = TestEnv::sqlite();
    fabric_at(&env, "f");
    let out = env.expect_code(&["ingest", "--fabric", "nope", "--watch"], 2);
    assert!(stderr(&out).contains("not registered"), "{}", stderr(&out));
    let out = env.expect_code(&["ingest", "--fabric", "f", "--watch", "--poll", "5ms"], 2);
    assert!(stderr(&out).contains("at least 10ms"), "{}", stderr(&out));
    let out = env.expect_code(
        &["ingest", "--fabric", "f", "--watch", "--debounce", "soon"],
        2,
    );
    assert!(stderr(&out).contains("--debounce"), "{}", stderr(&out));
    env.expect_code(&["ingest", "--fabric", "f", "--poll", "1s"], 2);
}

#[test]
fn each_run_of_a_fabric_in_git_is_one_commit_and_push() {
    let env = TestEnv::sqlite();
    let remote = env.path("r.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "-q", "--bare", "-b", "main"]);
    let url = format!("file://{}", remote.display());
    env.ok(&["fabric", "add", "f", "--git-url", &url]);
    let show = json(&env.expect_code(&["fabric", "show", "f", "--json"], 0));
    let root = PathBuf::from(show["root"].as_str().unwrap());
    let mut w = Watch::start(&env, &["--fabric", "f", "--json"]);
    wait_started(&mut w, "f");
    drop_file(
        &root,
        "raw/vpc.yaml",
        &format!("{NAMESPACES}---\n{}", vpc("v", 1)),
    );
    w.wait_file(None, "raw/vpc.yaml");
    let run = w.wait_event("the run with a commit", |e| {
        e["event"] == "run" && e["git"]["commit"].is_string()
    });
    assert_eq!(run["git"]["pushed"], true, "{run}");
    let log = git(&remote, &["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines().next(),
        Some("ingest raw/vpc.yaml: +1 VLANNamespace, +1 IPv4Namespace, +1 VPC"),
        "{log}"
    );
    let (code, w) = w.terminate();
    assert_eq!(code, 0, "{}", w.dump());
}
