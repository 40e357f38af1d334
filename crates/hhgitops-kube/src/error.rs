//! Errors of the Kubernetes side, split the way an operator acts on them: configuration to fix (exit 2), a
//! cluster that cannot be used right now (exit 3), and per-object answers of the API server.

use std::error::Error as StdError;

/// Why the fabric's cluster could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// The target is misconfigured: unreadable kubeconfig, unknown context, unusable credentials file.
    #[error("{0}")]
    Config(String),
    /// Neither a kubeconfig nor an in-cluster environment.
    #[error("no Kubernetes target: the fabric has no kubeconfig (fabric add --kubeconfig FILE [--context CTX]) and hhgitops is not running inside a cluster")]
    NoTarget,
    /// Connection refused, DNS, TLS verification, timeouts.
    #[error("cannot reach the Kubernetes API at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// 401 or 403 on the requests every operation needs.
    #[error("the Kubernetes API at {url} refused our credentials ({code}): {message}; check the kubeconfig's user and its permissions on the Hedgehog resources in namespace default")]
    Unauthorized {
        url: String,
        code: u16,
        message: String,
    },
    /// Kinds this operation needs are not served: the Hedgehog CRDs are missing or older.
    #[error("the Kubernetes API at {url} does not serve {}: install the Hedgehog fabric CRDs (or a fabric version that has these kinds)", kinds.join(", "))]
    MissingCrds { url: String, kinds: Vec<String> },
    /// A 5xx answer, or an unexpected one, on a request every operation needs.
    #[error("the Kubernetes API at {url} failed: {message}")]
    Server { url: String, message: String },
}

impl KubeError {
    /// True for errors the operator fixes in the configuration (exit 2); false for runtime failures (exit 3).
    pub fn is_config(&self) -> bool {
        matches!(self, KubeError::Config(_) | KubeError::NoTarget)
    }
}

/// How the API server answered one object's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The server refused this object (422 from validation or an admission webhook, 400, 403, 404, 409): the
    /// run goes on with what does not depend on it.
    Rejected { code: u16, message: String },
    /// The request did not get a usable answer (unreachable, timeout, 5xx, 401): the run stops.
    Failed { message: String },
}

impl RequestError {
    pub fn message(&self) -> &str {
        match self {
            RequestError::Rejected { message, .. } | RequestError::Failed { message } => message,
        }
    }
}

/// The message of an error with its sources, without repeating a source its parent already quotes.
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !m.is_empty() && !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = s.source();
    }
    out
}

/// Classifies a per-object failure.
pub fn classify(e: kube::Error) -> RequestError {
    match e {
        kube::Error::Api(s) if s.code == 401 || s.code >= 500 || s.code == 429 => {
            RequestError::Failed {
                message: format!("{} {}: {}", s.code, s.reason, s.message),
            }
        }
        kube::Error::Api(s) => RequestError::Rejected {
            code: s.code,
            message: s.message.clone(),
        },
        other => RequestError::Failed {
            message: transport_message(&other),
        },
    }
}

/// A transport failure in words: the source chain, with a plain hint for timeouts.
pub fn transport_message(e: &kube::Error) -> String {
    let full = chain(e);
    let text = full
        .strip_prefix("ServiceError: ")
        .or_else(|| full.strip_prefix("HyperError: "))
        .unwrap_or(&full);
    let lower = text.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("elapsed") || lower.contains("timeout") {
        format!("request timed out ({text})")
    } else {
        text.to_string()
    }
}

/// Classifies a failure of a request every operation needs (discovery, lists).
pub fn cluster_error(url: &str, e: kube::Error) -> KubeError {
    match e {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => KubeError::Unauthorized {
            url: url.to_string(),
            code: s.code,
            message: s.message.clone(),
        },
        kube::Error::Api(s) => KubeError::Server {
            url: url.to_string(),
            message: format!("{} {}: {}", s.code, s.reason, s.message),
        },
        kube::Error::Auth(a) => {
            KubeError::Config(format!("cannot authenticate to {url}: {}", chain(&a)))
        }
        other => KubeError::Unreachable {
            url: url.to_string(),
            message: transport_message(&other),
        },
    }
}
