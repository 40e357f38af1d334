//! Kubernetes `Status` errors: every failure the server returns, over HTTP or through the in-process API,
//! is one of these, serialized exactly as a real API server does it.

use serde_json::{json, Map, Value};

/// A failed API call, as the API server reports it: an HTTP code, a machine-readable reason and a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code (404, 409, 422 …).
    pub code: u16,
    /// `Status.reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid` …).
    pub reason: String,
    /// Human-readable `Status.message`.
    pub message: String,
    /// `Status.details`, when the error concerns one object (boxed: errors travel in `Result`s everywhere).
    pub details: Option<Box<StatusDetails>>,
}

/// `Status.details`: which object the error is about and, for validation errors, the offending fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusDetails {
    pub name: String,
    pub group: String,
    /// The resource (plural) for most errors, the kind for `Invalid` (as the real server does).
    pub kind: String,
    pub causes: Vec<StatusCause>,
}

/// One entry of `Status.details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusCause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldManagerConflict` …
    pub reason: String,
    pub message: String,
    /// The field path (`spec.role`), empty when the cause is not about one field.
    pub field: String,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    /// The answer for a path the server does not serve at all.
    pub fn no_route() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(plural, group)),
        )
        .with_details(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: plural.to_string(),
            causes: Vec::new(),
        })
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(plural, group)),
        )
        .with_details(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: plural.to_string(),
            causes: Vec::new(),
        })
    }

    /// Optimistic-concurrency failure (stale `resourceVersion`, failed precondition).
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(plural, group)
            ),
        )
        .with_details(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: plural.to_string(),
            causes: Vec::new(),
        })
    }

    /// 422 Invalid with one cause per field error, message formatted like `field.ErrorList.ToAggregate()`.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let rendered: Vec<String> = errors.iter().map(FieldError::to_string).collect();
        let aggregate = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        ApiError::new(
            422,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: {aggregate}",
                qualified(kind, group)
            ),
        )
        .with_details(StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            causes: errors
                .iter()
                .map(|e| StatusCause {
                    reason: e.kind.reason().to_string(),
                    message: e.body(),
                    field: e.field.clone(),
                })
                .collect(),
        })
    }

    pub fn method_not_allowed(method: &str) -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json, application/apply-patch+yaml (got {content_type:?})"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// The `Status` object, as serialized in a response body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            let mut d = Map::new();
            if !details.name.is_empty() {
                d.insert("name".into(), json!(details.name));
            }
            if !details.group.is_empty() {
                d.insert("group".into(), json!(details.group));
            }
            if !details.kind.is_empty() {
                d.insert("kind".into(), json!(details.kind));
            }
            if !details.causes.is_empty() {
                let causes: Vec<Value> = details
                    .causes
                    .iter()
                    .map(|c| {
                        let mut cause = Map::new();
                        cause.insert("reason".into(), json!(c.reason));
                        cause.insert("message".into(), json!(c.message));
                        if !c.field.is_empty() {
                            cause.insert("field".into(), json!(c.field));
                        }
                        Value::Object(cause)
                    })
                    .collect();
                d.insert("causes".into(), Value::Array(causes));
            }
            status["details"] = Value::Object(d);
        }
        status
    }
}

/// `plural.group` or `Kind.group`, as Kubernetes prints a group-qualified resource.
fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

/// The kinds of `field.Error` the validation produces, with their `Status` cause reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    TooMany,
    TooLong,
    Duplicate,
    Forbidden,
}

impl FieldErrorKind {
    fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One validation failure at one field path, rendered like Kubernetes' `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// Dotted path (`spec.subnets.default.vlan`, `spec.links[0].port`).
    pub field: String,
    /// The offending value, when the message shows it.
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn new(
        kind: FieldErrorKind,
        field: &str,
        value: Option<&Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            kind,
            field: field.to_string(),
            value: value.cloned(),
            detail: detail.into(),
        }
    }

    /// The message without the field path (what goes into `causes[].message`).
    pub fn body(&self) -> String {
        let value = self.value.as_ref().map(render_value).unwrap_or_default();
        let with_detail = |prefix: String| {
            if self.detail.is_empty() {
                prefix
            } else {
                format!("{prefix}: {}", self.detail)
            }
        };
        match self.kind {
            FieldErrorKind::Required => with_detail("Required value".to_string()),
            FieldErrorKind::Forbidden => with_detail("Forbidden".to_string()),
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => {
                with_detail(format!("Invalid value: {value}"))
            }
            FieldErrorKind::NotSupported => with_detail(format!("Unsupported value: {value}")),
            FieldErrorKind::TooMany => with_detail(format!("Too many: {value}")),
            FieldErrorKind::TooLong => with_detail("Too long".to_string()),
            FieldErrorKind::Duplicate => with_detail(format!("Duplicate value: {value}")),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

/// Values as Kubernetes prints them in field errors: strings quoted, everything else as JSON.
pub(crate) fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_matches_kubernetes_aggregate_format() {
        let one = ApiError::invalid(
            "wiring.githedgehog.com",
            "Switch",
            "leaf-01",
            &[FieldError::new(
                FieldErrorKind::NotSupported,
                "spec.role",
                Some(&json!("boss")),
                "supported values: \"spine\", \"server-leaf\"",
            )],
        );
        assert_eq!(
            one.message,
            "Switch.wiring.githedgehog.com \"leaf-01\" is invalid: spec.role: Unsupported value: \"boss\": supported values: \"spine\", \"server-leaf\""
        );
        let status = one.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["causes"][0]["field"], "spec.role");
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldValueNotSupported"
        );

        let two = ApiError::invalid(
            "g",
            "K",
            "n",
            &[
                FieldError::new(FieldErrorKind::Required, "spec.a", None, ""),
                FieldError::new(FieldErrorKind::Required, "spec.b", None, ""),
            ],
        );
        assert!(two
            .message
            .ends_with("is invalid: [spec.a: Required value, spec.b: Required value]"));
    }

    #[test]
    fn not_found_status_has_kubernetes_shape() {
        let s = ApiError::not_found("vpc.githedgehog.com", "vpcs", "vpc-1").to_status();
        assert_eq!(s["kind"], "Status");
        assert_eq!(s["apiVersion"], "v1");
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["message"], "vpcs.vpc.githedgehog.com \"vpc-1\" not found");
        assert_eq!(s["details"]["kind"], "vpcs");
    }
}
