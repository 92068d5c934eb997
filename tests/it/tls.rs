//! TLS termination with rustls; HTTP/2 negotiated by ALPN.

use crate::support::{TestGateway, TestUpstream};
use std::io::Write;

struct Pki {
    dir: tempfile::TempDir,
    cert_pem: String,
}

fn self_signed() -> Pki {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_pem = certified.cert.pem();
    std::fs::write(dir.path().join("tls.crt"), &cert_pem).unwrap();
    std::fs::write(
        dir.path().join("tls.key"),
        certified.key_pair.serialize_pem(),
    )
    .unwrap();
    Pki { dir, cert_pem }
}

fn tls_yaml(pki: &Pki, upstream: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: https://localhost\n  tls:\n    cert_file: {}\n    key_file: {}\n\
         routes:\n  - path: /\n    upstream: {upstream}\n    auth: none\n",
        pki.dir.path().join("tls.crt").display(),
        pki.dir.path().join("tls.key").display()
    )
}

fn tls_client(pki: &Pki, addr: std::net::SocketAddr, http1_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", addr);
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_listener_negotiates_h2_by_alpn_and_still_serves_http1() {
    let api = TestUpstream::echo().await;
    let pki = self_signed();
    let gw = TestGateway::start(&tls_yaml(&pki, &api.url())).await;
    let url = format!("https://localhost:{}/x", gw.addr.port());

    let r = tls_client(&pki, gw.addr, false)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
    // The upstream is plain HTTP/1.1 whatever the client spoke.
    assert_eq!(echo["version"], "HTTP/1.1");

    let r = tls_client(&pki, gw.addr, true)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_11);
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_bad_certificate_file_is_a_startup_error_naming_the_file() {
    let pki = self_signed();
    let cert = pki.dir.path().join("tls.crt");
    let mut file = std::fs::File::create(&cert).unwrap();
    file.write_all(b"not a certificate\n").unwrap();
    let yaml = tls_yaml(&pki, "http://127.0.0.1:9");
    let env = |_: &str| None;
    let config =
        bff_gateway::config::load_str(&yaml, "t.yaml", std::path::Path::new("."), &env).unwrap();
    let error = match bff_gateway::start(config).await {
        Ok(_) => panic!("started with a bad certificate file"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&cert.display().to_string()), "{error}");
    assert!(error.contains("no certificate"), "{error}");

    // A key file that is not a key.
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    let key = pki.dir.path().join("tls.key");
    std::fs::write(&key, "garbage\n").unwrap();
    let config =
        bff_gateway::config::load_str(&yaml, "t.yaml", std::path::Path::new("."), &env).unwrap();
    let error = match bff_gateway::start(config).await {
        Ok(_) => panic!("started with a bad key file"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&key.display().to_string()), "{error}");
    assert!(error.contains("server.tls.key_file"), "{error}");
}

// checklist P5: https upstreams are verified; a self-signed one is refused (502) unless its CA
// is configured with `upstream.extra_ca_file`.
#[tokio::test]
async fn https_upstreams_are_verified_and_an_extra_ca_is_trusted() {
    let api = TestUpstream::echo().await;
    let pki = self_signed();
    let tls_upstream = TestGateway::start(&tls_yaml(&pki, &api.url())).await;
    let upstream = format!("https://localhost:{}", tls_upstream.addr.port());
    let front = |extra: String| {
        format!(
            "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n{extra}\
             routes:\n  - path: /\n    upstream: {upstream}\n    auth: none\n"
        )
    };
    let strict = TestGateway::start(&front(String::new())).await;
    let response = crate::support::client()
        .get(format!("http://{}/x", strict.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        502,
        "a self-signed upstream must not be trusted"
    );
    let ca = format!(
        "upstream:\n  extra_ca_file: {}\n",
        pki.dir.path().join("tls.crt").display()
    );
    let trusting = TestGateway::start(&front(ca)).await;
    let response = crate::support::client()
        .get(format!("http://{}/x", trusting.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
