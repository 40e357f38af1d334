//! Turns a failed git command's stderr (always produced under `LC_ALL=C`) into a [`GitError`] a person can act on.

use std::path::{Path, PathBuf};

use crate::GitError;

/// What the classifier knows about the command besides its output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// The git subcommand (`clone`, `fetch`, …).
    pub command: &'a str,
    /// The directory the command ran in.
    pub dir: &'a Path,
    /// The remote URL involved, already redacted.
    pub url: Option<&'a str>,
    /// The branch involved.
    pub branch: Option<&'a str>,
    /// The token variable in use, for the authentication hint.
    pub token_var: Option<&'a str>,
}

/// Classify a failure from git's (redacted) stderr.
pub(crate) fn classify(ctx: &Context<'_>, status: &str, stderr: &str) -> GitError {
    let lower = stderr.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    let url = ctx.url.unwrap_or("the remote").to_owned();
    let detail = useful_lines(stderr);

    if has("host key verification failed") || has("remote host identification has changed") {
        return GitError::HostKeyVerificationFailed { url };
    }
    if has("remote branch ") && has(" not found in upstream") || has("couldn't find remote ref") {
        let branch = ctx
            .branch
            .map(str::to_owned)
            .or_else(|| missing_branch(stderr))
            .unwrap_or_default();
        return GitError::BranchNotFound { url, branch };
    }
    const AUTH: &[&str] = &[
        "authentication failed",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "permission denied (publickey",
        "permission denied (password",
        "permission denied, please try again",
        "invalid username or password",
        "invalid credentials",
        "bad credentials",
        "http basic: access denied",
        "the requested url returned error: 401",
        "the requested url returned error: 403",
        "support for password authentication was removed",
        "write access to repository not granted",
    ];
    if AUTH.iter().any(|n| has(n)) || (has("permission to ") && has(" denied to ")) {
        return GitError::AuthenticationFailed {
            url: url.clone(),
            detail,
            hint: auth_hint(ctx),
        };
    }
    const NOT_FOUND: &[&str] = &[
        "repository not found",
        "does not appear to be a git repository",
        "the requested url returned error: 404",
        "could not be found or you don't have permission",
        "project you were looking for could not be found",
        "not a valid repository",
    ];
    if NOT_FOUND.iter().any(|n| has(n))
        || (has("fatal: repository '") && (has("' not found") || has("' does not exist")))
    {
        return GitError::RepositoryNotFound { url, detail };
    }
    const BAD_URL: &[&str] = &[
        "unable to find remote helper",
        "remote helper '",
        "is not a git command",
        "is not supported",
        "not allowed",
        "url using bad/illegal format",
        "malformed",
        "invalid url",
        "unsupported protocol",
        "port number ended with",
        "no path specified",
        "strange hostname",
        "strange pathname",
    ];
    if has("is not a git command") && has("remote-") {
        let scheme = ctx
            .url
            .and_then(|u| u.split_once("://"))
            .map_or("", |(s, _)| s);
        return GitError::BadUrl {
            url,
            detail: format!("git knows no transport for the URL scheme `{scheme}`"),
        };
    }
    if BAD_URL.iter().any(|n| has(n))
        && (ctx.command == "clone" || ctx.command == "ls-remote" || has("protocol"))
    {
        return GitError::BadUrl { url, detail };
    }
    const UNREACHABLE: &[&str] = &[
        "could not resolve host",
        "could not resolve hostname",
        "name or service not known",
        "temporary failure in name resolution",
        "no address associated with hostname",
        "failed to connect to",
        "couldn't connect to server",
        "connection refused",
        "connection timed out",
        "operation timed out",
        "network is unreachable",
        "no route to host",
        "connection reset by peer",
        "connection closed by",
        "empty reply from server",
        "the remote end hung up unexpectedly",
        "failed to receive handshake",
        "recv failure",
    ];
    if UNREACHABLE.iter().any(|n| has(n)) {
        return GitError::Unreachable { url, detail };
    }
    if has("[rejected]") && (has("fetch first") || has("non-fast-forward"))
        || has("updates were rejected because the remote contains work")
        || has("updates were rejected because the tip of your current branch is behind")
    {
        return GitError::RemoteMoved {
            url,
            branch: ctx.branch.unwrap_or_default().to_owned(),
        };
    }
    if has("[remote rejected]") || has("protected branch") || has("pre-receive hook declined") {
        return GitError::PushDeclined {
            url,
            reason: detail,
        };
    }
    const LOCAL_CHANGES: &[&str] = &[
        "your local changes to the following files would be overwritten",
        "untracked working tree files would be overwritten",
        "untracked working tree files would be removed",
        "you have unstaged changes",
        "your index contains uncommitted changes",
    ];
    if LOCAL_CHANGES.iter().any(|n| has(n)) {
        return GitError::LocalChanges {
            workdir: ctx.dir.to_path_buf(),
            files: indented_paths(stderr),
        };
    }
    if has("not a git repository") {
        return GitError::NotARepository {
            path: ctx.dir.to_path_buf(),
            detail,
        };
    }
    GitError::Failed {
        command: ctx.command.to_owned(),
        status: status.to_owned(),
        detail,
    }
}

