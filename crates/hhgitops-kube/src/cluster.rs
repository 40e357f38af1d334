//! One fabric's API server: which Hedgehog kinds it serves, one LIST per kind, server-side apply and delete of
//! single objects. Every object lives in namespace `default`; resources are built from the [`Kind`] table.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use hhgitops_core::diff::FIELD_MANAGER;
use hhgitops_core::kinds::{Group, Kind};
use hhgitops_core::path::{FieldPath, PathSegment};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    Preconditions, ValidationDirective,
};
use kube::core::Request;
use kube::Resource;
use serde_json::Value;

use crate::error::{classify, cluster_error, KubeError, RequestError};

/// The namespace every Hedgehog object lives in.
pub const NAMESPACE: &str = "default";

/// The API resource of a kind, from the kinds table (never a guessed plural).
pub fn api_resource(kind: Kind) -> ApiResource {
    let g = kind.group();
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(g.name(), g.version(), kind.name()),
        kind.plural(),
    )
}

/// `/apis/<group>/<version>/namespaces/default/<plural>`.
pub fn collection_path(kind: Kind) -> String {
    DynamicObject::url_path(&api_resource(kind), Some(NAMESPACE))
}

/// Live objects keyed by kind and name.
pub type LiveObjects = BTreeMap<(Kind, String), Value>;

/// How hhgitops talks to the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time one request may take, from sending it to its whole answer.
    pub request_timeout: Duration,
    /// Requests in flight at once (applies within one rank, deletes, lists of different kinds).
    pub concurrency: usize,
    /// Objects per LIST page.
    pub page_size: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            concurrency: 8,
            page_size: 5000,
        }
    }
}

/// A connected client for one cluster. Cheap to clone; share it between tasks.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    url: String,
    settings: ClientSettings,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("url", &self.url).finish()
    }
}

impl Cluster {
    pub fn new(client: kube::Client, url: String, settings: ClientSettings) -> Cluster {
        Cluster {
            client,
            url,
            settings,
        }
    }

    /// The API server's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The Hedgehog kinds the server serves (one discovery request per API group). A group that is not
    /// installed (the gateway group often is not) just serves nothing.
    pub async fn served_kinds(&self) -> Result<BTreeSet<Kind>, KubeError> {
        let groups = [Group::Wiring, Group::Vpc, Group::Gateway];
        let lists = futures::future::join_all(groups.iter().map(|g| {
            let client = self.client.clone();
            async move { (*g, client.list_api_group_resources(g.api_version()).await) }
        }))
        .await;
        let mut served = BTreeSet::new();
        for (group, result) in lists {
            let list = match result {
                Ok(l) => l,
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(cluster_error(&self.url, e)),
            };
            for r in &list.resources {
                if r.name.contains('/') {
                    continue;
                }
                if let Some(k) = Kind::from_plural(&r.name) {
                    if k.group() == group && r.kind == k.name() && r.namespaced {
                        served.insert(k);
                    }
                }
            }
        }
        Ok(served)
    }

