//! The HTTP layer: authentication, fault injection, the request log, routing of Kubernetes REST paths to the
//! store's verbs, content negotiation (JSON, YAML bodies, Tables) and watch streaming.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::discovery;
use crate::faults::Faults;
use crate::protobuf;
use crate::request_log::{RequestLog, RequestRecord};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{
    Cluster, DeleteOptions, FieldValidation, ListOptions, ListResult, PatchType, Target,
    WatchOptions, WatchStart, WriteOptions, WriteResult,
};
use crate::table::{self, IncludeObject};

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub cluster: Mutex<Cluster>,
    pub faults: Faults,
    pub log: RequestLog,
    pub token: String,
    /// `host:port`, as reported in `/api`.
    pub server_address: String,
}

impl Shared {
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        // Handlers never panic while holding the lock on purpose; if one did, the state is still usable.
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A response body: complete, or a stream of watch events.
pub(crate) enum ResponseBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            ResponseBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Full(None))
    }
}

/// What a request handler produced.
enum Reply {
    Json(StatusCode, Value, Vec<String>),
    Raw(StatusCode, &'static str, Vec<u8>),
    Watch(Target, Box<WatchStart>, WatchParams),
}

struct WatchParams {
    table: bool,
    bookmarks: bool,
    send_initial_events: bool,
    timeout: Option<Duration>,
}

/// The parts of a request the handlers look at.
struct RequestInfo {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    content_type: String,
    accept: String,
    user_agent: Option<String>,
}

impl RequestInfo {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }
}

fn json_response(status: StatusCode, value: &Value, warnings: &[String]) -> Response<ResponseBody> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(ResponseBody::Full(Some(Bytes::from(body))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn error_response(err: &ApiError) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &err.to_status(), &[])
}

fn injected_error(code: u16) -> ApiError {
    let reason = match code {
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        409 => "Conflict",
        404 => "NotFound",
        403 => "Forbidden",
        401 => "Unauthorized",
        400 => "BadRequest",
        _ => "Unknown",
    };
    ApiError::new(
        code,
        reason,
        format!("Internal error occurred: injected fault (HTTP {code})"),
    )
}

/// Entry point for every request: log, authenticate, inject faults, dispatch, record the status.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let header_str = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let info = RequestInfo {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        content_type: header_str(header::CONTENT_TYPE).unwrap_or_default(),
        accept: header_str(header::ACCEPT).unwrap_or_default(),
        user_agent: header_str(header::USER_AGENT),
    };
    let id = shared.log.push(RequestRecord {
        method: info.method.to_string(),
        path: info.path.clone(),
        query: raw_query,
        content_type: header_str(header::CONTENT_TYPE),
        user_agent: info.user_agent.clone(),
        status: None,
    });
    let authorization = header_str(header::AUTHORIZATION);
    let resp = respond(&shared, &info, authorization.as_deref(), body).await;
    shared.log.set_status(id, resp.status().as_u16());
    Ok(resp)
}

async fn respond(
    shared: &Arc<Shared>,
    info: &RequestInfo,
    authorization: Option<&str>,
    body: hyper::body::Incoming,
) -> Response<ResponseBody> {
    if matches!(info.path.as_str(), "/healthz" | "/livez" | "/readyz") {
        let mut resp = Response::new(ResponseBody::Full(Some(Bytes::from_static(b"ok"))));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return resp;
    }
    let expected = format!("Bearer {}", shared.token);
    if authorization != Some(expected.as_str()) {
        return error_response(&ApiError::unauthorized());
    }
    let (delay, error) = shared.faults.on_request(info.method.as_str(), &info.path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(code) = error {
        return error_response(&injected_error(code));
    }
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error_response(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("request body: {e}"),
            ))
        }
    };
    match dispatch(shared, info, &body) {
        Ok(Reply::Json(status, value, warnings)) => json_response(status, &value, &warnings),
        Ok(Reply::Raw(status, content_type, bytes)) => {
            let mut resp = Response::new(ResponseBody::Full(Some(Bytes::from(bytes))));
            *resp.status_mut() = status;
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            resp
        }
        Ok(Reply::Watch(target, start, params)) => watch_response(target, *start, params),
        Err(e) => error_response(&e),
    }
}

