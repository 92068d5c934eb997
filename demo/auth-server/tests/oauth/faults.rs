//! Each fault switch produces the intended broken answer.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bff_demo_auth_server::{AuthServer, FaultSettings};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn part(token: &str, index: usize) -> Value {
    let encoded = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

/// Logs in with `set` applied; returns the ID token's header, claims and the raw token.
async fn id_token_with(set: fn(&mut FaultSettings)) -> (AuthServer, Value, Value, String) {
    let server = AuthServer::start(config()).await.unwrap();
    server.faults().set(set);
    let token = text(&login(&server).await, "id_token");
    (server, part(&token, 0), part(&token, 1), token)
}

fn signature_valid(jwks: &JwkSet, token: &str, kid: &str) -> bool {
    let Some(jwk) = jwks.find(kid) else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let key = DecodingKey::from_jwk(jwk).unwrap();
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

#[tokio::test]
async fn claim_faults_make_the_intended_bad_claims_with_a_good_signature() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (server, header, c, token) = id_token_with(|f| f.wrong_aud = true).await;
    assert_eq!(c["aud"], "other");
    assert!(signature_valid(
        &jwks(&server).await,
        &token,
        header["kid"].as_str().unwrap()
    ));

    let (_, _, c, _) = id_token_with(|f| f.extra_aud = true).await;
    assert_eq!(c["aud"], json!([CLIENT, "other"]));
    assert!(c.get("azp").is_none());

    let (_, _, c, _) = id_token_with(|f| f.wrong_azp = true).await;
    assert_eq!(
        (c["aud"].clone(), c["azp"].clone()),
        (json!(CLIENT), json!("other"))
    );

    let (server, _, c, _) = id_token_with(|f| f.wrong_iss = true).await;
    assert_ne!(c["iss"], server.issuer());
    assert!(c["iss"].is_string());

    let (_, _, c, _) = id_token_with(|f| f.wrong_nonce = true).await;
    assert!(c["nonce"].is_string());
    assert_ne!(c["nonce"], "n-0S6_WzA2Mj");

    let (_, _, c, _) = id_token_with(|f| f.expired = true).await;
    assert!(c["exp"].as_u64().unwrap() + 600 < now, "{c}");
    assert!(c["iat"].as_u64().unwrap() < c["exp"].as_u64().unwrap());
}

#[tokio::test]
async fn signature_faults_make_unverifiable_tokens() {
    let (server, header, _, token) = id_token_with(|f| f.alg_none = true).await;
    assert_eq!(header["alg"], "none");
    assert!(token.ends_with('.'), "no signature");
    assert!(
        jsonwebtoken::decode_header(&token).is_err(),
        "jsonwebtoken refuses alg none"
    );

    let (server2, header, _, token) = id_token_with(|f| f.unknown_kid = true).await;
    assert_eq!(header["alg"], "RS256");
    let kid = header["kid"].as_str().unwrap();
    let set = jwks(&server2).await;
    assert!(set.find(kid).is_none(), "the kid must not be in the JWKS");
    let published = set.keys[0].common.key_id.clone().unwrap();
    assert!(!signature_valid(&set, &token, &published));

    let (server3, header, _, token) = id_token_with(|f| f.hs256_with_public_key = true).await;
    assert_eq!(header["alg"], "HS256");
    let set = jwks(&server3).await;
    assert!(
        set.find(header["kid"].as_str().unwrap()).is_some(),
        "it claims the real kid"
    );
    // It is an HMAC keyed with the public key's PEM.
    let kid = header["kid"].as_str().unwrap();
    let jwk = set.find(kid).unwrap();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        panic!("not an RSA key")
    };
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(&rsa.n).unwrap()),
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(&rsa.e).unwrap()),
    )
    .unwrap();
    let pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(&public, rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(pem.as_bytes());
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
    drop((server, server2, server3));
}

