//! The running server: a dedicated thread with its own Tokio runtime accepting TLS connections (HTTP/1.1 and
//! HTTP/2), and the handle tests hold to inspect state, inject faults, write kubeconfigs and shut it down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::sync::watch;

use crate::crd::{load_crd_dir, CrdError};
use crate::faults::Faults;
use crate::http::{handle, Shared};
use crate::kubeconfig;
use crate::request_log::{RequestLog, RequestRecord};
use crate::status::ApiError;
use crate::store::{Cluster, DeleteOptions, PatchType, Target, WriteOptions};
use crate::tls::{self, TlsError};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Crds(#[from] CrdError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the server thread: {0}")]
    Runtime(std::io::Error),
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Directory of CRD YAML files (`*.yaml`, `*.yml`, `*.json`).
    pub crds_dir: PathBuf,
    /// Where to listen; the default is 127.0.0.1 with a port chosen by the system.
    pub listen: SocketAddr,
    /// Bearer token clients must send; generated when `None`.
    pub token: Option<String>,
}

impl ServerOptions {
    pub fn new(crds_dir: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            crds_dir: crds_dir.into(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            token: None,
        }
    }
}

/// A running in-process Kubernetes API server. Dropping it shuts it down.
pub struct TestApiServer {
    addr: SocketAddr,
    ca_pem: String,
    token: String,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for TestApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestApiServer {
    /// Starts a server for the CRDs in `crds_dir` on 127.0.0.1 with a random port. It runs on its own thread,
    /// so it may be started from synchronous tests and from any Tokio runtime (including `current_thread`).
    pub fn start(crds_dir: impl AsRef<Path>) -> Result<TestApiServer, StartError> {
        TestApiServer::start_with(ServerOptions::new(crds_dir.as_ref()))
    }

    /// Starts a server with explicit options.
    pub fn start_with(options: ServerOptions) -> Result<TestApiServer, StartError> {
        let crds = load_crd_dir(&options.crds_dir)?;
        let listener = TcpListener::bind(options.listen).map_err(|source| StartError::Listen {
            addr: options.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: options.listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| StartError::Listen { addr, source })?;
        let tls = tls::generate(addr.ip())?;
        let token = options
            .token
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let faults = Faults::default();
        let shared = Arc::new(Shared {
            cluster: Mutex::new(Cluster::new(crds, faults.clone())),
            faults,
            log: RequestLog::default(),
            token: token.clone(),
            server_address: addr.to_string(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config.clone());
        let loop_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("hhgitops-testapi-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, acceptor, loop_shared, shutdown_rx))
            })
            .map_err(StartError::Runtime)?;
        tracing::debug!(%addr, "test API server listening");
        Ok(TestApiServer {
            addr,
            ca_pem: tls.ca_pem,
            token,
            shared,
            shutdown,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// `https://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        let host = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        format!("https://{host}:{}", self.addr.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token clients must send.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A kubeconfig (cluster with the CA inline, token user, context `hhgitops-testapi`, namespace `default`).
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.url(), &self.ca_pem, &self.token, "default")
    }

    /// Writes [`TestApiServer::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// The context name in the generated kubeconfig.
    pub fn context_name(&self) -> &'static str {
        kubeconfig::CONTEXT_NAME
    }

    /// The fault controls.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every request received so far, in order.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// Forgets the requests received so far.
    pub fn clear_request_log(&self) {
        self.shared.log.clear()
    }

    /// The requests received so far that could change state (see [`RequestRecord::is_write`]).
    pub fn writes(&self) -> Vec<RequestRecord> {
        self.request_log()
            .into_iter()
            .filter(RequestRecord::is_write)
            .collect()
    }

    /// The current global resourceVersion; it moves only when stored state changes.
    pub fn resource_version(&self) -> u64 {
        self.shared.cluster().resource_version()
    }

    /// Every stored object of `group`/`plural` (all namespaces), sorted by namespace and name, as stored
    /// (with `managedFields`).
    pub fn objects(&self, group: &str, plural: &str) -> Vec<Value> {
        self.shared.cluster().objects(group, plural)
    }

    /// One stored object, if it exists.
    pub fn object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.shared.cluster().object(group, plural, namespace, name)
    }

    fn target_for(cluster: &Cluster, obj: &Value) -> Result<Target, ApiError> {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let (resource, version) = cluster.resource_for(api_version, kind).ok_or_else(|| {
            ApiError::bad_request(format!("no resource serves {api_version} {kind}"))
        })?;
        let namespace = resource.namespaced.then(|| {
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|ns| !ns.is_empty())
                .unwrap_or("default")
                .to_string()
        });
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Target {
            resource,
            version,
            namespace,
            name,
            status: false,
        })
    }

    /// Creates an object directly (no HTTP), through the same defaulting and validation as a `POST`, owned
    /// by field manager `manager`. The namespace defaults to `default`. Useful to seed a "cluster".
    pub fn create(&self, obj: Value, manager: &str) -> Result<Value, ApiError> {
        let mut cluster = self.shared.cluster();
        let mut t = Self::target_for(&cluster, &obj)?;
        t.name = None;
        let opts = WriteOptions {
            field_manager: Some(manager.to_string()),
            ..WriteOptions::default()
        };
        cluster.create(&t, obj, &opts).map(|r| r.object)
    }

    /// Server-side applies an object directly as field manager `manager` (as another controller or a
    /// person with kubectl would), with or without `force`.
    pub fn apply(&self, obj: Value, manager: &str, force: bool) -> Result<Value, ApiError> {
        let mut cluster = self.shared.cluster();
        let t = Self::target_for(&cluster, &obj)?;
        let opts = WriteOptions {
            field_manager: Some(manager.to_string()),
            force,
            ..WriteOptions::default()
        };
        let body = serde_json::to_vec(&obj).map_err(|e| ApiError::bad_request(e.to_string()))?;
        cluster
            .patch(&t, PatchType::Apply, &body, &opts)
            .map(|r| r.object)
    }

    /// Applies a JSON merge patch to a stored object directly, as field manager `manager` (to simulate drift).
    pub fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let mut cluster = self.shared.cluster();
        let probe = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}});
        let t = Self::target_for(&cluster, &probe)?;
        let opts = WriteOptions {
            field_manager: Some(manager.to_string()),
            ..WriteOptions::default()
        };
        let body = serde_json::to_vec(patch).map_err(|e| ApiError::bad_request(e.to_string()))?;
        cluster
            .patch(&t, PatchType::Merge, &body, &opts)
            .map(|r| r.object)
    }

    /// Deletes a stored object directly.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let mut cluster = self.shared.cluster();
        let probe = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}});
        let t = Self::target_for(&cluster, &probe)?;
        cluster.delete(&t, &DeleteOptions::default())
    }

    /// Stops accepting connections, ends open ones (watches included) and waits for the server thread.
    pub fn shutdown(self) {
        self.stop();
    }

    fn stop(&self) {
        let _ = self.shutdown.send(true);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("test API server cannot listen: {e}");
            return;
        }
    };
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                connections.spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await else {
                        return;
                    };
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
                        tracing::debug!("test API connection ended: {e}");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}
