//! Watching raw/ (SPEC §4): a [`WatchSet`] runs one watcher task per fabric — file-system events with a
//! polling fallback, a debounce before a file is taken, one ingestion at a time per fabric and fabrics in
//! parallel — reports [`WatchEvent`]s to its subscribers, and can follow the fabric registry so fabrics added
//! or removed by other processes are picked up or dropped without a restart.
//!
//! It is the library half of `hhgitops ingest --watch`, and what the HTTP server runs; it holds no global
//! state and prints nothing. Stopping is cooperative: a watcher finishes the ingestion it is running (an
//! ingestion is never abandoned half-way; its crash safety covers a process that is killed anyway).

mod event;
mod hub;
mod options;
mod scan;
mod tracker;
mod watcher;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use event::{WatchEvent, WatchEventKind, WatchModeName};
pub use hub::{FabricWatchStatus, WatchEvents, WatchState};
pub use options::{
    FabricSelection, WatchMode, WatchOptions, DEFAULT_DEBOUNCE, DEFAULT_EVENT_CAPACITY,
};

use hub::{Hub, Subscriber};

use crate::context::Context;
use crate::fabric::Fabric;

struct FabricEntry {
    fabric: Fabric,
    cancel: CancellationToken,
    status: Arc<Mutex<FabricWatchStatus>>,
    stop_reason: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

/// What the set and its tasks share.
struct Shared {
    hub: Arc<Hub>,
    cancel: CancellationToken,
    fabrics: Mutex<BTreeMap<String, FabricEntry>>,
}

impl Shared {
    fn subscribe(&self) -> WatchEvents {
        let (tx, rx) = mpsc::channel(self.hub.options.event_capacity.max(1));
        if !self.cancel.is_cancelled() {
            self.hub
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::new(Subscriber::new(tx)));
        }
        WatchEvents::new(rx)
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
            mode: match self.hub.options.mode {
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
            hub: self.hub.clone(),
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
            match self.hub.engine.fabrics().await {
                Ok(list) => {
                    last_error = None;
                    self.sync(&selection, list).await;
                }
                Err(e) => {
                    let message = format!("cannot read the fabric registry: {e}");
                    if last_error.as_deref() != Some(message.as_str()) {
                        self.hub.emit(
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
                _ = tokio::time::sleep(self.hub.options.registry_interval) => {}
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
    pub fn start(engine: impl Into<Context>, options: WatchOptions) -> (WatchSet, WatchEvents) {
        let engine: Context = engine.into();
        let follow = options.follow.clone();
        let shared = Arc::new(Shared {
            hub: Arc::new(Hub {
                engine,
                options,
                subscribers: Mutex::new(Vec::new()),
            }),
            cancel: CancellationToken::new(),
            fabrics: Mutex::new(BTreeMap::new()),
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
                .hub
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
