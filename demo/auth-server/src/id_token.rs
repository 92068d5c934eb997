//! ID tokens (OIDC Core §2): minting them — honouring every ID-token fault — and checking the
//! `id_token_hint` a client sends back at logout.

use crate::clock::unix_now;
use crate::config::UserConfig;
use crate::faults::FaultSettings;
use crate::keys::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The `aud`/`azp` of the wrong-audience faults.
pub const OTHER_CLIENT: &str = "other";
/// The `iss` of the `wrong_iss` fault.
pub const OTHER_ISSUER: &str = "https://other-issuer.example";
/// The `sub` of the `other_sub` and `userinfo_other_sub` faults.
pub const OTHER_SUBJECT: &str = "someone-else";
/// The `nonce` of the `wrong_nonce` fault.
pub const OTHER_NONCE: &str = "not-the-nonce-you-sent";

/// What an ID token says.
pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user: &'a UserConfig,
    pub auth_time: u64,
    pub nonce: Option<&'a str>,
    /// Granted scopes: `profile` adds name claims, `email` the email claims.
    pub scopes: &'a [String],
    pub ttl: Duration,
}

/// Signing failed (or the `unknown_kid` fault has no foreign key).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the ID token: {0}")]
pub struct MintError(String);

/// The claims, with the claim faults applied.
fn claims(input: &IdTokenInput<'_>, faults: &FaultSettings, now: u64) -> Map<String, Value> {
    // The `clock_offset` fault: the claims of a provider whose clock is off by that much.
    let now = now.saturating_add_signed(faults.clock_offset);
    let (iat, exp) = if faults.expired {
        (now.saturating_sub(7200), now.saturating_sub(3600))
    } else {
        (now, now + input.ttl.as_secs())
    };
    let mut claims = Map::new();
    let mut put = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    put(
        "iss",
        json!(if faults.wrong_iss {
            OTHER_ISSUER
        } else {
            input.issuer
        }),
    );
    put(
        "sub",
        json!(if faults.other_sub {
            OTHER_SUBJECT
        } else {
            input.user.subject.as_str()
        }),
    );
    put("iat", json!(iat));
    put("exp", json!(exp));
    put("auth_time", json!(input.auth_time));
    if faults.extra_aud {
        put("aud", json!([input.client_id, OTHER_CLIENT]));
    } else if faults.wrong_aud {
        put("aud", json!(OTHER_CLIENT));
    } else {
        put("aud", json!(input.client_id));
    }
    if faults.wrong_azp {
        put("azp", json!(OTHER_CLIENT));
    } else if !faults.extra_aud {
        put("azp", json!(input.client_id));
    }
    if faults.wrong_nonce {
        put("nonce", json!(OTHER_NONCE));
    } else if let Some(nonce) = input.nonce {
        put("nonce", json!(nonce));
    }
    let has = |scope: &str| input.scopes.iter().any(|s| s == scope);
    if has("profile") {
        put("name", json!(input.user.name));
        put("preferred_username", json!(input.user.username));
    }
    if has("email") {
        put("email", json!(input.user.email));
        put("email_verified", json!(input.user.email_verified));
    }
    claims
}

/// Mints an ID token signed with `signing`, or broken as `faults` ask. `foreign` is needed only
/// for the `unknown_kid` fault.
pub fn mint(
    input: &IdTokenInput<'_>,
    faults: &FaultSettings,
    signing: &KeyPair,
    foreign: Option<&KeyPair>,
) -> Result<String, MintError> {
    let claims = claims(input, faults, unix_now());
    let header = |alg, kid: &str| Header {
        typ: Some("JWT".to_owned()),
        kid: Some(kid.to_owned()),
        ..Header::new(alg)
    };
    let sign = |header: Header, key: &EncodingKey| {
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| MintError(e.to_string()))
    };
    if faults.alg_none {
        // An unsigned token ("alg":"none", empty signature): no key involved.
        let header = json!({"alg": "none", "typ": "JWT", "kid": signing.kid});
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        return Ok(format!(
            "{}.{}.",
            encode(&header),
            encode(&Value::Object(claims.clone()))
        ));
    }
    if faults.hs256_with_public_key {
        let key = EncodingKey::from_secret(signing.public_pem.as_bytes());
        return sign(header(Algorithm::HS256, &signing.kid), &key);
    }
    if faults.unknown_kid {
        let foreign = foreign.ok_or_else(|| MintError("no foreign key".to_owned()))?;
        return sign(header(Algorithm::RS256, &foreign.kid), &foreign.encoding);
    }
    sign(header(Algorithm::RS256, &signing.kid), &signing.encoding)
}

