//! The server as a kube-rs client sees it: server-side apply, list with selectors, watch, delete, dry runs,
//! Status errors and fault injection, over real HTTPS with certificate verification on.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use hhgitops_testapi::FaultRule;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::ResourceExt;
use serde_json::{json, Value};

#[tokio::test]
async fn server_side_apply_creates_defaults_and_a_repeat_apply_writes_nothing() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let api = switches(&client);
    let mut sw = switch("leaf-01", "server-leaf");
    sw["spec"]["linkFlapErrDisable"] = json!({});
    let pp = PatchParams::apply("hhgitops");

    let created = api.patch("leaf-01", &pp, &Patch::Apply(&sw)).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created
        .metadata
        .uid
        .as_deref()
        .is_some_and(|u| u.len() == 36));
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert_eq!(
        created.data["spec"]["linkFlapErrDisable"],
        json!({"flapThreshold": 3, "recoveryInterval": 300, "samplingInterval": 30})
    );
    let mf = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("hhgitops"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
    let fields = serde_json::to_value(mf[0].fields_v1.as_ref().unwrap()).unwrap();
    assert_eq!(fields["f:spec"]["f:role"], json!({}));
    assert_eq!(
        fields["f:metadata"]["f:labels"]["f:hhgitops.githedgehog.com/fabric"],
        json!({})
    );

    let rv = server.resource_version();
    server.clear_request_log();
    let again = api.patch("leaf-01", &pp, &Patch::Apply(&sw)).await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        server.resource_version(),
        rv,
        "a no-op apply must not change stored state"
    );
    let log = server.request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "PATCH");
    assert_eq!(
        log[0].path,
        "/apis/wiring.githedgehog.com/v1beta1/namespaces/default/switches/leaf-01"
    );
    assert_eq!(
        log[0].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(
        log[0].query_param("fieldManager").as_deref(),
        Some("hhgitops")
    );
    assert_eq!(log[0].status, Some(200));

    sw["spec"]["role"] = json!("border-leaf");
    let changed = api.patch("leaf-01", &pp, &Patch::Apply(&sw)).await.unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
    assert_eq!(changed.data["spec"]["role"], "border-leaf");
    assert!(server.resource_version() > rv);
}

#[tokio::test]
async fn apply_removes_fields_the_manager_stopped_applying_but_keeps_others_fields() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let api = vpcs(&client);
    let pp = PatchParams::apply("hhgitops").force();
    let two = vpc(
        "vpc-1",
        &[("a", "10.0.1.0/24", 1001), ("b", "10.0.2.0/24", 1002)],
    );
    api.patch("vpc-1", &pp, &Patch::Apply(&two)).await.unwrap();
    // Another actor adds its own label.
    server
        .apply(
            json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "VPC",
                   "metadata": {"name": "vpc-1", "labels": {"team": "net"}}}),
            "kubectl",
            false,
        )
        .unwrap();
    let one = vpc("vpc-1", &[("a", "10.0.1.0/24", 1001)]);
    let after = api.patch("vpc-1", &pp, &Patch::Apply(&one)).await.unwrap();
    assert_eq!(
        after.data["spec"]["subnets"],
        json!({"a": {"subnet": "10.0.1.0/24", "vlan": 1001}})
    );
    let labels = after.labels();
    assert_eq!(labels.get("team").map(String::as_str), Some("net"));
    assert_eq!(
        labels
            .get("hhgitops.githedgehog.com/fabric")
            .map(String::as_str),
        Some("f1")
    );
    assert_eq!(after.metadata.generation, Some(2));
}

