//! The kubeconfig that points clients at a running test server: one cluster (with the CA inline), one
//! bearer-token user, one context, made current.

use base64::Engine;

/// The name used for the cluster, the user and the context.
pub const CONTEXT_NAME: &str = "hhgitops-testapi";

/// A kubeconfig document for `server_url`, trusting `ca_pem`, authenticating with `token`.
pub fn render(server_url: &str, ca_pem: &str, token: &str, namespace: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT_NAME}
  cluster:
    server: {server_url}
    certificate-authority-data: {ca}
users:
- name: {CONTEXT_NAME}
  user:
    token: {token}
contexts:
- name: {CONTEXT_NAME}
  context:
    cluster: {CONTEXT_NAME}
    user: {CONTEXT_NAME}
    namespace: {namespace}
current-context: {CONTEXT_NAME}
preferences: {{}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_is_valid_yaml_with_everything_a_client_needs() {
        let text = render(
            "https://127.0.0.1:1234",
            "-----BEGIN CERTIFICATE-----\n",
            "tok",
            "default",
        );
        let v: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(v["current-context"], CONTEXT_NAME);
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:1234"
        );
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        let ca = v["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(ca)
            .unwrap();
        assert!(decoded.starts_with(b"-----BEGIN CERTIFICATE-----"));
    }
}
