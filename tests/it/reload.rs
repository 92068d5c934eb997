//! Live reload of the real binary (issue 5): a changed file or SIGHUP switches new requests to
//! the new configuration without dropping requests in flight; an invalid file keeps the old one
//! serving and is counted; session keys rotate this way without logging anyone out.

use crate::support::TestUpstream;
use crate::support::browser::Browser;
use crate::support::process::GatewayProcess;
use crate::support::token_handler::{KEY_A, KEY_B, demo_provider, free_port};
use bff_demo_auth_server::AuthServer;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Not a configuration: the reload must refuse it and keep the one it has.
const INVALID: &str = "server:\n  listen: [not, an, address]\nroutes: nope\n";

fn yaml(upstream: &str, extra_route: &str) -> String {
    format!(
        "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  shutdown_grace: 5s\n\
         routes:\n  - name: api\n    path: /api\n    upstream: {upstream}\n    strip_prefix: true\n    auth: none\n{extra_route}"
    )
}

/// The real binary serving `yaml(upstream, "")` from a file in a new temporary directory (kept
/// alive by the caller), once `/api/x` answers.
async fn serving_from_file(upstream: &str) -> (tempfile::TempDir, PathBuf, GatewayProcess) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml(upstream, "")).unwrap();
    let gw = GatewayProcess::start(&path, &[]);
    assert_eq!(status(&gw.url("/api/x")).await, 200);
    (dir, path, gw)
}

/// Waits until `gw` counts one invalid reload (`what` names it), then checks that `path` is
/// still served by the old configuration.
async fn an_invalid_reload_keeps_serving(gw: &GatewayProcess, what: &str, path: &str) {
    eventually(what, async || reloads(gw, "invalid").await == 1).await;
    assert_eq!(
        status(&gw.url(path)).await,
        200,
        "the old configuration stopped serving"
    );
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
    let (_dir, path, gw) = serving_from_file(&api.url()).await;
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

    replace(&path, INVALID);
    an_invalid_reload_keeps_serving(&gw, "the invalid reload to be counted", "/new/x").await;
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
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = demo_provider();
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
    let mut browser = Browser::new();
    let admin = gw.admin.unwrap();
    eventually("readiness", async || {
        status(&format!("http://{admin}/readyz")).await == 200
    })
    .await;
    let login = browser.start_login(&format!("{base}/auth/login")).await;
    assert_eq!(browser.get(&login.callback).await.status(), 200);
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

/// A ConfigMap volume as the kubelet lays it out: `gateway.yaml -> ..data/gateway.yaml`,
/// `..data -> ..<timestamp>`, the file itself in the timestamped directory.
#[cfg(unix)]
struct ConfigMapDir {
    dir: tempfile::TempDir,
    current: std::path::PathBuf,
}

#[cfg(unix)]
impl ConfigMapDir {
    fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let current = Self::write_version(dir.path(), "..2026_01_01_00_00_00.000000001", text);
        std::os::unix::fs::symlink(&current, dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/gateway.yaml", dir.path().join("gateway.yaml")).unwrap();
        Self { dir, current }
    }

    fn write_version(root: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let version = root.join(name);
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("gateway.yaml"), text).unwrap();
        std::path::PathBuf::from(name)
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("gateway.yaml")
    }

    /// The kubelet's atomic update: a new timestamped directory, a new `..data_tmp` link to it
    /// renamed over `..data`, then the old directory removed.
    fn swap(&mut self, name: &str, text: &str) {
        let root = self.dir.path();
        let next = Self::write_version(root, name, text);
        std::os::unix::fs::symlink(&next, root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        std::fs::remove_dir_all(root.join(&self.current)).unwrap();
        self.current = next;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_kubernetes_configmap_symlink_swap_is_picked_up_by_polling() {
    let api = TestUpstream::echo().await;
    let mut mount = ConfigMapDir::new(&yaml(&api.url(), ""));
    let gw = GatewayProcess::start(&mount.path(), &[]);
    assert_eq!(status(&gw.url("/api/x")).await, 200);
    assert_eq!(status(&gw.url("/new/x")).await, 404);

    let added = format!(
        "  - name: new\n    path: /new\n    upstream: {}\n    auth: none\n",
        api.url()
    );
    mount.swap("..2026_01_01_00_01_00.000000002", &yaml(&api.url(), &added));
    eventually("the swapped ConfigMap's new route", async || {
        status(&gw.url("/new/x")).await == 200
    })
    .await;
    assert_eq!(status(&gw.url("/api/x")).await, 200);
    assert_eq!(reloads(&gw, "applied").await, 1);
    assert_eq!(reloads(&gw, "invalid").await, 0);
    let logged = gw.drain_lines();
    assert!(
        logged.iter().any(|l| l.contains("configuration reloaded")),
        "{logged:?}"
    );
}

/// Overwrites the file in place with text of the same length and puts its modification time
/// back, so polling cannot see the change and only SIGHUP can deliver it.
fn overwrite_unseen(path: &Path, text: &str) {
    use std::io::{Seek, Write};
    let before = std::fs::metadata(path).unwrap();
    let padding = usize::try_from(before.len()).unwrap() - text.len() - 2;
    let padded = format!("{text}#{}\n", "x".repeat(padding));
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(std::io::SeekFrom::Start(0)).unwrap();
    file.write_all(padded.as_bytes()).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
}

#[tokio::test]
async fn an_invalid_file_then_sighup_keeps_the_old_config_and_is_counted() {
    let api = TestUpstream::echo().await;
    let (_dir, path, gw) = serving_from_file(&api.url()).await;

    overwrite_unseen(&path, INVALID);
    gw.signal("HUP");
    an_invalid_reload_keeps_serving(&gw, "the invalid SIGHUP reload to be counted", "/api/x").await;
    let admin = gw.admin.unwrap();
    assert_eq!(status(&format!("http://{admin}/readyz")).await, 200);
    assert_eq!(reloads(&gw, "applied").await, 0);
    // The poll must not have counted the same file again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(reloads(&gw, "invalid").await, 1);
    let logged = gw.drain_lines();
    assert!(
        logged.iter().any(|l| l.contains("keeping the current one")
            && l.contains("SIGHUP")
            && l.contains("server.listen")),
        "the error names the cause and the key: {logged:?}"
    );
}
