//! The `bff-gateway` command: `check` and its config errors, `--version`, and the repository's
//! own `gateway.yaml` (the demo authorization server as its provider) proxying to a real upstream.

use crate::support::TestUpstream;
use crate::support::process::{GatewayProcess, config_file, run};
use crate::support::token_handler::{KEY_A, free_port};
use bff_demo_auth_server::{AuthServer, AuthServerConfig};

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

/// Runs `check` on `text`; asserts exit 1 and returns stderr.
fn check_fails(text: &str) -> String {
    let file = config_file(text);
    let (status, stdout, stderr) = run(&["check", "--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.is_empty(),
        "no effective config for an invalid file: {stdout}"
    );
    stderr
}

const TWO_ROUTES: &str = "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\nroutes:\n  - path: /api\n    name: api\n    upstream: http://127.0.0.1:3000\n    auth: none\n  - path: /api/\n    name: api2\n    upstream: http://127.0.0.1:3001\n    auth: none\n";

#[test]
fn check_refuses_two_routes_with_the_same_path() {
    // `/api/` is normalised to `/api`: the second route could never be reached.
    let stderr = check_fails(TWO_ROUTES);
    assert!(
        stderr.contains("line 9, column 5: `routes[1].path`: same prefix as routes[0]"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_two_routes_with_the_same_name() {
    let text = TWO_ROUTES
        .replace("path: /api/\n", "path: /web\n")
        .replace("name: api2", "name: api");
    let stderr = check_fails(&text);
    assert!(
        stderr.contains("line 10, column 5: `routes[1].name`: same name as routes[0]"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_a_header_limit_below_its_minimum() {
    let text = VALID.replace(
        "  public_url: http://127.0.0.1\n",
        "  public_url: http://127.0.0.1\n  limits:\n    max_header_bytes: 4KiB\n    max_uri_bytes: 2KiB\n",
    );
    let stderr = check_fails(&text);
    assert!(
        stderr
            .contains("line 5, column 5: `server.limits.max_header_bytes`: must be at least 8192"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_a_uri_limit_larger_than_the_header_limit() {
    let text = VALID.replace(
        "  public_url: http://127.0.0.1\n",
        "  public_url: http://127.0.0.1\n  limits:\n    max_header_bytes: 16KiB\n    max_uri_bytes: 32KiB\n",
    );
    let stderr = check_fails(&text);
    assert!(
        stderr.contains(
            "line 6, column 5: `server.limits.max_uri_bytes`: cannot exceed `max_header_bytes`"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("max_header_bytes`: must"), "{stderr}");
}

#[test]
fn check_refuses_an_admin_listener_on_the_main_listeners_address() {
    let text = VALID.replace(
        "  listen: 127.0.0.1:0\n",
        "  listen: 127.0.0.1:8080\n  admin_listen: 127.0.0.1:8080\n",
    );
    let stderr = check_fails(&text);
    assert!(
        stderr
            .contains("line 3, column 3: `server.admin_listen`: must differ from `server.listen`"),
        "{stderr}"
    );
}

/// A config for the real binary: `routes` (YAML list items) behind a clear-text listener.
fn gateway_file(routes: &str) -> tempfile::NamedTempFile {
    config_file(&format!(
        "server:\n  listen: 127.0.0.1:0\n  public_url: http://127.0.0.1\n  shutdown_grace: 10s\nroutes:\n{routes}"
    ))
}

fn echo_route(upstream: &str) -> String {
    format!("  - path: /\n    name: web\n    upstream: {upstream}\n    auth: none\n")
}

fn os_args(args: &[&str], file: &tempfile::NamedTempFile) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    out.push(file.path().into());
    out
}

async fn spawn(args: Vec<std::ffi::OsString>) -> GatewayProcess {
    tokio::task::spawn_blocking(move || GatewayProcess::spawn(&args, &[]))
        .await
        .unwrap()
}

/// Collects log lines until `done` holds for them (at most 10 s).
async fn lines_until(gw: &GatewayProcess, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(&lines) {
        assert!(
            std::time::Instant::now() < deadline,
            "expected log lines did not appear: {lines:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        lines.extend(gw.drain_lines());
    }
    lines
}

fn json_lines(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .collect()
}

fn access_lines(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("bff_gateway::access"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_subcommand_the_binary_runs_the_gateway_and_proxies() {
    let echo = TestUpstream::echo().await;
    let file = gateway_file(&echo_route(&echo.url()));
    let gw = spawn(os_args(&["--config"], &file)).await;
    let r = crate::support::client()
        .get(gw.url("/through?x=1"))
        .send()
        .await
        .unwrap();
    let echo = crate::support::upstream::Echo::from(r).await;
    assert_eq!(echo.target(), "/through?x=1");
}

// The access line carries the upstream; with no `--log-format` and stdout a pipe, every line is
// JSON (the `auto` default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_off_a_terminal_and_the_access_line_names_the_upstream() {
    let echo = TestUpstream::echo().await;
    let file = gateway_file(&echo_route(&echo.url()));
    let gw = spawn(os_args(&["run", "--config"], &file)).await;
    let r = crate::support::client()
        .post(gw.url("/orders?code=abc"))
        .body("12345")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines = lines_until(&gw, |l| access_lines(l) == 1).await;
    let events = json_lines(&lines);
    let access = events
        .iter()
        .find(|e| e["target"] == "bff_gateway::access")
        .unwrap();
    assert_eq!(access["method"], "POST");
    assert_eq!(access["path"], "/orders");
    assert_eq!(access["route"], "web");
    assert_eq!(access["status"], 200);
    assert_eq!(access["upstream"], echo.url());
    assert_eq!(access["level"], "INFO");
    assert!(access["latency_ms"].is_number());
    assert!(!lines.iter().any(|l| l.contains("code=abc")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_log_format_writes_human_readable_lines() {
    let echo = TestUpstream::echo().await;
    let file = gateway_file(&echo_route(&echo.url()));
    let gw = spawn(os_args(&["--log-format", "text", "run", "--config"], &file)).await;
    let r = crate::support::client()
        .get(gw.url("/page?code=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines = lines_until(&gw, |l| access_lines(l) == 1).await;
    for line in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_err(),
            "a JSON line in text mode: {line}"
        );
    }
    let access = lines
        .iter()
        .find(|l| l.contains("bff_gateway::access"))
        .unwrap();
    assert!(
        !access.contains('\u{1b}'),
        "colour codes written to a pipe: {access:?}"
    );
    // `<timestamp>  INFO bff_gateway::access: method=GET path=/page ...`
    assert!(access.contains(" INFO bff_gateway::access: "), "{access}");
    for field in [
        "method=GET",
        "path=\"/page\"",
        "route=\"web\"",
        "status=200",
        &format!("upstream=\"{}\"", echo.url()),
    ] {
        assert!(access.contains(field), "{field} missing: {access}");
    }
    assert!(!lines.iter().any(|l| l.contains("code=abc")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_log_a_warning_naming_the_route_and_the_upstream() {
    let echo = TestUpstream::echo().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let file = gateway_file(&format!(
        "  - path: /dead\n    name: dead-api\n    upstream: {dead}\n    auth: none\n\
         \x20 - path: /slow\n    name: slow-api\n    upstream: {}\n    timeout: 300ms\n    auth: none\n",
        echo.url()
    ));
    let gw = spawn(os_args(&["--log-format", "json", "run", "--config"], &file)).await;
    let client = crate::support::client();
    let r = client.get(gw.url("/dead/x")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let r = client.get(gw.url("/slow/5000")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    let lines = lines_until(&gw, |l| access_lines(l) == 2).await;
    let events = json_lines(&lines);
    let warnings: Vec<_> = events
        .iter()
        .filter(|e| e["level"] == "WARN" && e["message"] == "upstream failed")
        .collect();
    assert_eq!(warnings.len(), 2, "{lines:#?}");
    for (warning, route, upstream, cause) in [
        (
            warnings[0],
            "dead-api",
            dead.clone(),
            "cannot connect to the upstream",
        ),
        (
            warnings[1],
            "slow-api",
            echo.url(),
            "the upstream did not answer within 300ms",
        ),
    ] {
        assert_eq!(warning["route"], route, "{warning}");
        assert_eq!(warning["upstream"], upstream.as_str(), "{warning}");
        assert!(
            warning["error"].as_str().is_some_and(|e| e.contains(cause)),
            "{warning}"
        );
    }
    assert!(
        warnings[0]["error"]
            .as_str()
            .is_some_and(|e| e.to_ascii_lowercase().contains("refused")),
        "the connect failure's own cause is missing: {}",
        warnings[0]
    );
}

// Ctrl-C in a terminal (or `docker stop` with STOPSIGNAL SIGINT) drains like SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_in_flight_requests_and_the_process_exits_0() {
    let echo = TestUpstream::echo().await;
    let file = gateway_file(&echo_route(&echo.url()));
    let mut gw = spawn(os_args(&["--log-format", "json", "run", "--config"], &file)).await;
    let in_flight = tokio::spawn(crate::support::client().get(gw.url("/slow/1500")).send());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    gw.signal("INT");
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completed");
    assert_eq!(response.status(), 200);
    let (status, gw) = tokio::task::spawn_blocking(move || {
        let status = gw.wait_exit(std::time::Duration::from_secs(10));
        (status, gw)
    })
    .await
    .unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    let lines = gw.drain_lines();
    assert!(
        json_lines(&lines).iter().any(|e| e["signal"] == "SIGINT"),
        "the shutdown line names SIGINT: {lines:#?}"
    );
}
