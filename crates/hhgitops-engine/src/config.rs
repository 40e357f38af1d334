//! A fabric's effective settings and where each came from (SPEC §7 `--fabric-config`).
//!
//! Layers, later ones winning: the fabricator defaults (CATALOGUE §1) → the fabric controller's configuration,
//! stored in the fabric's option `fabricConfig` (from `--fabric-config FILE`, or read from the cluster's ConfigMap
//! `fab/fabric-ctrl-config` by `sync`, `drift` and `fabric show --refresh`) → the legacy option `settings`
//! (FabricSettings-shaped overrides).
//!
//! Invariant: only [`ControllerConfig`]'s known fields are ever stored (never `users` or anything else of the
//! controller's configuration), so nothing secret reaches the database, a log or `fabric show`.

use std::collections::BTreeMap;
use std::path::Path;

use hhgitops_core::fabric_config::{parse_controller_config, ControllerConfig, SETTING_NAMES};
use hhgitops_core::settings::FabricSettings;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fabric::Fabric;

/// Where a setting's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingSource {
    Default,
    /// `--fabric-config FILE`.
    File,
    /// The cluster's ConfigMap.
    Cluster,
    /// The fabric's `settings` option.
    Option,
}

impl SettingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SettingSource::Default => "default",
            SettingSource::File => "file",
            SettingSource::Cluster => "cluster",
            SettingSource::Option => "option",
        }
    }
}

/// The stored controller configuration of a fabric (option `fabricConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredConfig {
    /// `file` or `cluster`.
    pub source: String,
    /// The file (absolute) or the ConfigMap (`fab/fabric-ctrl-config` at the API server's address).
    pub from: String,
    pub read_at: String,
    pub config: ControllerConfig,
}

/// Settings, with the source of each (keys: the camelCase names of [`SETTING_NAMES`]).
#[derive(Debug, Clone)]
pub struct EffectiveSettings {
    pub settings: FabricSettings,
    pub sources: BTreeMap<&'static str, SettingSource>,
    pub stored: Option<StoredConfig>,
}

/// The stored controller configuration, if any.
pub fn stored_config(fabric: &Fabric) -> Result<Option<StoredConfig>> {
    match fabric.options.get("fabricConfig") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
            Error::usage(format!(
                "fabric {:?}: invalid fabricConfig option: {e}",
                fabric.name
            ))
        }),
    }
}

/// The fabric's effective settings and their sources.
pub fn effective_settings(fabric: &Fabric) -> Result<EffectiveSettings> {
    let mut settings = FabricSettings::default();
    let mut sources: BTreeMap<&'static str, SettingSource> = SETTING_NAMES
        .iter()
        .map(|n| (*n, SettingSource::Default))
        .collect();
    let stored = stored_config(fabric)?;
    if let Some(st) = &stored {
        let src = if st.source == "cluster" {
            SettingSource::Cluster
        } else {
            SettingSource::File
        };
        let set = st
            .config
            .apply(&mut settings)
            .map_err(|e| Error::usage(format!("fabric {:?}: stored {e}", fabric.name)))?;
        for n in set {
            sources.insert(n, src);
        }
    }
    if let Some(v) = fabric.options.get("settings").filter(|v| !v.is_null()) {
        // Overrides in FabricSettings' own form, laid over what is there so far.
        let mut merged = serde_json::to_value(&settings)
            .map_err(|e| Error::Runtime(format!("cannot serialize settings: {e}")))?;
        if let (Some(m), Some(o)) = (merged.as_object_mut(), v.as_object()) {
            for (k, val) in o {
                m.insert(k.clone(), val.clone());
                if let Some(n) = SETTING_NAMES.iter().find(|n| **n == k.as_str()) {
                    sources.insert(n, SettingSource::Option);
                }
            }
        }
        settings = serde_json::from_value(merged).map_err(|e| {
            Error::usage(format!(
                "fabric {:?}: invalid settings option: {e}",
                fabric.name
            ))
        })?;
    }
    Ok(EffectiveSettings {
        settings,
        sources,
        stored,
    })
}

/// Reads `--fabric-config FILE`: the controller's `config.yaml` (unknown fields ignored). A file that does not
/// parse, or whose known fields are malformed, is a usage error naming the file.
pub fn read_config_file(path: &Path) -> Result<StoredConfig> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::usage(format!("--fabric-config {}: {e}", path.display())))?;
    let config = parse_controller_config(&bytes)
        .map_err(|e| Error::usage(format!("--fabric-config {}: {e}", path.display())))?;
    config
        .apply(&mut FabricSettings::default())
        .map_err(|e| Error::usage(format!("--fabric-config {}: {e}", path.display())))?;
    Ok(StoredConfig {
        source: "file".into(),
        from: crate::home::absolute(path)?.display().to_string(),
        read_at: crate::clock::now_rfc3339(),
        config,
    })
}