fn ok(value: Value) -> Result<Reply, ApiError> {
    Ok(Reply::Json(StatusCode::OK, value, Vec::new()))
}

fn dispatch(shared: &Shared, info: &RequestInfo, body: &[u8]) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = info.path.split('/').filter(|s| !s.is_empty()).collect();
    let get_only = |reply: Result<Reply, ApiError>| {
        if info.method == Method::GET {
            reply
        } else {
            Err(ApiError::method_not_allowed(info.method.as_str()))
        }
    };
    match segments.as_slice() {
        ["version"] => get_only(ok(discovery::version())),
        ["api" | "apis"] if discovery::wants_aggregated(&info.accept) => get_only(Ok(Reply::Raw(
            StatusCode::OK,
            discovery::AGGREGATED_CONTENT_TYPE,
            serde_json::to_vec(&discovery::aggregated(
                shared.cluster().resources(),
                segments[0] == "api",
            ))
            .unwrap_or_default(),
        ))),
        ["api"] => get_only(ok(discovery::core_versions(&shared.server_address))),
        ["apis"] => get_only(ok(discovery::group_list(shared.cluster().resources()))),
        ["apis", group] => get_only(
            discovery::group(shared.cluster().resources(), group)
                .map(Reply::ok_json)
                .ok_or_else(ApiError::no_route),
        ),
        ["api", version] => get_only(
            discovery::resource_list(shared.cluster().resources(), "", version)
                .map(Reply::ok_json)
                .ok_or_else(ApiError::no_route),
        ),
        ["apis", group, version] => get_only(
            discovery::resource_list(shared.cluster().resources(), group, version)
                .map(Reply::ok_json)
                .ok_or_else(ApiError::no_route),
        ),
        ["openapi", "v2"] => get_only(if info.accept.contains("protobuf") {
            Ok(Reply::Raw(
                StatusCode::OK,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                discovery::openapi_v2_protobuf(),
            ))
        } else {
            ok(discovery::openapi_v2_json())
        }),
        ["openapi", "v3"] => get_only(ok(discovery::openapi_v3_index(
            shared.cluster().resources(),
        ))),
        ["openapi", "v3", "api", version] => get_only(
            discovery::openapi_v3_document(shared.cluster().resources(), "", version)
                .map(Reply::ok_json)
                .ok_or_else(ApiError::no_route),
        ),
        ["openapi", "v3", "apis", group, version] => get_only(
            discovery::openapi_v3_document(shared.cluster().resources(), group, version)
                .map(Reply::ok_json)
                .ok_or_else(ApiError::no_route),
        ),
        ["api", version, rest @ ..] => resource_request(shared, info, "", version, rest, body),
        ["apis", group, version, rest @ ..] => {
            resource_request(shared, info, group, version, rest, body)
        }
        _ => Err(ApiError::no_route()),
    }
}

impl Reply {
    fn ok_json(value: Value) -> Reply {
        Reply::Json(StatusCode::OK, value, Vec::new())
    }
}

/// Resolves `<plural>[/<name>[/status]]` and `namespaces/<ns>/<plural>[/<name>[/status]]`.
fn resolve_target(
    cluster: &Cluster,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, ApiError> {
    let namespaced_path = rest.len() >= 3
        && rest[0] == "namespaces"
        && cluster
            .resource(group, version, rest[2])
            .is_some_and(|r| r.namespaced);
    let (namespace, tail) = if namespaced_path {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let (plural, name, status) = match tail {
        [plural] => (*plural, None, false),
        [plural, name] => (*plural, Some(name.to_string()), false),
        [plural, name, "status"] => (*plural, Some(name.to_string()), true),
        _ => return Err(ApiError::no_route()),
    };
    let resource = cluster
        .resource(group, version, plural)
        .ok_or_else(ApiError::no_route)?;
    if resource.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::no_route());
    }
    if status
        && !resource
            .version(version)
            .is_some_and(|v| v.status_subresource)
    {
        return Err(ApiError::no_route());
    }
    Ok(Target {
        resource,
        version: version.to_string(),
        namespace,
        name,
        status,
    })
}