/// Who an `id_token_hint` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The (first) audience: the client the token was issued to.
    pub client_id: String,
    pub sub: String,
}

/// Checks that `token` is an ID token this server signed (expired is fine, OIDC RP-Initiated
/// Logout §2); returns its client and subject.
pub fn verify_hint(token: &str, issuer: &str, signing: &KeyPair) -> Option<Hint> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, &signing.decoding, &validation).ok()?;
    let header_kid = data.header.kid.as_deref();
    if header_kid != Some(signing.kid.as_str()) {
        return None;
    }
    let client_id = match data.claims.get("aud")? {
        Value::String(aud) => aud.clone(),
        Value::Array(list) => list.first()?.as_str()?.to_owned(),
        _ => return None,
    };
    let sub = data.claims.get("sub")?.as_str()?.to_owned();
    Some(Hint { client_id, sub })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use jsonwebtoken::DecodingKey;

    fn input<'a>(user: &'a UserConfig, scopes: &'a [String]) -> IdTokenInput<'a> {
        IdTokenInput {
            issuer: "http://as",
            client_id: "app",
            user,
            auth_time: 10,
            nonce: Some("n1"),
            scopes,
            ttl: Duration::from_secs(300),
        }
    }

    fn payload(token: &str) -> Map<String, Value> {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_good_token_verifies_and_carries_scoped_claims() {
        let user = UserConfig::default();
        let scopes = vec!["openid".to_owned(), "email".to_owned()];
        let key = keys::signing().unwrap();
        let token = mint(&input(&user, &scopes), &FaultSettings::default(), key, None).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["app"]);
        validation.set_issuer(&["http://as"]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(&token, &key.decoding, &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some(key.kid.as_str()));
        let c = data.claims;
        assert_eq!(c["nonce"], "n1");
        assert_eq!(c["azp"], "app");
        assert_eq!(c["email"], user.email);
        assert!(c.get("name").is_none(), "no profile scope, no name");
        let hint = verify_hint(&token, "http://as", key).unwrap();
        assert_eq!(hint.client_id, "app");
        assert!(verify_hint(&token, "http://other", key).is_none());
    }

    #[test]
    fn claim_faults() {
        let user = UserConfig::default();
        let scopes = vec!["openid".to_owned()];
        let key = keys::signing().unwrap();
        let with = |set: fn(&mut FaultSettings)| {
            let mut faults = FaultSettings::default();
            set(&mut faults);
            payload(&mint(&input(&user, &scopes), &faults, key, None).unwrap())
        };
        assert_eq!(with(|f| f.wrong_aud = true)["aud"], OTHER_CLIENT);
        let c = with(|f| f.extra_aud = true);
        assert_eq!(c["aud"], json!(["app", OTHER_CLIENT]));
        assert!(c.get("azp").is_none());
        assert_eq!(with(|f| f.wrong_azp = true)["azp"], OTHER_CLIENT);
        assert_eq!(with(|f| f.wrong_iss = true)["iss"], OTHER_ISSUER);
        assert_eq!(with(|f| f.wrong_nonce = true)["nonce"], OTHER_NONCE);
        let c = with(|f| f.expired = true);
        assert!(c["exp"].as_u64().unwrap() + 3000 < unix_now());
    }

    #[test]
    fn signature_faults() {
        let user = UserConfig::default();
        let scopes = vec!["openid".to_owned()];
        let key = keys::signing().unwrap();
        let foreign = keys::foreign().unwrap();
        let mint_with = |faults: FaultSettings| {
            mint(&input(&user, &scopes), &faults, key, Some(foreign)).unwrap()
        };
        let none = mint_with(FaultSettings {
            alg_none: true,
            ..FaultSettings::default()
        });
        assert!(none.ends_with('.'));
        let header = URL_SAFE_NO_PAD
            .decode(none.split('.').next().unwrap())
            .unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header["alg"], "none");
        assert!(verify_hint(&none, "http://as", key).is_none());

        let hs = mint_with(FaultSettings {
            hs256_with_public_key: true,
            ..FaultSettings::default()
        });
        assert_eq!(
            jsonwebtoken::decode_header(&hs).unwrap().alg,
            Algorithm::HS256
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        let secret = DecodingKey::from_secret(key.public_pem.as_bytes());
        assert!(jsonwebtoken::decode::<Map<String, Value>>(&hs, &secret, &validation).is_ok());

        let foreign_token = mint_with(FaultSettings {
            unknown_kid: true,
            ..FaultSettings::default()
        });
        let kid = jsonwebtoken::decode_header(&foreign_token)
            .unwrap()
            .kid
            .unwrap();
        assert_eq!(kid, foreign.kid);
        assert!(verify_hint(&foreign_token, "http://as", key).is_none());
    }
}