    /// Fails with [`KubeError::MissingCrds`] unless every kind of `needed` is served.
    pub fn require(
        &self,
        served: &BTreeSet<Kind>,
        needed: impl IntoIterator<Item = Kind>,
    ) -> Result<(), KubeError> {
        let mut missing: Vec<String> = needed
            .into_iter()
            .filter(|k| !served.contains(k))
            .map(|k| format!("{} ({}/{})", k.name(), k.api_version(), k.plural()))
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(KubeError::MissingCrds {
                url: self.url.clone(),
                kinds: missing,
            })
        }
    }

    /// The fabric controller's configuration: the `config.yaml` key of ConfigMap `fabric-ctrl-config` in
    /// namespace `fab`. `None` when the ConfigMap or the key does not exist.
    pub async fn fabric_config(&self) -> Result<Option<String>, KubeError> {
        use hhgitops_core::fabric_config::{CONFIGMAP_KEY, CONFIGMAP_NAME, CONFIGMAP_NAMESPACE};
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(self.client.clone(), CONFIGMAP_NAMESPACE);
        match api.get(CONFIGMAP_NAME).await {
            Ok(cm) => Ok(cm.data.and_then(|mut d| d.remove(CONFIGMAP_KEY))),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(cluster_error(&self.url, e)),
        }
    }

    /// Every object of one kind in namespace `default` (paged LISTs; one request unless it is huge).
    pub async fn list(&self, kind: Kind) -> Result<Vec<Value>, KubeError> {
        let request = Request::new(collection_path(kind));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(self.settings.page_size);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let req = request.list(&lp).map_err(|e| KubeError::Server {
                url: self.url.clone(),
                message: format!("cannot build a list request: {e}"),
            })?;
            let mut page: Value = self
                .client
                .request(req)
                .await
                .map_err(|e| cluster_error(&self.url, e))?;
            if let Some(items) = page.get_mut("items").and_then(Value::as_array_mut) {
                for mut item in items.drain(..) {
                    // Items of a list may omit apiVersion and kind.
                    if let Some(m) = item.as_object_mut() {
                        m.entry("apiVersion")
                            .or_insert_with(|| Value::String(kind.api_version().into()));
                        m.entry("kind")
                            .or_insert_with(|| Value::String(kind.name().into()));
                    }
                    out.push(item);
                }
            }
            token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Every object of the given kinds, keyed by kind and name (lists of different kinds run concurrently).
    pub async fn list_all(&self, kinds: &BTreeSet<Kind>) -> Result<LiveObjects, KubeError> {
        let lists: Vec<(Kind, Vec<Value>)> = futures::stream::iter(kinds.iter().copied())
            .map(|k| async move { self.list(k).await.map(|l| (k, l)) })
            .buffer_unordered(self.settings.concurrency.max(1))
            .try_collect()
            .await?;
        let mut out = BTreeMap::new();
        for (kind, items) in lists {
            for item in items {
                let Some(name) = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                else {
                    continue;
                };
                out.insert((kind, name), item);
            }
        }
        Ok(out)
    }

    /// Server-side applies one object as field manager `hhgitops`, forcing ownership of conflicting fields, with
    /// strict field validation (an unknown field is a rejection, not a silent prune). Returns the object as the
    /// server has it (or would have it, in a dry run).
    pub async fn apply(
        &self,
        kind: Kind,
        name: &str,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, RequestError> {
        let pp = PatchParams {
            dry_run,
            force: true,
            field_manager: Some(FIELD_MANAGER.to_string()),
            field_validation: Some(ValidationDirective::Strict),
        };
        let req = Request::new(collection_path(kind))
            .patch(name, &pp, &Patch::Apply(body))
            .map_err(|e| RequestError::Failed {
                message: format!("cannot build the request: {e}"),
            })?;
        self.client.request::<Value>(req).await.map_err(classify)
    }

    /// Removes fields another field manager added (a JSON merge patch setting them to null): server-side apply
    /// cannot remove fields it does not own, and Git is the source of truth.
    pub async fn remove_fields(
        &self,
        kind: Kind,
        name: &str,
        paths: &[FieldPath],
        dry_run: bool,
    ) -> Result<(), RequestError> {
        let mut patch = Value::Object(Default::default());
        for p in paths {
            let mut node = &mut patch;
            let n = p.0.len();
            for (i, seg) in p.0.iter().enumerate() {
                let PathSegment::Key(k) = seg else { break };
                let Some(map) = node.as_object_mut() else {
                    break;
                };
                if i + 1 == n {
                    map.insert(k.clone(), Value::Null);
                    break;
                }
                node = map
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Default::default()));
            }
        }
        let pp = PatchParams {
            dry_run,
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let req = Request::new(collection_path(kind))
            .patch(name, &pp, &Patch::Merge(&patch))
            .map_err(|e| RequestError::Failed {
                message: format!("cannot build the request: {e}"),
            })?;
        self.client
            .request::<Value>(req)
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// Deletes one object, only if it is still the one that was listed (`uid` precondition). An object that
    /// is already gone counts as deleted.
    pub async fn delete(
        &self,
        kind: Kind,
        name: &str,
        uid: Option<&str>,
        dry_run: bool,
    ) -> Result<(), RequestError> {
        let mut dp = DeleteParams::background();
        dp.dry_run = dry_run;
        if let Some(uid) = uid {
            dp = dp.preconditions(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            });
        }
        let req = Request::new(collection_path(kind))
            .delete(name, &dp)
            .map_err(|e| RequestError::Failed {
                message: format!("cannot build the request: {e}"),
            })?;
        match self.client.request::<Value>(req).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_come_from_the_kinds_table() {
        assert_eq!(
            collection_path(Kind::Switch),
            "/apis/wiring.githedgehog.com/v1beta1/namespaces/default/switches"
        );
        assert_eq!(
            collection_path(Kind::GatewayPeering),
            "/apis/gateway.githedgehog.com/v1alpha1/namespaces/default/gatewaypeerings"
        );
        let ar = api_resource(Kind::VPCAttachment);
        assert_eq!(
            (
                ar.api_version.as_str(),
                ar.kind.as_str(),
                ar.plural.as_str()
            ),
            (
                "vpc.githedgehog.com/v1beta1",
                "VPCAttachment",
                "vpcattachments"
            )
        );
    }
}
