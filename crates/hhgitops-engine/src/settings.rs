//! `Settings`: how operations run (lock and cluster timeouts, cluster concurrency, Git author, file-size limit,
//! fabrics at once, periodic sync), resolved **once** per process from command-line flags and `HHGITOPS_*`
//! variables, then handed to the engine ([`crate::Engine::with_settings`]) and read from there by every
//! operation, the CLI's and the server's alike.
//!
//! Invariants:
//! - This module is the only place that reads these variables; nothing else in the engine, the CLI or the
//!   server calls `std::env::var` for an operational setting, and no operation hard-codes a timeout.
//! - A flag wins over its variable, the variable over the default ([`SETTINGS`] lists all three).
//! - An invalid value is a usage error naming where it came from (`HHGITOPS_LOCK_TIMEOUT="abc": …` or
//!   `--lock-timeout "abc": …`) and what was expected; an empty variable counts as unset.
//! - Secrets are never values here: the Git token and the webhook secrets are named by their variables
//!   elsewhere, and the database URL stays with the front end's flags.

use std::time::Duration;

use crate::error::{Error, Result};

/// How many fabrics are worked on at the same time by default (`ingest --all`, the watcher).
pub const DEFAULT_FABRIC_JOBS: usize = 4;

/// Default wait for another process working on the same fabric.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest raw file accepted by default (bytes).
pub const DEFAULT_MAX_FILE_SIZE: u64 = hhgitops_core::yaml::DEFAULT_MAX_BYTES as u64;

/// One setting: its variable, its flag, its default and what it means (the README's table is this list).
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    pub variable: &'static str,
    pub flag: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Every setting [`Settings::resolve`] reads, in the order of the README's table.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc {
        variable: "HHGITOPS_LOCK_TIMEOUT",
        flag: "--lock-timeout",
        default: "60s",
        meaning: "how long an operation waits for another one working on the same fabric",
    },
    SettingDoc {
        variable: "HHGITOPS_KUBE_TIMEOUT",
        flag: "--kube-timeout",
        default: "30s",
        meaning: "time one request to a fabric's Kubernetes API may take (connecting: at most 10 s)",
    },
    SettingDoc {
        variable: "HHGITOPS_KUBE_CONCURRENCY",
        flag: "--kube-concurrency",
        default: "8",
        meaning: "requests in flight at once to a fabric's Kubernetes API",
    },
    SettingDoc {
        variable: "HHGITOPS_GIT_AUTHOR",
        flag: "--git-author",
        default: "hhgitops <hhgitops@localhost>",
        meaning: "author and committer of the commits hhgitops makes (\"Name <email>\")",
    },
    SettingDoc {
        variable: "HHGITOPS_GIT_BULK_MIN",
        flag: "--git-bulk-min",
        default: "128",
        meaning: "from how many changed files a commit is built with Git's plumbing (same commit, faster)",
    },
    SettingDoc {
        variable: "HHGITOPS_MAX_FILE_SIZE",
        flag: "--max-file-size",
        default: "8388608 (8 MiB)",
        meaning: "largest raw file (and upload) accepted, in bytes",
    },
    SettingDoc {
        variable: "HHGITOPS_JOBS",
        flag: "--jobs",
        default: "4",
        meaning: "fabrics worked on at the same time (`ingest --all`, the watchers)",
    },
    SettingDoc {
        variable: "HHGITOPS_SYNC_INTERVAL",
        flag: "--sync-interval",
        default: "off",
        meaning: "`serve`: sync every fabric this often unless it has its own interval",
    },
];

/// The operational settings of a process. `Default` is every setting's default.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lock_timeout: Duration,
    pub kube: hhgitops_kube::ClientSettings,
    pub git: GitSettings,
    pub max_file_size: u64,
    pub fabric_jobs: usize,
    /// `serve`'s periodic sync of every fabric; `None`: off.
    pub sync_interval: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            kube: hhgitops_kube::ClientSettings::default(),
            git: GitSettings::default(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            fabric_jobs: DEFAULT_FABRIC_JOBS,
            sync_interval: None,
        }
    }
}

