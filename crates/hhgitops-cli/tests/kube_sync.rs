//! `sync` against an in-process Kubernetes API server: first syncs in dependency order, no-op syncs that write
//! nothing, updates, dry runs, pruning, admission rejections and API failures — all through the real binary.

mod common;
mod kube_support;

use std::time::Duration;

use common::*;
use hhgitops_core::Kind;
use hhgitops_testapi::FaultRule;
use kube_support::*;
use serde_json::json;

#[test]
fn first_sync_of_every_sample_creates_everything_in_dependency_order_and_a_second_sync_writes_nothing(
) {
    let list = samples();
    if list.is_empty() {
        return;
    }
    for (name, content) in list {
        let Some(k) = start() else { return };
        let root = k.fabric("f");
        drop_raw(&root, &name, &content);
        let want = kind_counts(&documents(&content));
        let total: usize = want.values().sum();

        let r = k.json(&["sync", "--fabric", "f"], 0);
        assert_eq!(r["ingest"]["summary"]["ingested"], 1, "{name}: {r}");
        assert_eq!(r["apply"]["summary"]["created"], total, "{name}: {r}");
        for (kind, n) in &want {
            assert_eq!(k.objects(*kind).len(), *n, "{name}: {kind} in the cluster");
        }
        for kind in Kind::ALL {
            for o in k.objects(kind) {
                assert_eq!(
                    o["metadata"]["labels"]["hhgitops.githedgehog.com/fabric"], "f",
                    "{name}: {kind} {} carries the fabric label",
                    o["metadata"]["name"]
                );
                assert_eq!(o["metadata"]["managedFields"][0]["manager"], "hhgitops");
            }
        }
        // Applies went out rank by rank: never an object of a lower rank after one of a higher rank.
        let ranks: Vec<u8> = k
            .writes()
            .iter()
            .filter(|w| w.method == "PATCH")
            .filter_map(kind_of)
            .map(Kind::apply_rank)
            .collect();
        assert_eq!(ranks.len(), total, "{name}: one apply per object");
        assert!(
            ranks.windows(2).all(|w| w[0] <= w[1]),
            "{name}: applies out of dependency order: {ranks:?}"
        );
        let status = k.json(&["status", "--fabric", "f"], 0);
        let run = status["lastRuns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["operation"] == "sync")
            .unwrap_or_else(|| panic!("a sync run is recorded: {status}"));
        assert_eq!(run["outcome"], "success");
        assert_eq!(run["created"], total);

        // The second sync finds everything in sync and sends no write at all.
        k.server.clear_request_log();
        let rv = k.server.resource_version();
        let r = k.json(&["sync", "--fabric", "f"], 0);
        assert_eq!(r["apply"]["summary"]["unchanged"], total, "{name}: {r}");
        assert!(
            k.writes().is_empty(),
            "{name}: a no-op sync wrote: {:?}",
            k.writes()
        );
        assert_eq!(k.server.resource_version(), rv);
        let lists = k
            .server
            .request_log()
            .iter()
            .filter(|r| r.method == "GET" && kind_of(r).is_some() && name_of(r).is_none())
            .count();
        assert!(lists <= Kind::ALL.len(), "one LIST per kind, got {lists}");
        let d = k.json(&["drift", "--fabric", "f"], 0);
        assert_eq!(d["drift"], false, "{name}: {d}");
        assert_eq!(d["summary"]["inSync"], total);
    }
}

const SMALL: &str = "apiVersion: wiring.githedgehog.com/v1beta1
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
      subnet: 10.0.1.0/24
      vlan: 1001
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-2
spec:
  subnets:
    default:
      subnet: 10.0.2.0/24
      vlan: 1002
";

#[test]
fn an_edited_managed_file_is_applied_as_an_update_and_a_removed_field_is_removed() {
    let Some(k) = start() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "small.yaml", SMALL);
    k.run(&["sync", "--fabric", "f"], 0);
    let file = root.join("managed/vpcs/vpc-1.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("vlan: 1001"), "{text}");
    std::fs::write(
        &file,
        text.replace("vlan: 1001", "vlan: 1011")
            .replace("spec:\n", "spec:\n  defaultIsolated: true\n"),
    )
    .unwrap();

    k.server.clear_request_log();
    let r = k.json(&["sync", "--fabric", "f"], 0);
    assert_eq!(r["ingest"]["managed"]["edited"], json!(["VPC/vpc-1"]));
    let o = outcome(&r, "VPC", "vpc-1");
    assert_eq!(
        (&o["action"], &o["status"]),
        (&json!("update"), &json!("applied"))
    );
    assert!(o["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "spec.subnets.default.vlan" && f["change"] == "changed"));
    assert_eq!(r["apply"]["summary"]["updated"], 1, "{r}");
    let writes = k.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(name_of(&writes[0]).as_deref(), Some("vpc-1"));
    let live = k.object(Kind::VPC, "vpc-1").unwrap();
    assert_eq!(live["spec"]["subnets"]["default"]["vlan"], 1011);
    assert_eq!(live["spec"]["defaultIsolated"], true);

    // A field removed from Git leaves the cluster too (hhgitops owned it).
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("  defaultIsolated: true\n", "")).unwrap();
    let d = k.json(&["drift", "--fabric", "f"], 1);
    let e = entry(&d, "VPC", "vpc-1");
    assert_eq!(e["status"], "drifted");
    assert_eq!(e["fields"][0]["path"], "spec.defaultIsolated");
    assert_eq!(e["fields"][0]["change"], "stale");
    k.run(&["sync", "--fabric", "f"], 0);
    let live = k.object(Kind::VPC, "vpc-1").unwrap();
    assert!(live["spec"].get("defaultIsolated").is_none(), "{live}");
    k.server.clear_request_log();
    k.run(&["sync", "--fabric", "f"], 0);
    assert!(k.writes().is_empty(), "{:?}", k.writes());
}

#[test]
fn dry_run_plans_every_object_and_changes_nothing_anywhere() {
    let Some(k) = start() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "small.yaml", SMALL);
    let before = tree(&root);

    let r = k.json(&["sync", "--fabric", "f", "--dry-run"], 0);
    assert_eq!(r["dryRun"], true);
    assert_eq!(r["apply"]["summary"]["planned"], 4, "{r}");
    let vpc = outcome(&r, "VPC", "vpc-1");
    assert_eq!(
        (&vpc["action"], &vpc["status"]),
        (&json!("create"), &json!("planned"))
    );
    assert!(
        vpc["message"].as_str().unwrap_or("").contains("this sync creates"),
        "a VPC whose namespaces are created by the same sync cannot be checked by the server yet: {vpc}"
    );
    let ns = outcome(&r, "VLANNamespace", "default");
    assert!(ns.get("message").is_none(), "checked with dryRun=All: {ns}");
    assert!(k.writes().is_empty(), "{:?}", k.writes());
    assert!(k.server.request_log().iter().any(|r| r.is_dry_run()));
    assert_eq!(k.total(), 0);
    // `.hnp/lock` is the run-time lock file (ignored by Git) every operation opens, dry runs included.
    let after: Vec<String> = tree(&root)
        .into_iter()
        .filter(|f| f != ".hnp/lock")
        .collect();
    assert_eq!(after, before, "the GitOps root is untouched");
    let st = k.json(&["status", "--fabric", "f"], 0);
    assert!(
        !st["lastRuns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["operation"] == "sync"),
        "a dry run records no run: {st}"
    );

    // After a real sync, a dry run of an edit plans the update and still writes nothing.
    k.run(&["sync", "--fabric", "f"], 0);
    let file = root.join("managed/vpcs/vpc-2.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("vlan: 1002", "vlan: 1012")).unwrap();
    k.server.clear_request_log();
    let out = k.run(&["sync", "--fabric", "f", "--dry-run"], 0);
    let text = stdout(&out);
    assert!(
        text.contains("dry run: VPC/vpc-2: would update [spec.subnets.default.vlan: 1012 in Git, 1002 in the cluster]"),
        "{text}"
    );
    assert!(text.contains("dry run: VPC/vpc-1: unchanged"), "{text}");
    assert!(k.writes().is_empty());
    assert_eq!(
        k.object(Kind::VPC, "vpc-2").unwrap()["spec"]["subnets"]["default"]["vlan"],
        1002
    );
}

#[test]
fn prune_deletes_only_with_the_flag_in_reverse_order_and_never_touches_unmanaged_objects() {
    let Some(k) = start() else { return };
    let Some(vlab) = vlab() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "vlab.yaml", &vlab);
    k.run(&["sync", "--fabric", "f"], 0);
    // Someone else's object, without our label.
    k.server
        .create(
            json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "VPC",
                   "metadata": {"name": "handmade"},
                   "spec": {"subnets": {"default": {"subnet": "10.0.99.0/24", "vlan": 1099}}}}),
            "kubectl",
        )
        .unwrap();
    // Remove every VPC and attachment from Git.
    for dir in ["vpcs", "vpcattachments"] {
        std::fs::remove_dir_all(root.join("managed").join(dir)).unwrap();
        std::fs::create_dir(root.join("managed").join(dir)).unwrap();
    }
    let vpcs = k.objects(Kind::VPC).len();
    let attachments = k.objects(Kind::VPCAttachment).len();
    assert!(vpcs > 1 && attachments > 1);

    k.server.clear_request_log();
    let r = k.json(&["sync", "--fabric", "f"], 0);
    assert_eq!(r["apply"]["summary"]["kept"], vpcs - 1 + attachments, "{r}");
    assert_eq!(outcome(&r, "VPC", "vpc-01")["status"], "kept");
    assert_eq!(r["apply"]["unmanaged"][0]["name"], "handmade");
    assert!(
        k.writes().is_empty(),
        "no delete without --prune: {:?}",
        k.writes()
    );
    let d = k.json(&["drift", "--fabric", "f"], 1);
    assert_eq!(d["summary"]["extra"], vpcs - 1 + attachments);
    assert_eq!(d["summary"]["unmanaged"], 1);

    k.server.clear_request_log();
    let r = k.json(&["sync", "--fabric", "f", "--prune"], 0);
    assert_eq!(
        r["apply"]["summary"]["deleted"],
        vpcs - 1 + attachments,
        "{r}"
    );
    let deletes: Vec<Kind> = k
        .writes()
        .iter()
        .filter(|w| w.method == "DELETE")
        .filter_map(kind_of)
        .collect();
    assert_eq!(deletes.len(), vpcs - 1 + attachments);
    let first_vpc = deletes.iter().position(|k| *k == Kind::VPC).unwrap();
    assert!(
        deletes[..first_vpc]
            .iter()
            .all(|k| *k == Kind::VPCAttachment)
            && deletes[first_vpc..].iter().all(|k| *k == Kind::VPC),
        "attachments are deleted before the VPCs they refer to: {deletes:?}"
    );
    let left: Vec<String> = k
        .objects(Kind::VPC)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["handmade"]);
    assert!(k.objects(Kind::VPCAttachment).is_empty());
    let d = k.json(&["drift", "--fabric", "f"], 1);
    assert_eq!(d["summary"]["extra"], 0);
    assert_eq!(
        d["summary"]["unmanaged"], 1,
        "only the unmanaged VPC remains: {d}"
    );
}

