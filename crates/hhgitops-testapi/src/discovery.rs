//! Discovery and OpenAPI documents: `/version`, `/api`, `/apis`, the per-group and per-version resource
//! lists, `/openapi/v2` (an empty but valid document, JSON or protobuf) and `/openapi/v3` (paths with their
//! query parameters, and the CRD schemas), enough for kubectl's resource mapping and parameter checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::crd::ResourceDef;

/// The Kubernetes version this server claims to be.
pub const SERVER_MAJOR: &str = "1";
pub const SERVER_MINOR: &str = "32";
pub const SERVER_GIT_VERSION: &str = "v1.32.0";

const CR_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

pub fn version() -> Value {
    json!({
        "major": SERVER_MAJOR,
        "minor": SERVER_MINOR,
        "gitVersion": SERVER_GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn api_resource(r: &ResourceDef) -> Vec<Value> {
    let mut main = Map::new();
    main.insert("name".into(), json!(r.plural));
    main.insert("singularName".into(), json!(r.singular));
    main.insert("namespaced".into(), json!(r.namespaced));
    main.insert("kind".into(), json!(r.kind));
    let verbs = if r.group.is_empty() {
        NAMESPACE_VERBS
    } else {
        CR_VERBS
    };
    main.insert("verbs".into(), json!(verbs));
    if !r.short_names.is_empty() {
        main.insert("shortNames".into(), json!(r.short_names));
    }
    if !r.categories.is_empty() {
        main.insert("categories".into(), json!(r.categories));
    }
    let mut out = vec![Value::Object(main)];
    if r.storage_version().status_subresource {
        out.push(json!({
            "name": format!("{}/status", r.plural),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": ["get", "patch", "update"]
        }));
    }
    out
}

/// `/api/v1` or `/apis/<group>/<version>`: an APIResourceList, or `None` for an unknown group-version.
pub fn resource_list(resources: &[Arc<ResourceDef>], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Arc<ResourceDef>> = resources
        .iter()
        .filter(|r| r.group == group && r.version(version).is_some())
        .collect();
    if served.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let list: Vec<Value> = served.iter().flat_map(|r| api_resource(r)).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list
    }))
}

/// group → versions served, preferred (storage) version first.
fn groups(resources: &[Arc<ResourceDef>]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        let versions = out.entry(r.group.clone()).or_default();
        for v in &r.versions {
            if !versions.contains(&v.name) {
                versions.push(v.name.clone());
            }
        }
    }
    out
}

fn api_group(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)
    })
}

