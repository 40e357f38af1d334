//! `Credentials::TokenEnv`: the token reaches the server through the credential helper and nowhere else.
//!
//! No network is used: an HTTP server on 127.0.0.1 in this process puts Basic authentication in front of
//! `git http-backend` (the CGI program git ships for smart HTTP), so clone, fetch and push really run over HTTP
//! with the token, and a wrong or missing token really fails authentication.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use hhgitops_git::{
    Author, CommitOutcome, Credentials, Git, GitError, PushOutcome, TOKEN_USERNAME,
};

const VAR: &str = "HHGITOPS_TEST_GIT_TOKEN";
const TOKEN: &str = "tok_9f8e7d6c5b4a-secret-value";

/// Smart HTTP on loopback: requests without `Authorization: Basic <expected>` get 401; the others are served by
/// `git http-backend` from `root`. Every Authorization header received is recorded.
struct GitHttpServer {
    port: u16,
    seen_authorization: Arc<Mutex<Vec<String>>>,
}

impl GitHttpServer {
    fn start(root: &Path, user: &str, password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let root = root.to_path_buf();
        let seen_in_server = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, expected, seen) =
                    (root.clone(), expected.clone(), seen_in_server.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &root, &expected, &seen);
                });
            }
        });
        GitHttpServer {
            port,
            seen_authorization: seen,
        }
    }

    fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

fn serve(
    stream: TcpStream,
    root: &Path,
    expected: &str,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    let authorization = headers.get("authorization").cloned();
    if let Some(a) = &authorization {
        seen.lock().unwrap().push(a.clone());
    }
    if authorization.as_deref() != Some(expected) {
        let response = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\
                        Connection: close\r\n\r\n";
        return stream.write_all(response.as_bytes());
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env(
            "CONTENT_TYPE",
            headers.get("content-type").cloned().unwrap_or_default(),
        )
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            headers.get("content-encoding").cloned().unwrap_or_default(),
        )
        .env(
            "GIT_PROTOCOL",
            headers.get("git-protocol").cloned().unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = cgi.stdin.take().unwrap();
    let writer = thread::spawn(move || stdin.write_all(&body));
    let mut output = Vec::new();
    cgi.stdout.take().unwrap().read_to_end(&mut output)?;
    let _ = writer.join();
    cgi.wait()?;
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4));
    let split = split.or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let (head_len, sep) = split.unwrap_or((0, 0));
    let cgi_headers = String::from_utf8_lossy(&output[..head_len]).into_owned();
    let cgi_body = &output[head_len + sep..];
    let mut status = "200 OK".to_owned();
    let mut response = String::new();
    for line in cgi_headers.lines() {
        match line.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_owned(),
            Some(_) => response.push_str(&format!("{line}\r\n")),
            None => {}
        }
    }
    let head = format!(
        "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
        cgi_body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(cgi_body)
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The operator's environment at its most dangerous: a global `credential.helper=store` that would write any
/// password it is handed to a plain file.
struct Hostile {
    global_config: PathBuf,
    store: PathBuf,
    trace: PathBuf,
}

fn hostile(dir: &Path) -> Hostile {
    let store = dir.join("git-credentials");
    let global_config = dir.join("gitconfig");
    fs::write(
        &global_config,
        format!(
            "[credential]\n\thelper = store --file={}\n",
            store.display()
        ),
    )
    .unwrap();
    Hostile {
        global_config,
        store,
        trace: dir.join("trace.log"),
    }
}

fn client(h: &Hostile, token: &str) -> (Git, Arc<Mutex<Vec<hhgitops_git::CommandRecord>>>) {
    let (git, records) = recording_git();
    let git = git
        .with_env(VAR, token)
        .with_env("GIT_CONFIG_NOSYSTEM", "1")
        .with_env("GIT_CONFIG_GLOBAL", &h.global_config)
        .with_env("GIT_TRACE", &h.trace)
        .with_env("NO_PROXY", "127.0.0.1")
        .with_env("no_proxy", "127.0.0.1");
    (git, records)
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(path);
                }
            }
        }
    }
    hits
}

fn assert_records_clean(records: &Mutex<Vec<hhgitops_git::CommandRecord>>, secret: &str) {
    let records = records.lock().unwrap();
    assert!(!records.is_empty());
    for r in records.iter() {
        assert!(
            !r.args.iter().any(|a| a.contains(secret)),
            "token in argv: {:?}",
            r.args
        );
        assert!(
            !r.env
                .iter()
                .any(|(k, v)| k.contains(secret) || v.contains(secret)),
            "token in env we set: {r:?}"
        );
        assert!(!r.stderr.contains(secret), "token in stderr: {}", r.stderr);
    }
}

