//! Watching raw/ (SPEC §4): a [`WatchSet`] runs one watcher task per fabric — file-system events with a
//! polling fallback, a debounce before a file is taken, one ingestion at a time per fabric and fabrics in
//! parallel — reports [`WatchEvent`]s to its subscribers, and can follow the fabric registry so fabrics added
//! or removed by other processes are picked up or dropped without a restart.
//!
//! It is the library half of `hhgitops ingest --watch`, and what the HTTP server runs; it holds no global
//! state and prints nothing. Stopping is cooperative: a watcher finishes the ingestion it is running (an
//! ingestion is never abandoned half-way; its crash safety covers a process that is killed anyway).

mod event;
mod scan;
mod tracker;
mod watcher;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use event::{WatchEvent, WatchEventKind, WatchModeName};

use crate::fabric::Fabric;
use crate::ingest::IngestOptions;
use crate::Engine;

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

/// Which registered fabrics a [`WatchSet`] follows.
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

/// How a [`WatchSet`] works.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub mode: WatchMode,
    /// How long a file must stay unchanged (length, times, inode) between two looks before it is taken.
    pub debounce: Duration,
    /// How long a file that a writer still holds open (known from events) or that is empty may stay unchanged
    /// before it is taken anyway.
    pub settle_max: Duration,
    /// With a selection, the set follows the registry: fabrics registered (and selected) are watched, fabrics
    /// removed are dropped, a fabric whose root changed is restarted. `None`: only [`WatchSet::add_fabric`].
    pub follow: Option<FabricSelection>,
    /// How often the registry is read when following it.
    pub registry_interval: Duration,
    /// In event mode, how often raw/ is scanned anyway (events can be lost; a scan is cheap).
    pub rescan_interval: Duration,
    /// The ingestion options of every run (`only` and `dry_run` are set by the watcher).
    pub ingest: IngestOptions,
    /// Events each subscription holds before the watchers wait for it to read (see [`WatchEvents`]).
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

/// What a fabric's watcher is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WatchState {
    Starting,
    Watching,
    Ingesting,
    /// raw/ is missing (or not a folder): waiting for it to come back.
    RawMissing,
    Stopped,
}

/// The status of one fabric's watcher (for `status` and the HTTP API).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricWatchStatus {
    pub fabric: String,
    pub root: PathBuf,
    pub mode: WatchModeName,
    pub state: WatchState,
    /// RFC 3339.
    pub watching_since: String,
    /// Distinct raw files seen.
    pub files_seen: u64,
    /// Raw files waiting to settle or to be ingested.
    pub pending: usize,
    /// Ingestion runs completed.
    pub runs: u64,
    /// Files per outcome, over all runs.
    pub ingested: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub skipped: u64,
    pub last_run_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// The events of a [`WatchSet`], in order. Ends (`recv` gives `None`) once the set has stopped and every event
/// was read.
///
/// The channel is bounded ([`WatchOptions::event_capacity`]). When a subscriber falls behind and its channel is
/// full, nothing is dropped: the events of the watcher's current round wait beside the channel, and every
/// watcher waits at the start of its next round (before it looks at raw/ again or ingests anything) until the
/// subscriber has read them. Meanwhile files keep arriving in raw/; the file-system events about them collect in
/// the watcher's inbox, itself bounded (beyond it the inbox only asks for a rescan), so the scan of raw/ that
/// starts the next round takes every one of them. Memory stays bounded by one round's events, and a slow
/// subscriber slows the watchers down instead of losing what they did.
#[derive(Debug)]
pub struct WatchEvents {
    rx: mpsc::Receiver<WatchEvent>,
}

impl WatchEvents {
    pub async fn recv(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<WatchEvent> {
        self.rx.try_recv().ok()
    }
}

/// One subscription: its bounded channel and the events of the current round that did not fit yet.
struct Subscriber {
    tx: mpsc::Sender<WatchEvent>,
    backlog: Mutex<std::collections::VecDeque<WatchEvent>>,
}

impl Subscriber {
    /// Sends at once when the channel has room and nothing waits before it; otherwise queues. False when the
    /// subscription is gone.
    fn offer(&self, ev: WatchEvent) -> bool {
        let mut backlog = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
        if !backlog.is_empty() {
            backlog.push_back(ev);
            return !self.tx.is_closed();
        }
        match self.tx.try_send(ev) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(ev)) => {
                backlog.push_back(ev);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Waits until every queued event is in the channel (or the subscription is gone).
    async fn drain(&self) {
        loop {
            if self
                .backlog
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                return;
            }
            let Ok(permit) = self.tx.reserve().await else {
                self.backlog
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                return;
            };
            // Popped and sent under the lock, so an event offered meanwhile never overtakes it.
            let mut backlog = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(ev) = backlog.pop_front() {
                permit.send(ev);
            }
        }
    }
}

struct FabricEntry {
    fabric: Fabric,
    cancel: CancellationToken,
    status: Arc<Mutex<FabricWatchStatus>>,
    stop_reason: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

/// What the set and its tasks share.
struct Shared {
    engine: Engine,
    options: WatchOptions,
    cancel: CancellationToken,
    fabrics: Mutex<BTreeMap<String, FabricEntry>>,
    subscribers: Mutex<Vec<Arc<Subscriber>>>,
}

impl Shared {
    fn emit(&self, fabric: Option<&str>, kind: WatchEventKind) {
        let ev = WatchEvent::new(fabric, kind);
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|s| s.offer(ev.clone()));
    }

