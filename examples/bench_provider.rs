//! The sign-in provider for `bench/run`: the demo authorization server (a real OAuth 2.0 /
//! OpenID Connect server: authorization code + PKCE, RS256 ID tokens, rotating refresh tokens),
//! set up so that a script can log in without a browser: the login form and consent screen are
//! skipped (user `demo`), everything else — the redirects, the code, the token exchange and the
//! ID token checks by the contender — is the real flow.
//!
//! Access tokens are 2,048 characters, the size of a production provider's JWT access tokens,
//! so sessions are as large as real ones; tokens live one hour, so no refresh happens while a
//! row is timed.
//!
//! Usage: `cargo run --release --example bench_provider -- <redirect_uri>...`
//! The first line on stdout is the issuer (`http://127.0.0.1:PORT`). Runs until killed.

use bff_demo_auth_server::{AuthServer, AuthServerConfig, ClientConfig};
use std::error::Error;
use std::io::Write;
use std::time::Duration;

fn main() -> Result<(), Box<dyn Error>> {
    let redirect_uris: Vec<String> = std::env::args().skip(1).collect();
    if redirect_uris.is_empty() {
        return Err("usage: bench_provider <redirect_uri>...".into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let client = ClientConfig {
            redirect_uris,
            ..ClientConfig::default()
        };
        let server = AuthServer::start(AuthServerConfig {
            clients: vec![client],
            auto_approve: true,
            auto_login_user: Some("demo".to_owned()),
            access_token_bytes: 1536,
            access_token_ttl: Duration::from_secs(3600),
            id_token_ttl: Duration::from_secs(3600),
            ..AuthServerConfig::default()
        })
        .await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", server.issuer())?;
        stdout.flush()?;
        // Serve until the benchmark kills the process.
        std::future::pending::<()>().await;
        Ok::<(), Box<dyn Error>>(())
    })
}
