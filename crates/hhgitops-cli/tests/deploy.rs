//! `deploy/`: the kustomize manifests rendered by the real `kubectl kustomize` and checked for what production
//! needs; their RBAC checked against what the code calls — the kinds table and the request builders of the
//! kube crate (so a new kind or a new call without RBAC fails here), and the requests a real sync, prune,
//! drift and import send to the test API server; the systemd unit checked by `systemd-analyze`; the container
//! build file by `hadolint` (each where the tool is installed; CI installs them).

mod common;
mod kube_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use hhgitops_core::Kind;
use serde_json::Value;

use kube_support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|c| c == "true")
}

/// Whether a tool runs here; in CI a missing tool is a failure, elsewhere the check is skipped with a note.
fn have(tool: &str, version_arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!in_ci(), "{tool} is not installed: CI must run this check");
        eprintln!("note: {tool} not found: check skipped");
    }
    ok
}

/// `kubectl kustomize deploy/kubernetes`, as documents.
fn rendered() -> Option<Vec<Value>> {
    if !have("kubectl", "help") {
        return None;
    }
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join("deploy/kubernetes"))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(documents(&String::from_utf8_lossy(&out.stdout)))
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in the rendered manifests"))
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A source file without its unit tests.
fn non_test_source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("source readable");
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// From `open` (the index of an opening parenthesis), the index just past its matching close.
fn past_parens(s: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return open + i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// `.method(args)` right after `at` (whitespace allowed): the method name and its arguments.
fn method_call(s: &str, at: usize) -> Option<(String, String)> {
    let rest = s[at..].trim_start();
    let start = s.len() - rest.len();
    let rest = rest.strip_prefix('.')?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let open = start + 1 + name.len();
    if !s[open..].starts_with('(') {
        return None;
    }
    let close = past_parens(s, open);
    Some((name, s[open + 1..close.saturating_sub(1)].to_string()))
}

/// The RBAC verbs of one `kube::core::Request` builder call.
fn verbs_of(method: &str, args: &str) -> Vec<&'static str> {
    match method {
        "list" => vec!["list"],
        "watch" => vec!["watch"],
        "get" => vec!["get"],
        "create" => vec!["create"],
        "replace" => vec!["update"],
        // Server-side apply of an object that does not exist yet is authorized as create.
        "patch" if args.contains("Patch::Apply") => vec!["patch", "create"],
        "patch" => vec!["patch"],
        "delete" => vec!["delete"],
        "delete_collection" => vec!["deletecollection"],
        other => panic!(
            "hhgitops-kube calls Request::{other}: add its RBAC verb to this test and to deploy/kubernetes/rbac.yaml"
        ),
    }
}