/// Parses the ConfigMap's `config.yaml` text read from a cluster at `url`.
pub fn cluster_config(text: &str, url: &str) -> Result<StoredConfig> {
    let config = parse_controller_config(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("ConfigMap fab/fabric-ctrl-config at {url}: {e}")))?;
    config
        .apply(&mut FabricSettings::default())
        .map_err(|e| Error::Runtime(format!("ConfigMap fab/fabric-ctrl-config at {url}: {e}")))?;
    Ok(StoredConfig {
        source: "cluster".into(),
        from: format!("ConfigMap fab/fabric-ctrl-config at {url}"),
        read_at: crate::clock::now_rfc3339(),
        config,
    })
}

/// The fabric's options with `config` stored (or replaced).
pub fn with_config(options: &serde_json::Value, config: &StoredConfig) -> serde_json::Value {
    let mut o = options.clone();
    if !o.is_object() {
        o = serde_json::json!({});
    }
    if let Some(m) = o.as_object_mut() {
        m.insert(
            "fabricConfig".into(),
            serde_json::to_value(config).unwrap_or(serde_json::Value::Null),
        );
    }
    o
}

/// The fabric's options with `hydrate` set.
pub fn with_hydrate(options: &serde_json::Value, mode: HydrateMode) -> serde_json::Value {
    let mut o = options.clone();
    if !o.is_object() {
        o = serde_json::json!({});
    }
    if let Some(m) = o.as_object_mut() {
        m.insert("hydrate".into(), serde_json::json!(mode.as_str()));
    }
    o
}

/// The fabric option `--hydrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HydrateMode {
    /// Raw files are validated as written (unhydrated switches and gateways are rejected).
    #[default]
    Never,
    /// Raw files are hydrated before they are validated: what is missing is allocated, what is set is kept.
    IfMissing,
}

impl HydrateMode {
    pub fn parse(s: &str) -> Result<HydrateMode> {
        match s {
            "never" => Ok(HydrateMode::Never),
            "if-missing" => Ok(HydrateMode::IfMissing),
            other => Err(Error::usage(format!(
                "unknown hydration mode {other:?}: use never or if-missing"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            HydrateMode::Never => "never",
            HydrateMode::IfMissing => "if-missing",
        }
    }
}

/// The hydration mode of a fabric (option `hydrate`; `never` when unset).
pub fn hydrate_mode(fabric: &Fabric) -> Result<HydrateMode> {
    match fabric.options.get("hydrate").and_then(|v| v.as_str()) {
        None => Ok(HydrateMode::Never),
        Some(s) => HydrateMode::parse(s),
    }
}

/// What reading the cluster's configuration found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refresh {
    /// The fabric has no Kubernetes target.
    NoTarget,
    /// The cluster has no ConfigMap `fab/fabric-ctrl-config` (or no `config.yaml` key): stored settings kept.
    Absent,
    /// Same configuration as stored.
    Unchanged,
    /// Stored anew.
    Updated,
}

/// Reads the cluster's controller configuration and stores it when it differs from what is stored (SPEC §7: a
/// fabric with a cluster target reads it from there). Returns the fabric as it is now registered (with `store`
/// false, as it would be: nothing is written).
pub async fn refresh_from_cluster(
    engine: &crate::context::Context,
    fabric: &Fabric,
    client: &hhgitops_kube::ClientSettings,
    store: bool,
) -> Result<(Fabric, Refresh)> {
    if !crate::cluster::target_of(fabric).is_configured() {
        return Ok((fabric.clone(), Refresh::NoTarget));
    }
    let cluster = crate::cluster::connect(fabric, client).await?;
    let text = cluster
        .fabric_config()
        .await
        .map_err(|e| crate::cluster::kube_error(fabric, e))?;
    let Some(text) = text else {
        return Ok((fabric.clone(), Refresh::Absent));
    };
    let fresh = cluster_config(&text, cluster.url())?;
    if let Some(old) = stored_config(fabric)? {
        if old.source == fresh.source && old.config == fresh.config {
            return Ok((fabric.clone(), Refresh::Unchanged));
        }
    }
    let options = with_config(&fabric.options, &fresh);
    if !store {
        // A dry run uses the cluster's configuration and stores nothing.
        let mut f = fabric.clone();
        f.options = options;
        return Ok((f, Refresh::Updated));
    }
    engine
        .registry()
        .set_options(&fabric.name, &options)
        .await?;
    let updated = engine.fabric(&fabric.name).await?;
    tracing::info!(fabric = %fabric.name, "fabric configuration read from the cluster");
    Ok((updated, Refresh::Updated))
}

/// The validation settings of a fabric: CATALOGUE §1 defaults, its controller configuration, its `settings`
/// option (see [`effective_settings`]).
pub fn fabric_settings(fabric: &Fabric) -> Result<FabricSettings> {
    effective_settings(fabric).map(|e| e.settings)
}
