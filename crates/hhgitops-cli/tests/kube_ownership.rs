//! The cluster side's guards, through the real binary against the in-process test API server: credentials are
//! never sent over plain HTTP, and an object another fabric's label claims is a conflict that `sync` leaves
//! alone (unless `--adopt`) and `drift` reports.

mod common;
mod kube_support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hhgitops_core::Kind;
use kube_support::*;

/// A kubeconfig whose server is `http://` and whose user has a token: refused before anything is sent.
#[test]
fn credentials_are_never_sent_over_plain_http() {
    let Some(k) = start() else { return };
    k.fabric("f");
    // A plain TCP listener standing in for the API server records whatever reaches it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::<u8>::new()));
    {
        let received = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut s = stream;
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    received.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }
        });
    }
    let good = std::fs::read_to_string(&k.kubeconfig).unwrap();
    let https = k.server.url();
    let plain = good.replace(&https, &format!("http://127.0.0.1:{port}"));
    assert_ne!(plain, good);
    std::fs::write(&k.kubeconfig, &plain).unwrap();
    for cmd in [
        &["drift", "--fabric", "f"][..],
        &["sync", "--fabric", "f"][..],
    ] {
        let out = k.run(cmd, 2);
        let err = stderr(&out);
        assert!(
            err.contains("plain HTTP") && err.contains("https://"),
            "{cmd:?}: {err}"
        );
        assert!(!err.contains(k.server.token()), "{err}");
    }
    std::thread::sleep(Duration::from_millis(200));
    let got = received.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains(k.server.token()),
        "the token reached the plain-HTTP server: {text}"
    );
    assert!(got.is_empty(), "nothing was sent at all: {text}");
}

const NAMESPACED_VPC: &str = "apiVersion: wiring.githedgehog.com/v1beta1
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
  - 10.0.0.0/16
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-1
spec:
  subnets:
    default:
      subnet: 10.0.SUBNET.0/24
      gateway: 10.0.SUBNET.1
      vlan: 10SUBNET0
";

fn label(obj: &serde_json::Value) -> Option<String> {
    obj["metadata"]["labels"]["hhgitops.githedgehog.com/fabric"]
        .as_str()
        .map(str::to_string)
}

/// Fabric g manages a VPC that fabric f already applied: it is a conflict, never taken over silently.
#[test]
fn an_object_with_another_fabrics_label_is_a_conflict_until_adopted() {
    let Some(k) = start() else { return };
    let f = k.fabric("f");
    let g = k.fabric("g");
    drop_raw(&f, "a.yaml", &NAMESPACED_VPC.replace("SUBNET", "1"));
    drop_raw(&g, "a.yaml", &NAMESPACED_VPC.replace("SUBNET", "2"));
    k.json(&["sync", "--fabric", "f"], 0);
    let vpc = k.object(Kind::VPC, "vpc-1").expect("applied by f");
    assert_eq!(label(&vpc).as_deref(), Some("f"));

    let writes_before = k.writes().len();
    let r = k.json(&["sync", "--fabric", "g"], 1);
    let o = outcome(&r, "VPC", "vpc-1");
    assert_eq!(o["status"], "conflict", "{r:#}");
    assert!(o["message"].as_str().unwrap().contains("fabric f"), "{o}");
    assert_eq!(
        r["apply"]["summary"]["conflict"], 3,
        "the namespaces too: {r:#}"
    );
    assert_eq!(k.writes().len(), writes_before, "nothing written for g");
    let vpc = k.object(Kind::VPC, "vpc-1").unwrap();
    assert_eq!(label(&vpc).as_deref(), Some("f"), "ownership unchanged");
    assert_eq!(vpc["spec"]["subnets"]["default"]["subnet"], "10.0.1.0/24");
    let human = k.run(&["sync", "--fabric", "g"], 1);
    assert!(
        stderr(&human).contains("VPC/vpc-1: conflict"),
        "{}",
        stderr(&human)
    );

    // drift reports it for g, and f is still in sync.
    let d = k.json(&["drift", "--fabric", "g"], 1);
    let e = entry(&d, "VPC", "vpc-1");
    assert_eq!(
        (&e["status"], &e["fabric"]),
        (&serde_json::json!("conflict"), &serde_json::json!("f"))
    );
    assert_eq!(d["summary"]["conflict"], 3);
    let d = k.json(&["drift", "--fabric", "f"], 0);
    assert_eq!(entry(&d, "VPC", "vpc-1")["status"], "in-sync");

    // An explicit --adopt takes it over.
    let r = k.json(&["sync", "--fabric", "g", "--adopt"], 0);
    assert_eq!(outcome(&r, "VPC", "vpc-1")["status"], "applied", "{r:#}");
    let vpc = k.object(Kind::VPC, "vpc-1").unwrap();
    assert_eq!(label(&vpc).as_deref(), Some("g"));
    assert_eq!(vpc["spec"]["subnets"]["default"]["subnet"], "10.0.2.0/24");
    // Now it is f's turn to see the conflict; a sync of f does not flip it back.
    let r = k.json(&["sync", "--fabric", "f"], 1);
    assert_eq!(outcome(&r, "VPC", "vpc-1")["status"], "conflict");
    assert_eq!(
        label(&k.object(Kind::VPC, "vpc-1").unwrap()).as_deref(),
        Some("g")
    );
}
