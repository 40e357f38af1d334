//! Cancellation safety of the engine, called in-process as a server calls it: ingest, import and sync futures
//! dropped (or their token cancelled) at many points — waiting for the lock, reading, staging, at the commit
//! point, applying the journal, updating the database — never free the fabric lock while the work still
//! writes, and the next run finds a whole state. The work is paused at each point by the engine's test hook,
//! the caller's future is dropped there, the lock is checked busy, then the work is let go.

mod common;
mod kube_support;

use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use hhgitops_engine::fabric::Fabric;
use hhgitops_engine::ingest::IngestOptions;
use hhgitops_engine::lock::lock_fabric;
use hhgitops_engine::txn::Failpoint;
use hhgitops_engine::{Engine, Error};

/// A test hook that stops the work at one named point until released.
struct Pause {
    reached: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn pausing_at(point: &str) -> (Failpoint, Pause) {
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let point = point.to_string();
    let fp = Failpoint::calling(move |name| {
        if name == point {
            let _ = reached_tx.send(());
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60));
        }
    });
    (fp, Pause { reached, release })
}

impl Pause {
    async fn wait_reached(&self, what: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match self.reached.try_recv() {
                Ok(()) => return,
                Err(mpsc::TryRecvError::Empty) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("{what}: the work never reached its pause point ({e})"),
            }
        }
    }
}

async fn open_engine(env: &TestEnv) -> Engine {
    let home = hhgitops_engine::home::Home::from_dir(env.home()).unwrap();
    let url = match &env.backend {
        Backend::Sqlite => None,
        Backend::Postgres(u) => Some(u.clone()),
    };
    Engine::open(home, url.as_deref()).await.unwrap()
}

/// The lock is held by someone: a short wait for it times out as busy.
async fn assert_busy(engine: &Engine, fabric: &Fabric, what: &str) {
    match lock_fabric(engine, fabric, Duration::from_millis(150)).await {
        Err(e) => assert!(e.to_string().contains("busy"), "{what}: {e}"),
        Ok(_) => panic!("{what}: the lock was free while the work was still running"),
    }
}

/// Waits until the work lets the lock go.
async fn wait_free(engine: &Engine, fabric: &Fabric, what: &str) {
    lock_fabric(engine, fabric, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{what}: the lock was never released: {e}"));
}

fn managed(root: &Path) -> Vec<String> {
    tree(&root.join("managed"))
        .into_iter()
        .filter(|f| f.ends_with(".yaml"))
        .collect()
}

fn two_vpcs() -> String {
    format!(
        "{NAMESPACES}---\n{}---\n{}",
        vpc("vpc-1", 1),
        vpc("vpc-2", 2)
    )
}

/// Points before the commit point: a dropped caller cancels the run there and nothing is written. From the
/// commit point on the run finishes whatever happens to its caller.
const BEFORE_COMMIT: &[&str] = &["ingest-locked", "ingest-before-commit"];

fn ingest_points() -> Vec<String> {
    let mut p: Vec<String> = BEFORE_COMMIT.iter().map(|s| s.to_string()).collect();
    p.extend(["txn-staged".into(), "txn-committed".into()]);
    // 4 managed files + archive + raw removal + manifest + log = 8 steps.
    p.extend((1..=8).map(|i| format!("txn-step-{i}")));
    p.push("ingest-before-db".into());
    p
}

/// The engine runs on the multi-threaded runtime, as in the binary and the server. Test environments (whose
/// PostgreSQL schema is dropped with a runtime of its own) are made and dropped outside it.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_dropped_ingest_keeps_the_lock_until_its_writer_is_done() {
    for point in ingest_points() {
        // A fresh PostgreSQL schema each time (an environment drops its schema with it).
        for backend in backends() {
            let env = TestEnv::new(backend);
            runtime().block_on(dropped_ingest_at(&env, &point));
        }
    }
}

