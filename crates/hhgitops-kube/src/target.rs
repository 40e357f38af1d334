//! Where a fabric's API server is and how to talk to it: a kubeconfig file and context, or the in-cluster
//! service account when no kubeconfig is set. TLS verification always stays on; every request has a timeout.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cluster::{ClientSettings, Cluster};
use crate::error::{chain, KubeError};

/// A fabric's Kubernetes target as registered (`fabric add --kubeconfig FILE --context CTX`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterTarget {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// Whether the process runs inside a Kubernetes pod (the service account environment is present).
pub fn in_cluster_environment() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty())
        && std::env::var_os("KUBERNETES_SERVICE_PORT").is_some_and(|p| !p.is_empty())
}

impl ClusterTarget {
    /// Whether there is anything to connect to: a kubeconfig, or the in-cluster environment.
    pub fn is_configured(&self) -> bool {
        self.kubeconfig.is_some() || in_cluster_environment()
    }

    /// Builds a client for the target (no request is made yet).
    pub async fn connect(&self, settings: &ClientSettings) -> Result<Cluster, KubeError> {
        let mut config = match &self.kubeconfig {
            Some(path) => {
                let path = path.clone();
                let kc = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || Kubeconfig::read_from(&path)
                })
                .await
                .map_err(|e| KubeError::Config(format!("cannot read the kubeconfig: {e}")))?
                .map_err(|e| {
                    KubeError::Config(format!("kubeconfig {}: {}", path.display(), chain(&e)))
                })?;
                if let Some(ctx) = &self.context {
                    if !kc.contexts.iter().any(|c| &c.name == ctx) {
                        let known: Vec<&str> =
                            kc.contexts.iter().map(|c| c.name.as_str()).collect();
                        return Err(KubeError::Config(format!(
                            "kubeconfig {} has no context {ctx:?} (it has: {})",
                            path.display(),
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )));
                    }
                }
                let opts = KubeConfigOptions {
                    context: self.context.clone(),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| {
                        KubeError::Config(format!("kubeconfig {}: {}", path.display(), chain(&e)))
                    })?
            }
            None if in_cluster_environment() => kube::Config::incluster().map_err(|e| {
                KubeError::Config(format!("in-cluster configuration: {}", chain(&e)))
            })?,
            None => return Err(KubeError::NoTarget),
        };
        refuse_credentials_in_clear(&config)?;
        if config.accept_invalid_certs {
            tracing::warn!(
                "the kubeconfig asks to skip TLS verification; hhgitops verifies the API server's certificate anyway"
            );
            config.accept_invalid_certs = false;
        }
        config.connect_timeout = Some(settings.connect_timeout);
        config.read_timeout = Some(settings.request_timeout);
        config.write_timeout = Some(settings.request_timeout);
        config.reset_reader_on_write = true;
        let url = config.cluster_url.to_string();
        let url = url.trim_end_matches('/').to_string();
        let client = kube::Client::try_from(config).map_err(|e| {
            KubeError::Config(format!("cannot build a client for {url}: {}", chain(&e)))
        })?;
        Ok(Cluster::new(client, url, settings.clone()))
    }
}

/// Credentials never travel unencrypted: a plain `http://` API server is refused when the configuration holds
/// any (a token or token file, a password, a client certificate, an exec or auth-provider plugin). Without
/// credentials (`kubectl proxy` on localhost) plain HTTP is allowed.
fn refuse_credentials_in_clear(config: &kube::Config) -> Result<(), KubeError> {
    if config.cluster_url.scheme_str() != Some("http") {
        return Ok(());
    }
    let a = &config.auth_info;
    let mut what = Vec::new();
    if a.token.is_some() || a.token_file.is_some() {
        what.push("a bearer token");
    }
    if a.username.is_some() || a.password.is_some() {
        what.push("a user name and password");
    }
    if a.client_certificate.is_some()
        || a.client_certificate_data.is_some()
        || a.client_key.is_some()
        || a.client_key_data.is_some()
    {
        what.push("a client certificate");
    }
    if a.exec.is_some() || a.auth_provider.is_some() {
        what.push("a credential plugin");
    }
    if what.is_empty() {
        return Ok(());
    }
    Err(KubeError::Config(format!(
        "the API server {} is plain HTTP and the kubeconfig gives {} for it: hhgitops never sends credentials \
         unencrypted; use the server's https:// address",
        config.cluster_url.to_string().trim_end_matches('/'),
        what.join(" and ")
    )))
}
