//! Resource definitions: the CRDs read from a directory at start, plus the built-in `Namespace`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::schema::Schema;

/// One REST resource the server serves (a CRD, or the built-in namespaces).
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group; empty for the core group.
    pub group: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Served versions, the storage version first.
    pub versions: Vec<VersionDef>,
}

/// One served version of a resource.
#[derive(Debug, Clone)]
pub struct VersionDef {
    pub name: String,
    /// `None`: no schema; everything is kept and nothing is validated (the built-in namespaces).
    pub schema: Option<Schema>,
    /// The schema as written in the CRD, republished in the OpenAPI v3 documents.
    pub raw_schema: Option<Value>,
    pub printer_columns: Vec<PrinterColumn>,
    pub status_subresource: bool,
}

/// An `additionalPrinterColumns` entry.
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

impl ResourceDef {
    pub fn storage_version(&self) -> &VersionDef {
        &self.versions[0]
    }

    pub fn version(&self, name: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// `group/version`, or just `version` in the core group.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The built-in `v1` ConfigMap resource (namespaced, no schema): enough for the fabric controller's
    /// configuration, ConfigMap `fab/fabric-ctrl-config`.
    pub fn configmaps() -> ResourceDef {
        ResourceDef {
            group: String::new(),
            kind: "ConfigMap".into(),
            list_kind: "ConfigMapList".into(),
            plural: "configmaps".into(),
            singular: "configmap".into(),
            short_names: vec!["cm".into()],
            categories: Vec::new(),
            namespaced: true,
            versions: vec![VersionDef {
                name: "v1".into(),
                schema: None,
                raw_schema: None,
                printer_columns: vec![age_column()],
                status_subresource: false,
            }],
        }
    }

    /// The built-in `v1` Namespace resource: enough for clients that look up or create namespaces.
    pub fn namespaces() -> ResourceDef {
        ResourceDef {
            group: String::new(),
            kind: "Namespace".into(),
            list_kind: "NamespaceList".into(),
            plural: "namespaces".into(),
            singular: "namespace".into(),
            short_names: vec!["ns".into()],
            categories: Vec::new(),
            namespaced: false,
            versions: vec![VersionDef {
                name: "v1".into(),
                schema: None,
                raw_schema: None,
                printer_columns: vec![
                    PrinterColumn {
                        name: "Status".into(),
                        type_: "string".into(),
                        format: String::new(),
                        description: "The phase of the namespace".into(),
                        priority: 0,
                        json_path: ".status.phase".into(),
                    },
                    age_column(),
                ],
                status_subresource: true,
            }],
        }
    }
}

fn age_column() -> PrinterColumn {
    PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created."
            .into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }
}

/// Why the CRD directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("cannot read CRD directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no CustomResourceDefinition found in {0}")]
    Empty(PathBuf),
}

/// Reads every `*.yaml`, `*.yml` and `*.json` file of `dir` (not recursively) and returns the CRDs in them,
/// sorted by group and plural. Documents of other kinds are ignored.
pub fn load_crd_dir(dir: &Path) -> Result<Vec<ResourceDef>, CrdError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CrdError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json")
                })
        })
        .collect();
    files.sort();
    let mut defs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| CrdError::ReadFile {
            path: path.clone(),
            source,
        })?;
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value =
                serde::Deserialize::deserialize(doc).map_err(|e| CrdError::Invalid {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            if value.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let def = parse_crd(&value).map_err(|message| CrdError::Invalid {
                path: path.clone(),
                message,
            })?;
            if defs
                .iter()
                .any(|d: &ResourceDef| d.group == def.group && d.plural == def.plural)
            {
                return Err(CrdError::Invalid {
                    path: path.clone(),
                    message: format!("duplicate CRD {}.{}", def.plural, def.group),
                });
            }
            defs.push(def);
        }
    }
    if defs.is_empty() {
        return Err(CrdError::Empty(dir.to_path_buf()));
    }
    defs.sort_by(|a, b| (&a.group, &a.plural).cmp(&(&b.group, &b.plural)));
    Ok(defs)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(next) => cur = next,
            None => return Vec::new(),
        }
    }
    cur.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Turns one `apiextensions.k8s.io/v1` CustomResourceDefinition into a resource definition.
