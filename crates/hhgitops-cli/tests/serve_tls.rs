//! `serve --tls-cert F --tls-key F`: the real binary on loopback behind rustls, called by a real HTTPS client
//! that trusts only the certificate authority made here; a plain-HTTP call to the same port fails.

mod common;
mod serve_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::Value;
use serve_support::token;

/// A certificate authority and a server certificate for 127.0.0.1 and localhost signed by it:
/// `(ca.pem, cert.pem, key.pem)` written into `dir`.
fn certificates(dir: &Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hhgitops test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hhgitops serve");
    let key = rcgen::KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &ca).expect("server certificate");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca.pem(), cert_path, key_path)
}

#[test]
fn https_with_the_given_certificate_works_and_plain_http_to_it_fails() {
    let env = TestEnv::sqlite();
    let admin = token(&env, "admin", "admin", &[]);
    std::fs::create_dir_all(env.path("tls")).unwrap();
    let (ca_pem, cert, key) = certificates(&env.path("tls"));
    let mut child = env
        .std_cmd()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-watch",
            "--tls-cert",
        ])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("HHGITOPS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("serve prints its address")
            .expect("a line");
        if let Some(u) = line.strip_prefix("hhgitops serve: listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _serve = Kill(child);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let https = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = https
        .get(format!("{url}/livez"))
        .send()
        .expect("HTTPS call");
    assert_eq!(r.status().as_u16(), 200);
    // An authenticated API call over the same connection kind.
    let r = https
        .get(format!("{url}/api/v1/fabrics"))
        .bearer_auth(&admin)
        .send()
        .expect("HTTPS API call");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().unwrap();
    assert!(body.is_array(), "{body}");
    // Under TLS the session cookie is Secure.
    let r = https
        .post(format!("{url}/login"))
        .form(&[("token", admin.as_str())])
        .send()
        .expect("sign in over HTTPS");
    let set_cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("Secure"),
        "{set_cookie}"
    );

    // A client that does not trust the authority refuses the server.
    let untrusting = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    assert!(untrusting.get(format!("{url}/livez")).send().is_err());

    // Plain HTTP to the TLS port gets no answer.
    let plain_url = url.replacen("https://", "http://", 1);
    let plain = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    match plain.get(format!("{plain_url}/livez")).send() {
        Err(_) => {}
        Ok(r) => panic!("plain HTTP was answered: {}", r.status()),
    }
    // The server still serves HTTPS after the bad connection.
    let r = https
        .get(format!("{url}/readyz"))
        .send()
        .expect("HTTPS again");
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn a_key_that_does_not_parse_is_refused_before_listening() {
    let env = TestEnv::sqlite();
    std::fs::create_dir_all(env.path("tls")).unwrap();
    let (_, cert, _) = certificates(&env.path("tls"));
    let bad_key = env.path("tls/bad.pem");
    std::fs::write(&bad_key, "not a key\n").unwrap();
    let out = env
        .cmd()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-watch",
            "--tls-cert",
        ])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&bad_key)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.contains("bad.pem") && err.contains("private key"),
        "{err}"
    );
    assert!(!stdout(&out).contains("listening on"), "{}", stdout(&out));
}
