//! The values of `init`'s plan and report: the steps it takes ([`Action`]) and what is wrong with a layout
//! ([`Problem`]). Plain values, shared with the HNP clean-up (`crate::hnp`), which plans steps of its own.

use serde::Serialize;

/// One step `init` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    CreateDir {
        path: String,
    },
    WriteManifest {
        path: String,
    },
    WriteArchiveLog {
        path: String,
    },
    WriteGitignore {
        path: String,
    },
    /// Move a loose YAML file into raw/.
    MoveLoose {
        from: String,
        to: String,
    },
    /// Rewrite an HNP manifest in this layout's format.
    UpgradeManifest {
        path: String,
    },
    /// Rewrite an HNP archive log in this layout's format, keeping its history with relative paths.
    UpgradeArchiveLog {
        path: String,
        entries: usize,
    },
    /// Remove a copy HNP left beside a managed file (`<name>-N.yaml`) that holds the same object (lossless).
    RemoveHnpDuplicate {
        path: String,
        original: String,
        sha256: String,
    },
    /// Move a copy HNP left that differs from its managed file into `.hnp/hnp-duplicates/` for a person.
    SetAsideHnpDuplicate {
        from: String,
        to: String,
        original: String,
        sha256: String,
        /// Unified diff, managed file → copy.
        diff: String,
    },
    /// Give a copy HNP left the name of its original, which is gone.
    RenameHnpCopy {
        from: String,
        to: String,
        sha256: String,
    },
    /// Rewrite a managed file HNP wrote in normalized form: its annotations and header comment dropped.
    StripHnpMarks {
        path: String,
        annotations: usize,
        header: bool,
        sha256: String,
    },
}

impl Action {
    /// One of the steps that clean up managed files HNP left (`init --migrate` takes them).
    pub fn is_hnp_cleanup(&self) -> bool {
        matches!(
            self,
            Action::RemoveHnpDuplicate { .. }
                | Action::SetAsideHnpDuplicate { .. }
                | Action::RenameHnpCopy { .. }
                | Action::StripHnpMarks { .. }
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::CreateDir { path } => write!(f, "create folder {path}/"),
            Action::WriteManifest { path } => write!(f, "write {path}"),
            Action::WriteArchiveLog { path } => write!(f, "write {path}"),
            Action::WriteGitignore { path } => write!(f, "write {path}"),
            Action::MoveLoose { from, to } => write!(f, "move {from} -> {to}"),
            Action::UpgradeManifest { path } => {
                write!(f, "upgrade {path} (Hedgehog NetBox Plugin format)")
            }
            Action::UpgradeArchiveLog { path, entries } => {
                write!(
                    f,
                    "upgrade {path} (Hedgehog NetBox Plugin format, {entries} entries kept)"
                )
            }
            Action::RemoveHnpDuplicate { path, original, .. } => write!(
                f,
                "remove {path} (a copy of {original} left by the Hedgehog NetBox Plugin, identical to it)"
            ),
            Action::SetAsideHnpDuplicate {
                from,
                to,
                original,
                diff,
                ..
            } => {
                write!(
                    f,
                    "move {from} -> {to} (a copy left by the Hedgehog NetBox Plugin that differs from {original}: a person decides)"
                )?;
                for line in diff.lines() {
                    write!(f, "\n      {line}")?;
                }
                Ok(())
            }
            Action::RenameHnpCopy { from, to, .. } => write!(
                f,
                "rename {from} -> {to} (a copy left by the Hedgehog NetBox Plugin whose original is gone)"
            ),
            Action::StripHnpMarks {
                path,
                annotations,
                header,
                ..
            } => write!(
                f,
                "rewrite {path} in normalized form (drops the Hedgehog NetBox Plugin's {annotations} annotation(s){})",
                if *header { " and header comment" } else { "" }
            ),
        }
    }
}

/// Something wrong with a layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Relative to the GitOps root (empty: the root itself).
    pub path: String,
    pub message: String,
    /// True when `init` can fix it; false when a person must.
    pub fixable: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = if self.path.is_empty() {
            "."
        } else {
            &self.path
        };
        write!(f, "{p}: {}", self.message)
    }
}

/// What `init` would do, and what it cannot fix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitPlan {
    pub actions: Vec<Action>,
    /// Problems init cannot fix; while any exists, init refuses.
    pub blocking: Vec<Problem>,
    /// Things a person should look at that do not stop init (e.g. HNP duplicate files).
    pub warnings: Vec<Problem>,
    /// Loose YAML files found outside raw/ that this plan does not move (`init --migrate` moves them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loose: Vec<Action>,
    /// Managed files HNP left (marks, copies) that this plan does not touch (`init --migrate` cleans them up).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hnp: Vec<Action>,
}

impl InitPlan {
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty()
    }
}

/// What `init` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReport {
    pub actions: Vec<Action>,
    pub warnings: Vec<Problem>,
    /// Loose YAML files left where they are (moving them is `init --migrate` or `onboard`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loose: Vec<Action>,
    /// Managed files HNP left, left as they are (cleaning them up is `init --migrate` or `onboard`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hnp: Vec<Action>,
}
