//! The ingestion pipeline through its public entry point, on a real home (SQLite), a real root and real files:
//! the progress events of a run in order with their totals, and what a second run reads.

use std::sync::Arc;

use super::*;
use crate::fabric::FabricSpec;
use crate::home::Home;
use crate::progress::{Operation, Progress, ProgressEvent, Recorder};
use crate::Engine;

const NAMESPACES: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: default
spec:
  ranges:
  - from: 1000
    to: 2999
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: IPv4Namespace
metadata:
  name: default
spec:
  subnets:
  - 10.10.0.0/16
";

fn vpc(name: &str, vlan: u16) -> String {
    format!(
        "apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: {name}\nspec:\n  subnets:\n    s1:\n      subnet: 10.10.{}.0/24\n      vlan: {vlan}\n",
        vlan - 1000
    )
}

async fn fabric(dir: &std::path::Path) -> (Engine, Fabric) {
    let engine = Engine::open(Home::from_dir(dir.join("home")).unwrap(), None)
        .await
        .unwrap();
    let spec = FabricSpec {
        name: "f".into(),
        path: Some(dir.join("root")),
        ..Default::default()
    };
    let fabric = engine.add_fabric(&spec).await.unwrap().fabric;
    (engine, fabric)
}

fn stages(events: &[ProgressEvent]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for e in events {
        if out.last() != Some(&e.stage) {
            out.push(e.stage);
        }
    }
    out
}

fn of<'a>(events: &'a [ProgressEvent], stage: &str) -> Vec<&'a ProgressEvent> {
    events.iter().filter(|e| e.stage == stage).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_reports_its_stages_in_order_with_their_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, fabric) = fabric(tmp.path()).await;
    let raw = fabric.root.join("raw");
    std::fs::write(raw.join("a-ns.yaml"), NAMESPACES).unwrap();
    std::fs::write(
        raw.join("b-vpcs.yaml"),
        format!("{}---\n{}", vpc("vpc-1", 1001), vpc("vpc-2", 1002)),
    )
    .unwrap();
    // Same VLAN as vpc-1: rejected by the whole-state rules.
    std::fs::write(raw.join("c-clash.yaml"), vpc("vpc-3", 1001)).unwrap();
    std::fs::write(raw.join("d-broken.yaml"), "kind: [").unwrap();

    let rec = Arc::new(Recorder::default());
    let opts = IngestOptions {
        progress: Progress::new(rec.clone()),
        ..IngestOptions::default()
    };
    let report = ingest(&engine, &fabric, &opts).await.unwrap();
    assert_eq!(report.summary.ingested, 2, "{:#?}", report.files);
    assert_eq!(report.summary.rejected, 2);
    assert_eq!(report.summary.created, 4);

    let ev = rec.events();
    assert!(ev.iter().all(|e| e.operation == Operation::Ingest));
    assert_eq!(
        stages(&ev),
        ["read", "parse", "validate", "write", "commit", "index"]
    );
    // read: one step per raw file, in raw/'s order, up to its total.
    let read = of(&ev, "read");
    assert!(read.iter().all(|e| e.total == Some(4)));
    assert_eq!(
        read.iter().map(|e| e.done).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(read[1].current.as_deref(), Some("raw/a-ns.yaml"));
    assert_eq!(read[4].current.as_deref(), Some("raw/d-broken.yaml"));
    // parse: every file read (the broken one too).
    let parse = of(&ev, "parse");
    assert_eq!(parse.last().unwrap().done, 4);
    assert!(parse.iter().all(|e| e.total == Some(4)));
    // validate: the three files that parsed.
    let validate = of(&ev, "validate");
    assert_eq!(validate.last().unwrap().total, Some(3));
    assert_eq!(validate.last().unwrap().done, 3);
    // write: one step per object of the accepted files, named.
    let write = of(&ev, "write");
    assert_eq!(write[0].total, Some(4));
    let names: Vec<&str> = write.iter().filter_map(|e| e.current.as_deref()).collect();
    assert_eq!(
        names,
        [
            "VLANNamespace/default",
            "IPv4Namespace/default",
            "VPC/vpc-1",
            "VPC/vpc-2"
        ]
    );
    for stage in ["commit", "index"] {
        let e = of(&ev, stage);
        assert_eq!(
            (e.last().unwrap().done, e.last().unwrap().total),
            (1, Some(1))
        );
    }
    // done never goes down within a stage.
    for stage in stages(&ev) {
        let d: Vec<u64> = of(&ev, stage).iter().map(|e| e.done).collect();
        assert!(d.windows(2).all(|w| w[0] <= w[1]), "{stage}: {d:?}");
    }

    // A second run: the rejected files are not parsed again (same content, same context), nothing is written.
    let rec = Arc::new(Recorder::default());
    let opts = IngestOptions {
        progress: Progress::new(rec.clone()),
        ..IngestOptions::default()
    };
    let again = ingest(&engine, &fabric, &opts).await.unwrap();
    assert!(!again.changed);
    assert!(again.files.iter().all(|f| f.previously_rejected));
    let ev = rec.events();
    assert_eq!(of(&ev, "write").last().unwrap().total, Some(0));
    assert_eq!(of(&ev, "validate").last().unwrap().total, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_no_commit_and_a_no_op_run_only_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let (engine, fabric) = fabric(tmp.path()).await;
    std::fs::write(fabric.root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let rec = Arc::new(Recorder::default());
    let opts = IngestOptions {
        dry_run: true,
        progress: Progress::new(rec.clone()),
        ..IngestOptions::default()
    };
    let report = ingest(&engine, &fabric, &opts).await.unwrap();
    assert_eq!(report.summary.created, 2);
    assert!(
        fabric.root.join("raw/ns.yaml").exists(),
        "a dry run writes nothing"
    );
    assert_eq!(
        stages(&rec.events()),
        ["read", "parse", "validate", "write"]
    );

    ingest(&engine, &fabric, &IngestOptions::default())
        .await
        .unwrap();
    let rec = Arc::new(Recorder::default());
    let opts = IngestOptions {
        progress: Progress::new(rec.clone()),
        ..IngestOptions::default()
    };
    let report = ingest(&engine, &fabric, &opts).await.unwrap();
    assert!(report.files.is_empty() && !report.changed);
    let ev = rec.events();
    assert_eq!(stages(&ev), ["read", "index"]);
    assert_eq!(of(&ev, "read")[0].total, Some(0));
}
