//! The `bff-gateway` command: `check` and its config errors, `--version`, and the repository's
//! own `gateway.yaml` (the demo authorization server as its provider) proxying to a real upstream.

use crate::auth::{KEY_A, free_port};
use crate::support::TestUpstream;
use crate::support::process::{GatewayProcess, run};
use bff_demo_auth_server::{AuthServer, AuthServerConfig};
use std::io::Write;

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

const VALID: &str = "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\nroutes:\n  - path: /\n    upstream: http://127.0.0.1:3000\n    auth: none\n";

#[test]
fn check_prints_the_effective_config_and_exits_0() {
    let file = config_file(VALID);
    let (status, stdout, stderr) = run(&["check", "--config", file.path().to_str().unwrap()], &[]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("max_header_bytes: 16384"),
        "defaults are shown: {stdout}"
    );
    assert!(
        stdout.contains("upstream: \"http://127.0.0.1:3000\""),
        "{stdout}"
    );
    assert!(stderr.contains("configuration is valid"), "{stderr}");
}

#[test]
fn check_reports_an_unknown_key_with_its_path_and_line() {
    let text = VALID.replace(
        "    auth: none\n",
        "    auth: none\n    strip_prefx: true\n",
    );
    let file = config_file(&text);
    let (status, _, stderr) = run(&["check", "--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("line 8"), "{stderr}");
    assert!(stderr.contains("routes[0]"), "{stderr}");
    assert!(stderr.contains("unknown field `strip_prefx`"), "{stderr}");
}

#[test]
fn check_names_a_missing_environment_variable() {
    let text = VALID.replace("http://127.0.0.1:3000", "${BFF_TEST_SURELY_UNSET_UPSTREAM}");
    let file = config_file(&text);
    let (status, _, stderr) = run(&["check", "--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("BFF_TEST_SURELY_UNSET_UPSTREAM"),
        "{stderr}"
    );
    assert!(stderr.contains("routes[0].upstream"), "{stderr}");
    assert!(stderr.contains("line 6"), "{stderr}");
}

#[test]
fn check_reports_every_bad_value_at_once_with_key_and_line() {
    let text = VALID
        .replace("http://127.0.0.1:3000", "ftp://files")
        .replace("127.0.0.1:0", "localhost:http");
    let file = config_file(&text);
    let (status, _, stderr) = run(&["check", "--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(
        stderr.contains("line 2, column 3: `server.listen`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 6, column 5: `routes[0].upstream`"),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let (status, _, stderr) = run(&["check", "--config", "/nonexistent/gateway.yaml"], &[]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("/nonexistent/gateway.yaml"), "{stderr}");
}

#[test]
fn version_and_help_work() {
    let (status, stdout, _) = run(&["--version"], &[]);
    assert!(status.success());
    assert!(stdout.starts_with("bff-gateway "), "{stdout}");
    let (status, stdout, _) = run(&["--help"], &[]);
    assert!(status.success());
    assert!(stdout.contains("check"), "{stdout}");
}

#[test]
fn a_port_in_use_is_a_startup_error_with_exit_3() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let text = VALID.replace("127.0.0.1:0", &taken.local_addr().unwrap().to_string());
    let file = config_file(&text);
    let (status, _, stderr) = run(&["run", "--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("server.listen"), "{stderr}");
}

/// The repository's `gateway.yaml`, as a user runs it: the real binary, the demo authorization
/// server as its provider, and a real upstream behind both routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_gateway_yaml_proxies_to_a_real_upstream() {
    let provider = AuthServer::start(AuthServerConfig::default())
        .await
        .expect("provider starts");
    let issuer = provider.issuer();
    let echo = TestUpstream::echo().await;
    let upstream = echo.url();
    let listen = format!("127.0.0.1:{}", free_port());
    let public_url = format!("http://{listen}");
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.yaml");
    let env = [
        ("BFF_LISTEN", listen.as_str()),
        ("BFF_ADMIN_LISTEN", "127.0.0.1:0"),
        ("BFF_PUBLIC_URL", public_url.as_str()),
        ("BFF_ISSUER", issuer.as_str()),
        ("BFF_ALLOW_HTTP_PROVIDER", "true"),
        ("BFF_CLIENT_SECRET", "demo-secret"),
        ("BFF_SESSION_KEY", KEY_A),
        ("API_UPSTREAM", upstream.as_str()),
        ("SPA_UPSTREAM", upstream.as_str()),
    ];
    let gw = GatewayProcess::start(&config, &env);
    let client = crate::support::client();
    let admin = gw.admin.expect("admin address");
    let ready = async {
        loop {
            let r = client.get(format!("http://{admin}/readyz")).send().await;
            if r.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(15), ready)
        .await
        .expect("ready once the provider's discovery document is read");
    let health = client
        .get(format!("http://{admin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // `/api` is signed-in only: without a session the gateway answers 401 itself.
    let r = client
        .get(gw.url("/api/contacts?secret=abc"))
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
    // `/` (auth: none) proxies to the upstream.
    let r = client.get(gw.url("/index.html?x=1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["target"], "/index.html?x=1");

    // One access-log line per request: path without the query.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let lines = gw.drain_lines();
    let access: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["target"] == "bff_gateway::access")
        .collect();
    assert_eq!(access.len(), 2, "{lines:?}");
    for (line, path, route, status) in [
        (&access[0], "/api/contacts", "api", 401),
        (&access[1], "/index.html", "spa", 200),
    ] {
        assert_eq!(line["path"], path);
        assert_eq!(line["route"], route);
        assert_eq!(line["status"], status);
        assert_eq!(line["method"], "GET");
        assert!(line["latency_ms"].is_number());
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("secret=abc") || l.contains("demo-secret") || l.contains(KEY_A)),
        "the query or a secret was logged"
    );
}

#[test]
fn check_reads_the_tls_files_and_names_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), "not a certificate\n").unwrap();
    std::fs::write(dir.path().join("tls.key"), "not a key\n").unwrap();
    let text = VALID.replace(
        "  public_url: http://127.0.0.1\n",
        "  public_url: http://127.0.0.1\n  tls:\n    cert_file: tls.crt\n    key_file: tls.key\n",
    );
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, text).unwrap();
    let (status, _, stderr) = run(&["check", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&dir.path().join("tls.crt").display().to_string()),
        "{stderr}"
    );
}
