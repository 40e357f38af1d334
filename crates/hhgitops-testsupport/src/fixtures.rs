//! Fixtures: the shared samples beside the repository and small valid objects.

use std::path::{Path, PathBuf};

/// The shared samples and tools, beside the repository (or where `HHGITOPS_SHARED` — or `HHGITOPS_TEST_SHARED` —
/// says, for a work tree whose parent has no `shared`).
pub fn shared_dir() -> Option<PathBuf> {
    let p = std::env::var_os("HHGITOPS_SHARED")
        .or_else(|| std::env::var_os("HHGITOPS_TEST_SHARED"))
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if p.is_dir() {
        Some(p)
    } else if std::env::var("CI").is_ok_and(|c| c == "true") {
        panic!(
            "{} not found beside the repository: CI must run the tests that need the shared samples",
            p.display()
        );
    } else {
        eprintln!("note: ../shared not found beside the repository: test skipped");
        None
    }
}

/// Namespaces that small test fabrics need.
pub const NAMESPACES: &str = "apiVersion: wiring.githedgehog.com/v1beta1
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
";

/// A valid VPC with one subnet (`n` picks subnet 10.0.n.0/24 and VLAN 1000+n).
pub fn vpc(name: &str, n: u32) -> String {
    format!(
        "apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: {name}
spec:
  subnets:
    default:
      subnet: 10.0.{n}.0/24
      gateway: 10.0.{n}.1
      vlan: {vlan}
",
        vlan = 1000 + n
    )
}
