//! Redaction of secrets from anything that may reach a person or a log: URL userinfo and known token values.

/// Replace the userinfo of every URL in `text` that could carry a secret with `***`.
///
/// `https://user:secret@host/x` becomes `https://***@host/x`; for `http`/`https` (and any other scheme) even a
/// bare user name is hidden, because a token is often passed as the user name (`https://TOKEN@host`). For `ssh`
/// URLs a plain user name (`ssh://git@host`) is kept, since it is never a secret there, while `user:password` is
/// still hidden. scp-like addresses (`git@host:org/repo`) carry no password and are left alone.
pub fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after_sep) = rest.split_at(pos);
        let after = &after_sep[3..];
        let scheme_start = before
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let scheme = &before[scheme_start..];
        out.push_str(before);
        out.push_str("://");
        // The authority ends at the first character that cannot belong to it.
        let authority_end = after
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "'\"<>`".contains(c)
            })
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) if !scheme.is_empty() => {
                let userinfo = &authority[..at];
                let keep_user = is_ssh_scheme(scheme) && !userinfo.contains(':');
                if keep_user {
                    out.push_str(authority);
                } else {
                    out.push_str("***");
                    out.push_str(&authority[at..]);
                }
            }
            _ => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

fn is_ssh_scheme(scheme: &str) -> bool {
    let scheme = scheme.to_ascii_lowercase();
    scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git"
}

/// Does `url` carry a password (`scheme://user:password@host`)? Such URLs would store the secret in the clone's
/// `.git/config`, so they are refused.
pub fn url_has_password(url: &str) -> bool {
    let Some(pos) = url.find("://") else {
        return false;
    };
    let after = &url[pos + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_end];
    match authority.rfind('@') {
        Some(at) => authority[..at].contains(':'),
        None => false,
    }
}

/// Replace every occurrence of each secret in `text` with `***`, then scrub URL userinfo.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut owned = text.to_owned();
    for secret in secrets {
        // Very short values would redact ordinary words; tokens are never that short.
        if secret.len() >= 4 && owned.contains(secret.as_str()) {
            owned = owned.replace(secret.as_str(), "***");
        }
    }
    scrub_urls(&owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_user_and_password() {
        assert_eq!(
            scrub_urls("fatal: unable to access 'https://user:s3cr3t@github.com/o/r.git/': boom"),
            "fatal: unable to access 'https://***@github.com/o/r.git/': boom"
        );
    }

    #[test]
    fn scrubs_token_as_user_name_on_https() {
        assert_eq!(
            scrub_urls("https://ghp_abcdef@github.com/o/r"),
            "https://***@github.com/o/r"
        );
    }

    #[test]
    fn keeps_ssh_user_but_not_ssh_password() {
        assert_eq!(
            scrub_urls("ssh://git@host:22/r.git"),
            "ssh://git@host:22/r.git"
        );
        assert_eq!(
            scrub_urls("ssh://git:pw@host/r.git"),
            "ssh://***@host/r.git"
        );
    }

    #[test]
    fn leaves_plain_urls_and_scp_addresses_alone() {
        let text = "see https://example.com/a@b and git@github.com:o/r.git and file:///tmp/x";
        assert_eq!(scrub_urls(text), text);
    }

    #[test]
    fn scrubs_several_urls_in_one_text() {
        assert_eq!(
            scrub_urls("a http://u:p@h1/x b https://t@h2 c"),
            "a http://***@h1/x b https://***@h2 c"
        );
    }

    #[test]
    fn scrub_handles_non_ascii_and_edge_positions() {
        assert_eq!(scrub_urls("://"), "://");
        assert_eq!(scrub_urls("é://u:p@h"), "é://u:p@h");
        assert_eq!(scrub_urls("ü https://u:p@h ü"), "ü https://***@h ü");
    }

    #[test]
    fn detects_passwords_in_urls() {
        assert!(url_has_password("https://u:p@h/x"));
        assert!(!url_has_password("https://u@h/x"));
        assert!(!url_has_password("https://h/x?a=b:c@d"));
        assert!(!url_has_password("git@github.com:o/r.git"));
    }

    #[test]
    fn redacts_known_secrets() {
        let secrets = vec!["tok-123456".to_owned()];
        assert_eq!(redact("password=tok-123456\n", &secrets), "password=***\n");
    }
}
