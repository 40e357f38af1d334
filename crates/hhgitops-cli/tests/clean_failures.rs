//! Clean failures with the real binary: a closed stdout, a damaged database, colours only on a terminal, names
//! escaped when printed, YAML that is refused with its position (unsupported versions, unknown tags, undefined
//! aliases, UTF-16), exit codes as SPEC §7 says, and a Git hook's own rejection message.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// `… --json | head -c 100`: the reader is gone before hhgitops writes; it ends quietly, without a panic.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let env = TestEnv::sqlite();
    fabric_at(&env, "f");
    for args in [
        &["status", "--fabric", "f", "--json"][..],
        &["fabric", "list"][..],
    ] {
        let mut child = env
            .std_cmd()
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Close the reading end at once, before the command prints anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = stderr(&out);
        assert_ne!(code(&out), 101, "{args:?} panicked: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert_eq!(
            code(&out),
            141,
            "{args:?} ends as SIGPIPE would end it: {err}"
        );
    }
    // Through a real `head -c 100` as well.
    let bin = assert_cmd::cargo::cargo_bin("hhgitops");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} status --fabric f --json | head -c 10 >/dev/null; exit 0",
            bin.display()
        ))
        .env("HHGITOPS_HOME", env.home())
        .env_remove("HHGITOPS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

fn db_path(env: &TestEnv) -> std::path::PathBuf {
    env.home().join("hhgitops.db")
}

/// A file that is not a database: one plain line at once (no pool wait, no log lines), with what to do.
#[test]
fn a_sqlite_file_that_is_not_a_database_is_reported_at_once_with_what_to_do() {
    let env = TestEnv::sqlite();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(db_path(&env), "this is not a database at all\n".repeat(200)).unwrap();
    for args in [&["fabric", "list"][..], &["reindex", "--fabric", "f"][..]] {
        let out = env
            .cmd()
            .args(args)
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        assert_eq!(code(&out), 3, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line, no log lines: {err}");
        assert!(!err.contains('\u{1b}'), "plain text: {err:?}");
        assert!(!err.contains("pool timed out"), "{err}");
        assert!(err.contains("is damaged"), "{err}");
        let db = db_path(&env).display().to_string();
        assert!(
            err.contains(&format!("mv {db} {db}.damaged")) && err.contains("fabric add"),
            "says how to recreate it: {err}"
        );
    }
}

/// Damaged pages in a real database: every command, `reindex` included, says what is wrong and what to do.
#[test]
fn a_database_with_damaged_pages_is_reported_with_what_to_do() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(
        root.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    // Fold the write-ahead log into the file, then overwrite every page after the first (the schema).
    checkpoint(&db_path(&env));
    let mut bytes = std::fs::read(db_path(&env)).unwrap();
    assert!(bytes.len() > 8192, "a database of several pages");
    for b in bytes.iter_mut().skip(4096) {
        *b = 0x5A;
    }
    std::fs::write(db_path(&env), &bytes).unwrap();
    for args in [
        &["status", "--fabric", "f"][..],
        &["reindex", "--fabric", "f"][..],
    ] {
        let out = env.run(args);
        let err = stderr(&out);
        assert_eq!(code(&out), 3, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("is damaged"), "{args:?}: {err}");
        let db = db_path(&env).display().to_string();
        assert!(
            err.contains(&format!("mv {db} {db}.damaged")) && err.contains("fabric add"),
            "names the file: {err}"
        );
    }
}

fn checkpoint(db: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    });
}

/// Log lines carry colours only on a terminal: piped, they are plain even without NO_COLOR.
#[test]
fn log_lines_are_plain_when_stderr_is_not_a_terminal() {
    let env = TestEnv::sqlite();
    fabric_at(&env, "f");
    let out = env
        .cmd()
        .env_remove("NO_COLOR")
        .env("HHGITOPS_LOG", "debug")
        .args(["status", "--fabric", "f"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.trim().is_empty(), "debug logging printed something");
    assert!(!err.contains('\u{1b}'), "no escape sequences: {err:?}");
}

/// Control characters in a file name and in a value quoted by an error are printed escaped, never raw.
#[test]
fn names_with_control_characters_are_printed_escaped() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let evil = "\u{1b}]0;owned\u{7}\u{1b}[2J.yaml";
    std::fs::write(
        root.join("raw").join(evil),
        "apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: \"bad\\e[31mname\"\nspec: {}\n",
    )
    .unwrap();
    let out = env.expect_code(&["ingest", "--fabric", "f"], 1);
    for (what, text) in [("stdout", stdout(&out)), ("stderr", stderr(&out))] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{what}: {text:?}"
        );
    }
    assert!(
        stdout(&out).contains("raw/\\u{1b}]0;owned\\u{7}\\u{1b}[2J.yaml: rejected"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("\\u{1b}[31m"), "{}", stderr(&out));
    let st = env.expect_code(&["status", "--fabric", "f"], 0);
    assert!(!stdout(&st).contains('\u{1b}'), "{:?}", stdout(&st));
    // JSON keeps the exact name (serde escapes it).
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(st["rejected"][0]["file"], format!("raw/{evil}"));
}