/// The values given as flags (as typed: [`Settings::resolve`] parses and checks them).
#[derive(Debug, Clone, Default)]
pub struct SettingFlags {
    pub lock_timeout: Option<String>,
    pub kube_timeout: Option<String>,
    pub kube_concurrency: Option<String>,
    pub git_author: Option<String>,
    pub git_bulk_min: Option<String>,
    pub max_file_size: Option<String>,
    pub jobs: Option<String>,
    pub sync_interval: Option<String>,
}

/// Where a value came from, for its error message.
struct Source<'a> {
    name: &'a str,
    value: String,
    is_flag: bool,
}

impl Source<'_> {
    fn invalid(&self, expected: &str) -> Error {
        if self.is_flag {
            Error::usage(format!(
                "invalid setting {} {:?}: expected {expected}",
                self.name, self.value
            ))
        } else {
            Error::usage(format!(
                "invalid setting {}={:?}: expected {expected}",
                self.name, self.value
            ))
        }
    }
}

impl Settings {
    /// The settings from the process's environment alone (no flags).
    pub fn from_env() -> Result<Settings> {
        Settings::resolve(&SettingFlags::default(), |k| std::env::var(k).ok())
    }

    /// Resolves every setting: the flag if given, else the variable (read through `env`), else the default.
    pub fn resolve(flags: &SettingFlags, env: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let pick = |flag: &Option<String>, i: usize| -> Option<Source<'static>> {
            let doc = &SETTINGS[i];
            if let Some(v) = flag {
                return Some(Source {
                    name: doc.flag,
                    value: v.clone(),
                    is_flag: true,
                });
            }
            env(doc.variable)
                .filter(|v| !v.trim().is_empty())
                .map(|v| Source {
                    name: doc.variable,
                    value: v,
                    is_flag: false,
                })
        };
        let mut s = Settings::default();
        if let Some(src) = pick(&flags.lock_timeout, 0) {
            s.lock_timeout = parse_duration(&src.value).ok_or_else(|| {
                src.invalid("a duration: seconds (60, 0.5) or with a unit (500ms, 2m)")
            })?;
        }
        if let Some(src) = pick(&flags.kube_timeout, 1) {
            s.kube.request_timeout = parse_duration(&src.value)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    src.invalid("a positive duration: seconds (30, 0.5) or with a unit (500ms, 2m)")
                })?;
            s.kube.connect_timeout = s.kube.connect_timeout.min(s.kube.request_timeout);
        }
        if let Some(src) = pick(&flags.kube_concurrency, 2) {
            s.kube.concurrency = src
                .value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| src.invalid("a number of requests from 1 to 1024"))?;
        }
        if let Some(src) = pick(&flags.git_author, 3) {
            s.git.author = hhgitops_git::Author::parse(&src.value)
                .map_err(|e| src.invalid(&format!("\"Name <email>\" ({e})")))?;
        }
        if let Some(src) = pick(&flags.git_bulk_min, 4) {
            s.git.bulk_commit_min = src
                .value
                .trim()
                .parse::<usize>()
                .map_err(|_| src.invalid("a number of changed files"))?;
        }
        if let Some(src) = pick(&flags.max_file_size, 5) {
            s.max_file_size = src
                .value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| src.invalid("a positive number of bytes"))?;
        }
        if let Some(src) = pick(&flags.jobs, 6) {
            s.fabric_jobs = src
                .value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| src.invalid("a number of fabrics from 1 to 1024"))?;
        }
        if let Some(src) = pick(&flags.sync_interval, 7) {
            let v = src.value.trim();
            s.sync_interval = if v.is_empty() || v == "off" {
                None
            } else {
                Some(
                    parse_duration(v)
                        .filter(|d| *d >= Duration::from_secs(1))
                        .ok_or_else(|| {
                            src.invalid("a duration of at least 1s such as 30s, 10m, 1h, or off")
                        })?,
                )
            };
        }
        Ok(s)
    }
}

/// A callback run between the commit and the push (tests use it to move the remote at the worst moment).
pub type BeforePush = std::sync::Arc<dyn Fn() + Send + Sync>;

