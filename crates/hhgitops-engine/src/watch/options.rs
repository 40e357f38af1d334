//! How a [`WatchSet`](super::WatchSet) works: its options and the fabrics it follows.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::ingest::IngestOptions;

/// Default time a file must stay unchanged before it is taken.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// How raw/ folders are watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// File-system events (inotify on Linux), with a slow safety rescan; a fabric whose raw/ cannot be watched
    /// with events (e.g. the inotify limit is reached) falls back to polling every second.
    Events,
    /// A scan of raw/ at this interval, for file systems without events (NFS, some container mounts).
    Poll(Duration),
}

/// Which registered fabrics a [`WatchSet`](super::WatchSet) follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FabricSelection {
    All,
    Names(BTreeSet<String>),
}

impl FabricSelection {
    pub fn contains(&self, name: &str) -> bool {
        match self {
            FabricSelection::All => true,
            FabricSelection::Names(n) => n.contains(name),
        }
    }
}

/// How a [`WatchSet`](super::WatchSet) works.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub mode: WatchMode,
    /// How long a file must stay unchanged (length, times, inode) between two looks before it is taken.
    pub debounce: Duration,
    /// How long a file that a writer still holds open (known from events) or that is empty may stay unchanged
    /// before it is taken anyway.
    pub settle_max: Duration,
    /// With a selection, the set follows the registry: fabrics registered (and selected) are watched, fabrics
    /// removed are dropped, a fabric whose root changed is restarted. `None`: only [`WatchSet::add_fabric`](super::WatchSet::add_fabric).
    pub follow: Option<FabricSelection>,
    /// How often the registry is read when following it.
    pub registry_interval: Duration,
    /// In event mode, how often raw/ is scanned anyway (events can be lost; a scan is cheap).
    pub rescan_interval: Duration,
    /// The ingestion options of every run (`only` and `dry_run` are set by the watcher).
    pub ingest: IngestOptions,
    /// Events each subscription holds before the watchers wait for it to read (see [`WatchEvents`](super::WatchEvents)).
    pub event_capacity: usize,
}

/// Default of [`WatchOptions::event_capacity`].
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            mode: WatchMode::Events,
            debounce: DEFAULT_DEBOUNCE,
            settle_max: Duration::from_secs(10),
            follow: None,
            registry_interval: Duration::from_secs(1),
            rescan_interval: Duration::from_secs(5),
            ingest: IngestOptions::default(),
            event_capacity: DEFAULT_EVENT_CAPACITY,
        }
    }
}
