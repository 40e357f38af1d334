//! The watch set as the server will use it: start, add fabrics, events, status, stop.

use std::time::{Duration, Instant};

use super::*;
use crate::fabric::FabricSpec;
use crate::home::Home;
use crate::ingest::FileStatus;
use crate::Engine;

const NAMESPACES: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: default
spec:
  ranges:
  - from: 1000
    to: 2999
";

async fn engine(dir: &std::path::Path) -> Engine {
    Engine::open(Home::from_dir(dir.join("home")).unwrap(), None)
        .await
        .unwrap()
}

async fn add(engine: &Engine, dir: &std::path::Path, name: &str) -> Fabric {
    let spec = FabricSpec {
        name: name.into(),
        path: Some(dir.join(name)),
        ..Default::default()
    };
    engine.add_fabric(&spec).await.unwrap().fabric
}

/// The next event matching `pred`, within 20 s.
async fn wait_for(
    events: &mut WatchEvents,
    mut pred: impl FnMut(&WatchEvent) -> bool,
) -> WatchEvent {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event stream ended"),
            Err(_) => panic!("no matching event within 20 s"),
        }
    }
}

fn file_event<'a>(ev: &'a WatchEvent, file: &str) -> Option<&'a crate::ingest::FileReport> {
    match &ev.kind {
        WatchEventKind::File(f) if f.file == file => Some(f),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_fabric_is_watched_reported_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let fabric = add(&engine, dir.path(), "f").await;
    std::fs::write(fabric.root.join("raw/early.yaml"), NAMESPACES).unwrap();
    let (set, mut events) = WatchSet::start(engine.clone(), WatchOptions::default());
    assert!(set.add_fabric(fabric.clone()));
    assert!(!set.add_fabric(fabric.clone()), "already watched");
    let ev = wait_for(&mut events, |e| file_event(e, "raw/early.yaml").is_some()).await;
    assert_eq!(
        file_event(&ev, "raw/early.yaml").unwrap().status,
        FileStatus::Ingested
    );
    assert_eq!(ev.fabric.as_deref(), Some("f"));
    wait_for(&mut events, |e| {
        matches!(e.kind, WatchEventKind::Run { startup: true, .. })
    })
    .await;

    std::fs::write(fabric.root.join("raw/bad.yaml"), "kind: Nothing\n").unwrap();
    let ev = wait_for(&mut events, |e| file_event(e, "raw/bad.yaml").is_some()).await;
    assert_eq!(
        file_event(&ev, "raw/bad.yaml").unwrap().status,
        FileStatus::Rejected
    );
    let st = set.status();
    assert_eq!(st.len(), 1);
    assert_eq!(
        (st[0].ingested, st[0].rejected, st[0].files_seen),
        (1, 1, 2),
        "{st:?}"
    );
    assert_eq!(st[0].state, WatchState::Watching);

    assert!(set.remove_fabric("f").await);
    wait_for(&mut events, |e| {
        matches!(&e.kind, WatchEventKind::Stopped { .. })
    })
    .await;
    assert!(set.fabrics().is_empty());
    set.stop().await;
    assert!(events.recv().await.is_none(), "the stream ends after stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_the_registry_picks_up_and_drops_fabrics() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let options = WatchOptions {
        follow: Some(FabricSelection::All),
        registry_interval: Duration::from_millis(100),
        ..WatchOptions::default()
    };
    let (set, mut events) = WatchSet::start(engine.clone(), options);
    let fabric = add(&engine, dir.path(), "late").await;
    wait_for(&mut events, |e| {
        matches!(e.kind, WatchEventKind::Watching { .. }) && e.fabric.as_deref() == Some("late")
    })
    .await;
    std::fs::write(fabric.root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    wait_for(&mut events, |e| file_event(e, "raw/ns.yaml").is_some()).await;
    engine.remove_fabric("late").await.unwrap();
    let ev = wait_for(&mut events, |e| {
        matches!(e.kind, WatchEventKind::Stopped { .. })
    })
    .await;
    match ev.kind {
        WatchEventKind::Stopped { reason } => assert_eq!(reason, "removed from the registry"),
        _ => unreachable!(),
    }
    set.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_falls_behind_holds_the_watcher_back_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let fabric = add(&engine, dir.path(), "f").await;
    let options = WatchOptions {
        event_capacity: 2,
        ..WatchOptions::default()
    };
    let (set, mut events) = WatchSet::start(engine.clone(), options);
    assert!(set.add_fabric(fabric.clone()));
    // Nobody reads: the channel of 2 fills with the start's events, one round more at most is queued beside it,
    // then the watcher waits.
    for i in 1..=3 {
        std::fs::write(
            fabric.root.join(format!("raw/f{i}.yaml")),
            "kind: Nothing\n",
        )
        .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = set.status()[0].clone();
    for i in 4..=6 {
        std::fs::write(
            fabric.root.join(format!("raw/f{i}.yaml")),
            "kind: Nothing\n",
        )
        .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = set.status()[0].clone();
    assert_eq!(
        (still.runs, still.files_seen, still.rejected),
        (held.runs, held.files_seen, held.rejected),
        "the watcher waits for its subscriber: {still:?}"
    );
    assert!(still.rejected < 6, "{still:?}");
    // Reading again: every file is reported, once, in order after the watcher's start.
    let mut seen = Vec::new();
    let first = events.recv().await.unwrap();
    assert!(
        matches!(first.kind, WatchEventKind::Watching { .. }),
        "{first:?}"
    );
    while seen.len() < 6 {
        let ev = wait_for(&mut events, |e| matches!(e.kind, WatchEventKind::File(_))).await;
        if let WatchEventKind::File(f) = ev.kind {
            assert_eq!(f.status, FileStatus::Rejected, "{f:?}");
            seen.push(f.file);
        }
    }
    seen.sort();
    let want: Vec<String> = (1..=6).map(|i| format!("raw/f{i}.yaml")).collect();
    assert_eq!(seen, want);
    let deadline = Instant::now() + Duration::from_secs(5);
    while set.status()[0].rejected < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(set.status()[0].rejected, 6, "{:?}", set.status());
    set.stop().await;
    while let Some(ev) = events.recv().await {
        assert!(
            !matches!(&ev.kind, WatchEventKind::File(f) if want.contains(&f.file)),
            "a file reported twice: {ev:?}"
        );
    }
}
