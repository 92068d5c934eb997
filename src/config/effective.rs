//! The effective configuration as YAML text, for `bff-gateway check`: every default filled in,
//! every secret redacted. Never prints a secret's value, even partly.

use super::{AuthMode, Config, HostHeader, TokenKind};
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
    writeln!(out, "  shutdown_grace: {}", d(s.shutdown_grace))?;
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
    }
    Ok(())
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}
