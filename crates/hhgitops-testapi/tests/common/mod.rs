//! Shared helpers: locating the CRDs, starting a server, building kube clients and test objects.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hhgitops_testapi::TestApiServer;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value};

/// The Hedgehog CRDs beside the repository; `None` (with a note) when they are absent.
pub fn crds_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds");
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var("CI").is_ok_and(|c| c == "true") {
        panic!(
            "CRD directory {} is absent: CI must run the tests that need ../shared",
            dir.display()
        );
    } else {
        eprintln!("skipping: CRD directory {} is absent", dir.display());
        None
    }
}

/// A started server, or `None` when the CRDs are absent.
pub fn start() -> Option<TestApiServer> {
    let dir = crds_dir()?;
    Some(TestApiServer::start(dir).expect("test API server starts"))
}

pub async fn client_with(kubeconfig: &str) -> Client {
    let kc = Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    Client::try_from(config).expect("client builds")
}

pub async fn client(server: &TestApiServer) -> Client {
    client_with(&server.kubeconfig()).await
}

pub fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn switches(client: &Client) -> Api<DynamicObject> {
    let ar = resource("wiring.githedgehog.com", "v1beta1", "Switch", "switches");
    Api::namespaced_with(client.clone(), "default", &ar)
}

pub fn vpcs(client: &Client) -> Api<DynamicObject> {
    let ar = resource("vpc.githedgehog.com", "v1beta1", "VPC", "vpcs");
    Api::namespaced_with(client.clone(), "default", &ar)
}

pub fn switch(name: &str, role: &str) -> Value {
    json!({
        "apiVersion": "wiring.githedgehog.com/v1beta1",
        "kind": "Switch",
        "metadata": {"name": name, "labels": {"hhgitops.githedgehog.com/fabric": "f1"}},
        "spec": {"role": role, "profile": "vs", "asn": 65101, "ip": "172.30.0.9/21", "vlanNamespaces": ["default"]}
    })
}

pub fn vpc(name: &str, subnets: &[(&str, &str, u16)]) -> Value {
    let mut s = serde_json::Map::new();
    for (n, cidr, vlan) in subnets {
        s.insert(n.to_string(), json!({"subnet": cidr, "vlan": vlan}));
    }
    json!({
        "apiVersion": "vpc.githedgehog.com/v1beta1",
        "kind": "VPC",
        "metadata": {"name": name, "labels": {"hhgitops.githedgehog.com/fabric": "f1"}},
        "spec": {"ipv4Namespace": "default", "vlanNamespace": "default", "subnets": s}
    })
}

pub fn dynamic(v: Value) -> DynamicObject {
    serde_json::from_value(v).expect("a valid object")
}

/// The `Status` behind a kube API error.
pub fn status(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
