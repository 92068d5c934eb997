//! The public API exactly as the gateway's integration tests (`tests/it/auth.rs`) use it.

use bff_demo_auth_server::{AuthServer, AuthServerConfig, Faults};
use std::time::Duration;

struct Options {
    provider: AuthServerConfig,
}

impl Default for Options {
    // Mirrors tests/it/auth.rs verbatim (which will need the same allowance under clippy).
    #[allow(clippy::field_reassign_with_default)]
    fn default() -> Self {
        let mut provider = AuthServerConfig::default();
        provider.auto_approve = true;
        provider.auto_login_user = Some("demo".to_owned());
        Self { provider }
    }
}

#[tokio::test]
async fn the_gateway_test_harness_compiles_and_runs() {
    let mut options = Options::default();
    options.provider.access_token_ttl = Duration::from_secs(2);
    let base = "http://127.0.0.1:1";
    for client in &mut options.provider.clients {
        client.redirect_uris = vec![format!("{base}/auth/callback")];
        client.post_logout_redirect_uris = vec![format!("{base}/")];
    }
    let provider = AuthServer::start(options.provider)
        .await
        .expect("provider starts");
    assert!(provider.issuer().starts_with("http://127.0.0.1:"));
    type Fault = fn(&Faults);
    let faults: [(&str, Fault); 3] = [
        ("wrong_aud", |f| f.set(|s| s.wrong_aud = true)),
        ("hs256_with_public_key", |f| {
            f.set(|s| s.hs256_with_public_key = true)
        }),
        ("mac", |f| f.set(|s| s.token_type = Some("mac".to_owned()))),
    ];
    for (_, apply) in faults {
        apply(provider.faults());
    }
    let settings = provider.faults().get();
    assert!(settings.wrong_aud && settings.hs256_with_public_key);
    assert_eq!(provider.count("/oauth2/token"), 0);
    assert_eq!(provider.count_grant("refresh_token"), 0);
    assert!(!provider.introspect_active("nothing"));
    provider.revoke_all();
    drop(provider);
}