/// The verbs the kube crate's requests need, read from its source: every `Request::new(..)` and every variable
/// bound to one, followed by a builder call.
fn verbs_the_code_calls() -> BTreeSet<String> {
    let dir = repo().join("crates/hhgitops-kube/src");
    let mut verbs = BTreeSet::new();
    let mut requests = 0;
    for entry in std::fs::read_dir(&dir).expect("kube sources") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let mut src = non_test_source(&path);
        // The one typed request: `get` of the fabric controller's ConfigMap (fab/fabric-ctrl-config), granted by
        // the fixed Role checked in `the_deployment_is_fit_for_production`. Anything else on it must be derived.
        const CONFIG_READ: &str = "let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =\n            kube::Api::namespaced(self.client.clone(), CONFIGMAP_NAMESPACE);\n        match api.get(CONFIGMAP_NAME).await {";
        if src.contains(CONFIG_READ) {
            src = src.replacen(CONFIG_READ, "", 1);
            assert!(
                !src.contains("api."),
                "{}: the ConfigMap API is used beyond one get: derive its RBAC verbs in this test",
                path.display()
            );
        }
        for forbidden in [
            "Api::",
            "Api<",
            "http::Request::builder",
            "Request::builder",
        ] {
            assert!(
                !src.contains(forbidden),
                "{} uses {forbidden}: derive its RBAC verbs in this test",
                path.display()
            );
        }
        let mut bound = Vec::new();
        let mut from = 0;
        while let Some(i) = src[from..].find("Request::new(") {
            let at = from + i;
            let open = at + "Request::new".len();
            let close = past_parens(&src, open);
            if let Some((m, args)) = method_call(&src, close) {
                verbs.extend(verbs_of(&m, &args).into_iter().map(str::to_string));
                requests += 1;
            } else {
                // `let request = Request::new(..);`: its calls come later.
                let before = src[..at].trim_end().trim_end_matches('=').trim_end();
                let var: String = before
                    .chars()
                    .rev()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect();
                assert!(
                    !var.is_empty(),
                    "a Request in {} is neither called nor bound",
                    path.display()
                );
                bound.push(var);
            }
            from = close;
        }
        for var in bound {
            let needle = format!("{var}.");
            let mut from = 0;
            while let Some(i) = src[from..].find(&needle) {
                let at = from + i + var.len();
                let boundary = src[..from + i]
                    .chars()
                    .last()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                if boundary {
                    if let Some((m, args)) = method_call(&src, at) {
                        verbs.extend(verbs_of(&m, &args).into_iter().map(str::to_string));
                        requests += 1;
                    }
                }
                from = at + 1;
            }
        }
    }
    assert!(
        requests >= 4,
        "found only {requests} request builders: the scan is broken"
    );
    verbs
}

/// What the ClusterRole grants: group → (resources, verbs).
fn granted(role: &Value) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "{rule}"
        );
        let verbs = strings(&rule["verbs"]);
        for g in strings(&rule["apiGroups"]) {
            let e = out.entry(g).or_default();
            e.0.extend(strings(&rule["resources"]));
            e.1.extend(verbs.iter().cloned());
        }
    }
    for (g, (res, verbs)) in &out {
        assert!(
            !res.contains("*") && !verbs.contains("*") && g != "*",
            "no wildcards in the RBAC: {g} {res:?} {verbs:?}"
        );
    }
    out
}