#[test]
fn clone_fetch_and_push_over_http_with_a_token_that_appears_nowhere_else() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("srv");
    fs::create_dir(&root).unwrap();
    let bare = bare_repo(&root, "repo.git");
    seed(&bare, "main", &[("fabrics/f/gitops/raw/.keep", "")], "seed");
    let server = GitHttpServer::start(&root, TOKEN_USERNAME, TOKEN);
    let h = hostile(tmp.path());
    let (git, records) = client(&h, TOKEN);
    let creds = Credentials::TokenEnv(VAR.to_owned());

    let repo = git
        .clone_repo(
            &server.url("repo.git"),
            Some("main"),
            &tmp.path().join("clone"),
            &creds,
        )
        .unwrap();
    write(repo.workdir(), "fabrics/f/gitops/raw/a.yaml", "a: 1\n");
    let CommitOutcome::Committed(id) = repo
        .commit("ingest a", &Author::default(), Path::new("fabrics/f"))
        .unwrap()
    else {
        panic!("expected a commit")
    };
    assert_eq!(
        repo.push(&creds).unwrap(),
        PushOutcome::Pushed {
            head: id.clone(),
            new_branch: false
        }
    );
    assert_eq!(remote_head(&bare, "main"), id.as_str());
    assert_eq!(repo.fetch(&creds).unwrap(), Some(id));

    // The helper delivered the token: the server saw it, as Basic authentication.
    let expected = format!(
        "Basic {}",
        base64(format!("{TOKEN_USERNAME}:{TOKEN}").as_bytes())
    );
    assert!(server
        .seen_authorization
        .lock()
        .unwrap()
        .contains(&expected));
    // Nowhere else: not in the clone (.git/config, FETCH_HEAD, logs …), not in any argv or environment entry we
    // set, not in stderr, not in git's own trace of every process it started (helpers included), and the
    // operator's `store` helper never got it.
    assert_eq!(
        files_containing(repo.workdir(), TOKEN),
        Vec::<PathBuf>::new()
    );
    let config = fs::read_to_string(repo.git_dir().join("config")).unwrap();
    assert!(config.contains(&server.url("repo.git")), "{config}");
    assert_records_clean(&records, TOKEN);
    let trace = fs::read_to_string(&h.trace).unwrap();
    assert!(!trace.contains(TOKEN), "token in GIT_TRACE");
    assert!(
        trace.contains(&format!("${{{VAR}}}")),
        "the helper ran and named only the variable"
    );
    assert!(
        !h.store.exists() || !fs::read_to_string(&h.store).unwrap().contains(TOKEN),
        "stored by helper"
    );
}

#[test]
fn a_wrong_token_is_an_authentication_failure_that_does_not_show_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("srv");
    fs::create_dir(&root).unwrap();
    bare_repo(&root, "repo.git");
    let server = GitHttpServer::start(&root, TOKEN_USERNAME, TOKEN);
    let h = hostile(tmp.path());
    let wrong = "tok_wrong-0000-secret";
    let (git, records) = client(&h, wrong);
    let err = git
        .clone_repo(
            &server.url("repo.git"),
            Some("main"),
            &tmp.path().join("c"),
            &Credentials::TokenEnv(VAR.into()),
        )
        .unwrap_err();
    assert!(
        matches!(err, GitError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("${VAR}")),
        "hint names the variable: {text}"
    );
    assert!(!text.contains(wrong), "{text}");
    // git did hand the (wrong) token to the server: the helper works, the server said no.
    let sent = format!(
        "Basic {}",
        base64(format!("{TOKEN_USERNAME}:{wrong}").as_bytes())
    );
    assert!(server.seen_authorization.lock().unwrap().contains(&sent));
    assert_records_clean(&records, wrong);
    assert!(!fs::read_to_string(&h.trace).unwrap().contains(wrong));
    assert!(!tmp.path().join("c").exists());
}

