//! The effective configuration as YAML text, for `bff-gateway check`: every default filled in,
//! every secret redacted. Never prints a secret's value, even partly.

use super::{
    AuthMode, ClientAuthMethod, Config, HostHeader, ProviderSource, TokenHandlerConfig, TokenKind,
    Unauthenticated,
};
use std::fmt::Write;

/// Renders the effective configuration.
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_config(&mut out, config);
    out
}

fn write_config(out: &mut String, c: &Config) -> std::fmt::Result {
    let s = &c.server;
    let d = |d: std::time::Duration| humantime::format_duration(d).to_string();
    writeln!(out, "server:")?;
    writeln!(out, "  listen: \"{}\"", s.listen)?;
    match s.admin_listen {
        Some(a) => writeln!(out, "  admin_listen: \"{a}\"")?,
        None => writeln!(out, "  # admin_listen: not set (no /healthz, /readyz)")?,
    }
    writeln!(out, "  public_url: \"{}\"", s.public_url)?;
    writeln!(
        out,
        "  trusted_proxies: [{}]",
        join(s.trusted_proxies.iter())
    )?;
    if let Some(tls) = &s.tls {
        writeln!(out, "  tls:")?;
        writeln!(out, "    cert_file: \"{}\"", tls.cert_file.display())?;
        writeln!(out, "    key_file: \"{}\"", tls.key_file.display())?;
    }
    writeln!(out, "  shutdown_delay: {}", d(s.shutdown_delay))?;
    writeln!(out, "  shutdown_grace: {}", d(s.shutdown_grace))?;
    writeln!(out, "  workers: {}", s.workers)?;
    let l = &s.limits;
    writeln!(out, "  limits:")?;
    writeln!(out, "    max_header_bytes: {}", l.max_header_bytes)?;
    writeln!(out, "    max_headers: {}", l.max_headers)?;
    writeln!(out, "    max_uri_bytes: {}", l.max_uri_bytes)?;
    writeln!(out, "    max_body_bytes: {}", l.max_body_bytes)?;
    writeln!(out, "    header_read_timeout: {}", d(l.header_read_timeout))?;
    writeln!(
        out,
        "    tls_handshake_timeout: {}",
        d(l.tls_handshake_timeout)
    )?;
    writeln!(out, "    max_connections: {}", l.max_connections)?;
    writeln!(
        out,
        "    h2_max_concurrent_streams: {}",
        l.h2_max_concurrent_streams
    )?;
    let u = &c.upstream;
    writeln!(out, "upstream:")?;
    writeln!(out, "  connect_timeout: {}", d(u.connect_timeout))?;
    writeln!(out, "  pool_idle_timeout: {}", d(u.pool_idle_timeout))?;
    writeln!(
        out,
        "  pool_max_idle_per_host: {}",
        u.pool_max_idle_per_host
    )?;
    if let Some(ca) = &u.extra_ca_file {
        writeln!(out, "  extra_ca_file: \"{}\"", ca.display())?;
    }
    if let Some(th) = &c.token_handler {
        write_token_handler(out, th)?;
    }
    writeln!(out, "routes:")?;
    for r in &c.routes {
        writeln!(out, "  - name: \"{}\"", r.name)?;
        writeln!(out, "    path: \"{}\"", r.path)?;
        writeln!(out, "    upstream: \"{}\"", r.upstream)?;
        writeln!(out, "    strip_prefix: {}", r.strip_prefix)?;
        writeln!(out, "    timeout: {}", d(r.timeout))?;
        writeln!(out, "    max_body_bytes: {}", r.max_body_bytes)?;
        let host = match r.host_header {
            HostHeader::Upstream => "upstream",
            HostHeader::Preserve => "preserve",
        };
        writeln!(out, "    host_header: {host}")?;
        writeln!(out, "    websocket: {}", r.websocket)?;
        match &r.methods {
            Some(m) => writeln!(out, "    methods: [{}]", join(m.iter()))?,
            None => writeln!(out, "    # methods: any")?,
        }
        let auth = match r.auth {
            AuthMode::None => "none",
            AuthMode::Optional => "optional",
            AuthMode::Required => "required",
        };
        writeln!(out, "    auth: {auth}")?;
        let token = match r.token {
            TokenKind::AccessToken => "access_token",
            TokenKind::IdToken => "id_token",
            TokenKind::None => "none",
        };
        writeln!(out, "    token: {token}")?;
        writeln!(out, "    csrf: {}", r.csrf)?;
        let unauthenticated = match r.unauthenticated {
            Unauthenticated::Auto => "auto",
            Unauthenticated::Status => "status",
            Unauthenticated::Redirect => "redirect",
        };
        writeln!(out, "    unauthenticated: {unauthenticated}")?;
    }
    Ok(())
}

