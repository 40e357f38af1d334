//! The identity written into commits, set per command through the environment (never in any git config file).

use std::fmt;

use crate::GitError;

/// Author (and committer) of the commits hhgitops makes. Default: `hhgitops <hhgitops@localhost>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Author {
    name: String,
    email: String,
}

impl Author {
    /// An author from a name and an e-mail address; both must be non-empty and free of `<`, `>` and line breaks.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Result<Self, GitError> {
        let name = name.into().trim().to_owned();
        let email = email.into().trim().to_owned();
        check_part("name", &name)?;
        check_part("e-mail", &email)?;
        Ok(Author { name, email })
    }

    /// Parse `Name <email>` (the form git prints).
    pub fn parse(text: &str) -> Result<Self, GitError> {
        let text = text.trim();
        let invalid =
            || GitError::InvalidInput(format!("invalid author `{text}`: expected `Name <email>`"));
        let open = text.find('<').ok_or_else(invalid)?;
        let rest = text[open + 1..].strip_suffix('>').ok_or_else(invalid)?;
        Author::new(&text[..open], rest)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn email(&self) -> &str {
        &self.email
    }
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "hhgitops".to_owned(),
            email: "hhgitops@localhost".to_owned(),
        }
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

fn check_part(what: &str, value: &str) -> Result<(), GitError> {
    if value.is_empty() {
        return Err(GitError::InvalidInput(format!(
            "invalid author: the {what} is empty"
        )));
    }
    if value
        .chars()
        .any(|c| c == '<' || c == '>' || c.is_control())
    {
        return Err(GitError::InvalidInput(format!(
            "invalid author {what} `{}`: it must not contain `<`, `>` or control characters",
            value.escape_debug()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_hhgitops_localhost() {
        assert_eq!(
            Author::default().to_string(),
            "hhgitops <hhgitops@localhost>"
        );
    }

    #[test]
    fn parses_name_and_email() {
        let a = Author::parse(" Jane Doe <jane@example.com> ").unwrap();
        assert_eq!(a.name(), "Jane Doe");
        assert_eq!(a.email(), "jane@example.com");
    }

    #[test]
    fn rejects_bad_authors() {
        assert!(Author::parse("no email").is_err());
        assert!(Author::new("", "a@b").is_err());
        assert!(Author::new("a\nb", "a@b").is_err());
        assert!(Author::new("a", "<a@b>").is_err());
    }
}
