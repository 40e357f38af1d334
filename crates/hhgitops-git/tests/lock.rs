//! CloneLock: one operation per clone, across threads and across processes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use hhgitops_git::{clone, CloneLock, Credentials, GitError, LOCK_FILE_NAME};

fn clone_fixture() -> (tempfile::TempDir, hhgitops_git::GitRepo) {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "r.git");
    seed(&bare, "main", &[("a", "1\n")], "seed");
    let repo = clone(
        bare.to_str().unwrap(),
        None,
        &tmp.path().join("c"),
        &Credentials::Default,
    )
    .unwrap();
    (tmp, repo)
}

#[test]
fn threads_take_turns_and_a_waiter_learns_who_holds_the_lock() {
    let (_tmp, repo) = clone_fixture();
    let lock = CloneLock::acquire(&repo, "ingest fabric dc1", Duration::from_secs(1)).unwrap();
    assert_eq!(lock.path(), repo.git_dir().join(LOCK_FILE_NAME));

    let r2 = repo.clone();
    let err = thread::spawn(move || {
        CloneLock::acquire(&r2, "sync fabric dc2", Duration::from_millis(150)).unwrap_err()
    })
    .join()
    .unwrap();
    match &err {
        GitError::LockTimeout {
            holder: Some(holder),
            ..
        } => {
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
            assert!(holder.contains("ingest fabric dc1"), "{holder}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("held by pid"), "{err}");

    // A waiter with a longer timeout gets the lock as soon as it is released.
    let (tx, rx) = mpsc::channel();
    let r3 = repo.clone();
    let waiter = thread::spawn(move || {
        tx.send(()).unwrap();
        let started = Instant::now();
        let lock = CloneLock::acquire(&r3, "second", Duration::from_secs(10)).unwrap();
        (started.elapsed(), lock)
    });
    rx.recv().unwrap();
    thread::sleep(Duration::from_millis(200));
    drop(lock);
    let (waited, _lock) = waiter.join().unwrap();
    assert!(waited >= Duration::from_millis(150), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[test]
fn operations_under_the_lock_never_interleave() {
    let (_tmp, repo) = clone_fixture();
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let repo = repo.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                for _ in 0..3 {
                    let _lock =
                        CloneLock::acquire(&repo, &format!("worker {i}"), Duration::from_secs(30))
                            .unwrap();
                    tx.send((i, "start")).unwrap();
                    thread::sleep(Duration::from_millis(5));
                    tx.send((i, "end")).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for w in workers {
        w.join().unwrap();
    }
    let events: Vec<_> = rx.iter().collect();
    assert_eq!(events.len(), 24);
    for pair in events.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0, "interleaved: {events:?}");
        assert_eq!((pair[0].1, pair[1].1), ("start", "end"));
    }
}

/// Runs as the child process of `another_process_holding_the_lock_blocks_us`; does nothing otherwise.
#[test]
fn lock_holder_child_process() {
    let (Some(lock_path), Some(dir)) = (
        std::env::var_os("HHGITOPS_TEST_LOCK_FILE"),
        std::env::var_os("HHGITOPS_TEST_SIGNAL_DIR"),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _lock = CloneLock::acquire_file(
        Path::new(&lock_path),
        "child process",
        Duration::from_secs(10),
    )
    .unwrap();
    std::fs::write(dir.join("locked"), std::process::id().to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("release").exists() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn another_process_holding_the_lock_blocks_us() {
    let (_tmp, repo) = clone_fixture();
    let signals = tempfile::tempdir().unwrap();
    let lock_file = repo.git_dir().join(LOCK_FILE_NAME);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HHGITOPS_TEST_LOCK_FILE", &lock_file)
        .env("HHGITOPS_TEST_SIGNAL_DIR", signals.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !signals.path().join("locked").exists() {
        assert!(Instant::now() < deadline, "child never took the lock");
        thread::sleep(Duration::from_millis(10));
    }
    let child_pid = std::fs::read_to_string(signals.path().join("locked")).unwrap();

    let err = CloneLock::acquire(&repo, "parent", Duration::from_millis(200)).unwrap_err();
    match &err {
        GitError::LockTimeout {
            holder: Some(holder),
            ..
        } => {
            assert!(
                holder.contains(&format!("pid {child_pid} ")) && holder.contains("child process"),
                "{holder}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(CloneLock::try_acquire_file(&lock_file, "parent")
        .unwrap()
        .is_none());

    std::fs::write(signals.path().join("release"), "").unwrap();
    let lock = CloneLock::acquire(&repo, "parent", Duration::from_secs(30)).unwrap();
    assert!(child.wait().unwrap().success());
    drop(lock);
    // Released: anyone can take it again.
    assert!(CloneLock::try_acquire_file(&lock_file, "again")
        .unwrap()
        .is_some());
}
