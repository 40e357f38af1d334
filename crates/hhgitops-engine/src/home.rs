//! The hhgitops home: where the default database and the Git clones live.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The home directory (SPEC §1). Resolved once by the front end and passed down; nothing reads the
/// environment behind the caller's back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `explicit` (`--home` / `HHGITOPS_HOME`), else `$XDG_DATA_HOME/hhgitops`, else `~/.local/share/hhgitops`.
    pub fn resolve(
        explicit: Option<&Path>,
        xdg_data_home: Option<&Path>,
        user_home: Option<&Path>,
    ) -> Result<Home> {
        let dir = match (explicit, xdg_data_home, user_home) {
            (Some(p), _, _) => p.to_path_buf(),
            (None, Some(x), _) if x.is_absolute() => x.join("hhgitops"),
            (None, _, Some(h)) => h.join(".local/share/hhgitops"),
            _ => {
                return Err(Error::usage(
                    "cannot find a home directory: set --home DIR or HHGITOPS_HOME",
                ))
            }
        };
        let dir = absolute(&dir)?;
        Ok(Home { dir })
    }

    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<Home> {
        Ok(Home {
            dir: absolute(&dir.into())?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the home if it is missing.
    pub fn ensure(&self) -> Result<()> {
        if self.dir.exists() && !self.dir.is_dir() {
            return Err(Error::usage(format!(
                "home {} exists and is not a directory: choose another --home",
                self.dir.display()
            )));
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io("cannot create the home directory", &self.dir, e))
    }

    /// The default SQLite database URL.
    pub fn default_database_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.dir.join("hhgitops.db").display()
        )
    }

    /// Where the clones of remote repositories live.
    pub fn repos_dir(&self) -> PathBuf {
        self.dir.join("repos")
    }

    /// The default GitOps root of a fabric without `--path` or a remote (rule 3 of SPEC §1).
    pub fn default_fabric_root(&self, fabric: &str) -> PathBuf {
        self.dir.join("fabrics").join(fabric).join("gitops")
    }
}

/// Makes a path absolute and lexically clean (`.` and `..` resolved without touching the file system).
pub fn absolute(p: &Path) -> Result<PathBuf> {
    let abs =
        std::path::absolute(p).map_err(|e| Error::io("cannot make the path absolute", p, e))?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order() {
        let h = Home::resolve(
            Some(Path::new("/a/b")),
            Some(Path::new("/x")),
            Some(Path::new("/u")),
        )
        .unwrap();
        assert_eq!(h.dir(), Path::new("/a/b"));
        let h = Home::resolve(None, Some(Path::new("/x")), Some(Path::new("/u"))).unwrap();
        assert_eq!(h.dir(), Path::new("/x/hhgitops"));
        let h = Home::resolve(None, Some(Path::new("relative")), Some(Path::new("/u"))).unwrap();
        assert_eq!(h.dir(), Path::new("/u/.local/share/hhgitops"));
        assert!(Home::resolve(None, None, None).is_err());
    }

    #[test]
    fn absolute_is_lexical() {
        assert_eq!(
            absolute(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("/a/c")
        );
    }
}