    /// Waits until every subscriber has room for the events waiting for it (see [`WatchEvents`]).
    async fn drain(&self) {
        let subs: Vec<Arc<Subscriber>> = self
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for s in subs {
            s.drain().await;
        }
    }

    fn subscribe(&self) -> WatchEvents {
        let (tx, rx) = mpsc::channel(self.options.event_capacity.max(1));
        if !self.cancel.is_cancelled() {
            self.subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::new(Subscriber {
                    tx,
                    backlog: Mutex::new(Default::default()),
                }));
        }
        WatchEvents { rx }
    }

    /// Starts watching a fabric. False when it is already watched (and running) or the set is stopping.
    fn add(self: &Arc<Self>, fabric: Fabric) -> bool {
        if self.cancel.is_cancelled() {
            return false;
        }
        let mut map = self.fabrics.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&fabric.name).is_some_and(|e| !e.task.is_finished()) {
            return false;
        }
        let cancel = self.cancel.child_token();
        let status = Arc::new(Mutex::new(FabricWatchStatus {
            fabric: fabric.name.clone(),
            root: fabric.root.clone(),
            mode: match self.options.mode {
                WatchMode::Events => WatchModeName::Events,
                WatchMode::Poll(_) => WatchModeName::Poll,
            },
            state: WatchState::Starting,
            watching_since: crate::clock::now_rfc3339(),
            files_seen: 0,
            pending: 0,
            runs: 0,
            ingested: 0,
            unchanged: 0,
            rejected: 0,
            skipped: 0,
            last_run_at: None,
            last_error: None,
            last_error_at: None,
        }));
        let stop_reason = Arc::new(Mutex::new(None));
        let job = watcher::FabricWatch {
            shared: self.clone(),
            fabric: fabric.clone(),
            cancel: cancel.clone(),
            status: status.clone(),
            stop_reason: stop_reason.clone(),
        };
        let span = crate::progress::operation_span("watch", &fabric.name);
        // Every run of a watcher is the watcher's: its run records and archive-log entries say so.
        let task = tokio::spawn(tracing::Instrument::instrument(
            crate::actor::scope(Some(crate::actor::WATCHER.to_string()), job.run()),
            span,
        ));
        map.insert(
            fabric.name.clone(),
            FabricEntry {
                fabric,
                cancel,
                status,
                stop_reason,
                task,
            },
        );
        true
    }

    /// Stops watching a fabric, after the ingestion it is running. False when it was not watched.
    async fn remove(&self, name: &str, reason: &str) -> bool {
        let entry = self
            .fabrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let Some(entry) = entry else { return false };
        *entry.stop_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.to_string());
        entry.cancel.cancel();
        let _ = entry.task.await;
        true
    }

    /// Brings the watched fabrics in line with the registry.
    async fn follow_registry(self: Arc<Self>, selection: FabricSelection) {
        let mut last_error: Option<String> = None;
        loop {
            match self.engine.fabrics().await {
                Ok(list) => {
                    last_error = None;
                    self.sync(&selection, list).await;
                }
                Err(e) => {
                    let message = format!("cannot read the fabric registry: {e}");
                    if last_error.as_deref() != Some(message.as_str()) {
                        self.emit(
                            None,
                            WatchEventKind::Error {
                                message: message.clone(),
                                file: None,
                            },
                        );
                        last_error = Some(message);
                    }
                }
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(self.options.registry_interval) => {}
            }
        }
    }

    async fn sync(self: &Arc<Self>, selection: &FabricSelection, registered: Vec<Fabric>) {
        let wanted: BTreeMap<String, Fabric> = registered
            .into_iter()
            .filter(|f| selection.contains(&f.name))
            .map(|f| (f.name.clone(), f))
            .collect();
        let mut drop = Vec::new();
        {
            let map = self.fabrics.lock().unwrap_or_else(|e| e.into_inner());
            for (name, e) in map.iter() {
                match wanted.get(name) {
                    None => drop.push((name.clone(), "removed from the registry")),
                    Some(f) if f.root != e.fabric.root => {
                        drop.push((name.clone(), "its GitOps root changed"))
                    }
                    // Ended by itself (e.g. it saw the fabric removed, and it is registered again since).
                    Some(_) if e.task.is_finished() => drop.push((name.clone(), "restarted")),
                    Some(_) => {}
                }
            }
        }
        for (name, reason) in drop {
            self.remove(&name, reason).await;
        }
        for (_, f) in wanted {
            if self.cancel.is_cancelled() {
                return;
            }
            let watched = self
                .fabrics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&f.name);
            if !watched {
                self.add(f);
            }
        }
    }
}