#[test]
fn an_admission_rejection_is_reported_with_the_servers_message_and_holds_back_only_dependents() {
    let Some(k) = start() else { return };
    let Some(vlab) = vlab() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "vlab.yaml", &vlab);
    k.server.faults().deny(
        "VPC",
        "vpc-01",
        "subnet 10.0.1.0/24 overlaps with the fabric's reserved subnets",
    );

    let out = k.run(&["sync", "--fabric", "f", "--json"], 1);
    let r = json(&out);
    let vpc = outcome(&r, "VPC", "vpc-01");
    assert_eq!(vpc["status"], "rejected");
    assert_eq!(vpc["code"], 422);
    assert!(
        vpc["message"]
            .as_str()
            .unwrap()
            .contains("overlaps with the fabric's reserved subnets"),
        "{vpc}"
    );
    let attachment = "server-01--eslag--leaf-01--leaf-02--vpc-01--subnet-01";
    let a = outcome(&r, "VPCAttachment", attachment);
    assert_eq!(a["status"], "skipped");
    assert_eq!(a["message"], "depends on VPC/vpc-01, which was rejected");
    assert_eq!(r["apply"]["summary"]["rejected"], 1);
    assert_eq!(r["apply"]["summary"]["skipped"], 1);
    assert!(k.object(Kind::VPC, "vpc-01").is_none());
    assert!(k.object(Kind::VPCAttachment, attachment).is_none());
    assert!(
        k.object(Kind::VPC, "vpc-02").is_some(),
        "independent objects are applied"
    );
    assert!(k
        .object(
            Kind::VPCAttachment,
            "server-02--eslag--leaf-01--leaf-02--vpc-02--subnet-01"
        )
        .is_some());
    assert!(k.object(Kind::Gateway, "gateway-1").is_some());
    let st = k.json(&["status", "--fabric", "f"], 0);
    let run = st["lastRuns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "sync")
        .unwrap()
        .clone();
    assert_eq!(run["outcome"], "rejected");
    assert_eq!(run["rejected"], 2);

    // Text output names the object and the server's message on stderr.
    let out = k.run(&["sync", "--fabric", "f"], 1);
    assert!(
        stderr(&out).contains("VPC/vpc-01: rejected (422): "),
        "{}",
        stderr(&out)
    );

    k.server.faults().clear();
    let r = k.json(&["sync", "--fabric", "f"], 0);
    assert_eq!(r["apply"]["summary"]["created"], 2, "{r}");
    assert!(k.object(Kind::VPCAttachment, attachment).is_some());
}