#[tokio::test]
async fn apply_conflicts_with_another_manager_unless_forced() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let api = switches(&client);
    server
        .apply(switch("leaf-01", "spine"), "kubectl", false)
        .unwrap();

    let mine = switch("leaf-01", "server-leaf");
    let err = api
        .patch(
            "leaf-01",
            &PatchParams::apply("hhgitops"),
            &Patch::Apply(&mine),
        )
        .await
        .unwrap_err();
    let s = status(err);
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("conflict with \"kubectl\""),
        "{}",
        s.message
    );
    assert!(s.message.contains(".spec.role"), "{}", s.message);
    let causes = s.details.unwrap().causes;
    assert!(causes.iter().all(|c| c.reason == "FieldManagerConflict"));
    assert!(causes.iter().any(|c| c.field == ".spec.role"));
    assert_eq!(
        server
            .object("wiring.githedgehog.com", "switches", "default", "leaf-01")
            .unwrap()["spec"]["role"],
        "spine"
    );

    let forced = api
        .patch(
            "leaf-01",
            &PatchParams::apply("hhgitops").force(),
            &Patch::Apply(&mine),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["role"], "server-leaf");
    let kubectl_fields = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("kubectl"))
        .map(|m| serde_json::to_value(m.fields_v1.unwrap()).unwrap());
    // kubectl keeps what it shares at equal value, and loses the role.
    assert!(kubectl_fields.is_none_or(|f| f["f:spec"].get("f:role").is_none()));
}

#[tokio::test]
async fn list_filters_with_label_selectors_and_reports_a_resource_version() {
    let Some(server) = start() else { return };
    for (name, labels) in [
        ("a", json!({"fabric": "f1", "tier": "spine"})),
        ("b", json!({"fabric": "f1", "tier": "leaf"})),
        ("c", json!({"fabric": "f2"})),
    ] {
        let mut sw = switch(name, "spine");
        sw["metadata"]["labels"] = labels;
        server.create(sw, "seed").unwrap();
    }
    let client = client(&server).await;
    let api = switches(&client);
    let names = |l: kube::core::ObjectList<kube::api::DynamicObject>| {
        l.items.iter().map(|o| o.name_any()).collect::<Vec<_>>()
    };
    let cases = [
        ("fabric=f1", vec!["a", "b"]),
        ("fabric!=f1", vec!["c"]),
        ("tier in (leaf,border)", vec!["b"]),
        ("tier notin (leaf)", vec!["a", "c"]),
        ("tier", vec!["a", "b"]),
        ("!tier", vec!["c"]),
        ("fabric=f1,tier=spine", vec!["a"]),
    ];
    for (selector, want) in cases {
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .unwrap();
        assert_eq!(names(list), want, "selector {selector}");
    }
    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        all.metadata.resource_version,
        Some(server.resource_version().to_string())
    );
    let page = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(rest), vec!["c"]);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(names(by_name), vec!["b"]);
    let bad = api
        .list(&ListParams::default().labels("a in b"))
        .await
        .unwrap_err();
    assert_eq!(status(bad).code, 400);
}

#[tokio::test]
async fn delete_returns_the_object_and_later_calls_get_not_found() {
    let Some(server) = start() else { return };
    server.create(switch("leaf-01", "spine"), "seed").unwrap();
    let client = client(&server).await;
    let api = switches(&client);
    let deleted = api
        .delete("leaf-01", &DeleteParams::default())
        .await
        .unwrap();
    let obj = deleted.left().expect("the deleted object");
    assert_eq!(obj.name_any(), "leaf-01");
    assert!(server
        .objects("wiring.githedgehog.com", "switches")
        .is_empty());

    let s = status(api.get("leaf-01").await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        s.message,
        "switches.wiring.githedgehog.com \"leaf-01\" not found"
    );
    let details = s.details.unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("leaf-01", "switches")
    );
    assert_eq!(
        status(
            api.delete("leaf-01", &DeleteParams::default())
                .await
                .unwrap_err()
        )
        .code,
        404
    );
}

