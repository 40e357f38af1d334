//! The engine's progress events turned into a job's progress: a [`ProgressSink`] the job runner hands to every
//! engine call, and a writer task that stores what it hears as the job's progress (per stage: done, total,
//! current object) and as SSE `progress` events.
//!
//! Invariants:
//! - Throttled: every stage's first event and its last one (the one that reaches its total, or the latest when
//!   the next stage starts or the operation ends) are written; between them at most one event per stage every
//!   [`INTERVAL`] (about ten a second), the latest. A 5,600-object ingestion writes tens of rows, not thousands.
//! - The sink never blocks the engine and never drops a first or last event: it only updates a small state under
//!   a mutex (at most one pending event per stage) and wakes the writer.
//! - Events of one stage are written in the order they were reported; `done` never goes down within a stage.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hhgitops_engine::progress::{Progress, ProgressEvent, ProgressSink};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// At most one throttled event per stage in this interval.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Writes one event (its JSON, see [`event_json`]); the job runner's stores it as progress and as an event.
pub type Writer =
    Arc<dyn Fn(serde_json::Value) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

type Key = (&'static str, &'static str);

#[derive(Default)]
struct Pending {
    /// Firsts and lasts: written as soon as the writer gets to them, in order.
    must: VecDeque<ProgressEvent>,
    /// The latest event of each stage in progress (in the order the stages began), written when the interval
    /// has passed.
    latest: Vec<(Key, ProgressEvent)>,
    seen: HashSet<Key>,
    closed: bool,
}

struct Inner {
    state: Mutex<Pending>,
    wake: Notify,
}

struct Sink(Arc<Inner>);

impl ProgressSink for Sink {
    fn report(&self, ev: &ProgressEvent) {
        let key = (ev.operation.as_str(), ev.stage);
        {
            let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.closed {
                return;
            }
            if st.seen.insert(key) {
                // A new stage: the stages before it have reported their last event.
                let previous: Vec<ProgressEvent> = std::mem::take(&mut st.latest)
                    .into_iter()
                    .map(|(_, e)| e)
                    .collect();
                st.must.extend(previous);
                st.must.push_back(ev.clone());
            } else if ev.total.is_some_and(|t| ev.done >= t) {
                st.latest.retain(|(k, _)| *k != key);
                st.must.push_back(ev.clone());
            } else if let Some(slot) = st.latest.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = ev.clone();
            } else {
                st.latest.push((key, ev.clone()));
            }
        }
        self.0.wake.notify_one();
    }
}

/// The progress of one job's engine calls: [`progress`](JobProgress::progress) is the handle to give them;
/// [`finish`](JobProgress::finish) writes what is pending and waits for the writer.
pub struct JobProgress {
    inner: Arc<Inner>,
    task: Option<JoinHandle<()>>,
}