fn auth_hint(ctx: &Context<'_>) -> String {
    if let Some(var) = ctx.token_var {
        return format!(
            "check that the token in ${var} is valid, not expired, and allowed to read and push this repository"
        );
    }
    let url = ctx.url.unwrap_or_default().to_ascii_lowercase();
    if url.starts_with("http://") || url.starts_with("https://") {
        "no valid credentials were available: name an environment variable holding an access token \
         (--git-token-env) or configure a git credential helper"
            .to_owned()
    } else {
        "check that your SSH agent holds a key the remote accepts (ssh-add -l) and that the key has access to \
         this repository"
            .to_owned()
    }
}

/// The branch name in `Remote branch X not found in upstream origin` or `couldn't find remote ref refs/heads/X`.
fn missing_branch(stderr: &str) -> Option<String> {
    for line in stderr.lines() {
        if let Some(rest) = line.split("Remote branch ").nth(1) {
            if let Some((name, _)) = rest.split_once(" not found") {
                return Some(name.to_owned());
            }
        }
        if let Some(rest) = line.split("couldn't find remote ref ").nth(1) {
            let name = rest.trim();
            return Some(name.strip_prefix("refs/heads/").unwrap_or(name).to_owned());
        }
    }
    None
}

/// The tab-indented file list git prints under "would be overwritten" messages.
fn indented_paths(stderr: &str) -> Vec<PathBuf> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix('\t'))
        .map(|l| PathBuf::from(l.trim()))
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