pub fn parse_crd(crd: &Value) -> Result<ResourceDef, String> {
    let spec = crd.get("spec").ok_or("CRD has no spec")?;
    let group = str_at(spec, &["group"])
        .ok_or("CRD has no spec.group")?
        .to_string();
    let kind = str_at(spec, &["names", "kind"])
        .ok_or("CRD has no spec.names.kind")?
        .to_string();
    let plural = str_at(spec, &["names", "plural"])
        .ok_or("CRD has no spec.names.plural")?
        .to_string();
    let singular = str_at(spec, &["names", "singular"])
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let list_kind = str_at(spec, &["names", "listKind"])
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let namespaced = str_at(spec, &["scope"]) != Some("Cluster");
    let mut versions = Vec::new();
    for v in spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or("CRD has no spec.versions")?
    {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let name = str_at(v, &["name"])
            .ok_or("CRD version without a name")?
            .to_string();
        let raw_schema = v
            .get("schema")
            .and_then(|s| s.get("openAPIV3Schema"))
            .cloned();
        let schema = match &raw_schema {
            Some(raw) => Some(
                Schema::from_value(raw)
                    .map_err(|e| format!("version {name}: openAPIV3Schema: {e}"))?,
            ),
            None => None,
        };
        let mut printer_columns = vec![];
        for c in v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            printer_columns.push(PrinterColumn {
                name: str_at(c, &["name"]).unwrap_or_default().to_string(),
                type_: str_at(c, &["type"]).unwrap_or("string").to_string(),
                format: str_at(c, &["format"]).unwrap_or_default().to_string(),
                description: str_at(c, &["description"]).unwrap_or_default().to_string(),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path: str_at(c, &["jsonPath"]).unwrap_or_default().to_string(),
            });
        }
        if printer_columns.is_empty() {
            printer_columns.push(age_column());
        }
        let storage = v.get("storage").and_then(Value::as_bool).unwrap_or(false);
        let def = VersionDef {
            name,
            schema,
            raw_schema,
            printer_columns,
            status_subresource: v
                .get("subresources")
                .and_then(|s| s.get("status"))
                .is_some(),
        };
        if storage {
            versions.insert(0, def);
        } else {
            versions.push(def);
        }
    }
    if versions.is_empty() {
        return Err("CRD serves no version".into());
    }
    Ok(ResourceDef {
        group,
        kind,
        list_kind,
        plural,
        singular,
        short_names: strings_at(spec, &["names", "shortNames"]),
        categories: strings_at(spec, &["names", "categories"]),
        namespaced,
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_shared_crds_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds");
        if !dir.is_dir() {
            assert!(
                !std::env::var("CI").is_ok_and(|c| c == "true"),
                "{} is absent: CI must run the tests that need ../shared",
                dir.display()
            );
            eprintln!("skipping: {} is absent", dir.display());
            return;
        }
        let defs = load_crd_dir(&dir).unwrap();
        assert_eq!(defs.len(), 17);
        let sw = defs.iter().find(|d| d.plural == "switches").unwrap();
        assert_eq!(sw.group, "wiring.githedgehog.com");
        assert_eq!(sw.kind, "Switch");
        assert_eq!(sw.short_names, vec!["sw"]);
        assert!(sw.categories.contains(&"hedgehog".to_string()));
        assert!(sw.namespaced);
        let v = sw.storage_version();
        assert_eq!(v.name, "v1beta1");
        assert!(v.status_subresource);
        assert!(v.printer_columns.iter().any(|c| c.name == "Role"));
        let gw = defs.iter().find(|d| d.plural == "gateways").unwrap();
        assert_eq!(gw.storage_version().name, "v1alpha1");
    }

    #[test]
    fn missing_directory_is_an_error() {
        let err = load_crd_dir(Path::new("/nonexistent/crds")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/crds"));
    }
}
