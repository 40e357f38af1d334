//! `hhgitops serve`: the HTTP API of SPEC §8 over the engine, jobs in the database, tokens, the watchers of every
//! fabric, periodic and webhook-triggered syncs, metrics and health, and the web UI.
//!
//! Map: [`api`] (routes, thin) → [`data`] (reusable data functions) and [`jobs`]/[`runner`] (job store and
//! workers) → [`adapter`] (the one place that knows the engine's API). [`auth`] and [`tokens`] decide who may
//! do what; [`background`] runs watchers and the scheduler; [`ui`] renders the web pages over the same data.

pub mod adapter;
pub mod api;
pub mod auth;
pub mod background;
pub mod data;
pub mod error;
pub mod jobs;
pub mod progress;
pub mod replica;
pub mod runner;
pub mod state;
pub mod tokens;
pub mod ui;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hhgitops_engine::db::Backend;
use hhgitops_engine::Engine;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use state::{AppState, ServeOptions};

use crate::error::ApiError;
use crate::jobs::JobStore;
use crate::runner::Runner;
use crate::tokens::TokenStore;

/// Why `serve` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
}

static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The OpenAPI document of the API (every route, generated from the code).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    DOC.get_or_init(|| api::router().split_for_parts().1)
        .clone()
}

fn metrics_handle() -> Result<PrometheusHandle, ServeError> {
    if let Some(h) = METRICS.get() {
        return Ok(h.clone());
    }
    let buckets = [
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ];
    let h = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
        .map_err(|e| ServeError::Runtime(format!("metrics: {e}")))?
        .install_recorder()
        .map_err(|e| ServeError::Runtime(format!("metrics: {e}")))?;
    let _ = METRICS.set(h.clone());
    Ok(h)
}