/// git's stderr without hints, progress and boilerplate, as one line: what a person needs to see.
pub(crate) fn useful_lines(stderr: &str) -> String {
    const NOISE: &[&str] = &[
        "hint:",
        "Cloning into",
        "remote: Enumerating",
        "remote: Counting",
        "remote: Compressing",
        "remote: Total",
        "Receiving objects",
        "Resolving deltas",
        "Unpacking objects",
        "warning: You appear to have cloned an empty repository",
        "Please make sure you have the correct access rights",
        "and the repository exists.",
        "To ",
        "The most similar command",
        "See 'git --help'",
    ];
    let mut lines: Vec<String> = Vec::new();
    for raw in stderr.lines() {
        let line = raw.trim();
        if line.is_empty() || NOISE.iter().any(|n| line.starts_with(n)) {
            continue;
        }
        let line = line
            .strip_prefix("fatal: ")
            .or_else(|| line.strip_prefix("error: "))
            .unwrap_or(line);
        let line: String = if line.chars().count() > 300 {
            let mut s: String = line.chars().take(300).collect();
            s.push('…');
            s
        } else {
            line.to_owned()
        };
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    if lines.is_empty() {
        return "git printed no message".to_owned();
    }
    let total = lines.len();
    lines.truncate(8);
    let mut out = lines.join("; ");
    if total > 8 {
        out.push_str(&format!("; … ({} more lines)", total - 8));
    }
    out
}

#[cfg(test)]
mod tests {
    //! The messages below are copied from git 2.4x and its transports (curl, OpenSSH, GitHub, GitLab) under
    //! `LC_ALL=C`. SSH authentication, host keys and HTTP 403/404 cannot be produced offline, so they are tested
    //! here on real message text; the integration tests produce the others for real.

    use super::*;

    fn ctx<'a>(command: &'a str, url: &'a str) -> Context<'a> {
        Context {
            command,
            dir: Path::new("/clone"),
            url: Some(url),
            branch: None,
            token_var: None,
        }
    }

    fn classify_msg(command: &str, url: &str, stderr: &str) -> GitError {
        classify(&ctx(command, url), "exit status: 128", stderr)
    }

    #[test]
    fn ssh_public_key_refused_is_authentication() {
        let e = classify_msg(
            "clone",
            "git@github.com:o/r.git",
            "Cloning into 'x'...\ngit@github.com: Permission denied (publickey).\nfatal: Could not read from remote \
             repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n",
        );
        assert!(matches!(e, GitError::AuthenticationFailed { .. }), "{e:?}");
        assert!(e.to_string().contains("ssh-add -l"), "{e}");
    }

    #[test]
    fn https_bad_token_is_authentication_with_token_hint() {
        let c = Context {
            token_var: Some("GH_TOKEN"),
            ..ctx("fetch", "https://github.com/o/r.git")
        };
        let e = classify(
            &c,
            "exit status: 128",
            "remote: Invalid username or token. Password authentication is not supported for Git operations.\n\
             fatal: Authentication failed for 'https://github.com/o/r.git/'\n",
        );
        assert!(matches!(e, GitError::AuthenticationFailed { .. }), "{e:?}");
        assert!(e.to_string().contains("$GH_TOKEN"), "{e}");
    }

    #[test]
    fn https_without_credentials_is_authentication() {
        let e = classify_msg(
            "clone",
            "https://github.com/o/private.git",
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled\n",
        );
        assert!(matches!(e, GitError::AuthenticationFailed { .. }), "{e:?}");
        assert!(e.to_string().contains("--git-token-env"), "{e}");
    }

    #[test]
    fn github_push_403_is_authentication() {
        let e = classify_msg(
            "push",
            "https://github.com/o/r.git",
            "remote: Permission to o/r.git denied to bot.\nfatal: unable to access 'https://github.com/o/r.git/': \
             The requested URL returned error: 403\n",
        );
        assert!(matches!(e, GitError::AuthenticationFailed { .. }), "{e:?}");
    }

    #[test]
    fn gitlab_http_basic_denied_is_authentication() {
        let e = classify_msg(
            "fetch",
            "https://gitlab.com/o/r.git",
            "remote: HTTP Basic: Access denied. If a password was provided for Git authentication, the password was \
             incorrect or you're required to use a token instead of a password.\nfatal: Authentication failed for \
             'https://gitlab.com/o/r.git/'\n",
        );
        assert!(matches!(e, GitError::AuthenticationFailed { .. }), "{e:?}");
    }

    #[test]
    fn host_key_failure() {
        let e = classify_msg(
            "clone",
            "ssh://git@h/r.git",
            "Host key verification failed.\nfatal: Could not read from remote repository.\n",
        );
        assert!(
            matches!(e, GitError::HostKeyVerificationFailed { .. }),
            "{e:?}"
        );
    }

    #[test]
    fn github_repository_not_found() {
        let e = classify_msg(
            "clone",
            "https://github.com/o/nope.git",
            "remote: Repository not found.\nfatal: repository 'https://github.com/o/nope.git/' not found\n",
        );
        assert!(matches!(e, GitError::RepositoryNotFound { .. }), "{e:?}");
        let e = classify_msg(
            "clone",
            "git@github.com:o/nope.git",
            "ERROR: Repository not found.\nfatal: Could not read from remote repository.\n",
        );
        assert!(matches!(e, GitError::RepositoryNotFound { .. }), "{e:?}");
    }

    #[test]
    fn local_repository_not_found() {
        let e = classify_msg(
            "clone",
            "/nonexistent",
            "fatal: repository '/nonexistent' does not exist\n",
        );
        assert!(matches!(e, GitError::RepositoryNotFound { .. }), "{e:?}");
        let e = classify_msg(
            "clone",
            "file:///nonexistent",
            "fatal: '/nonexistent' does not appear to be a git repository\nfatal: Could not read from remote \
             repository.\n",
        );
        assert!(matches!(e, GitError::RepositoryNotFound { .. }), "{e:?}");
    }

    #[test]
    fn unknown_transport_is_bad_url() {
        let e = classify_msg(
            "clone",
            "htps://x/y",
            "git: 'remote-htps' is not a git command. See 'git --help'.\n\nThe most similar command is\n\t\
             remote-https\nfatal: remote helper 'htps' aborted session\n",
        );
        assert!(matches!(e, GitError::BadUrl { .. }), "{e:?}");
        let e = classify_msg("clone", "ext::sh", "fatal: transport 'ext' not allowed\n");
        assert!(matches!(e, GitError::BadUrl { .. }), "{e:?}");
    }

    #[test]
    fn network_failures_are_unreachable() {
        for msg in [
            "fatal: unable to access 'https://127.0.0.1:1/x.git/': Failed to connect to 127.0.0.1 port 1 after 0 \
             ms: Couldn't connect to server\n",
            "fatal: unable to access 'https://nohost.invalid/x.git/': Could not resolve host: nohost.invalid\n",
            "ssh: Could not resolve hostname nohost: Name or service not known\nfatal: Could not read from remote \
             repository.\n",
            "ssh: connect to host 10.0.0.1 port 22: Connection timed out\nfatal: Could not read from remote \
             repository.\n",
            "ssh: connect to host h port 22: No route to host\n",
        ] {
            let e = classify_msg("fetch", "https://h/x", msg);
            assert!(matches!(e, GitError::Unreachable { .. }), "{msg}: {e:?}");
        }
    }

    #[test]
    fn missing_branch_from_clone_and_fetch() {
        let e = classify_msg(
            "clone",
            "/r.git",
            "Cloning into 'x'...\nwarning: Could not find remote branch nope to clone.\nfatal: Remote branch nope \
             not found in upstream origin\n",
        );
        assert!(
            matches!(&e, GitError::BranchNotFound { branch, .. } if branch == "nope"),
            "{e:?}"
        );
        let e = classify_msg(
            "fetch",
            "/r.git",
            "fatal: couldn't find remote ref refs/heads/dev\n",
        );
        assert!(
            matches!(&e, GitError::BranchNotFound { branch, .. } if branch == "dev"),
            "{e:?}"
        );
    }

    #[test]
    fn push_rejections() {
        let e = classify_msg(
            "push",
            "/r.git",
            "To /r.git\n ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs to \
             '/r.git'\nhint: Updates were rejected because the remote contains work that you do not\n",
        );
        assert!(matches!(e, GitError::RemoteMoved { .. }), "{e:?}");
        let e = classify_msg(
            "push",
            "/r.git",
            "To /r.git\n ! [remote rejected] HEAD -> main (pre-receive hook declined)\nerror: failed to push some \
             refs to '/r.git'\n",
        );
        assert!(matches!(e, GitError::PushDeclined { .. }), "{e:?}");
    }

    #[test]
    fn local_changes_list_files() {
        let e = classify_msg(
            "merge",
            "",
            "error: Your local changes to the following files would be overwritten by merge:\n\tmanaged/vpcs/a.yaml\n\
             Please commit your changes or stash them before you merge.\nAborting\n",
        );
        match e {
            GitError::LocalChanges { files, .. } => {
                assert_eq!(files, vec![PathBuf::from("managed/vpcs/a.yaml")])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_a_repository() {
        let e = classify_msg(
            "status",
            "",
            "fatal: not a git repository (or any of the parent directories): .git\n",
        );
        assert!(matches!(e, GitError::NotARepository { .. }), "{e:?}");
    }

    #[test]
    fn other_failures_keep_the_useful_lines() {
        let e = classify_msg(
            "commit",
            "",
            "hint: Waiting for your editor\nfatal: Unable to create '/c/.git/index.lock': File exists.\n\nAnother git \
             process seems to be running in this repository\n",
        );
        let text = e.to_string();
        assert!(matches!(e, GitError::Failed { .. }), "{e:?}");
        assert!(text.contains("index.lock': File exists."), "{text}");
        assert!(!text.contains("hint:"), "{text}");
    }
}