#[tokio::test]
async fn dry_runs_validate_and_answer_but_store_nothing() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let api = switches(&client);
    let rv = server.resource_version();

    let applied = api
        .patch(
            "leaf-01",
            &PatchParams::apply("hhgitops").dry_run(),
            &Patch::Apply(&switch("leaf-01", "spine")),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["spec"]["role"], "spine");
    let created = api
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &dynamic(switch("leaf-02", "spine")),
        )
        .await
        .unwrap();
    assert_eq!(created.name_any(), "leaf-02");
    let invalid = api
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &dynamic(switch("leaf-03", "boss")),
        )
        .await
        .unwrap_err();
    assert_eq!(status(invalid).code, 422);

    assert!(server
        .objects("wiring.githedgehog.com", "switches")
        .is_empty());
    assert_eq!(server.resource_version(), rv);
    assert!(
        server.writes().is_empty(),
        "dry runs are not writes: {:?}",
        server.writes()
    );
    assert!(server.request_log().iter().any(|r| r.is_dry_run()));

    server.create(switch("leaf-01", "spine"), "seed").unwrap();
    api.delete("leaf-01", &DeleteParams::default().dry_run())
        .await
        .unwrap();
    assert_eq!(
        server.objects("wiring.githedgehog.com", "switches").len(),
        1
    );
}

#[tokio::test]
async fn schema_violations_are_422_invalid_with_field_causes() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let api = switches(&client);
    let mut bad = switch("leaf-01", "boss");
    bad["spec"]["asn"] = json!("many");
    bad["spec"]["linkFlapErrDisable"] = json!({"flapThreshold": 99});
    let err = api
        .patch(
            "leaf-01",
            &PatchParams::apply("hhgitops"),
            &Patch::Apply(&bad),
        )
        .await
        .unwrap_err();
    let s = status(err);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message
            .starts_with("Switch.wiring.githedgehog.com \"leaf-01\" is invalid: ["),
        "{}",
        s.message
    );
    let details = s.details.unwrap();
    assert_eq!(details.kind, "Switch");
    let fields: Vec<(&str, &str)> = details
        .causes
        .iter()
        .map(|c| (c.field.as_str(), c.reason.as_str()))
        .collect();
    assert!(
        fields.contains(&("spec.role", "FieldValueNotSupported")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("spec.asn", "FieldValueTypeInvalid")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("spec.linkFlapErrDisable.flapThreshold", "FieldValueInvalid")),
        "{fields:?}"
    );
    assert!(server
        .objects("wiring.githedgehog.com", "switches")
        .is_empty());

    let mut unknown = switch("leaf-01", "spine");
    unknown["spec"]["colour"] = json!("red");
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..PatchParams::apply("hhgitops")
    };
    let s = status(
        api.patch("leaf-01", &strict, &Patch::Apply(&unknown))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 400);
    assert!(
        s.message.contains("unknown field \"spec.colour\""),
        "{}",
        s.message
    );
    let pruned = api
        .patch(
            "leaf-01",
            &PatchParams::apply("hhgitops"),
            &Patch::Apply(&unknown),
        )
        .await
        .unwrap();
    assert!(
        pruned.data["spec"].get("colour").is_none(),
        "unknown fields are pruned"
    );
}

#[tokio::test]
async fn create_of_an_existing_object_and_a_stale_replace_are_conflicts() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let api = switches(&client);
    let first = api
        .create(&PostParams::default(), &dynamic(switch("leaf-01", "spine")))
        .await
        .unwrap();
    let s = status(
        api.create(&PostParams::default(), &dynamic(switch("leaf-01", "spine")))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));

    let mut newer = first.clone();
    newer.data["spec"]["role"] = json!("border-leaf");
    let replaced = api
        .replace("leaf-01", &PostParams::default(), &newer)
        .await
        .unwrap();
    assert_eq!(replaced.data["spec"]["role"], "border-leaf");
    let s = status(
        api.replace("leaf-01", &PostParams::default(), &newer)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );

    let merged = api
        .patch(
            "leaf-01",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"description": "rack 1"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data["spec"]["description"], "rack 1");
    assert_eq!(merged.data["spec"]["role"], "border-leaf");
}