/// Logging for `serve`: text or JSON lines on stderr, with the request id and fabric in the spans.
pub fn init_logging(json: bool, verbose: u8, quiet: bool) {
    let default = if quiet {
        "error".to_string()
    } else {
        match verbose {
            0 => "info,kube_client=off".to_string(),
            1 => "debug,kube_client=off,hyper=info,h2=info,sqlx=warn".to_string(),
            _ => "trace".to_string(),
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HHGITOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

async fn fallback() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such route; see /api/v1/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// Request metrics by route template and status; the timeout of ordinary requests.
async fn observe(
    State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let long =
        route.ends_with("/events") || route == api::UPLOAD_ROUTE || route == "/api/v1/validate";
    let started = Instant::now();
    let response = if long {
        next.run(req).await
    } else {
        match tokio::time::timeout(state.options().request_timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the request took too long",
            )
            .into_response(),
        }
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!("hhgitops_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("hhgitops_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

use axum::extract::State;

/// The whole router: the API (with its document), the UI slot, and the layers.
pub fn app(state: AppState) -> Router {
    let (api_router, doc) = api::router().split_for_parts();
    let _ = DOC.set(doc);
    let upload = Router::new().route(api::UPLOAD_ROUTE, axum::routing::put(api::upload::put_raw));
    let request_id = HeaderName::from_static("x-request-id");
    let max_body = state.options().max_body;
    let in_flight = state.options().max_in_flight;
    api_router
        .merge(upload)
        .merge(ui::routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower::limit::ConcurrencyLimitLayer::new(in_flight))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let path = req.uri().path();
                let fabric = path
                    .strip_prefix("/api/v1/fabrics/")
                    .or_else(|| path.strip_prefix("/api/v1/webhooks/git/"))
                    .or_else(|| path.strip_prefix("/fabrics/"))
                    .and_then(|r| r.split('/').next())
                    .unwrap_or("");
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %path, fabric = %fabric)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Builds the shared state and starts the job workers (used by `serve` and by tests).
pub async fn build_state(
    engine: Engine,
    options: ServeOptions,
) -> Result<(AppState, Vec<tokio::task::JoinHandle<()>>), ServeError> {
    let metrics = metrics_handle()?;
    let db = engine.db().clone();
    let jobs = JobStore::new(db.clone());
    // On SQLite this is the only server of the home: whatever is still running was cut off.
    let only_expired = db.backend() == Backend::Postgres;
    let interrupted = jobs
        .mark_interrupted(only_expired)
        .await
        .map_err(|e| ServeError::Runtime(format!("database: {e}")))?;
    if !only_expired {
        // The only server of a SQLite home: leases and replicas left by a previous one are stale.
        for sql in ["DELETE FROM leases", "DELETE FROM replicas"] {
            sqlx::query(sql)
                .execute(db.pool())
                .await
                .map_err(|e| ServeError::Runtime(format!("database: {e}")))?;
        }
    }
    if !interrupted.is_empty() {
        tracing::warn!(jobs = ?interrupted, "jobs cut off by a previous stop marked interrupted");
    }
    let (bump, events) = tokio::sync::watch::channel(0u64);
    let runner = Arc::new(Runner::new(
        engine.clone(),
        jobs.clone(),
        options.ops.clone(),
        bump,
    ));
    let workers = runner.spawn(options.workers);
    let status_cache = runner.status.clone();
    let state = AppState(Arc::new(state::Inner {
        tokens: TokenStore::new(db),
        jobs,
        runner,
        metrics,
        options,
        events,
        watch_status: Mutex::new(Vec::new()),
        leadership: OnceLock::new(),
        started: Instant::now(),
        drift_cache: Default::default(),
        objects_cache: Default::default(),
        status_cache,
        last_commits: Default::default(),
        engine,
    }));
    Ok((state, workers))
}

fn tls_config(
    options: &ServeOptions,
) -> Result<Option<axum_server::tls_rustls::RustlsConfig>, ServeError> {
    let (cert, key) = match (&options.tls_cert, &options.tls_key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(ServeError::Usage(
                "give both --tls-cert and --tls-key".into(),
            ))
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| ServeError::Usage(format!("cannot read {}: {e}", p.display())))
    };
    let certs: Vec<_> = rustls::pki_types::pem::PemObject::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<rustls::pki_types::CertificateDer<'static>>, _>>()
        .map_err(|e| {
            ServeError::Usage(format!(
                "{}: not a PEM certificate chain: {e}",
                cert.display()
            ))
        })?;
    let key_der = <rustls::pki_types::PrivateKeyDer<'static> as rustls::pki_types::pem::PemObject>::from_pem_slice(&read(key)?)
        .map_err(|e| ServeError::Usage(format!("{}: not a PEM private key: {e}", key.display())))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| ServeError::Usage(format!("TLS certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(axum_server::tls_rustls::RustlsConfig::from_config(
        Arc::new(config),
    )))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs the server until SIGTERM or SIGINT: then it stops accepting, lets running jobs reach a safe point
/// (at most `shutdown_grace`), stops the watchers (each finishes the ingestion it runs) and returns.
pub async fn serve(engine: Engine, options: ServeOptions) -> Result<(), ServeError> {
    let tls = tls_config(&options)?;
    let addr: SocketAddr = options.listen.parse().map_err(|e| {
        ServeError::Usage(format!(
            "--listen {:?}: {e} (expected HOST:PORT, e.g. 127.0.0.1:8080)",
            options.listen
        ))
    })?;
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| ServeError::Runtime(format!("cannot listen on {addr}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServeError::Runtime(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServeError::Runtime(e.to_string()))?;
    let grace = options.shutdown_grace;
    let watch_on = options.watch;
    let (state, workers) = build_state(engine, options).await?;
    let watch = if watch_on {
        Some(background::start_watchers(&state))
    } else {
        None
    };
    // Leadership decides which fabrics this replica watches and syncs periodically.
    let leadership = replica::Leadership::new(
        state.engine().db().clone(),
        state.runner().owner.clone(),
        local.to_string(),
        state.runner().health.clone(),
        watch.as_ref().map(|(set, _)| set.clone()),
    );
    let _ = state.0.leadership.set(leadership.clone());
    let scheduler_stop = tokio_util::sync::CancellationToken::new();
    let leadership_task = leadership.start(state.engine().clone(), scheduler_stop.clone());
    let scheduler = background::start_scheduler(&state, scheduler_stop.clone());
    let app = app(state.clone());
    let handle = axum_server::Handle::new();
    let scheme = if tls.is_some() { "https" } else { "http" };
    // One line on stdout that scripts (and tests) read to learn the address.
    println!("hhgitops serve: listening on {scheme}://{local}");
    tracing::info!(addr = %local, scheme, "listening");
    let server = {
        let handle = handle.clone();
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            match tls {
                Some(cfg) => {
                    axum_server::from_tcp_rustls(listener, cfg)
                        .handle(handle)
                        .serve(svc)
                        .await
                }
                None => {
                    axum_server::from_tcp(listener)
                        .handle(handle)
                        .serve(svc)
                        .await
                }
            }
        })
    };
    tokio::select! {
        _ = shutdown_signal() => {}
        r = server => {
            return Err(ServeError::Runtime(format!("the server stopped: {r:?}")));
        }
    }
    tracing::info!(
        "shutting down: no new requests or jobs; running jobs stop at their next safe point"
    );
    handle.graceful_shutdown(Some(Duration::from_secs(5)));
    scheduler_stop.cancel();
    state.runner().begin_shutdown();
    let deadline = Instant::now() + grace;
    for w in workers {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, w).await.is_err() {
            tracing::warn!("a job did not reach a safe point within the grace period; it will be marked interrupted at the next start");
            break;
        }
    }
    // Watchers stopped and leases given back: other replicas take this one's fabrics at their next round.
    let _ = tokio::time::timeout(
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(2)),
        leadership_task,
    )
    .await;
    if let Some((set, task)) = watch {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let _ = tokio::time::timeout(left, set.stop()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
    let _ = scheduler.await;
    state.engine().db().close().await;
    tracing::info!("stopped");
    Ok(())
}
