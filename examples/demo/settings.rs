//! The demo's settings, from environment variables with sensible defaults. Every port is on
//! loopback; `0` picks a free one.

use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// The environment variables the demo reads (besides `RUST_LOG` and `BFF_SESSION_KEY`).
pub const PORT_VARS: [(&str, u16); 5] = [
    ("DEMO_GATEWAY_PORT", 8080),
    ("DEMO_ADMIN_PORT", 9090),
    ("DEMO_AUTH_PORT", 9000),
    ("DEMO_API_PORT", 9100),
    ("DEMO_SPA_PORT", 9200),
];

#[derive(Debug, Clone)]
pub struct Settings {
    pub gateway_port: u16,
    pub admin_port: u16,
    pub auth_port: u16,
    pub api_port: u16,
    pub spa_port: u16,
    /// Lifetime of access tokens (default 30 s, so that a refresh happens while you watch).
    pub access_token_ttl: Duration,
    /// `BFF_SESSION_KEY` when set; otherwise a random key is generated.
    pub session_key: Option<String>,
    /// The gateway configuration: the repository's `gateway.yaml` unless `DEMO_GATEWAY_CONFIG`.
    pub gateway_config: PathBuf,
}

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("{var}={value:?} is not a port number (0-65535; 0 picks a free one)")]
    BadPort { var: &'static str, value: String },
    #[error(
        "DEMO_ACCESS_TOKEN_TTL={0:?} is not a lifetime between 2 s and 1 h \
         (seconds like `30`, or `30s`, `2m`)"
    )]
    BadTtl(String),
}

impl Settings {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let mut ports = [0u16; PORT_VARS.len()];
        for (slot, (var, default)) in ports.iter_mut().zip(PORT_VARS) {
            *slot = match env(var).filter(|v| !v.trim().is_empty()) {
                None => default,
                Some(value) => value
                    .trim()
                    .parse()
                    .map_err(|_| SettingsError::BadPort { var, value })?,
            };
        }
        let [gateway_port, admin_port, auth_port, api_port, spa_port] = ports;
        let access_token_ttl = match env("DEMO_ACCESS_TOKEN_TTL").filter(|v| !v.trim().is_empty()) {
            None => Duration::from_secs(30),
            Some(text) => parse_ttl(&text).ok_or(SettingsError::BadTtl(text))?,
        };
        let gateway_config = env("DEMO_GATEWAY_CONFIG")
            .filter(|v| !v.is_empty())
            .map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("gateway.yaml"),
                PathBuf::from,
            );
        Ok(Settings {
            gateway_port,
            admin_port,
            auth_port,
            api_port,
            spa_port,
            access_token_ttl,
            session_key: env("BFF_SESSION_KEY").filter(|k| !k.is_empty()),
            gateway_config,
        })
    }

    /// How long before expiry the gateway refreshes: a sixth of the lifetime, 1 s to 30 s.
    pub fn refresh_skew(&self) -> Duration {
        (self.access_token_ttl / 6).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }
}

/// `30` (seconds) or a duration like `30s`, `2m`; between 2 s and 1 h.
fn parse_ttl(text: &str) -> Option<Duration> {
    let text = text.trim();
    let ttl = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text).ok()?,
    };
    (Duration::from_secs(2)..=Duration::from_secs(3600))
        .contains(&ttl)
        .then_some(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_env(&move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_are_the_documented_ports() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            (
                s.gateway_port,
                s.admin_port,
                s.auth_port,
                s.api_port,
                s.spa_port
            ),
            (8080, 9090, 9000, 9100, 9200)
        );
        assert_eq!(s.access_token_ttl, Duration::from_secs(30));
        assert_eq!(s.refresh_skew(), Duration::from_secs(5));
        assert!(s.gateway_config.ends_with("gateway.yaml"));
        assert!(s.session_key.is_none());
    }

    #[test]
    fn ports_and_lifetimes_are_read_and_checked() {
        let s = settings(&[("DEMO_GATEWAY_PORT", "0"), ("DEMO_ACCESS_TOKEN_TTL", "5")]).unwrap();
        assert_eq!(s.gateway_port, 0);
        assert_eq!(s.access_token_ttl, Duration::from_secs(5));
        assert_eq!(s.refresh_skew(), Duration::from_secs(1));
        assert_eq!(
            settings(&[("DEMO_ACCESS_TOKEN_TTL", "2m")])
                .unwrap()
                .access_token_ttl,
            Duration::from_secs(120)
        );
        assert!(settings(&[("DEMO_API_PORT", "http")]).is_err());
        assert!(settings(&[("DEMO_SPA_PORT", "70000")]).is_err());
        assert!(settings(&[("DEMO_ACCESS_TOKEN_TTL", "1")]).is_err());
        assert!(settings(&[("DEMO_ACCESS_TOKEN_TTL", "soon")]).is_err());
    }
}
