//! How git authenticates: whatever the operator's git already uses, or an HTTPS token named by an environment
//! variable and handed to git by a credential helper that reads the variable at run time.

use std::ffi::OsString;

use crate::GitError;

/// The user name sent with a token. GitHub requires `x-access-token` for app and fine-grained tokens; GitLab,
/// Gitea and Bitbucket Server accept any non-empty user name with a personal access token.
pub const TOKEN_USERNAME: &str = "x-access-token";

/// How to authenticate to a remote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Credentials {
    /// What git already uses: SSH agent and keys, credential helpers, `~/.netrc`.
    #[default]
    Default,
    /// An HTTPS token in the environment variable of this NAME (the value is never stored, logged or put in a
    /// URL; git gets it from a credential helper that expands `$NAME` in its own shell).
    TokenEnv(String),
}

/// What a command needs to use a set of credentials against one URL.
#[derive(Debug, Default)]
pub(crate) struct PreparedCredentials {
    /// Config entries passed through `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`.
    pub config: Vec<(String, String)>,
    /// Values to redact from everything this command reports.
    pub secrets: Vec<String>,
    /// The token variable's name, for hints in authentication errors.
    pub token_var: Option<String>,
}

impl Credentials {
    /// Check the credentials and derive the git configuration that applies them to `url`.
    ///
    /// `lookup` reads an environment variable as the git process will see it.
    pub(crate) fn prepare(
        &self,
        url: &str,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<PreparedCredentials, GitError> {
        let var = match self {
            Credentials::Default => return Ok(PreparedCredentials::default()),
            Credentials::TokenEnv(var) => var,
        };
        check_variable_name(var)?;
        let problem = |p: &str| GitError::TokenVariable {
            var: var.clone(),
            problem: p.to_owned(),
        };
        let value = lookup(var).ok_or_else(|| problem("is not set"))?;
        let value = value
            .into_string()
            .map_err(|_| problem("is not valid UTF-8"))?;
        if value.trim().is_empty() {
            return Err(problem("is empty"));
        }
        if value.contains(['\n', '\r', '\0']) {
            return Err(problem(
                "contains a line break or NUL byte, which git cannot pass on",
            ));
        }
        let mut prepared = PreparedCredentials {
            secrets: vec![value],
            token_var: Some(var.clone()),
            ..Default::default()
        };
        match http_scope(url) {
            Some(scope) => {
                let key = format!("credential.{scope}.helper");
                // An empty value resets the helper list: the operator's helpers neither answer for this remote
                // nor get asked to store the token (`credential.helper=store` would write it to disk).
                prepared.config.push((key.clone(), String::new()));
                prepared.config.push((key, helper_script(var)));
            }
            None => {
                tracing::debug!(var = %var, "token variable given for a non-HTTP(S) remote; git does not use it");
            }
        }
        Ok(prepared)
    }
}

/// A shell snippet for `credential.helper`: it prints the user name and the value of `$var`, expanded by the
/// helper's own shell when git asks, so the token appears in no argv, config file or log.
pub(crate) fn helper_script(var: &str) -> String {
    format!(
        "!f() {{ test \"$1\" = get || exit 0; printf 'username=%s\\npassword=%s\\n' '{TOKEN_USERNAME}' \"${{{var}}}\"; }}; f"
    )
}

fn check_variable_name(var: &str) -> Result<(), GitError> {
    let mut chars = var.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(GitError::InvalidInput(format!(
            "`{}` is not a valid environment variable name for a Git token (letters, digits and `_`, not \
             starting with a digit)",
            var.escape_debug()
        )))
    }
}

/// `scheme://host[:port]` of an HTTP(S) URL, the scope git's `credential.<url>.*` config matches; None for
/// other transports (SSH, local paths), where git never asks credential helpers.
pub(crate) fn http_scope(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{}", host_port.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_credentials_add_nothing() {
        let p = Credentials::Default
            .prepare("https://h/x", |_| None)
            .unwrap();
        assert!(p.config.is_empty() && p.secrets.is_empty());
    }

    #[test]
    fn token_helper_is_scoped_and_names_only_the_variable() {
        let creds = Credentials::TokenEnv("MY_TOKEN".into());
        let p = creds
            .prepare("https://Git.Example.com:8443/o/r.git", |_| {
                Some("s3cr3t-value".into())
            })
            .unwrap();
        assert_eq!(p.config.len(), 2);
        assert_eq!(
            p.config[0],
            (
                "credential.https://git.example.com:8443.helper".into(),
                String::new()
            )
        );
        assert!(p.config[1].1.contains("${MY_TOKEN}"));
        assert!(!p.config[1].1.contains("s3cr3t"));
        assert_eq!(p.secrets, vec!["s3cr3t-value".to_owned()]);
    }

    #[test]
    fn token_is_not_configured_for_ssh() {
        let creds = Credentials::TokenEnv("T".into());
        let p = creds
            .prepare("ssh://git@h/x", |_| Some("v".into()))
            .unwrap();
        assert!(p.config.is_empty());
    }

    #[test]
    fn token_variable_must_be_set_non_empty_and_well_named() {
        let creds = Credentials::TokenEnv("T".into());
        let missing = creds
            .prepare("https://h/x", |_| None)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("T is not set"), "{missing}");
        let empty = creds
            .prepare("https://h/x", |_| Some(" ".into()))
            .unwrap_err()
            .to_string();
        assert!(empty.contains("is empty"), "{empty}");
        let bad = Credentials::TokenEnv("A;rm -rf".into()).prepare("https://h/x", |_| None);
        assert!(matches!(bad, Err(GitError::InvalidInput(_))));
    }

    #[test]
    fn http_scope_strips_userinfo_and_path() {
        assert_eq!(
            http_scope("https://u@h.io/a/b").as_deref(),
            Some("https://h.io")
        );
        assert_eq!(
            http_scope("http://127.0.0.1:9/x").as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(http_scope("file:///x"), None);
        assert_eq!(http_scope("git@h:o/r"), None);
    }
}