#[tokio::test]
async fn watch_streams_changes_after_a_resource_version() {
    let Some(server) = start() else { return };
    server.create(switch("before", "spine"), "seed").unwrap();
    let client = client(&server).await;
    let api = switches(&client);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();

    server.create(switch("leaf-01", "spine"), "seed").unwrap();
    server
        .merge_patch(
            "wiring.githedgehog.com/v1beta1",
            "Switch",
            "default",
            "leaf-01",
            &json!({"spec": {"asn": 65200}}),
            "seed",
        )
        .unwrap();
    server
        .delete(
            "wiring.githedgehog.com/v1beta1",
            "Switch",
            "default",
            "leaf-01",
        )
        .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream stays open");
        match event {
            WatchEvent::Added(o) => {
                seen.push(("ADDED", o.name_any(), o.data["spec"]["asn"].clone()))
            }
            WatchEvent::Modified(o) => {
                seen.push(("MODIFIED", o.name_any(), o.data["spec"]["asn"].clone()))
            }
            WatchEvent::Deleted(o) => {
                seen.push(("DELETED", o.name_any(), o.data["spec"]["asn"].clone()))
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            ("ADDED", "leaf-01".to_string(), json!(65101)),
            ("MODIFIED", "leaf-01".to_string(), json!(65200)),
            ("DELETED", "leaf-01".to_string(), json!(65200)),
        ]
    );

    // From "0": the current state first.
    let mut from_zero = api
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(5), from_zero.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Added(o)) => assert_eq!(o.name_any(), "before"),
        other => panic!("expected ADDED before, got {other:?}"),
    }
}

