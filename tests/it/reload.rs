//! Live reload of the real binary (issue 5): a changed file or SIGHUP switches new requests to
//! the new configuration without dropping requests in flight; an invalid file keeps the old one
//! serving and is counted; session keys rotate this way without logging anyone out.

use crate::support::TestUpstream;
use crate::support::process::GatewayProcess;
use std::path::Path;
use std::time::Duration;

fn yaml(upstream: &str, extra_route: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  shutdown_grace: 5s\n\
         routes:\n  - name: api\n    path: /api\n    upstream: {upstream}\n    strip_prefix: true\n    auth: none\n{extra_route}"
    )
}

/// Writes like Kubernetes does: a new file renamed over the old one.
fn replace(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

async fn status(url: &str) -> u16 {
    crate::support::client()
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 10 s");
}

async fn reloads(gw: &GatewayProcess, outcome: &str) -> u32 {
    let text = crate::support::client()
        .get(format!("http://{}/metrics", gw.admin.unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("bff_gateway_config_reloads_total{{outcome=\"{outcome}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str())?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_changed_file_applies_new_routes_and_an_invalid_one_keeps_the_old() {
    let api = TestUpstream::echo().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml(&api.url(), "")).unwrap();
    let gw = GatewayProcess::start(&path, &[]);
    assert_eq!(status(&gw.url("/api/x")).await, 200);
    assert_eq!(status(&gw.url("/new/x")).await, 404);

    // A request in flight while the file changes finishes on the old configuration.
    let slow = tokio::spawn(status_owned(gw.url("/api/slow/1500")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let added = format!(
        "  - name: new\n    path: /new\n    upstream: {}\n    auth: none\n",
        api.url()
    );
    replace(&path, &yaml(&api.url(), &added));
    eventually("the new route", async || {
        status(&gw.url("/new/x")).await == 200
    })
    .await;
    assert_eq!(
        slow.await.unwrap(),
        200,
        "the in-flight request was dropped"
    );
    assert_eq!(reloads(&gw, "applied").await, 1);

    replace(
        &path,
        "server:\n  listen: [not, an, address]\nroutes: nope\n",
    );
    eventually("the invalid reload to be counted", async || {
        reloads(&gw, "invalid").await == 1
    })
    .await;
    assert_eq!(
        status(&gw.url("/new/x")).await,
        200,
        "the old configuration stopped serving"
    );
    let logged = gw.drain_lines();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("keeping the current one") && l.contains("server.listen")),
        "the error names the key: {logged:?}"
    );
}

async fn status_owned(url: String) -> u16 {
    status(&url).await
}

// Session keys rotate by SIGHUP without logging anyone out (checklist K3).
#[tokio::test]
async fn sighup_rotates_session_keys_without_ending_sessions() {
    use crate::auth::{KEY_A, KEY_B};
    use bff_demo_auth_server::{AuthServer, AuthServerConfig};
    let port = crate::auth::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = AuthServerConfig {
        auto_approve: true,
        auto_login_user: Some("demo".to_owned()),
        ..AuthServerConfig::default()
    };
    config.clients[0].redirect_uris = vec![format!("{base}/auth/callback")];
    let provider = AuthServer::start(config).await.unwrap();
    let api = TestUpstream::echo().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{KEY_A}\n")).unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(
        &path,
        format!(
            "server:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:0\n  public_url: {base}\n\
             oauth:\n  issuer: {issuer}\n  allow_http_provider: true\n  client_id: msnID\n  client_secret: demo-secret\n\
             \x20 scopes: [openid, profile]\n\
             session:\n  keys_file: {keys}\n\
             routes:\n  - path: /\n    upstream: {api}\n    auth: none\n",
            issuer = provider.issuer(),
            keys = keys.display(),
            api = api.url(),
        ),
    )
    .unwrap();
    let gw = GatewayProcess::start(&path, &[]);
    let mut browser = crate::support::browser::Browser::new();
    let admin = gw.admin.unwrap();
    eventually("readiness", async || {
        status(&format!("http://{admin}/readyz")).await == 200
    })
    .await;
    let login = browser.get(&format!("{base}/auth/login")).await;
    let authorize = crate::support::browser::location(&login);
    let back = browser.get(&authorize).await;
    let callback =
        crate::support::browser::absolute(&authorize, &crate::support::browser::location(&back));
    assert_eq!(browser.get(&callback).await.status(), 200);
    let old_cookie = browser.cookie_header(&base).unwrap();

    // New key first, the old one still accepted.
    std::fs::write(&keys, format!("{KEY_B}\n{KEY_A}\n")).unwrap();
    gw.signal("HUP");
    eventually("the SIGHUP reload", async || {
        reloads(&gw, "applied").await == 1
    })
    .await;
    let session = crate::support::client()
        .get(format!("{base}/auth/session"))
        .header("cookie", old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 200, "the rotation logged the user out");
    // The process is still alive and serving after SIGHUP.
    assert_eq!(status(&format!("http://{admin}/healthz")).await, 200);
}