#[tokio::test]
async fn token_endpoint_faults() {
    let server = AuthServer::start(config()).await.unwrap();
    server
        .faults()
        .set(|f| f.token_type = Some("mac".to_owned()));
    assert_eq!(login(&server).await["token_type"], "mac");
    server.faults().clear();

    server.faults().set(|f| f.token_endpoint_status = Some(503));
    let pkce = pkce();
    let code = authorize(&server, &pkce).await;
    let answer = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        answer.json.is_string(),
        "garbage, not JSON: {}",
        answer.json
    );
    assert_eq!(
        server.count_grant("authorization_code"),
        2,
        "counted when received"
    );
    server.faults().clear();
    // The code was not touched by the faulty answer.
    let answer = exchange(&server, &code, &pkce, Auth::Basic(CLIENT, SECRET)).await;
    assert_eq!(answer.status, StatusCode::OK);

    server
        .faults()
        .set(|f| f.delay = Some(Duration::from_millis(400)));
    let started = Instant::now();
    login(&server).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(server.faults().get().delay.is_some());
}

#[tokio::test]
async fn discovery_and_jwks_faults_answer_garbage_until_cleared() {
    let server = AuthServer::start(config()).await.unwrap();
    let discovery = format!("{}/.well-known/openid-configuration", server.issuer());
    let jwks_url = format!("{}/oauth2/jwks", server.issuer());
    server.faults().set(|f| {
        f.discovery_status = Some(200);
        f.jwks_status = Some(503);
    });
    let answer = http().get(&discovery).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.json::<Value>().await.is_err(), "garbage, not JSON");
    let answer = http().get(&jwks_url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.json::<Value>().await.is_err(), "garbage, not JSON");
    server.faults().clear();
    let document: Value = get_json(&discovery).await;
    assert_eq!(document["issuer"], server.issuer());
    assert!(!jwks(&server).await.keys.is_empty());
}

#[tokio::test]
async fn clock_offset_moves_iat_and_exp_and_keeps_the_signature() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (server, header, c, token) = id_token_with(|f| f.clock_offset = 120).await;
    let iat = c["iat"].as_u64().unwrap();
    assert!((now + 119..=now + 125).contains(&iat), "{c}");
    assert_eq!(c["exp"].as_u64().unwrap() - iat, 300, "{c}");
    assert!(signature_valid(
        &jwks(&server).await,
        &token,
        header["kid"].as_str().unwrap()
    ));
    let (_, _, c, _) = id_token_with(|f| f.clock_offset = -400).await;
    let exp = c["exp"].as_u64().unwrap();
    assert!(exp < now && exp + 110 > now, "{c}");
}

#[tokio::test]
async fn jwks_delay_holds_the_jwks_answer_back_until_cleared() {
    let server = AuthServer::start(config()).await.unwrap();
    server
        .faults()
        .set(|f| f.jwks_delay = Some(Duration::from_millis(600)));
    let started = Instant::now();
    let delayed = jwks(&server).await;
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "answered after {:?}",
        started.elapsed()
    );
    assert!(!delayed.keys.is_empty(), "the usual key set, only late");
    // A client that gives up first gets nothing: the wait comes before the answer.
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let url = format!("{}/oauth2/jwks", server.issuer());
    let error = short.get(&url).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    // Only the JWKS waits: the discovery document and the token endpoint answer at once.
    let started = Instant::now();
    let document: Value = get_json(format!(
        "{}/.well-known/openid-configuration",
        server.issuer()
    ))
    .await;
    assert_eq!(document["issuer"], server.issuer());
    login(&server).await;
    assert!(started.elapsed() < Duration::from_millis(600));
    // With `jwks_status` too, the garbage comes after the wait.
    server.faults().set(|f| f.jwks_status = Some(503));
    let started = Instant::now();
    let answer = http().get(&url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= Duration::from_millis(600));
    server.faults().clear();
    let started = Instant::now();
    assert!(!jwks(&server).await.keys.is_empty());
    assert!(started.elapsed() < Duration::from_millis(600));
}
