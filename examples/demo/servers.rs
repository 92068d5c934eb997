//! Starting and stopping the four servers of the demo, in order: the demo authorization server,
//! the contacts API, the SPA's server, and the gateway — in-process, from `gateway.yaml`, with
//! the environment variables that file reads.

use crate::auth_events;
use crate::contacts::ContactsApi;
use crate::journal::Journal;
use crate::serve::Server;
use crate::settings::Settings;
use crate::spa::SpaSite;
use bff_demo_auth_server::{AuthServer, AuthServerConfig, AuthServerError, ClientConfig};
use bff_gateway::config::{self, ConfigError};
use bff_gateway::session::MasterKey;
use bff_gateway::{Running, StartError};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::net::TcpListener;

/// The demo's confidential client at the authorization server (and in `gateway.yaml`).
pub const CLIENT_ID: &str = "msnID";
pub const CLIENT_SECRET: &str = "demo-secret";
/// How long the gateway may take to become ready (OpenID discovery included).
const READY_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, Error)]
pub enum DemoError {
    #[error(
        "cannot listen on {addr} for the {what} (stop what uses the port, or set {var} to \
         another port; 0 picks a free one)"
    )]
    Bind {
        what: &'static str,
        var: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the demo authorization server did not start")]
    AuthServer(#[from] AuthServerError),
    #[error("cannot create the contacts API's HTTP client")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the gateway did not start")]
    Gateway(#[from] StartError),
    #[error(
        "the gateway did not become ready within {}s (it must read the authorization \
         server's discovery document at {issuer})",
        READY_WITHIN.as_secs()
    )]
    NotReady { issuer: String },
}

impl DemoError {
    /// The exit code, as `bff-gateway` uses them: 1 bad configuration, 3 startup failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 1,
            _ => 3,
        }
    }
}

/// Where everything runs.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// The URL to open: the gateway's `public_url` + `/`.
    pub url: String,
    pub issuer: String,
    pub api: SocketAddr,
    pub spa: SocketAddr,
    pub admin: Option<SocketAddr>,
}

/// The running demo.
pub struct DemoServers {
    pub addresses: Addresses,
    auth: AuthServer,
    contacts: Server,
    spa: Server,
    gateway: Running,
}

impl DemoServers {
    pub async fn start(settings: &Settings, journal: Arc<Journal>) -> Result<Self, DemoError> {
        // The gateway's and the issuer's URLs must be known before anything starts: the client
        // registration names the redirect URI, the gateway names the issuer.
        let gateway_port = choose_port(settings.gateway_port, "gateway", "DEMO_GATEWAY_PORT")?;
        let auth_port = choose_port(settings.auth_port, "authorization server", "DEMO_AUTH_PORT")?;
        let public_url = format!("http://127.0.0.1:{gateway_port}");
        // Another host than the gateway's, so cookies behave cross-site as in production.
        let issuer = format!("http://localhost:{auth_port}");

        let auth = AuthServer::start(AuthServerConfig {
            listen: loopback(auth_port),
            issuer: Some(issuer.clone()),
            access_token_ttl: settings.access_token_ttl,
            clients: vec![ClientConfig {
                client_id: CLIENT_ID.to_owned(),
                client_secret: CLIENT_SECRET.to_owned(),
                redirect_uris: vec![format!("{public_url}/auth/callback")],
                post_logout_redirect_uris: vec![format!("{public_url}/auth/logout/done")],
                ..ClientConfig::default()
            }],
            on_event: Some(auth_events::hook(Arc::clone(&journal))),
            ..AuthServerConfig::default()
        })
        .await?;

        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        let api = ContactsApi::new(
            &auth,
            format!("{issuer}/oauth2/introspect"),
            http.clone(),
            Arc::clone(&journal),
        );
        let contacts = serve(settings.api_port, "contacts API", "DEMO_API_PORT", api).await?;
        let site = SpaSite {
            journal: Arc::clone(&journal),
        };
        let spa = serve(settings.spa_port, "SPA server", "DEMO_SPA_PORT", site).await?;

        let session_key = settings
            .session_key
            .clone()
            .unwrap_or_else(MasterKey::generate_base64);
        let vars = HashMap::from([
            ("BFF_LISTEN", loopback(gateway_port).to_string()),
            (
                "BFF_ADMIN_LISTEN",
                loopback(settings.admin_port).to_string(),
            ),
            ("BFF_PUBLIC_URL", public_url.clone()),
            ("BFF_ISSUER", issuer.clone()),
            ("BFF_ALLOW_HTTP_PROVIDER", "true".to_owned()),
            ("BFF_CLIENT_ID", CLIENT_ID.to_owned()),
            ("BFF_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("BFF_SESSION_KEY", session_key),
            (
                "BFF_REFRESH_SKEW",
                format!("{}s", settings.refresh_skew().as_secs()),
            ),
            ("API_UPSTREAM", format!("http://{}", contacts.addr())),
            ("SPA_UPSTREAM", format!("http://{}", spa.addr())),
        ]);
        // The demo's values first; anything else `gateway.yaml` reads comes from the process.
        let env = |name: &str| vars.get(name).cloned().or_else(|| std::env::var(name).ok());
        let config = config::load(&settings.gateway_config, &env)?;
        let gateway = bff_gateway::start(config)
            .await
            .map_err(|error| match error {
                StartError::Bind { key, addr, source } => DemoError::Bind {
                    what: if key == "server.listen" {
                        "gateway"
                    } else {
                        "gateway's admin listener"
                    },
                    var: if key == "server.listen" {
                        "DEMO_GATEWAY_PORT"
                    } else {
                        "DEMO_ADMIN_PORT"
                    },
                    addr,
                    source,
                },
                other => DemoError::Gateway(other),
            })?;
        let admin = gateway.admin_addr();
        if let Some(admin) = admin
            && !became_ready(&http, admin).await
        {
            gateway.shutdown();
            gateway.wait().await;
            return Err(DemoError::NotReady { issuer });
        }
        Ok(DemoServers {
            addresses: Addresses {
                url: format!("{public_url}/"),
                issuer,
                api: contacts.addr(),
                spa: spa.addr(),
                admin,
            },
            auth,
            contacts,
            spa,
            gateway,
        })
    }

    /// Stops everything: the gateway drains first, then the servers behind it.
    pub async fn stop(self) {
        self.gateway.shutdown();
        self.gateway.wait().await;
        self.spa.stop().await;
        self.contacts.stop().await;
        self.auth.shutdown().await;
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// `port`, or a free one for `0`, checked to be free now (for a clear message naming `var`).
fn choose_port(port: u16, what: &'static str, var: &'static str) -> Result<u16, DemoError> {
    let addr = loopback(port);
    std::net::TcpListener::bind(addr)
        .and_then(|listener| listener.local_addr())
        .map(|bound| bound.port())
        .map_err(|source| DemoError::Bind {
            what,
            var,
            addr,
            source,
        })
}

async fn serve<H: crate::serve::Handler>(
    port: u16,
    what: &'static str,
    var: &'static str,
    handler: H,
) -> Result<Server, DemoError> {
    let addr = loopback(port);
    let bind_error = |source| DemoError::Bind {
        what,
        var,
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    Server::start(listener, handler).map_err(bind_error)
}

/// Polls the admin listener's `/readyz` until it answers 200.
async fn became_ready(http: &reqwest::Client, admin: SocketAddr) -> bool {
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        let answer = http.get(format!("http://{admin}/readyz")).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