fn write_token_handler(out: &mut String, th: &TokenHandlerConfig) -> std::fmt::Result {
    let d = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let o = &th.oauth;
    writeln!(out, "oauth:")?;
    match &o.source {
        ProviderSource::Discovery { issuer } => writeln!(out, "  issuer: \"{issuer}\"")?,
        ProviderSource::Explicit(e) => {
            if let Some(issuer) = &e.issuer {
                writeln!(out, "  issuer: \"{issuer}\"")?;
            }
            writeln!(
                out,
                "  authorization_endpoint: \"{}\"",
                e.authorization_endpoint
            )?;
            writeln!(out, "  token_endpoint: \"{}\"", e.token_endpoint)?;
            for (k, v) in [
                ("userinfo_endpoint", &e.userinfo_endpoint),
                ("jwks_uri", &e.jwks_uri),
                ("end_session_endpoint", &e.end_session_endpoint),
                ("revocation_endpoint", &e.revocation_endpoint),
                ("introspection_endpoint", &e.introspection_endpoint),
            ] {
                if let Some(v) = v {
                    writeln!(out, "  {k}: \"{v}\"")?;
                }
            }
        }
    }
    writeln!(out, "  client_id: \"{}\"", o.client_id)?;
    writeln!(out, "  client_secret: \"<redacted>\"")?;
    let method = match o.client_auth {
        ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
        ClientAuthMethod::ClientSecretPost => "client_secret_post",
    };
    writeln!(out, "  client_auth_method: {method}")?;
    writeln!(out, "  scopes: [{}]", o.scopes.join(", "))?;
    for (k, v) in &o.extra_authorize_params {
        writeln!(out, "  # extra_authorize_params.{k}: \"{v}\"")?;
    }
    writeln!(out, "  pkce: {}", if o.pkce { "S256" } else { "disabled" })?;
    writeln!(
        out,
        "  id_token_algs: [{}]",
        join(o.id_token_algs.iter().map(|a| format!("{a:?}")))
    )?;
    writeln!(out, "  clock_skew: {}", d(o.clock_skew))?;
    writeln!(out, "  timeout: {}", d(o.timeout))?;
    writeln!(out, "  allow_http_provider: {}", o.allow_http_provider)?;
    writeln!(out, "  userinfo_claims: {}", o.userinfo_claims)?;
    let s = &th.session;
    writeln!(out, "session:")?;
    writeln!(
        out,
        "  keys: [{}]",
        vec!["\"<redacted>\""; s.keys.len()].join(", ")
    )?;
    writeln!(out, "  cookie_name: \"{}\"", s.cookie_name)?;
    let same_site = if s.same_site == cookie::SameSite::Lax {
        "lax"
    } else {
        "strict"
    };
    writeln!(out, "  same_site: {same_site}")?;
    writeln!(out, "  absolute_lifetime: {}", d(s.absolute_lifetime))?;
    writeln!(out, "  idle_timeout: {}", d(s.idle_timeout))?;
    writeln!(out, "  refresh_skew: {}", d(s.refresh_skew))?;
    writeln!(out, "  dev_insecure_cookies: {}", !s.secure)?;
    let a = &th.auth;
    writeln!(out, "auth:")?;
    writeln!(out, "  path_prefix: \"{}\"", a.path_prefix)?;
    writeln!(out, "  default_return_to: \"{}\"", a.default_return_to)?;
    if let Some(p) = &a.error_path {
        writeln!(out, "  error_path: \"{p}\"")?;
    }
    writeln!(
        out,
        "  post_logout_redirect: \"{}\"",
        a.post_logout_redirect
    )?;
    writeln!(out, "  logout_get: {}", a.logout_get)?;
    writeln!(out, "  csrf_header: {}", a.csrf_header)?;
    writeln!(out, "  allowed_origins: [{}]", a.allowed_origins.join(", "))?;
    writeln!(out, "  max_login_cookies: {}", a.max_login_cookies)?;
    Ok(())
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}