/// A set of fabric watchers: one task per fabric, under one cancellation, with one event stream.
///
/// ```no_run
/// # async fn demo(engine: hhgitops_engine::Engine) {
/// use hhgitops_engine::watch::{FabricSelection, WatchOptions, WatchSet};
/// let options = WatchOptions { follow: Some(FabricSelection::All), ..WatchOptions::default() };
/// let (set, mut events) = WatchSet::start(engine, options);
/// while let Some(ev) = events.recv().await {
///     println!("{}", serde_json::to_string(&ev).unwrap_or_default());
/// #   break;
/// }
/// set.stop().await;
/// # }
/// ```
pub struct WatchSet {
    shared: Arc<Shared>,
    follower: Mutex<Option<JoinHandle<()>>>,
}

impl WatchSet {
    /// Starts an empty set (or one following the registry, per `options.follow`) and returns it with its first
    /// subscription, which sees every event from the start. Must be called within a Tokio runtime.
    pub fn start(engine: Engine, options: WatchOptions) -> (WatchSet, WatchEvents) {
        let follow = options.follow.clone();
        let shared = Arc::new(Shared {
            engine,
            options,
            cancel: CancellationToken::new(),
            fabrics: Mutex::new(BTreeMap::new()),
            subscribers: Mutex::new(Vec::new()),
        });
        let events = shared.subscribe();
        let follower = follow.map(|sel| tokio::spawn(shared.clone().follow_registry(sel)));
        (
            WatchSet {
                shared,
                follower: Mutex::new(follower),
            },
            events,
        )
    }

    /// Another subscription; it sees the events from now on.
    pub fn subscribe(&self) -> WatchEvents {
        self.shared.subscribe()
    }

    /// Starts watching a fabric. False when it is already watched or the set is stopping.
    pub fn add_fabric(&self, fabric: Fabric) -> bool {
        self.shared.add(fabric)
    }

    /// Stops watching a fabric, once the ingestion it is running (if any) has finished. False when it was not
    /// watched. With `follow`, a fabric still registered comes back at the next registry check.
    pub async fn remove_fabric(&self, name: &str) -> bool {
        self.shared.remove(name, "removed from the watch").await
    }

    /// The names of the fabrics watched.
    pub fn fabrics(&self) -> Vec<String> {
        self.shared
            .fabrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    pub fn status(&self) -> Vec<FabricWatchStatus> {
        let map = self
            .shared
            .fabrics
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.values()
            .map(|e| e.status.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Stops every watcher: each finishes the ingestion it is running, then reports `stopped`. Afterwards the
    /// subscriptions end. Safe to call more than once.
    pub async fn stop(&self) {
        for e in self
            .shared
            .fabrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            *e.stop_reason.lock().unwrap_or_else(|p| p.into_inner()) = Some("shutdown".into());
        }
        self.shared.cancel.cancel();
        let follower = self
            .follower
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(f) = follower {
            let _ = f.await;
        }
        let entries: Vec<FabricEntry> = std::mem::take(
            &mut *self
                .shared
                .fabrics
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
        .into_values()
        .collect();
        for e in entries {
            let _ = e.task.await;
        }
        // The subscriptions end once they have read what waits for them (their last events are `stopped`).
        let subs: Vec<Arc<Subscriber>> = std::mem::take(
            &mut *self
                .shared
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        tokio::spawn(async move {
            for s in subs {
                s.drain().await;
            }
        });
    }
}

impl Drop for WatchSet {
    /// Dropping a set without [`stop`](WatchSet::stop) cancels it; its tasks end on their own.
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

#[cfg(test)]
mod tests;