fn write_options(info: &RequestInfo) -> Result<WriteOptions, ApiError> {
    let dry_run = match info.param("dryRun") {
        None => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other:?}; the only valid value is All"
            )))
        }
    };
    let field_validation = match info.param("fieldValidation") {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Invalid value: {other:?}: must be one of Ignore, Warn, or Strict"
            )))
        }
    };
    let field_manager = info.param("fieldManager").map(str::to_string);
    if field_manager.as_ref().is_some_and(|m| m.len() > 128) {
        return Err(ApiError::bad_request(
            "fieldManager: Too long: must have at most 128 bytes",
        ));
    }
    Ok(WriteOptions {
        dry_run,
        field_manager,
        field_validation,
        force: info.flag("force"),
        user_agent: info.user_agent.clone(),
    })
}

fn list_options(info: &RequestInfo) -> Result<ListOptions, ApiError> {
    let limit = match info.param("limit") {
        None | Some("") => None,
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("limit: Invalid value: {l:?}")))?,
        ),
    };
    Ok(ListOptions {
        labels: LabelSelector::parse(info.param("labelSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(info.param("fieldSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?,
        limit,
        continue_token: info
            .param("continue")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    })
}

fn decode_body(info: &RequestInfo, body: &[u8]) -> Result<Value, ApiError> {
    let base = info
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    match base {
        "" | "application/json" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}"))),
        "application/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
            serde_yaml_ng::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }
        "application/vnd.kubernetes.protobuf" => {
            protobuf::decode(body).map_err(|_| ApiError::unsupported_media_type(base))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn delete_options(info: &RequestInfo, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        dry_run: write_options(info)?.dry_run,
        ..DeleteOptions::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(opts);
    }
    let v: Value = decode_body(info, body)?;
    if let Some(dry) = v.get("dryRun").and_then(Value::as_array) {
        for d in dry {
            match d.as_str() {
                Some("All") => opts.dry_run = true,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid dry run value: {other:?}"
                    )))
                }
            }
        }
    }
    if let Some(p) = v.get("preconditions") {
        opts.precondition_uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
        opts.precondition_resource_version = p
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    Ok(opts)
}

fn list_value(t: &Target, page: ListResult, info: &RequestInfo) -> Value {
    let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(n) = page.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    if table::wants_table(&info.accept) {
        if let Some(v) = t.resource.version(&t.version) {
            let include = IncludeObject::parse(info.param("includeObject"));
            return table::table(v, &page.items, include, meta, unix_now());
        }
    }
    json!({
        "apiVersion": t.resource.api_version(&t.version),
        "kind": t.resource.list_kind,
        "metadata": meta,
        "items": page.items
    })
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn write_reply(result: WriteResult, created_status: StatusCode) -> Reply {
    let status = if result.created {
        created_status
    } else {
        StatusCode::OK
    };
    Reply::Json(status, result.object, result.warnings)
}

fn resource_request(
    shared: &Shared,
    info: &RequestInfo,
    group: &str,
    version: &str,
    rest: &[&str],
    body: &[u8],
) -> Result<Reply, ApiError> {
    let mut cluster = shared.cluster();
    let t = resolve_target(&cluster, group, version, rest)?;
    let collection = t.name.is_none();
    match (&info.method, collection) {
        (&Method::GET, false) => {
            let obj = cluster.get(&t)?;
            if table::wants_table(&info.accept) {
                if let Some(v) = t.resource.version(&t.version) {
                    let include = IncludeObject::parse(info.param("includeObject"));
                    return ok(table::table(v, &[obj], include, json!({}), unix_now()));
                }
            }
            ok(obj)
        }
        (&Method::GET, true) if info.flag("watch") => {
            let rv = match info.param("resourceVersion") {
                None | Some("") => None,
                Some(s) => Some(s.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("resourceVersion: Invalid value: {s:?}"))
                })?),
            };
            let send_initial_events = info.flag("sendInitialEvents");
            let opts = WatchOptions {
                selection: list_options(info)?,
                resource_version: rv,
                send_initial_events,
            };
            let start = cluster.watch(&t, &opts);
            let timeout = info
                .param("timeoutSeconds")
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs);
            let params = WatchParams {
                table: table::wants_table(&info.accept),
                bookmarks: info.flag("allowWatchBookmarks"),
                send_initial_events,
                timeout,
            };
            Ok(Reply::Watch(t, Box::new(start), params))
        }
        (&Method::GET, true) => {
            let page = cluster.list(&t, &list_options(info)?)?;
            ok(list_value(&t, page, info))
        }
        (&Method::POST, true) if t.namespace.is_some() || !t.resource.namespaced => {
            let obj = decode_body(info, body)?;
            let result = cluster.create(&t, obj, &write_options(info)?)?;
            Ok(Reply::Json(
                StatusCode::CREATED,
                result.object,
                result.warnings,
            ))
        }
        (&Method::PUT, false) => {
            let obj = decode_body(info, body)?;
            Ok(write_reply(
                cluster.update(&t, obj, &write_options(info)?)?,
                StatusCode::CREATED,
            ))
        }
        (&Method::PATCH, false) => {
            let patch_type = PatchType::from_content_type(&info.content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&info.content_type))?;
            Ok(write_reply(
                cluster.patch(&t, patch_type, body, &write_options(info)?)?,
                StatusCode::CREATED,
            ))
        }
        (&Method::DELETE, false) => ok(cluster.delete(&t, &delete_options(info, body)?)?),
        (&Method::DELETE, true) if t.namespace.is_some() || !t.resource.namespaced => {
            let deleted = cluster.delete_collection(
                &t,
                &list_options(info)?,
                &delete_options(info, body)?,
            )?;
            ok(json!({
                "apiVersion": t.resource.api_version(&t.version),
                "kind": t.resource.list_kind,
                "metadata": {"resourceVersion": cluster.resource_version().to_string()},
                "items": deleted
            }))
        }
        (method, _) => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

