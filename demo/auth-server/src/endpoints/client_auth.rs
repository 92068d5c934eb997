//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3.1):
//! `client_secret_basic` (form-encoded id and secret, base64) or `client_secret_post`, exactly
//! one of them. Secrets are compared in constant time.

use crate::config::ClientConfig;
use crate::events::ClientAuth;
use crate::state::State;
use crate::web::{OAuthError, Params, Request};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use percent_encoding::percent_decode_str;
use subtle::ConstantTimeEq;

/// Credentials as presented.
struct Credentials {
    id: String,
    secret: String,
    basic: bool,
}

/// Decodes one form-encoded half of a Basic credential.
fn form_decode(part: &str) -> Option<String> {
    let spaced = part.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// `Authorization: Basic ...`: `Some(Err)` if present but malformed.
fn basic(request: &Request) -> Option<Result<(String, String), ()>> {
    let value = request.headers.get(http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok();
    let text = decoded.and_then(|d| String::from_utf8(d).ok());
    let pair = text.as_deref().and_then(|t| t.split_once(':'));
    Some(
        pair.and_then(|(id, secret)| Some((form_decode(id)?, form_decode(secret)?)))
            .ok_or(()),
    )
}

/// 401 `invalid_client`, with a Basic challenge when Basic was tried (RFC 6749 §5.2).
fn invalid_client(basic: bool) -> OAuthError {
    OAuthError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: "client authentication failed".to_owned(),
        challenge: basic.then_some("Basic realm=\"demo-auth-server\""),
    }
}

fn credentials(request: &Request, params: &Params) -> Result<Credentials, OAuthError> {
    let form_id = params.get("client_id")?;
    let form_secret = params.get("client_secret")?;
    match (basic(request), form_secret) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        )),
        (Some(Err(())), None) => Err(invalid_client(true)),
        (Some(Ok((id, secret))), None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(invalid_client(true));
            }
            Ok(Credentials {
                id,
                secret,
                basic: true,
            })
        }
        (None, Some(secret)) => match form_id {
            Some(id) => Ok(Credentials {
                id: id.to_owned(),
                secret: secret.to_owned(),
                basic: false,
            }),
            None => Err(invalid_client(false)),
        },
        (None, None) => Err(invalid_client(false)),
    }
}

/// How the credentials of `request`, once [`authenticate`]d, were presented.
pub fn method(request: &Request) -> ClientAuth {
    if basic(request).is_some() {
        ClientAuth::ClientSecretBasic
    } else {
        ClientAuth::ClientSecretPost
    }
}

/// The authenticated client.
pub fn authenticate<'a>(
    state: &'a State,
    request: &Request,
    params: &Params,
) -> Result<&'a ClientConfig, OAuthError> {
    let credentials = credentials(request, params)?;
    let client = state.config.client(&credentials.id);
    // Compare against something even for unknown clients, so timing says little.
    let expected = client.map_or("\u{0}unknown-client", |c| c.client_secret.as_str());
    let matches: bool = credentials
        .secret
        .as_bytes()
        .ct_eq(expected.as_bytes())
        .into();
    match client {
        Some(client) if matches => Ok(client),
        _ => Err(invalid_client(credentials.basic)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        let request = Request {
            method: http::Method::POST,
            uri: http::Uri::from_static("/oauth2/token"),
            headers: {
                let mut h = http::HeaderMap::new();
                let value = format!("Basic {}", STANDARD.encode("my%3Aid:s%25cret"));
                h.insert(
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_str(&value).unwrap(),
                );
                h
            },
            body: bytes::Bytes::new(),
        };
        assert_eq!(
            basic(&request),
            Some(Ok(("my:id".to_owned(), "s%cret".to_owned())))
        );
    }
}