async fn dropped_ingest_at(env: &TestEnv, point: &str) {
    let what = format!("{} {point}", env.backend.label());
    let root = fabric_at(env, "f");
    std::fs::write(root.join("raw/a.yaml"), two_vpcs()).unwrap();
    let engine = open_engine(env).await;
    let fabric = engine.fabric("f").await.unwrap();
    let (failpoint, pause) = pausing_at(point);
    let opts = IngestOptions {
        failpoint,
        ..IngestOptions::default()
    };
    let task = {
        let (engine, fabric) = (engine.clone(), fabric.clone());
        tokio::spawn(async move { hhgitops_engine::ingest::ingest(&engine, &fabric, &opts).await })
    };
    pause.wait_reached(&what).await;
    // The caller goes away while the work is paused.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled(), "{what}");
    assert_busy(&engine, &fabric, &what).await;
    pause.release.send(()).unwrap();
    wait_free(&engine, &fabric, &what).await;

    if BEFORE_COMMIT.contains(&point) {
        assert!(managed(&root).is_empty(), "{what}: nothing written");
        assert_eq!(
            std::fs::read_to_string(root.join("raw/a.yaml")).unwrap(),
            two_vpcs(),
            "{what}: the raw file is untouched"
        );
    } else {
        assert_eq!(managed(&root).len(), 4, "{what}: the whole file is in");
        assert!(
            !root.join("raw/a.yaml").exists(),
            "{what}: raw file archived"
        );
    }
    // Whole as it is, and the next run (under the lock) finishes what was left.
    assert_consistent(env, "f", &root);
    let next = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(next["recovery"]["discarded"], 0, "{what}: {next}");
    assert_eq!(managed(&root).len(), 4, "{what}: ingested by the next run");
    assert_consistent(env, "f", &root);
    let runs = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert!(
        runs["lastRuns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] != "running"),
        "{what}: no run left running: {runs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_dropped_while_waiting_for_the_lock_never_runs() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/a.yaml"), two_vpcs()).unwrap();
    let engine = open_engine(&env).await;
    let fabric = engine.fabric("f").await.unwrap();
    let held = lock_fabric(&engine, &fabric, Duration::from_secs(1))
        .await
        .unwrap();
    let opts = IngestOptions::default();
    let fut = hhgitops_engine::ingest::ingest(&engine, &fabric, &opts);
    // The caller gives up while the run waits for the lock.
    assert!(tokio::time::timeout(Duration::from_millis(300), fut)
        .await
        .is_err());
    drop(held);
    // The abandoned run does not take the lock later and ingest behind the caller's back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_free(&engine, &fabric, "after the wait").await;
    assert!(managed(&root).is_empty());
    assert!(root.join("raw/a.yaml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_token_stops_ingest_at_a_safe_point_and_says_so() {
    for point in BEFORE_COMMIT {
        let env = TestEnv::sqlite();
        let root = fabric_at(&env, "f");
        std::fs::write(root.join("raw/a.yaml"), two_vpcs()).unwrap();
        let engine = open_engine(&env).await;
        let fabric = engine.fabric("f").await.unwrap();
        let (failpoint, pause) = pausing_at(point);
        let opts = IngestOptions {
            failpoint,
            ..IngestOptions::default()
        };
        let cancel = opts.cancel.clone();
        let task = {
            let (engine, fabric) = (engine.clone(), fabric.clone());
            tokio::spawn(
                async move { hhgitops_engine::ingest::ingest(&engine, &fabric, &opts).await },
            )
        };
        pause.wait_reached(point).await;
        cancel.cancel();
        pause.release.send(()).unwrap();
        let err = task.await.unwrap().unwrap_err();
        assert!(matches!(err, Error::Cancelled(_)), "{point}: {err}");
        assert!(
            err.to_string().contains("before anything was written"),
            "{err}"
        );
        assert!(managed(&root).is_empty(), "{point}");
        assert!(root.join("raw/a.yaml").exists(), "{point}");
        let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
        assert_eq!(st["lastRuns"][0]["outcome"], "cancelled", "{point}: {st}");
        assert_consistent(&env, "f", &root);
    }
}

/// A sync's ingestion dropped mid-write (the sync future dropped): same guarantee, through `sync_fabric`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_sync_keeps_the_lock_until_its_writer_is_done() {
    for point in ["ingest-locked", "txn-step-3", "ingest-before-db"] {
        let env = TestEnv::sqlite();
        let root = fabric_at(&env, "f");
        std::fs::write(root.join("raw/a.yaml"), two_vpcs()).unwrap();
        let engine = open_engine(&env).await;
        let fabric = engine.fabric("f").await.unwrap();
        let (failpoint, pause) = pausing_at(point);
        let opts = hhgitops_engine::sync::SyncOptions {
            ingest: IngestOptions {
                failpoint,
                ..IngestOptions::default()
            },
            prune: false,
            adopt: false,
            client: Default::default(),
            progress: Default::default(),
        };
        let task = {
            let (engine, fabric) = (engine.clone(), fabric.clone());
            tokio::spawn(async move {
                hhgitops_engine::sync::sync_fabric(&engine, &fabric, &opts).await
            })
        };
        pause.wait_reached(point).await;
        task.abort();
        let _ = task.await;
        assert_busy(&engine, &fabric, point).await;
        pause.release.send(()).unwrap();
        wait_free(&engine, &fabric, point).await;
        assert_consistent(&env, "f", &root);
        env.expect_code(&["sync", "--fabric", "f"], 0);
        assert_eq!(managed(&root).len(), 4, "{point}");
        assert_consistent(&env, "f", &root);
    }
}

/// Import dropped at its points (cluster read, staging, commit point, journal steps): the lock stays with the
/// writer, and the tree holds all of the import or none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_import_keeps_the_lock_until_its_writer_is_done() {
    let Some(k) = kube_support::start() else {
        return;
    };
    // Objects in the cluster that no fabric owns yet, as a running fabric has them.
    for doc in [vpc("vpc-1", 1), vpc("vpc-2", 2)] {
        let v: serde_json::Value =
            hhgitops_core::yaml::parse_stream(doc.as_bytes(), &Default::default())
                .unwrap()
                .into_iter()
                .find_map(|d| d.root)
                .unwrap()
                .to_json();
        let mut v = v;
        v["metadata"]["namespace"] = "default".into();
        k.server.create(v, "kubectl").unwrap();
    }
    let mut n = 0;
    for point in [
        "import-locked",
        "import-before-commit",
        "txn-committed",
        "txn-step-1",
    ] {
        n += 1;
        let name = format!("g{n}");
        let root = k.fabric(&name);
        std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
        k.run(&["ingest", "--fabric", &name], 0);
        let engine = open_engine(&k.env).await;
        let fabric = engine.fabric(&name).await.unwrap();
        let (failpoint, pause) = pausing_at(point);
        let opts = hhgitops_engine::sync::ImportOptions {
            client: Default::default(),
            lock_timeout: Duration::from_secs(5),
            failpoint,
            cancel: Default::default(),
            progress: Default::default(),
        };
        let task = {
            let (engine, fabric) = (engine.clone(), fabric.clone());
            tokio::spawn(async move {
                hhgitops_engine::sync::import_from_cluster(&engine, &fabric, &opts).await
            })
        };
        pause.wait_reached(point).await;
        task.abort();
        let _ = task.await;
        assert_busy(&engine, &fabric, point).await;
        pause.release.send(()).unwrap();
        wait_free(&engine, &fabric, point).await;
        let vpcs = |root: &Path| {
            managed(root)
                .into_iter()
                .filter(|f| f.starts_with("vpcs/"))
                .count()
        };
        if point.starts_with("import-") {
            assert_eq!(vpcs(&root), 0, "{point}: nothing imported");
        } else {
            assert_eq!(vpcs(&root), 2, "{point}: the whole import is in");
        }
        assert_consistent(&k.env, &name, &root);
        k.run(&["import", "--fabric", &name, "--from-cluster"], 0);
        assert_eq!(vpcs(&root), 2, "{point}: imported by the next run");
        assert_consistent(&k.env, &name, &root);
    }
}
