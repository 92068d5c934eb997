//! The authorization server's events ([`AuthEvent`]) told as journal steps. The events carry no
//! secrets (kinds and lengths only); the steps add what each one means.

use crate::journal::{Actor, Journal, Step};
use bff_demo_auth_server::{AuthEvent, EventHook, GrantType, TokenKind};
use std::sync::Arc;

/// A hook for `AuthServerConfig::on_event` that writes every event to `journal`.
pub fn hook(journal: Arc<Journal>) -> EventHook {
    EventHook::new(move |event| {
        if let Some(step) = describe(event) {
            journal.record(step);
        }
    })
}

fn step(kind: &'static str, title: impl Into<String>, explain: &'static str) -> Step {
    Step::new(Actor::AuthorizationServer, kind, title, explain)
}

fn kind_of(token: TokenKind) -> &'static str {
    match token {
        TokenKind::Access => "access token",
        TokenKind::Refresh => "refresh token",
    }
}

/// The journal step for `event`; `None` for events the panel does not show.
pub fn describe(event: &AuthEvent) -> Option<Step> {
    let step = match event {
        AuthEvent::DiscoveryServed => return None,
        AuthEvent::JwksServed => step(
            "jwks",
            "Public signing keys sent (JWKS)",
            "The gateway fetched the authorization server's public keys; with them it checks \
             the signature of every ID token.",
        ),
        AuthEvent::AuthorizationRequested {
            client_id,
            scopes,
            pkce_method,
        } => step(
            "authorization_request",
            format!("Authorization request from client {client_id}"),
            "The browser arrived with the gateway's request: which client, which scopes, and a \
             PKCE challenge only the gateway can answer.",
        )
        .detail(format!(
            "scopes: {}; PKCE: {}",
            scopes.join(" "),
            pkce_method.unwrap_or("none")
        )),
        AuthEvent::LoginFormShown { .. } => step(
            "login_form",
            "Login form shown",
            "The authorization server, not the app, asks for the password: the app never sees \
             it.",
        ),
        AuthEvent::LoginFailed { .. } => step(
            "login_failed",
            "Wrong username or password",
            "The login form is shown again; nothing reaches the app.",
        ),
        AuthEvent::LoginSucceeded { username } => step(
            "login",
            format!("{username} signed in"),
            "The user proved who they are to the authorization server, which remembers them \
             with its own cookie on its own site.",
        ),
        AuthEvent::LoginSessionReused { username } => step(
            "login_reused",
            format!("{username} is still signed in here"),
            "The authorization server recognised its own session cookie, so no password was \
             needed.",
        ),
        AuthEvent::ConsentShown { scopes, .. } => step(
            "consent_shown",
            "Consent screen shown",
            "The user decides what the app may do on their behalf.",
        )
        .detail(format!("asks for: {}", scopes.join(" "))),
        AuthEvent::ConsentApproved { username, .. } => step(
            "consent_approved",
            format!("{username} approved"),
            "The user granted the requested scopes, contacts included.",
        ),
        AuthEvent::ConsentDenied { username, .. } => step(
            "consent_denied",
            format!("{username} denied"),
            "The user declined, so no code is issued and the app gets no access.",
        ),
        AuthEvent::CodeIssued { code_length, .. } => step(
            "code_issued",
            "Authorization code issued → browser sent to /auth/callback",
            "The code is one-time and short-lived; alone it is useless without the client \
             secret and the PKCE verifier, which only the gateway has.",
        )
        .detail(format!("code: {code_length} characters")),
        AuthEvent::AuthorizationError { error } => step(
            "authorization_error",
            format!("Browser sent back with error={error}"),
            "The authorization server answers the client with an error instead of a code.",
        ),
        AuthEvent::TokensIssued {
            grant_type,
            client_auth,
            access_token_length,
            access_token_ttl,
            refresh_token,
            id_token,
            scopes,
            ..
        } => {
            let mut issued = vec![format!(
                "access token (opaque, {access_token_length} characters, valid {} s)",
                access_token_ttl.as_secs()
            )];
            if *refresh_token {
                issued.push("refresh token".to_owned());
            }
            if *id_token {
                issued.push("ID token".to_owned());
            }
            let detail = format!(
                "client authentication: {}; issued: {}; scopes: {}",
                client_auth.as_str(),
                issued.join(", "),
                scopes.join(" ")
            );
            match grant_type {
                GrantType::AuthorizationCode => step(
                    "token_exchange",
                    "Token exchange: authorization_code grant",
                    "The gateway exchanged the code for tokens server to server, proving itself \
                     with the client secret and the PKCE verifier; no token reaches the browser.",
                ),
                GrantType::RefreshToken => step(
                    "token_refresh",
                    "Token refresh: refresh_token grant, refresh token rotated",
                    "The access token was about to expire, so the gateway used the refresh \
                     token; that one is now spent and a new one was issued (rotation).",
                ),
            }
            .detail(detail)
        }
        AuthEvent::TokenRefused {
            grant_type,
            error,
            description,
        } => step(
            "token_refused",
            format!(
                "Token request refused: {error} ({})",
                grant_type.map_or("unknown grant", GrantType::as_str)
            ),
            "The token endpoint refused; a refused refresh ends the gateway's session.",
        )
        .detail(description.clone()),
        AuthEvent::Introspected {
            client_id,
            client_auth,
            token_length,
            active,
        } => {
            let (title, detail) = match active {
                Some(token) => (
                    format!("Introspection: {} active", kind_of(token.kind)),
                    format!(
                        "user {}; scopes: {}",
                        token.username,
                        token.scopes.join(" ")
                    ),
                ),
                None => (
                    "Introspection: token not active".to_owned(),
                    "expired, revoked or unknown".to_owned(),
                ),
            };
            step(
                "introspection",
                title,
                "The contacts API asked whether the Bearer token is valid and what it allows \
                 (RFC 7662), authenticating as the client.",
            )
            .detail(format!(
                "{detail}; asked by {client_id} ({}); token: {token_length} characters",
                client_auth.as_str()
            ))
        }
        AuthEvent::Revoked { kind, .. } => step(
            "revocation",
            match kind {
                Some(kind) => format!("{} revoked", capitalised(kind_of(*kind))),
                None => "Revocation of a token that was no longer active".to_owned(),
            },
            "At logout the gateway revokes the tokens (RFC 7009), so a saved copy of the old \
             cookie is useless.",
        ),
        AuthEvent::LoggedOut { had_session, .. } => step(
            "end_session",
            if *had_session {
                "Signed out at the authorization server"
            } else {
                "Logout request (no session here any more)"
            },
            "The authorization server ended its own login session and sent the browser back \
             to the app.",
        ),
        _ => return None,
    };
    Some(step)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bff_demo_auth_server::ClientAuth;
    use std::time::Duration;

    #[test]
    fn a_token_exchange_tells_kinds_and_lengths() {
        let step = describe(&AuthEvent::TokensIssued {
            grant_type: GrantType::AuthorizationCode,
            client_id: "msnID".to_owned(),
            client_auth: ClientAuth::ClientSecretBasic,
            username: "demo".to_owned(),
            scopes: vec!["openid".to_owned(), "contacts".to_owned()],
            access_token_length: 43,
            access_token_ttl: Duration::from_secs(30),
            refresh_token: true,
            id_token: true,
        })
        .unwrap();
        assert_eq!(step.kind, "token_exchange");
        assert!(
            step.detail.contains("client_secret_basic"),
            "{}",
            step.detail
        );
        assert!(
            step.detail.contains("43 characters, valid 30 s"),
            "{}",
            step.detail
        );
        assert!(
            step.detail.contains("refresh token, ID token"),
            "{}",
            step.detail
        );
    }

    #[test]
    fn a_revoked_refresh_token_is_named() {
        let step = describe(&AuthEvent::Revoked {
            client_id: "msnID".to_owned(),
            kind: Some(TokenKind::Refresh),
            token_length: 43,
        })
        .unwrap();
        assert_eq!(step.title, "Refresh token revoked");
    }
}