fn event_line(t: &Target, event_type: &str, object: Value, as_table: bool) -> Bytes {
    let object = if as_table {
        match t.resource.version(&t.version) {
            Some(v) => table::table(v, &[object], IncludeObject::Metadata, json!({}), unix_now()),
            None => object,
        }
    } else {
        object
    };
    let mut line =
        serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn present(t: &Target, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            json!(t.resource.api_version(&t.version)),
        );
    }
    v
}

/// Streams watch events as newline-delimited JSON until the timeout, the client leaves, or the watcher lags.
fn watch_response(t: Target, start: WatchStart, params: WatchParams) -> Response<ResponseBody> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let WatchStart {
            initial,
            mut receiver,
            filter,
            expired,
            resource_version,
        } = start;
        if let Some(err) = expired {
            let _ = tx
                .send(event_line(&t, "ERROR", err.to_status(), false))
                .await;
            return;
        }
        for (event_type, obj) in initial {
            if tx
                .send(event_line(
                    &t,
                    event_type.as_str(),
                    present(&t, &obj),
                    params.table,
                ))
                .await
                .is_err()
            {
                return;
            }
        }
        if params.send_initial_events && params.bookmarks {
            let bookmark = json!({
                "apiVersion": t.resource.api_version(&t.version),
                "kind": t.resource.kind,
                "metadata": {
                    "resourceVersion": resource_version.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}
                }
            });
            if tx
                .send(event_line(&t, "BOOKMARK", bookmark, false))
                .await
                .is_err()
            {
                return;
            }
        }
        let deadline = params.timeout.map(|d| tokio::time::Instant::now() + d);
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, receiver.recv()).await.ok(),
                    None => Some(receiver.recv().await),
                }
            };
            let event = tokio::select! {
                e = next => e,
                _ = tx.closed() => return,
            };
            match event {
                None => return,
                Some(Ok(ev)) => {
                    if let Some((event_type, obj)) = filter.view(&ev) {
                        if tx
                            .send(event_line(
                                &t,
                                event_type.as_str(),
                                present(&t, &obj),
                                params.table,
                            ))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                // A watcher that fell behind is closed; clients re-list and watch again, as with a real server.
                Some(Err(broadcast::error::RecvError::Lagged(_)))
                | Some(Err(broadcast::error::RecvError::Closed)) => return,
            }
        }
    });
    let mut resp = Response::new(ResponseBody::Stream(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}