#[test]
fn api_failures_mid_sync_stop_the_run_with_exit_3_and_a_rerun_completes() {
    let Some(k) = start() else { return };
    let Some(vlab) = vlab() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "vlab.yaml", &vlab);
    let total: usize = kind_counts(&documents(&vlab)).values().sum();

    // 500s on every connection apply.
    k.server.faults().inject(
        FaultRule::error(500)
            .method("PATCH")
            .path_contains("/connections/"),
    );
    let out = k.run(&["sync", "--fabric", "f", "--json"], 3);
    let r = json(&out);
    assert!(stderr(&out).contains("500"), "{}", stderr(&out));
    let aborted = r["apply"]["aborted"].as_str().unwrap();
    assert!(aborted.contains("Connection/"), "{aborted}");
    assert!(
        !k.objects(Kind::Switch).is_empty(),
        "earlier ranks were applied"
    );
    assert!(k.objects(Kind::Connection).is_empty());
    assert!(
        k.objects(Kind::VPC).is_empty(),
        "later ranks were not attempted"
    );
    assert!(r["apply"]["summary"]["notAttempted"].as_u64().unwrap() > 0);
    let st = k.json(&["status", "--fabric", "f"], 0);
    assert_eq!(
        st["lastRuns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["operation"] == "sync")
            .unwrap()["outcome"],
        "failed"
    );
    k.server.faults().clear();
    k.run(&["sync", "--fabric", "f"], 0);
    assert_eq!(k.total(), total);

    // A server that stops answering: the request times out.
    let file = root.join("managed/vpcs/vpc-03.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("vlan: 1003", "vlan: 1033")).unwrap();
    k.server
        .faults()
        .inject(FaultRule::delay(Duration::from_secs(5)).method("PATCH"));
    let started = std::time::Instant::now();
    let out = k
        .env
        .cmd()
        .env("HHGITOPS_KUBE_TIMEOUT", "0.5")
        .args(["sync", "--fabric", "f"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    k.server.faults().clear();
    k.run(&["sync", "--fabric", "f"], 0);
    assert_eq!(
        k.object(Kind::VPC, "vpc-03").unwrap()["spec"]["subnets"]["subnet-01"]["vlan"],
        1033
    );
}

#[test]
fn unreachable_api_bad_credentials_and_missing_crds_are_clear_errors() {
    let Some(k) = start() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "small.yaml", SMALL);

    // TLS verification stays on: a kubeconfig trusting another CA fails, even when it asks to skip verification.
    let good = std::fs::read_to_string(&k.kubeconfig).unwrap();
    let other = hhgitops_testapi::TestApiServer::start(crds_dir().unwrap()).unwrap();
    let ca = |kc: &str| {
        kc.lines()
            .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
            .unwrap()
            .to_string()
    };
    let foreign = good.replace(&ca(&good), &ca(&other.kubeconfig()));
    std::fs::write(&k.kubeconfig, &foreign).unwrap();
    let out = k.run(&["drift", "--fabric", "f"], 3);
    assert!(
        stderr(&out).contains("cannot reach the Kubernetes API")
            && stderr(&out).contains("certificate"),
        "{}",
        stderr(&out)
    );
    let insecure = foreign.replace(
        "    certificate-authority-data:",
        "    insecure-skip-tls-verify: true\n    certificate-authority-data:",
    );
    assert_ne!(insecure, foreign);
    std::fs::write(&k.kubeconfig, &insecure).unwrap();
    k.run(&["drift", "--fabric", "f"], 3);
    drop(other);

    // Bad credentials.
    let token = k.server.token().to_string();
    std::fs::write(&k.kubeconfig, good.replace(&token, "not-the-token")).unwrap();
    let out = k.run(&["drift", "--fabric", "f"], 3);
    assert!(
        stderr(&out).contains("refused our credentials (401)"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&k.kubeconfig, &good).unwrap();

    // Missing CRDs: a server that serves only the wiring and vpc groups; the fabric has a gateway.
    let crds = k.env.path("crds-without-gateway");
    std::fs::create_dir(&crds).unwrap();
    for e in std::fs::read_dir(crds_dir().unwrap()).unwrap().flatten() {
        if !e.file_name().to_string_lossy().starts_with("gateway.") {
            std::fs::copy(e.path(), crds.join(e.file_name())).unwrap();
        }
    }
    let Some(vlab) = vlab() else { return };
    let partial = hhgitops_testapi::TestApiServer::start(&crds).unwrap();
    let kc = k.env.path("partial-kubeconfig");
    partial.write_kubeconfig(&kc).unwrap();
    let root2 = k.env.path("g-gitops");
    k.env.ok(&[
        "fabric",
        "add",
        "g",
        "--path",
        root2.to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
    ]);
    drop_raw(&root2, "vlab.yaml", &vlab);
    let out = k.run(&["sync", "--fabric", "g"], 3);
    assert!(
        stderr(&out).contains("does not serve Gateway (gateway.githedgehog.com/v1alpha1/gateways)"),
        "{}",
        stderr(&out)
    );
    assert!(
        partial.writes().is_empty(),
        "nothing applied when kinds are missing"
    );

    // Unreachable: the server is gone.
    drop(partial);
    let out = k.run(&["drift", "--fabric", "g"], 3);
    assert!(
        stderr(&out).contains("cannot reach the Kubernetes API at https://127.0.0.1:"),
        "{}",
        stderr(&out)
    );

    // A kubeconfig that does not exist, or a context it lacks, is a configuration error.
    std::fs::remove_file(&kc).unwrap();
    let out = k.run(&["drift", "--fabric", "g"], 2);
    assert!(stderr(&out).contains("kubeconfig"), "{}", stderr(&out));
    let root3 = k.env.path("h-gitops");
    k.env.ok(&[
        "fabric",
        "add",
        "h",
        "--path",
        root3.to_str().unwrap(),
        "--kubeconfig",
        k.kubeconfig.to_str().unwrap(),
        "--context",
        "nope",
    ]);
    let out = k.run(&["drift", "--fabric", "h"], 2);
    assert!(
        stderr(&out).contains("no context \"nope\""),
        "{}",
        stderr(&out)
    );

    // Without any target, sync does the Git half and says the apply was skipped; drift cannot run.
    let root4 = k.env.path("i-gitops");
    k.env
        .ok(&["fabric", "add", "i", "--path", root4.to_str().unwrap()]);
    let out = k.run(&["sync", "--fabric", "i"], 0);
    assert!(stdout(&out).contains("apply skipped"), "{}", stdout(&out));
    k.run(&["drift", "--fabric", "i"], 2);
}