#[tokio::test]
async fn injected_faults_fail_delay_and_deny() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let api = switches(&client);

    server.faults().fail_next(1);
    let s = status(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    api.list(&ListParams::default())
        .await
        .expect("only the next request fails");

    server.faults().inject(
        FaultRule::error(500)
            .method("PATCH")
            .path_contains("/switches/")
            .times(1),
    );
    api.list(&ListParams::default())
        .await
        .expect("GETs do not match the rule");
    let s = status(
        api.patch(
            "leaf-01",
            &PatchParams::apply("hhgitops"),
            &Patch::Apply(&switch("leaf-01", "spine")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 500);
    let statuses: Vec<(String, Option<u16>)> = server
        .request_log()
        .into_iter()
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("GET".to_string(), Some(500)),
            ("GET".to_string(), Some(200)),
            ("GET".to_string(), Some(200)),
            ("PATCH".to_string(), Some(500)),
        ]
    );
    assert!(server
        .objects("wiring.githedgehog.com", "switches")
        .is_empty());

    server
        .faults()
        .delay_matching("/switches", Duration::from_secs(3));
    let mut kubeconfig = server.kubeconfig();
    kubeconfig.push('\n');
    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    config.read_timeout = Some(Duration::from_millis(300));
    let impatient = switches(&kube::Client::try_from(config).unwrap());
    let started = std::time::Instant::now();
    let err = impatient.list(&ListParams::default()).await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a timeout, not an API answer: {err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    server.faults().clear();

    server
        .faults()
        .deny("Switch", "leaf-01", "switch profile \"vs\" not found");
    let s = status(
        api.patch(
            "leaf-01",
            &PatchParams::apply("hhgitops").dry_run(),
            &Patch::Apply(&switch("leaf-01", "spine")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message
            .contains("denied the request: switch profile \"vs\" not found"),
        "{}",
        s.message
    );
    api.patch(
        "leaf-02",
        &PatchParams::apply("hhgitops"),
        &Patch::Apply(&switch("leaf-02", "spine")),
    )
    .await
    .expect("other objects are admitted");
    server
        .faults()
        .deny_delete("Switch", "leaf-02", "switch has connections");
    let s = status(
        api.delete("leaf-02", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert!(s.message.contains("switch has connections"));
    assert_eq!(
        server.objects("wiring.githedgehog.com", "switches").len(),
        1
    );
}

#[tokio::test]
async fn discovery_serves_every_crd_and_kube_discovery_resolves_them() {
    let Some(server) = start() else { return };
    let client = client(&server).await;
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "wiring.githedgehog.com",
            "v1beta1",
            "Switch",
        ))
        .expect("Switch is discovered");
    assert_eq!(ar.plural, "switches");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(caps.operations.iter().any(|v| v == "patch"));
    for (group, version) in [
        ("wiring.githedgehog.com", "v1beta1"),
        ("vpc.githedgehog.com", "v1beta1"),
        ("gateway.githedgehog.com", "v1alpha1"),
    ] {
        let g = discovery
            .get(group)
            .unwrap_or_else(|| panic!("group {group}"));
        assert_eq!(g.preferred_version_or_latest(), version);
    }
    let aggregated = kube::Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    assert!(aggregated
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "vpc.githedgehog.com",
            "v1beta1",
            "VPC"
        ))
        .is_some());

    let get = |path: &str| {
        let client = client.clone();
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        async move { serde_json::from_str::<Value>(&client.request_text(req).await.unwrap()).unwrap() }
    };
    let list = get("/apis/wiring.githedgehog.com/v1beta1").await;
    let sw = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "switches")
        .unwrap();
    assert_eq!(sw["kind"], "Switch");
    assert_eq!(sw["shortNames"], json!(["sw"]));
    assert_eq!(sw["namespaced"], true);
    assert!(sw["categories"]
        .as_array()
        .unwrap()
        .contains(&json!("hedgehog")));
    assert!(sw["verbs"].as_array().unwrap().contains(&json!("watch")));
    assert!(list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "switches/status"));
    assert_eq!(get("/version").await["major"], "1");
    assert_eq!(get("/api").await["versions"], json!(["v1"]));
    assert_eq!(
        get("/api/v1/namespaces/default").await["status"]["phase"],
        "Active"
    );
    assert_eq!(get("/openapi/v2").await["swagger"], "2.0");
    let index = get("/openapi/v3").await;
    let url = index["paths"]["apis/vpc.githedgehog.com/v1beta1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = get(&url).await;
    assert!(
        doc["components"]["schemas"]["com.githedgehog.vpc.v1beta1.VPC"]["properties"]["spec"]
            .is_object()
    );
    let patch = &doc["paths"]
        ["/apis/vpc.githedgehog.com/v1beta1/namespaces/{namespace}/vpcs/{name}"]["patch"];
    assert!(patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation"));

    let s = status(
        client
            .request_text(
                http::Request::get("/apis/wiring.githedgehog.com/v1beta1/namespaces/default/nopes")
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        s.message,
        "the server could not find the requested resource"
    );
}

#[tokio::test]
async fn requests_without_the_token_are_unauthorized() {
    let Some(server) = start() else { return };
    let wrong = server.kubeconfig().replace(server.token(), "not-the-token");
    let client = client_with(&wrong).await;
    let s = status(
        switches(&client)
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn status_subresource_writes_only_status_and_main_writes_keep_it() {
    let Some(server) = start() else { return };
    server.create(switch("leaf-01", "spine"), "seed").unwrap();
    let client = client(&server).await;
    let api = switches(&client);
    let patched = api
        .patch_status(
            "leaf-01",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}, "spec": {"role": "border-leaf"}})),
        )
        .await
        .unwrap();
    // The Switch status schema is an empty object: its fields are pruned, and spec is not touched.
    assert_eq!(patched.data["spec"]["role"], "spine");
    assert_eq!(patched.data.get("status"), Some(&json!({})));
    let main = api
        .patch(
            "leaf-01",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": null, "spec": {"asn": 65300}})),
        )
        .await
        .unwrap();
    assert_eq!(
        main.data.get("status"),
        Some(&json!({})),
        "status is only written through /status"
    );
    assert_eq!(main.data["spec"]["asn"], 65300);
}