impl JobProgress {
    /// Starts the writer task.
    pub fn start(write: Writer) -> JobProgress {
        let inner = Arc::new(Inner {
            state: Mutex::new(Pending::default()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(run(inner.clone(), write));
        JobProgress {
            inner,
            task: Some(task),
        }
    }

    pub fn progress(&self) -> Progress {
        Progress::new(Arc::new(Sink(self.inner.clone())))
    }

    /// Writes every pending event (each stage's latest is its last) and ends the writer.
    pub async fn finish(mut self) {
        self.close();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    fn close(&self) {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.inner.wake.notify_one();
    }
}

impl Drop for JobProgress {
    /// Without `finish` (an early return), the writer still writes what is pending, then ends.
    fn drop(&mut self) {
        self.close();
    }
}

/// The key of a stage in the job's progress (`ingest.parse`, `apply.apply`).
pub fn stage_key(ev: &ProgressEvent) -> String {
    format!("{}.{}", ev.operation.as_str(), ev.stage)
}

/// An event as the job stores and streams it: `{key, operation, stage, state, done, total, current}`, with
/// `state` `done` once the stage reached its total, else `running`.
pub fn event_json(ev: &ProgressEvent) -> serde_json::Value {
    let finished = ev.total.is_some_and(|t| ev.done >= t);
    serde_json::json!({
        "key": stage_key(ev),
        "operation": ev.operation.as_str(),
        "stage": ev.stage,
        "state": if finished { "done" } else { "running" },
        "done": ev.done,
        "total": ev.total,
        "current": ev.current,
    })
}

async fn run(inner: Arc<Inner>, write: Writer) {
    let mut last_throttled: Option<Instant> = None;
    loop {
        let must: Vec<ProgressEvent> = {
            let mut st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            st.must.drain(..).collect()
        };
        for ev in &must {
            write(event_json(ev)).await;
        }
        let (due, wait, done) = {
            let mut st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            if !st.must.is_empty() {
                continue;
            }
            let ready = st.closed || last_throttled.is_none_or(|t| t.elapsed() >= INTERVAL);
            if !st.latest.is_empty() && ready {
                let due: Vec<ProgressEvent> = std::mem::take(&mut st.latest)
                    .into_iter()
                    .map(|(_, e)| e)
                    .collect();
                (due, None, false)
            } else if !st.latest.is_empty() {
                let left =
                    last_throttled.map_or(Duration::ZERO, |t| INTERVAL.saturating_sub(t.elapsed()));
                (Vec::new(), Some(left), false)
            } else {
                (Vec::new(), None, st.closed)
            }
        };
        if done {
            return;
        }
        if !due.is_empty() {
            for ev in &due {
                write(event_json(ev)).await;
            }
            last_throttled = Some(Instant::now());
            continue;
        }
        match wait {
            Some(left) => {
                tokio::select! {
                    _ = tokio::time::sleep(left) => {}
                    _ = inner.wake.notified() => {}
                }
            }
            None => inner.wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hhgitops_engine::progress::Operation;

    type Written = Arc<Mutex<Vec<(Instant, serde_json::Value)>>>;

    fn recorder() -> (Writer, Written) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        let w: Writer = Arc::new(move |v| {
            let o = o.clone();
            Box::pin(async move {
                // A database round trip.
                tokio::time::sleep(Duration::from_millis(2)).await;
                o.lock().unwrap().push((Instant::now(), v));
            })
        });
        (w, out)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousands_of_events_become_a_few_rows_with_every_first_and_last() {
        let (w, out) = recorder();
        let jp = JobProgress::start(w);
        let p = jp.progress();
        let started = Instant::now();
        let objects = 5_600u64;
        let mut parse = p.stage(Operation::Ingest, "parse", Some(objects));
        for i in 0..objects {
            parse.step(|| format!("VPC/vpc-{i}"));
            if i % 50 == 0 {
                // Spread over about a second, as a real ingestion is.
                tokio::time::sleep(Duration::from_millis(9)).await;
            }
        }
        let mut write = p.stage(Operation::Ingest, "write", None);
        for _ in 0..1000 {
            write.set(write.done() + 1);
        }
        jp.finish().await;
        let elapsed = started.elapsed().as_secs_f64();
        let rows = out.lock().unwrap().clone();
        let parse_rows: Vec<&serde_json::Value> = rows
            .iter()
            .map(|(_, v)| v)
            .filter(|v| v["key"] == "ingest.parse")
            .collect();
        let bound = (elapsed * 10.0).ceil() as usize + 2;
        assert!(
            parse_rows.len() <= bound && parse_rows.len() >= 5,
            "{} rows for {objects} events in {elapsed:.2} s",
            parse_rows.len()
        );
        assert_eq!(parse_rows[0]["done"], 0, "the stage's first event");
        let last = parse_rows.last().unwrap();
        assert_eq!(last["done"], objects, "the stage's last event");
        assert_eq!(last["total"], objects);
        assert_eq!(last["state"], "done");
        assert_eq!(last["current"], format!("VPC/vpc-{}", objects - 1));
        let dones: Vec<u64> = parse_rows
            .iter()
            .map(|v| v["done"].as_u64().unwrap())
            .collect();
        assert!(dones.windows(2).all(|w| w[0] < w[1]), "growing: {dones:?}");
        // The stage without a total: its first and its last (written when the operation ended).
        let write_rows: Vec<&serde_json::Value> = rows
            .iter()
            .map(|(_, v)| v)
            .filter(|v| v["key"] == "ingest.write")
            .collect();
        assert_eq!(write_rows.first().unwrap()["done"], 0);
        assert_eq!(write_rows.last().unwrap()["done"], 1000);
        assert!(write_rows.len() <= 4, "{write_rows:?}");
        // Stages in order: no parse event after the write stage began.
        let first_write = rows
            .iter()
            .position(|(_, v)| v["key"] == "ingest.write")
            .unwrap();
        assert!(rows[first_write..]
            .iter()
            .all(|(_, v)| v["key"] == "ingest.write"));
    }

    #[tokio::test]
    async fn nothing_is_written_after_the_end() {
        let (w, out) = recorder();
        let jp = JobProgress::start(w);
        let p = jp.progress();
        p.stage(Operation::Sync, "apply", Some(3)).set(3);
        jp.finish().await;
        let n = out.lock().unwrap().len();
        assert_eq!(n, 2, "first and last");
        p.stage(Operation::Sync, "drift", None);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(out.lock().unwrap().len(), n);
    }
}