/// How hhgitops commits.
#[derive(Clone)]
pub struct GitSettings {
    pub author: hhgitops_git::Author,
    /// Push attempts when the remote keeps moving.
    pub max_push_attempts: u32,
    pub lock_timeout: Duration,
    pub before_push: Option<BeforePush>,
    /// From how many changed paths on a commit is built with Git's plumbing instead of `add` + `commit` (the same
    /// commit, at the cost of hashing the files); see [`hhgitops_git::Git::with_bulk_commit_min`].
    pub bulk_commit_min: usize,
}

impl std::fmt::Debug for GitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSettings")
            .field("author", &self.author)
            .field("max_push_attempts", &self.max_push_attempts)
            .field("lock_timeout", &self.lock_timeout)
            .field("bulk_commit_min", &self.bulk_commit_min)
            .finish()
    }
}

impl Default for GitSettings {
    fn default() -> Self {
        GitSettings {
            author: hhgitops_git::Author::default(),
            max_push_attempts: 5,
            lock_timeout: Duration::from_secs(120),
            before_push: None,
            bulk_commit_min: hhgitops_git::DEFAULT_BULK_COMMIT_MIN,
        }
    }
}

/// A duration: a number of seconds (`60`, `0.5`) or a number with a unit (`500ms`, `30s`, `10m`, `2h`, `1d`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    let secs = n * scale;
    (secs.is_finite() && (0.0..1e10).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_flag_wins_over_its_variable_which_wins_over_the_default() {
        let s = Settings::resolve(&SettingFlags::default(), env(&[])).unwrap();
        assert_eq!(s.lock_timeout, DEFAULT_LOCK_TIMEOUT);
        assert_eq!(s.max_file_size, DEFAULT_MAX_FILE_SIZE);
        let vars = [
            ("HHGITOPS_LOCK_TIMEOUT", "2.5"),
            ("HHGITOPS_KUBE_CONCURRENCY", "3"),
            ("HHGITOPS_SYNC_INTERVAL", "10m"),
        ];
        let s = Settings::resolve(&SettingFlags::default(), env(&vars)).unwrap();
        assert_eq!(s.lock_timeout, Duration::from_millis(2500));
        assert_eq!(s.kube.concurrency, 3);
        assert_eq!(s.sync_interval, Some(Duration::from_secs(600)));
        let flags = SettingFlags {
            lock_timeout: Some("500ms".into()),
            sync_interval: Some("off".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&flags, env(&vars)).unwrap();
        assert_eq!(s.lock_timeout, Duration::from_millis(500));
        assert_eq!(s.sync_interval, None);
        assert_eq!(s.kube.concurrency, 3);
    }

    #[test]
    fn an_invalid_value_names_where_it_came_from() {
        let e = Settings::resolve(
            &SettingFlags::default(),
            env(&[("HHGITOPS_KUBE_TIMEOUT", "soon")]),
        )
        .unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Usage);
        assert!(
            e.to_string().contains("HHGITOPS_KUBE_TIMEOUT=\"soon\""),
            "{e}"
        );
        let flags = SettingFlags {
            jobs: Some("0".into()),
            ..Default::default()
        };
        let e = Settings::resolve(&flags, env(&[("HHGITOPS_JOBS", "2")])).unwrap_err();
        assert!(e.to_string().contains("--jobs \"0\""), "{e}");
        let e = Settings::resolve(
            &SettingFlags::default(),
            env(&[("HHGITOPS_GIT_AUTHOR", "nobody")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("HHGITOPS_GIT_AUTHOR"), "{e}");
    }

    #[test]
    fn the_readme_table_lists_every_setting_with_its_flag_and_default() {
        let readme = include_str!("../../../README.md");
        for d in SETTINGS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", d.variable)))
                .unwrap_or_else(|| panic!("README has no row for {}", d.variable));
            let flag = d.flag.trim_start_matches("--");
            assert!(row.contains(&format!("--{flag}`")), "{row}");
            let default = d.default.split(' ').next().unwrap();
            assert!(row.contains(default), "{}: {row}", d.default);
        }
    }

    #[test]
    fn durations_take_seconds_or_a_unit() {
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "-1", "abc", "5 weeks", "inf", "1e400"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