fn validate_error(env: &TestEnv, name: &str, bytes: &[u8]) -> serde_json::Value {
    let p = env.path(name);
    std::fs::write(&p, bytes).unwrap();
    let r = json(&env.expect_code(&["validate", "--json", p.to_str().unwrap()], 1));
    r["files"][0]["errors"][0].clone()
}

#[test]
fn unsupported_yaml_versions_are_rejected_with_their_position() {
    let env = TestEnv::sqlite();
    let e = validate_error(
        &env,
        "v.yaml",
        format!("# a comment\n%YAML 9.9\n---\n{}", vpc("vpc-1", 1)).as_bytes(),
    );
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(2), Some(1)),
        "{e}"
    );
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("unsupported YAML version") && m.contains("9.9"),
        "{m}"
    );
    // 1.1 and 1.2 are read; a `%YAML` line inside a document is content, not a directive.
    for ok in [
        format!("%YAML 1.2\n---\n{NAMESPACES}"),
        format!("%YAML 1.1\n---\n{NAMESPACES}"),
    ] {
        let p = env.path("ok.yaml");
        std::fs::write(&p, ok).unwrap();
        env.expect_code(&["validate", p.to_str().unwrap()], 0);
    }
}

#[test]
fn unknown_tags_on_scalars_are_rejected_with_their_position() {
    let env = TestEnv::sqlite();
    let text = vpc("vpc-1", 1).replace("name: vpc-1", "name: !!python/object:x vpc-1");
    let e = validate_error(&env, "t.yaml", text.as_bytes());
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(4), Some(9)),
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("unknown tag `!!python/object:x`"),
        "{e}"
    );
    let text = vpc("vpc-1", 1).replace("vlan: 1001", "vlan: !custom 1001");
    let e = validate_error(&env, "t2.yaml", text.as_bytes());
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("unknown tag `!custom`"),
        "{e}"
    );
    // The standard tags still work.
    let p = env.path("std.yaml");
    std::fs::write(
        &p,
        format!(
            "{NAMESPACES}---\n{}",
            vpc("vpc-1", 1).replace("vlan: 1001", "vlan: !!int 1001")
        ),
    )
    .unwrap();
    env.expect_code(&["validate", p.to_str().unwrap()], 0);
}

#[test]
fn an_undefined_alias_is_named() {
    let env = TestEnv::sqlite();
    let text = vpc("vpc-1", 1).replace("subnet: 10.0.1.0/24", "subnet: *nothere");
    let e = validate_error(&env, "a.yaml", text.as_bytes());
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("*nothere"), "{m}");
    assert_eq!(e["line"].as_u64(), Some(8), "{e}");
}

#[test]
fn utf16_input_is_named_as_such() {
    let env = TestEnv::sqlite();
    let text = vpc("vpc-1", 1);
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let e = validate_error(&env, "le.yaml", &le);
    assert!(e["message"].as_str().unwrap().contains("UTF-16LE"), "{e}");
    let be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let e = validate_error(&env, "be.yaml", &be);
    assert!(e["message"].as_str().unwrap().contains("UTF-16BE"), "{e}");
}

#[test]
fn exit_codes_follow_spec_section_7() {
    let env = TestEnv::sqlite();
    fabric_at(&env, "f");
    // A file that does not exist is the operator's mistake, as for `validate`.
    env.expect_code(&["validate", "/nonexistent/x.yaml"], 2);
    let out = env.expect_code(
        &["ingest", "--fabric", "f", "--file", "/nonexistent/x.yaml"],
        2,
    );
    assert!(
        stderr(&out).contains("/nonexistent/x.yaml"),
        "{}",
        stderr(&out)
    );
    // A password in a Git URL is a configuration error, and never shown.
    let out = env.expect_code(
        &[
            "fabric",
            "add",
            "g",
            "--git-url",
            "https://someone:s3cret@git.example.invalid/r.git",
        ],
        2,
    );
    let err = stderr(&out);
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

/// A pre-receive hook that refuses the push: its own words reach the operator.
#[test]
fn a_pre_receive_hook_message_is_shown() {
    let env = TestEnv::sqlite();
    let remote = env.path("r.git");
    std::fs::create_dir_all(&remote).unwrap();
    let st = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .current_dir(&remote)
        .status()
        .unwrap();
    assert!(st.success());
    let url = format!("file://{}", remote.display());
    env.ok(&["fabric", "add", "f", "--git-url", &url]);
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'policy: changes to fabric f need a ticket (FAB-1234)' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let show = json(&env.expect_code(&["fabric", "show", "f", "--json"], 0));
    let root = std::path::PathBuf::from(show["root"].as_str().unwrap());
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    let out = env.expect_code(&["ingest", "--fabric", "f"], 3);
    let err = stderr(&out);
    assert!(
        err.contains("policy: changes to fabric f need a ticket (FAB-1234)"),
        "the hook's message: {err}"
    );
}
