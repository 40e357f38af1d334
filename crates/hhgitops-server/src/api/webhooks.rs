//! The Git webhook receiver: a push notification from GitHub, Gitea or GitLab queues a sync of the fabric (an
//! ingest when it has no cluster). The signature is checked in constant time against the secret held in the
//! environment variable the fabric names (`webhookSecretEnv`); a bad or missing one is 401 and queues nothing.
//! A delivery id seen before (per fabric) is answered 200 and ignored.
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, delivery `X-GitHub-Delivery`;
//! - Gitea: `X-Gitea-Signature: <hex HMAC-SHA256 of the body>`, delivery `X-Gitea-Delivery`;
//! - GitLab: `X-Gitlab-Token: <the secret>`, delivery `X-Gitlab-Event-UUID` (or `Idempotency-Key`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiPath, ApiResult, ErrorBody};
use crate::jobs::{JobParams, JobType};
use crate::state::AppState;

/// Largest webhook body read.
const MAX_BODY: u64 = 4 << 20;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn hmac_hex_matches(secret: &[u8], body: &[u8], given_hex: &str) -> bool {
    let Ok(given) = hex::decode(given_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Which host sent it, if its signature is good: `(host, delivery id)`.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
) -> Result<(&'static str, Option<String>), &'static str> {
    if let Some(sig) = header(headers, "x-hub-signature-256") {
        let hexpart = sig
            .strip_prefix("sha256=")
            .ok_or("X-Hub-Signature-256 must start with sha256=")?;
        return if hmac_hex_matches(secret, body, hexpart) {
            Ok((
                "github",
                header(headers, "x-github-delivery").map(str::to_string),
            ))
        } else {
            Err("bad X-Hub-Signature-256")
        };
    }
    if let Some(sig) = header(headers, "x-gitea-signature") {
        return if hmac_hex_matches(secret, body, sig) {
            Ok((
                "gitea",
                header(headers, "x-gitea-delivery").map(str::to_string),
            ))
        } else {
            Err("bad X-Gitea-Signature")
        };
    }
    if let Some(tok) = header(headers, "x-gitlab-token") {
        return if bool::from(tok.as_bytes().ct_eq(secret)) {
            let id = header(headers, "x-gitlab-event-uuid")
                .or_else(|| header(headers, "idempotency-key"));
            Ok(("gitlab", id.map(str::to_string)))
        } else {
            Err("bad X-Gitlab-Token")
        };
    }
    Err("no signature: send X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token")
}

/// A push notification from a Git host (unauthenticated: the signature is checked instead).
#[utoipa::path(post, path = "/api/v1/webhooks/git/{fabric}", tag = "webhooks", params(("fabric" = String, Path)),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 202, body = crate::jobs::Job), (status = 200, body = Object, description = "a replayed delivery, ignored"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub async fn git_webhook(
    State(s): State<AppState>,
    ApiPath(fabric): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let outcome = |o: &'static str| {
        metrics::counter!("hhgitops_webhooks_total", "fabric" => fabric.clone(), "outcome" => o)
            .increment(1);
    };
    let f = s.engine().fabric(&fabric).await?;
    let Some(var) = crate::adapter::webhook_secret_env(&f) else {
        outcome("unconfigured");
        return Err(ApiError::conflict(format!(
            "fabric {fabric:?} takes no webhooks: set its webhookSecretEnv (fabric set / PATCH) to the variable holding the secret"
        )));
    };
    let secret = std::env::var(&var).unwrap_or_default();
    if secret.is_empty() {
        outcome("unconfigured");
        return Err(ApiError::conflict(format!(
            "the webhook secret variable {var} of fabric {fabric:?} is not set in the server's environment"
        )));
    }
    let body = crate::api::upload::read_bounded(&headers, body, MAX_BODY).await?;
    let (host, delivery) = match verify(&headers, &body, secret.as_bytes()) {
        Ok(x) => x,
        Err(why) => {
            outcome("unauthorized");
            tracing::warn!(fabric = %fabric, reason = why, "webhook refused");
            return Err(ApiError::unauthorized(why));
        }
    };
    if let Some(id) = &delivery {
        let inserted = sqlx::query(
            "INSERT INTO webhook_deliveries (fabric, delivery, received_at) VALUES ($1, $2, $3)",
        )
        .bind(&fabric)
        .bind(id)
        .bind(hhgitops_engine::clock::now_rfc3339())
        .execute(s.engine().db().pool())
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                outcome("replay");
                return Ok((StatusCode::OK, Json(serde_json::json!({"ignored": true, "reason": "delivery already received", "delivery": id}))).into_response());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let job_type = if hhgitops_engine::sync::target_of(&f).is_configured() {
        JobType::Sync
    } else {
        JobType::Ingest
    };
    let actor = format!("webhook:{host}");
    let (job, _) =
        crate::api::jobs::submit(&s, &fabric, job_type, JobParams::default(), &actor).await?;
    if let Some(id) = &delivery {
        let _ = sqlx::query(
            "UPDATE webhook_deliveries SET job_id = $1 WHERE fabric = $2 AND delivery = $3",
        )
        .bind(&job.id)
        .bind(&fabric)
        .bind(id)
        .execute(s.engine().db().pool())
        .await;
    }
    outcome("accepted");
    Ok(crate::api::jobs::accepted(job))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn schemes() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let mut h = HeaderMap::new();
        h.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(&format!("sha256={}", sign(b"s3", body))).unwrap(),
        );
        h.insert("x-github-delivery", HeaderValue::from_static("d1"));
        assert_eq!(verify(&h, body, b"s3"), Ok(("github", Some("d1".into()))));
        assert!(verify(&h, body, b"other").is_err());
        assert!(verify(&h, b"tampered", b"s3").is_err());
        let mut h = HeaderMap::new();
        h.insert(
            "x-gitea-signature",
            HeaderValue::from_str(&sign(b"s3", body)).unwrap(),
        );
        assert_eq!(verify(&h, body, b"s3").map(|x| x.0), Ok("gitea"));
        let mut h = HeaderMap::new();
        h.insert("x-gitlab-token", HeaderValue::from_static("s3"));
        assert_eq!(verify(&h, body, b"s3").map(|x| x.0), Ok("gitlab"));
        assert!(verify(&h, body, b"s4").is_err());
        assert!(verify(&HeaderMap::new(), body, b"s3").is_err());
    }
}