/// `/apis`
pub fn group_list(resources: &[Arc<ResourceDef>]) -> Value {
    let list: Vec<Value> = groups(resources)
        .iter()
        .map(|(g, vs)| api_group(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
}

/// `/apis/<group>`
pub fn group(resources: &[Arc<ResourceDef>], name: &str) -> Option<Value> {
    let groups = groups(resources);
    let versions = groups.get(name)?;
    let mut g = api_group(name, versions);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

/// The content type of aggregated discovery documents.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery (`apidiscovery.k8s.io/v2`).
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// Aggregated discovery for `/api` (`core == true`) or `/apis`: every group, version and resource at once.
pub fn aggregated(resources: &[Arc<ResourceDef>], core: bool) -> Value {
    let mut by_group: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    for r in resources.iter().filter(|r| r.group.is_empty() == core) {
        for v in &r.versions {
            let kind = json!({"group": r.group, "version": v.name, "kind": r.kind});
            let verbs = if r.group.is_empty() {
                NAMESPACE_VERBS
            } else {
                CR_VERBS
            };
            let mut res = json!({
                "resource": r.plural,
                "responseKind": kind,
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": verbs
            });
            if !r.short_names.is_empty() {
                res["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                res["categories"] = json!(r.categories);
            }
            if v.status_subresource {
                res["subresources"] = json!([{"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}]);
            }
            by_group
                .entry(r.group.clone())
                .or_default()
                .entry(v.name.clone())
                .or_default()
                .push(res);
        }
    }
    let items: Vec<Value> = by_group
        .into_iter()
        .map(|(group, versions)| {
            let preferred = groups(resources).get(&group).and_then(|v| v.first().cloned());
            let mut vs: Vec<(String, Vec<Value>)> = versions.into_iter().collect();
            vs.sort_by_key(|(v, _)| Some(v) != preferred.as_ref());
            let versions: Vec<Value> = vs
                .into_iter()
                .map(|(version, resources)| json!({"version": version, "resources": resources, "freshness": "Current"}))
                .collect();
            json!({"metadata": {"name": group}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// `/openapi/v2` as JSON: a valid, empty Swagger document (CRD schemas are published through v3).
pub fn openapi_v2_json() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": SERVER_GIT_VERSION},
        "paths": {},
        "definitions": {}
    })
}

/// `/openapi/v2` as the protobuf kubectl asks for (`openapi_v2.Document` with swagger, info, empty paths).
pub fn openapi_v2_protobuf() -> Vec<u8> {
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2];
        let mut len = bytes.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(bytes);
        out
    }
    let mut info = field(1, b"Kubernetes");
    info.extend(field(2, SERVER_GIT_VERSION.as_bytes()));
    let mut doc = field(1, b"2.0");
    doc.extend(field(2, &info));
    doc.extend(field(8, &[]));
    doc
}

/// FNV-1a, for the content hashes in the OpenAPI v3 index (clients cache documents by them).
fn content_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// The group-versions with an OpenAPI v3 document, as index paths (`api/v1`, `apis/<group>/<version>`).
fn v3_paths(resources: &[Arc<ResourceDef>]) -> Vec<(String, String, String)> {
    let mut out = vec![("api/v1".to_string(), String::new(), "v1".to_string())];
    for (g, versions) in groups(resources) {
        for v in versions {
            out.push((format!("apis/{g}/{v}"), g.clone(), v));
        }
    }
    out
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_index(resources: &[Arc<ResourceDef>]) -> Value {
    let mut paths = Map::new();
    for (path, group, version) in v3_paths(resources) {
        let doc = openapi_v3_document(resources, &group, &version).unwrap_or(Value::Null);
        let hash = content_hash(&doc.to_string());
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn schema_name(r: &ResourceDef, version: &str, suffix: &str) -> String {
    if r.group.is_empty() {
        return format!("io.k8s.api.core.{version}.{}{suffix}", r.kind);
    }
    let reversed: Vec<&str> = r.group.split('.').rev().collect();
    format!("{}.{version}.{}{suffix}", reversed.join("."), r.kind)
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut p = vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. Valid value: All",
        ),
        query_param(
            "fieldManager",
            "A name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "How the server handles unknown fields: Ignore, Warn (default) or Strict.",
        ),
    ];
    if patch {
        p.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    p
}

fn list_params() -> Vec<Value> {
    [
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    ]
    .iter()
    .map(|n| query_param(n, ""))
    .collect()
}

fn json_content(schema_ref: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_ref}")}}})
}

fn operation(
    action: &str,
    gvk: &Value,
    params: Vec<Value>,
    ok_ref: &str,
    body: Option<Value>,
) -> Value {
    let mut op = json!({
        "operationId": format!("{action}{}", gvk["kind"].as_str().unwrap_or_default()),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": json_content(ok_ref)}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk
    });
    if let Some(b) = body {
        op["requestBody"] = b;
    }
    op
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn object_meta_schema() -> Value {
    let string = json!({"type": "string"});
    let string_map =
        json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}});
    json!({
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "type": "object",
        "properties": {
            "annotations": string_map,
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "deletionTimestamp": {"type": "string", "format": "date-time"},
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""}},
            "generateName": string,
            "generation": {"type": "integer", "format": "int64"},
            "labels": string_map,
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "name": string,
            "namespace": string,
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "resourceVersion": string,
            "selfLink": string,
            "uid": string
        }
    })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
pub fn openapi_v3_document(
    resources: &[Arc<ResourceDef>],
    group: &str,
    version: &str,
) -> Option<Value> {
    let served: Vec<&Arc<ResourceDef>> = resources
        .iter()
        .filter(|r| r.group == group && r.version(version).is_some())
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in served {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        let item_ref = schema_name(r, version, "");
        let list_ref = schema_name(r, version, "List");
        let body = json!({"content": json_content(&item_ref), "required": true});
        let patch_body = json!({"content": {
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
            "application/json-patch+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/strategic-merge-patch+json": {"schema": {"type": "object"}}
        }, "required": true});
        let (collection, item) = if r.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", r.plural),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
            )
        } else {
            (
                format!("{prefix}/{}", r.plural),
                format!("{prefix}/{}/{{name}}", r.plural),
            )
        };
        let mut path_params = vec![];
        if r.namespaced {
            path_params.push(json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        paths.insert(
            collection,
            json!({
                "get": operation("list", &gvk, list_params(), &list_ref, None),
                "post": operation("post", &gvk, write_params(false), &item_ref, Some(body.clone())),
                "delete": operation("deletecollection", &gvk, list_params(), &list_ref, None),
                "parameters": path_params.clone()
            }),
        );
        let mut item_params = path_params;
        item_params.push(json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        paths.insert(
            item,
            json!({
                "get": operation("get", &gvk, vec![], &item_ref, None),
                "put": operation("put", &gvk, write_params(false), &item_ref, Some(body)),
                "patch": operation("patch", &gvk, write_params(true), &item_ref, Some(patch_body)),
                "delete": operation("delete", &gvk, vec![query_param("dryRun", "")], &item_ref, None),
                "parameters": item_params
            }),
        );
        if r.namespaced {
            paths.insert(
                format!("{prefix}/{}", r.plural),
                json!({"get": operation("list", &gvk, list_params(), &list_ref, None)}),
            );
        }
        let vdef = r.version(version);
        let mut schema = vdef.and_then(|v| v.raw_schema.clone()).unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        // As the real server does, publish metadata as ObjectMeta: clients (kubectl apply) look fields up in it.
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "metadata".into(),
                json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}], "default": {}}),
            );
        }
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(item_ref.clone(), schema);
        schemas.insert(
            list_ref,
            json!({
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item_ref}")}}
                },
                "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": r.list_kind}]
            }),
        );
    }
    schemas.insert(OBJECT_META.into(), object_meta_schema());
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_document_has_swagger_info_and_paths_fields() {
        let pb = openapi_v2_protobuf();
        assert_eq!(&pb[..5], &[0x0a, 3, b'2', b'.', b'0']);
        assert_eq!(pb[5], 0x12);
        assert_eq!(&pb[pb.len() - 2..], &[0x42, 0]);
    }

    #[test]
    fn aggregated_discovery_is_negotiated_and_lists_resources() {
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        let resources = vec![Arc::new(ResourceDef::namespaces())];
        let core = aggregated(&resources, true);
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        let ns = &core["items"][0]["versions"][0]["resources"][0];
        assert_eq!(ns["resource"], "namespaces");
        assert_eq!(ns["scope"], "Cluster");
        assert_eq!(aggregated(&resources, false)["items"], json!([]));
    }

    #[test]
    fn namespaces_are_served_in_the_core_group() {
        let resources = vec![Arc::new(ResourceDef::namespaces())];
        let list = resource_list(&resources, "", "v1").unwrap();
        assert_eq!(list["groupVersion"], "v1");
        assert_eq!(list["resources"][0]["name"], "namespaces");
        assert_eq!(list["resources"][0]["namespaced"], false);
        assert!(resource_list(&resources, "x", "v1").is_none());
        assert_eq!(group_list(&resources)["groups"], json!([]));
    }
}