#[test]
fn rbac_grants_exactly_what_the_code_calls() {
    let Some(docs) = rendered() else { return };
    let verbs = verbs_the_code_calls();
    assert!(
        verbs.contains("list") && verbs.contains("patch") && verbs.contains("delete"),
        "{verbs:?}"
    );

    // Expected: every kind of the kinds table, under its group, with the verbs of the kube crate's calls.
    let mut expected: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for k in Kind::ALL {
        let e = expected.entry(k.group().name().to_string()).or_default();
        e.0.insert(k.plural().to_string());
        e.1.extend(verbs.iter().cloned());
    }
    let role = find(&docs, "ClusterRole", "hhgitops-fabric");
    assert_eq!(granted(role), expected);

    // Granted only where the objects live (the kube crate addresses namespace `default` only).
    let kube_src = non_test_source(&repo().join("crates/hhgitops-kube/src/cluster.rs"));
    assert!(
        kube_src.contains("/namespaces/default/"),
        "objects are addressed in namespace default"
    );
    let bindings: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            (d["kind"] == "RoleBinding" || d["kind"] == "ClusterRoleBinding")
                && d["roleRef"]["name"] == "hhgitops-fabric"
        })
        .collect();
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    let b = bindings[0];
    assert_eq!(b["kind"], "RoleBinding");
    assert_eq!(b["metadata"]["namespace"], "default");
    assert_eq!(b["roleRef"]["kind"], "ClusterRole");
    assert_eq!(b["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(b["subjects"][0]["name"], "hhgitops");
    assert_eq!(b["subjects"][0]["namespace"], "hhgitops");

    // The fabric controller's configuration: get on one ConfigMap in `fab`.
    let cfg = find(&docs, "Role", "hhgitops-fabric-config");
    assert_eq!(cfg["metadata"]["namespace"], "fab");
    let rules = cfg["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        strings(&rules[0]["apiGroups"]),
        BTreeSet::from([String::new()])
    );
    assert_eq!(
        strings(&rules[0]["resources"]),
        BTreeSet::from(["configmaps".to_string()])
    );
    assert_eq!(
        strings(&rules[0]["resourceNames"]),
        BTreeSet::from(["fabric-ctrl-config".to_string()])
    );
    assert_eq!(
        strings(&rules[0]["verbs"]),
        BTreeSet::from(["get".to_string()])
    );
    let cfg_binding = find(&docs, "RoleBinding", "hhgitops-fabric-config");
    assert_eq!(cfg_binding["metadata"]["namespace"], "fab");
    assert_eq!(cfg_binding["roleRef"]["name"], "hhgitops-fabric-config");
    assert_eq!(cfg_binding["subjects"][0]["name"], "hhgitops");

    // Nothing else is granted.
    let roles: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .map(|d| d["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(roles.len(), 2, "{roles:?}");
}

/// The RBAC verb of one request the test API server received, and the resource it addressed.
fn request_verb(
    r: &hhgitops_testapi::RequestRecord,
) -> Option<(String, String, String, &'static str)> {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    // /apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>]
    if parts.len() < 6 || parts[0] != "apis" || parts[3] != "namespaces" {
        return None;
    }
    let named = parts.len() >= 7;
    let verb = match (r.method.as_str(), named) {
        ("GET", false) if r.query_param("watch").as_deref() == Some("true") => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some((
        parts[1].to_string(),
        parts[4].to_string(),
        parts[5].to_string(),
        verb,
    ))
}

#[test]
fn every_request_of_sync_prune_drift_and_import_is_granted() {
    let Some(docs) = rendered() else { return };
    let Some(k) = start() else { return };
    let Some(vlab) = vlab() else { return };
    let grants = granted(find(&docs, "ClusterRole", "hhgitops-fabric"));

    k.server.clear_request_log();
    let root = k.fabric("f");
    drop_raw(&root, "vlab.yaml", &vlab);
    k.run(&["sync", "--fabric", "f"], 0);
    // A field someone else added (removed by a merge patch), then an object gone from Git (pruned).
    assert!(k.object(Kind::VPC, "vpc-01").is_some(), "vpc-01 applied");
    k.server
        .apply(
            serde_json::json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "VPC",
                "metadata": {"name": "vpc-01", "labels": {"someone.example.com/else": "x"}}}),
            "kubectl",
            true,
        )
        .expect("edit applied");
    let attachments = std::fs::read_dir(root.join("managed/vpcattachments"))
        .unwrap()
        .flatten()
        .next()
        .expect("an attachment");
    std::fs::remove_file(attachments.path()).unwrap();
    k.run(&["sync", "--fabric", "f", "--prune"], 0);
    k.run(&["drift", "--fabric", "f"], 0);
    let other = k.env.path("imported-gitops");
    k.env.ok(&[
        "fabric",
        "add",
        "g",
        "--path",
        other.to_str().unwrap(),
        "--kubeconfig",
        k.kubeconfig.to_str().unwrap(),
    ]);
    k.run(&["import", "--fabric", "g", "--from-cluster"], 0);

    let log = k.server.request_log();
    let mut seen = BTreeSet::new();
    for r in &log {
        let Some((group, ns, resource, verb)) = request_verb(r) else {
            continue;
        };
        assert_eq!(ns, "default", "{r:?}");
        let (resources, verbs) = grants
            .get(&group)
            .unwrap_or_else(|| panic!("group {group} not granted: {r:?}"));
        assert!(
            resources.contains(&resource),
            "{resource} not granted: {r:?}"
        );
        assert!(
            verbs.contains(verb),
            "{verb} on {resource} not granted: {r:?}"
        );
        // An apply that created the object was authorized as create as well.
        if verb == "patch" && r.status == Some(201) {
            assert!(verbs.contains("create"), "{r:?}");
        }
        seen.insert(verb);
    }
    for v in ["list", "patch", "delete"] {
        assert!(seen.contains(v), "the runs exercised {v}: {seen:?}");
    }
}

#[test]
fn the_deployment_is_fit_for_production() {
    let Some(docs) = rendered() else { return };
    let d = find(&docs, "Deployment", "hhgitops");
    assert_eq!(d["metadata"]["namespace"], "hhgitops");
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "hhgitops");
    find(&docs, "ServiceAccount", "hhgitops");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["securityContext"]["runAsUser"]
        .as_u64()
        .is_some_and(|u| u > 0));
    let c = &pod["containers"][0];
    assert_eq!(c["args"][0], "serve");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(
        strings(&sc["capabilities"]["drop"]),
        BTreeSet::from(["ALL".to_string()])
    );
    for r in ["cpu", "memory"] {
        assert!(c["resources"]["requests"][r].is_string(), "request {r}");
    }
    assert!(c["resources"]["limits"]["memory"].is_string());

    let env: BTreeMap<String, &Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e))
        .collect();
    let db = env.get("HHGITOPS_DATABASE_URL").expect("database URL");
    assert!(
        db.get("value").is_none(),
        "the database URL comes from a Secret"
    );
    assert_eq!(db["valueFrom"]["secretKeyRef"]["name"], "hhgitops-database");
    let token = env.get("HHGITOPS_GIT_TOKEN").expect("Git token");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "hhgitops-git");
    // The home is a volume (the root file system is read-only).
    let home = env["HHGITOPS_HOME"]["value"].as_str().unwrap();
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == home)
        .expect("a volume at the home");
    let vol = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the home's volume");
    assert!(vol.get("emptyDir").is_some() || vol.get("persistentVolumeClaim").is_some());
    assert_eq!(env["HOME"]["value"], home, "git's $HOME is writable");

    let svc = find(&docs, "Service", "hhgitops");
    let labels = &spec["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the Service selects the pods");
    }
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(c["ports"][0]["name"], "http");
    // The container's port is the one serve listens on.
    let listen = c["args"]
        .as_array()
        .unwrap()
        .windows(2)
        .find(|w| w[0] == "--listen")
        .map(|w| w[1].as_str().unwrap().to_string())
        .expect("--listen");
    assert!(listen.ends_with(&format!(":{}", c["ports"][0]["containerPort"])));
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/hhgitops.service")).unwrap();
    for option in [
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=",
        "ReadWritePaths=/var/lib/hhgitops",
        "Environment=HHGITOPS_HOME=/var/lib/hhgitops",
    ] {
        assert!(unit.contains(option), "{option}");
    }
    if !have("systemd-analyze", "--version") {
        return;
    }
    // Verify against the built binary (the unit names its installed path).
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("hhgitops");
    let path = dir.path().join("hhgitops.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/hhgitops", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Exposure at most 2.0 of 10 ("OK"); the threshold is in tenths.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "systemd-analyze security: {text}");
    assert!(text.contains("Overall exposure level"), "{text}");
}

#[test]
fn the_container_build_is_multi_stage_non_root_and_lints_clean() {
    let file = repo().join("deploy/Containerfile");
    let text = std::fs::read_to_string(&file).unwrap();
    let stages: Vec<&str> = text.split("\nFROM ").skip(1).collect();
    assert!(stages.len() >= 2, "multi-stage");
    let runtime = stages.last().unwrap();
    assert!(
        runtime.contains("COPY --from=build"),
        "the binary comes from the build stage"
    );
    for pkg in ["git", "ca-certificates"] {
        assert!(runtime.contains(pkg), "{pkg} in the runtime image");
    }
    let user = runtime
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !["0", "root", "0:0"].contains(&user.trim()),
        "non-root: {user}"
    );
    assert!(
        !runtime.contains("cargo"),
        "no toolchain in the runtime image"
    );
    if !have("hadolint", "--version") {
        return;
    }
    let out = Command::new("hadolint").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "hadolint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
