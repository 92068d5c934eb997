//! Scriptable misbehaviour, for testing how a client copes with a broken or hostile provider.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Which faults are active. All off by default.
#[derive(Clone, Default, Debug)]
pub struct FaultSettings {
    /// ID token `aud` is another client.
    pub wrong_aud: bool,
    /// ID token `aud` is `[client, "other"]`, without `azp`.
    pub extra_aud: bool,
    /// ID token `azp` is another client.
    pub wrong_azp: bool,
    /// ID token `iss` is another issuer.
    pub wrong_iss: bool,
    /// ID token `nonce` does not match the authorization request.
    pub wrong_nonce: bool,
    /// ID token expired an hour ago.
    pub expired: bool,
    /// ID token header says `alg: none` and it has no signature.
    pub alg_none: bool,
    /// ID token signed by a key that is not in the JWKS.
    pub unknown_kid: bool,
    /// ID token signed with HS256, the HMAC keyed with the public key's PEM.
    pub hs256_with_public_key: bool,
    /// Replaces `"Bearer"` as `token_type` in token responses.
    pub token_type: Option<String>,
    /// The token endpoint answers this status with a garbage body.
    pub token_endpoint_status: Option<u16>,
    /// The token endpoint waits this long before answering.
    pub delay: Option<Duration>,
    /// The token endpoint answers `307` to this URL instead (a client must not follow it).
    pub token_redirect: Option<String>,
    /// ID tokens name another subject (`sub`) than the user's.
    pub other_sub: bool,
    /// UserInfo names another subject than the user's.
    pub userinfo_other_sub: bool,
    /// Refresh grants keep the refresh token valid and return none (no rotation).
    pub no_rotation: bool,
    /// The JWKS also publishes the key the `unknown_kid` fault signs with (a key rollover).
    pub publish_foreign_key: bool,
    /// The discovery document answers this status with a garbage body.
    pub discovery_status: Option<u16>,
    /// The JWKS answers this status with a garbage body.
    pub jwks_status: Option<u16>,
    /// The JWKS waits this long before answering (then answers as the other faults say).
    pub jwks_delay: Option<Duration>,
    /// ID tokens' `iat` and `exp` as a clock this many seconds ahead of the real one would set
    /// them (negative: behind), for testing a client's clock-skew leeway.
    pub clock_offset: i64,
}

/// The live fault switches of one server (interior mutability; cheap to read).
#[derive(Debug, Default)]
pub struct Faults {
    settings: Mutex<FaultSettings>,
}

impl Faults {
    /// Changes the settings, e.g. `faults.set(|s| s.wrong_aud = true)`.
    pub fn set(&self, f: impl FnOnce(&mut FaultSettings)) {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut settings);
    }

    /// A copy of the current settings.
    pub fn get(&self) -> FaultSettings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        self.set(|s| *s = FaultSettings::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_clear() {
        let faults = Faults::default();
        faults.set(|s| {
            s.wrong_aud = true;
            s.delay = Some(Duration::from_millis(5));
            s.jwks_delay = Some(Duration::from_millis(7));
        });
        let s = faults.get();
        assert!(s.wrong_aud && !s.expired);
        assert_eq!(s.delay, Some(Duration::from_millis(5)));
        assert_eq!(s.jwks_delay, Some(Duration::from_millis(7)));
        faults.clear();
        assert!(!faults.get().wrong_aud);
        assert_eq!(faults.get().jwks_delay, None);
    }
}
