//! What a set's watchers share: the engine context, the options, and the subscriptions every event goes to
//! (bounded, never lossy: see [`WatchEvents`]); and the status each watcher keeps.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

use super::event::{WatchEvent, WatchEventKind, WatchModeName};
use super::options::WatchOptions;
use crate::context::Context;

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
    pub(super) fn new(rx: mpsc::Receiver<WatchEvent>) -> WatchEvents {
        WatchEvents { rx }
    }

    pub async fn recv(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<WatchEvent> {
        self.rx.try_recv().ok()
    }
}

/// One subscription: its bounded channel and the events of the current round that did not fit yet.
pub(super) struct Subscriber {
    tx: mpsc::Sender<WatchEvent>,
    backlog: Mutex<std::collections::VecDeque<WatchEvent>>,
}

impl Subscriber {
    pub(super) fn new(tx: mpsc::Sender<WatchEvent>) -> Subscriber {
        Subscriber {
            tx,
            backlog: Mutex::new(Default::default()),
        }
    }

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
    pub(super) async fn drain(&self) {
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

/// The part of a set its watchers reach: what they run with and where their events go.
pub(super) struct Hub {
    pub(super) engine: Context,
    pub(super) options: WatchOptions,
    pub(super) subscribers: Mutex<Vec<Arc<Subscriber>>>,
}

impl Hub {
    pub(super) fn emit(&self, fabric: Option<&str>, kind: WatchEventKind) {
        let ev = WatchEvent::new(fabric, kind);
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|s| s.offer(ev.clone()));
    }

    /// Waits until every subscriber has room for the events waiting for it (see [`WatchEvents`]).
    pub(super) async fn drain(&self) {
        let subs: Vec<Arc<Subscriber>> = self
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for s in subs {
            s.drain().await;
        }
    }
}
