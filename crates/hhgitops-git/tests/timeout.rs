//! Every command has a timeout; on expiry git and everything it started are killed.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use hhgitops_git::{Credentials, Git, GitError, Timeouts};

#[test]
fn a_remote_that_never_answers_times_out_and_leaves_no_clone() {
    // A loopback server that accepts connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let git = Git::new()
        .with_env("NO_PROXY", "127.0.0.1")
        .with_env("no_proxy", "127.0.0.1")
        .with_timeouts(Timeouts {
            local: Duration::from_secs(30),
            network: Duration::from_secs(1),
        });
    let started = Instant::now();
    let err = git
        .clone_repo(
            &format!("http://127.0.0.1:{port}/x.git"),
            Some("main"),
            &tmp.path().join("c"),
            &Credentials::Default,
        )
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, GitError::Timeout { command, .. } if command == "clone"),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(
        err.to_string().contains("did not finish within 1s"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no partial clone left behind"
    );
}

#[test]
fn the_whole_process_group_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("helper.pid");
    // A credential helper (a grandchild of ours) that hangs: it must die with git.
    let helper = format!(
        "!f() {{ echo $$ > '{}'; exec sleep 60; }}; f",
        pid_file.display()
    );
    let started = Instant::now();
    let err = Git::new()
        .command(tmp.path())
        .config("credential.helper", helper)
        .args(["credential", "fill"])
        .stdin("protocol=https\nhost=example.invalid\n\n")
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert!(
        matches!(&err, GitError::Timeout { command, .. } if command == "credential"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if !process_alive(&pid) {
            break;
        }
        assert!(Instant::now() < deadline, "helper {pid} still running");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Running (a zombie waiting for its reaper counts as dead).
fn process_alive(pid: &str) -> bool {
    let mut stat = String::new();
    match std::fs::File::open(Path::new("/proc").join(pid).join("stat")) {
        Ok(mut f) => {
            let _ = f.read_to_string(&mut stat);
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}