#[test]
fn no_credentials_at_all_is_an_authentication_failure_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("srv");
    fs::create_dir(&root).unwrap();
    bare_repo(&root, "repo.git");
    let server = GitHttpServer::start(&root, TOKEN_USERNAME, TOKEN);
    let git = Git::new()
        .with_env("GIT_CONFIG_NOSYSTEM", "1")
        .with_env("GIT_CONFIG_GLOBAL", "/dev/null")
        .with_env("NO_PROXY", "127.0.0.1")
        .with_env("no_proxy", "127.0.0.1");
    let err = git
        .clone_repo(
            &server.url("repo.git"),
            None,
            &tmp.path().join("c"),
            &Credentials::Default,
        )
        .unwrap_err();
    assert!(
        matches!(err, GitError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--git-token-env"), "{err}");
}

#[test]
fn credential_fill_through_the_library_yields_the_token_for_that_host_only() {
    let tmp = tempfile::tempdir().unwrap();
    let h = hostile(tmp.path());
    let (git, records_all) = client(&h, TOKEN);
    let creds = Credentials::TokenEnv(VAR.to_owned());
    let out = git
        .command(tmp.path())
        .args(["credential", "fill"])
        .credentials(&creds, "https://example.invalid/org/repo.git")
        .unwrap()
        .stdin("protocol=https\nhost=example.invalid\n\n")
        .run()
        .unwrap();
    let text = out.stdout_text();
    assert!(
        text.contains(&format!("username={TOKEN_USERNAME}\n")),
        "{text}"
    );
    assert!(text.contains(&format!("password={TOKEN}\n")), "{text}");

    // git asks helpers to store credentials that worked: the operator's store helper is not among them.
    git.command(tmp.path())
        .args(["credential", "approve"])
        .credentials(&creds, "https://example.invalid/org/repo.git")
        .unwrap()
        .stdin(format!(
            "protocol=https\nhost=example.invalid\nusername={TOKEN_USERNAME}\npassword={TOKEN}\n\n"
        ))
        .run()
        .unwrap();
    assert!(
        !h.store.exists() || !fs::read_to_string(&h.store).unwrap().contains(TOKEN),
        "token was stored"
    );

    // Another host never gets the token (the helper is scoped to the remote's scheme://host:port).
    let err = git
        .command(tmp.path())
        .args(["credential", "fill"])
        .credentials(&creds, "https://example.invalid/org/repo.git")
        .unwrap()
        .stdin("protocol=https\nhost=other.invalid\n\n")
        .run()
        .unwrap_err();
    assert!(
        matches!(err, GitError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains(TOKEN));

    // The token came from the helper's shell: argv and the environment we set only name the variable.
    let records = records_all.lock().unwrap();
    let helper_values: Vec<&String> = records
        .iter()
        .flat_map(|r| r.env.iter())
        .filter(|(_, v)| v.contains(VAR))
        .map(|(_, v)| v)
        .collect();
    assert!(!helper_values.is_empty());
    drop(records);
    assert_records_clean(&records_all, TOKEN);
}

#[test]
fn file_remote_with_a_token_keeps_it_out_of_config_argv_and_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "r.git");
    seed(&bare, "main", &[("a", "1\n")], "seed");
    let h = hostile(tmp.path());
    let (git, records) = client(&h, TOKEN);
    let creds = Credentials::TokenEnv(VAR.into());
    let repo = git
        .clone_repo(
            &format!("file://{}", bare.display()),
            None,
            &tmp.path().join("c"),
            &creds,
        )
        .unwrap();
    write(repo.workdir(), "b", "2\n");
    repo.commit("b", &Author::default(), Path::new("")).unwrap();
    repo.push(&creds).unwrap();
    seed(&bare, "main", &[("c", "3\n")], "remote");
    write(repo.workdir(), "d", "4\n");
    repo.commit("d", &Author::default(), Path::new("")).unwrap();
    let err = repo.push(&creds).unwrap_err();
    assert!(!err.to_string().contains(TOKEN));
    assert!(!fs::read_to_string(repo.git_dir().join("config"))
        .unwrap()
        .contains(TOKEN));
    assert_eq!(
        files_containing(repo.workdir(), TOKEN),
        Vec::<PathBuf>::new()
    );
    assert_records_clean(&records, TOKEN);
    assert!(!fs::read_to_string(&h.trace).unwrap().contains(TOKEN));
}

#[test]
fn a_missing_or_empty_token_variable_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "r.git");
    let url = format!("file://{}", bare.display());
    let creds = Credentials::TokenEnv("HHGITOPS_TEST_TOKEN_THAT_IS_NEVER_SET".into());
    let err = Git::new()
        .clone_repo(&url, None, &tmp.path().join("c"), &creds)
        .unwrap_err();
    assert!(matches!(err, GitError::TokenVariable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("HHGITOPS_TEST_TOKEN_THAT_IS_NEVER_SET is not set"),
        "{err}"
    );
    let git = Git::new().with_env(VAR, "");
    let err = git
        .clone_repo(
            &url,
            None,
            &tmp.path().join("c"),
            &Credentials::TokenEnv(VAR.into()),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("{VAR} is empty")),
        "{err}"
    );
    let err = git
        .clone_repo(
            &url,
            None,
            &tmp.path().join("c"),
            &Credentials::TokenEnv("1-bad name".into()),
        )
        .unwrap_err();
    assert!(matches!(err, GitError::InvalidInput(_)), "{err:?}");
    assert!(!tmp.path().join("c").exists());
}
