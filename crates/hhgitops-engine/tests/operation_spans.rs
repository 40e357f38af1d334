//! Every operation logs inside a span naming its fabric and operation, opened by the engine itself (not only by
//! the front ends): an ingestion's log lines — written on the threads its work runs on (the fabric lock's
//! thread, blocking file work) — carry `operation=ingest` and `fabric=…`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use hhgitops_engine::fabric::FabricSpec;
use hhgitops_engine::home::Home;
use hhgitops_engine::ingest::{ingest, ingest_local, IngestOptions};
use hhgitops_engine::Engine;
use hhgitops_testsupport::{vpc, NAMESPACES};

/// What the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8(bytes).expect("log output is UTF-8")
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The engine's own lines of `text`; each must be inside the span of `operation` on `fabric`.
fn assert_in_span(text: &str, operation: &str, fabric: &str) {
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("hhgitops_engine"))
        .collect();
    assert!(
        ours.iter().any(|l| l.contains("ingestion run done")),
        "no summary line logged:\n{text}"
    );
    for line in ours {
        assert!(
            line.contains(&format!("operation={operation}"))
                && line.contains(&format!("fabric={fabric}")),
            "a line outside the span of {operation} on {fabric}: {line}\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingestion_logs_inside_its_operation_span() {
    // A global subscriber: the work runs on other threads than the test's.
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber of this test binary");

    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::open(Home::from_dir(dir.path().join("home")).expect("home"), None)
        .await
        .expect("engine");
    let spec = FabricSpec {
        name: "spans".into(),
        path: Some(dir.path().join("root")),
        ..Default::default()
    };
    let fabric = engine.add_fabric(&spec).await.expect("fabric add").fabric;

    // The tree-and-database entry point.
    std::fs::write(fabric.root.join("raw/namespaces.yaml"), NAMESPACES).expect("raw file");
    captured.take();
    let report = ingest_local(&engine, &fabric, &IngestOptions::default())
        .await
        .expect("ingest");
    assert_eq!(report.summary.ingested, 1, "{report:?}");
    assert_in_span(&captured.take(), "ingest", "spans");

    // The entry point with the Git side (none here), called from a task that has no span of its own.
    std::fs::write(fabric.root.join("raw/vpc.yaml"), vpc("vpc-1", 1)).expect("raw file");
    let (e, f) = (engine.clone(), fabric.clone());
    let report = tokio::spawn(async move { ingest(&e, &f, &IngestOptions::default()).await })
        .await
        .expect("task")
        .expect("ingest");
    assert_eq!(report.summary.ingested, 1, "{report:?}");
    assert_in_span(&captured.take(), "ingest", "spans");
}
