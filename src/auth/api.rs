//! The auth step of a signed-in API route (checklist X1–X2, P3, P6, P7, R1–R4): CSRF and Origin checks,
//! the session, a refresh when the access token is (nearly) expired, and the Bearer value.
//!
//! Returns what the proxy must add; the proxy sets `Authorization` after hop-by-hop removal, so a
//! client-named `Connection: Authorization` cannot strip it (checklist H-conn).

use super::refresh::RefreshOutcome;
use super::{NoSession, TokenHandler, unix_now};
use crate::config::{AuthMode, RouteConfig, TokenKind, Unauthenticated};
use crate::error::GatewayError;
use crate::error::error_chain;
use crate::oauth::id_token::IdTokenError;
use crate::session::Session;
use crate::session::cookies::RequestCookies;
use http::Method;
use http::header::{ACCEPT, HeaderName, HeaderValue};
use http::request::Parts;
use std::sync::Arc;

const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

/// What the auth step adds to a request and its response.
#[derive(Default)]
pub struct Grant {
    /// `Authorization` for the upstream (`None`: no token for this route or no session).
    pub authorization: Option<HeaderValue>,
    /// `Set-Cookie` values for the response (refreshed or touched session).
    pub set_cookies: Vec<HeaderValue>,
    /// Present when the upstream may still reject the access token and one refresh and retry
    /// is allowed (checklist P7): the session has a refresh token, and none was spent yet.
    pub retry: Option<RetryState>,
}

/// The session behind a forwarded access token, kept for one refresh after a rejection.
pub struct RetryState {
    session: Arc<Session>,
    previous_chunks: usize,
}

/// A refusal, with the cookies to clear on the way out and the CORS origin to answer.
pub struct Refusal {
    pub error: GatewayError,
    pub set_cookies: Vec<HeaderValue>,
    pub cors: Option<HeaderValue>,
}

impl From<GatewayError> for Refusal {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            set_cookies: Vec::new(),
            cors: None,
        }
    }
}

impl TokenHandler {
    /// Runs the auth step for `route`. `websocket` requests cannot carry the CSRF header, so
    /// for them the Origin check is strict instead (checklist X-ws).
    pub async fn authorize(
        self: &Arc<Self>,
        route: &RouteConfig,
        request: &Parts,
        websocket: bool,
        now: u64,
    ) -> Result<Grant, Refusal> {
        let headers = &request.headers;
        let cookies = RequestCookies::parse(headers.get_all(http::header::COOKIE).iter());
        let opened = self.open_session(&cookies, now);
        if route.csrf
            && let Err(reason) = self
                .origins
                .check(headers, &self.auth.csrf_header, !websocket)
        {
            // A page load cannot carry the CSRF header. Without a session nothing is at stake,
            // so a navigation is sent to sign in rather than to a dead-end 403.
            let redirect = opened.is_err()
                && !websocket
                && matches!(request.method, Method::GET | Method::HEAD)
                && route.auth == AuthMode::Required
                && matches!(
                    self.unauthenticated(route, request),
                    GatewayError::LoginRedirect { .. }
                );
            return Err(Refusal {
                error: if redirect {
                    self.unauthenticated(route, request)
                } else {
                    GatewayError::Csrf(reason)
                },
                set_cookies: match opened {
                    Err(NoSession::Invalid) => self.clear_session(&cookies),
                    _ => Vec::new(),
                },
                cors: None,
            });
        }
        let mut session = match opened {
            Ok(session) => session,
            Err(reason) => {
                let set_cookies = match reason {
                    NoSession::Invalid => self.clear_session(&cookies),
                    NoSession::Absent => Vec::new(),
                };
                if route.auth == AuthMode::Optional {
                    return Ok(Grant {
                        authorization: None,
                        set_cookies,
                        retry: None,
                    });
                }
                return Err(Refusal {
                    error: self.unauthenticated(route, request),
                    set_cookies,
                    cors: None,
                });
            }
        };
        let mut changed = false;
        let mut refreshed = false;
        if self.needs_refresh(&session, now) {
            // Boxed: the refresh (a provider round trip) is the one await here, and rare; unboxed,
            // its large state would be carried, and copied, by every signed-in request's future.
            match Box::pin(self.refresh_session(&session, now, None)).await {
                Ok(next) => {
                    session = Arc::new(next);
                    changed = true;
                    refreshed = true;
                }
                Err(error) => {
                    let set_cookies = match error {
                        GatewayError::ProviderUnavailable => Vec::new(),
                        _ => self.clear_session(&cookies),
                    };
                    return Err(Refusal {
                        error,
                        set_cookies,
                        cors: None,
                    });
                }
            }
        }
        if changed || self.needs_touch(&session, now) {
            // Copied here if the worker's cache shares it (a touch, every idle_timeout / 8).
            Arc::make_mut(&mut session).seen = now;
            changed = true;
        }
        let previous_chunks = cookies.chunk_count(&self.session.cookie_name);
        let set_cookies = if changed {
            self.write_session_over(&session, previous_chunks)
                .map_err(|_| GatewayError::SessionTooLarge)?
        } else {
            Vec::new()
        };
        let authorization = bearer(route.token, &session);
        let retry = (!refreshed && route.token == TokenKind::AccessToken && session.rt.is_some())
            .then_some(RetryState {
                session,
                previous_chunks,
            });
        Ok(Grant {
            authorization,
            set_cookies,
            retry,
        })
    }

    /// After the upstream rejected the access token as invalid (`401` with `WWW-Authenticate:
    /// Bearer error="invalid_token"`), refreshes once and returns the new Bearer (checklist P7).
    /// A refused refresh ends the session; an unreachable provider keeps it.
    pub async fn refresh_rejected(
        self: &Arc<Self>,
        route: &RouteConfig,
        state: RetryState,
        now: u64,
    ) -> Result<Grant, Refusal> {
        let RetryState {
            session,
            previous_chunks,
        } = state;
        let mut session =
            match Box::pin(self.refresh_session(&session, now, Some(session.at.as_str()))).await {
                Ok(next) => next,
                Err(error) => {
                    let set_cookies = match error {
                        GatewayError::ProviderUnavailable => Vec::new(),
                        _ => crate::session::cookies::clear(&self.session_cookie, previous_chunks),
                    };
                    return Err(Refusal {
                        error,
                        set_cookies,
                        cors: None,
                    });
                }
            };
        session.seen = now;
        let set_cookies = self
            .write_session_over(&session, previous_chunks)
            .map_err(|_| GatewayError::SessionTooLarge)?;
        Ok(Grant {
            authorization: bearer(route.token, &session),
            set_cookies,
            retry: None,
        })
    }

    fn needs_refresh(&self, session: &Session, now: u64) -> bool {
        session
            .at_exp
            .is_some_and(|exp| now + self.session.refresh_skew.as_secs() >= exp)
    }

    /// 401 for fetch/XHR, or a redirect to login (back to this page) for a page navigation.
    fn unauthenticated(&self, route: &RouteConfig, request: &Parts) -> GatewayError {
        let headers = &request.headers;
        let navigation = headers
            .get(SEC_FETCH_MODE)
            .is_some_and(|m| m.as_bytes() == b"navigate")
            || headers
                .get(ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.starts_with("text/html"));
        let redirect = match route.unauthenticated {
            Unauthenticated::Auto => navigation,
            Unauthenticated::Status => false,
            Unauthenticated::Redirect => true,
        };
        if redirect {
            let back = request.uri.path_and_query().map_or("/", |pq| pq.as_str());
            let back: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
            GatewayError::LoginRedirect {
                location: format!("{}/login?return_to={back}", self.auth.path_prefix),
            }
        } else {
            GatewayError::Unauthenticated
        }
    }

    /// Refreshes once per refresh token across concurrent requests (checklist R1–R3). A result
    /// another request obtained in the last minute is reused while its access token is still
    /// good (and is not the one an upstream just `rejected`); when it is not, and the provider
    /// rotated the refresh token, the chain is followed with the newer token, never by spending
    /// the old one again.
    async fn refresh_session(
        self: &Arc<Self>,
        session: &Session,
        now: u64,
        rejected: Option<&str>,
    ) -> Result<Session, GatewayError> {
        let Some(mut rt) = session.rt.clone() else {
            return Err(GatewayError::Unauthenticated);
        };
        let usable = |outcome: &RefreshOutcome| match outcome {
            RefreshOutcome::Refreshed(tokens, issued) => {
                tokens.expires_in.is_none_or(|s| issued + s > now)
                    && rejected != Some(tokens.access_token.as_str())
            }
            _ => true,
        };
        for _ in 0..MAX_ROTATION_HOPS {
            match self.refresh.peek(&rt) {
                Some(RefreshOutcome::Refreshed(tokens, issued))
                    if !usable(&RefreshOutcome::Refreshed(tokens.clone(), issued)) =>
                {
                    match &tokens.refresh_token {
                        Some(newer) if *newer != rt => rt = newer.clone(),
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        let handler = self.clone();
        let token = rt.clone();
        let outcome = self
            .refresh
            .run(&rt, usable, async move {
                let Some(provider) = handler.client.provider() else {
                    handler.metrics.refresh_unavailable();
                    tracing::warn!(target: "bff_gateway::auth", "token refresh failed: the provider is not discovered yet; session kept");
                    return RefreshOutcome::Unavailable;
                };
                match handler.client.refresh(provider, &token).await {
                    Ok(tokens) => {
                        handler.metrics.refresh_succeeded();
                        tracing::info!(target: "bff_gateway::auth", rotated = tokens.refresh_token.is_some(), "tokens refreshed");
                        RefreshOutcome::Refreshed(Arc::new(tokens), unix_now())
                    }
                    Err(error) if error.is_transient() => {
                        handler.metrics.refresh_unavailable();
                        tracing::warn!(target: "bff_gateway::auth", error = %error_chain(&error), "token refresh failed; session kept");
                        RefreshOutcome::Unavailable
                    }
                    Err(error) => {
                        handler.metrics.refresh_refused();
                        tracing::info!(target: "bff_gateway::auth", error = %error_chain(&error), "token refresh refused; session ended");
                        RefreshOutcome::Rejected(error.to_string())
                    }
                }
            })
            .await;
        let (tokens, issued) = match outcome {
            RefreshOutcome::Refreshed(tokens, issued) => (tokens, issued),
            RefreshOutcome::Rejected(_) => return Err(GatewayError::Unauthenticated),
            RefreshOutcome::Unavailable => return Err(GatewayError::ProviderUnavailable),
        };
        let mut next = session.clone();
        next.at = tokens.access_token.clone();
        next.at_exp = tokens.expires_in.map(|s| issued + s);
        // Keep the refresh token used when the provider sends none (checklist R-keep).
        next.rt = Some(tokens.refresh_token.clone().unwrap_or(rt));
        if let Some(id_token) = &tokens.id_token {
            let Some(provider) = self.client.provider() else {
                return Err(GatewayError::ProviderUnavailable);
            };
            match self
                .client
                .validate_id_token(provider, id_token, None, now)
                .await
            {
                Ok(claims) => {
                    // The subject must not change (checklist I7).
                    if claims.get("sub") != session.claims.get("sub") {
                        tracing::warn!(target: "bff_gateway::auth", "refreshed ID token names another subject; session ended");
                        return Err(GatewayError::Unauthenticated);
                    }
                    next.idt = Some(id_token.clone());
                }
                // The keys to check it could not be had (the JWKS is down, or a rollover's new
                // key is not fetchable yet): the new ID token is dropped unread, as if the
                // provider had sent none, and the previous one is kept. Ending the session here
                // would lose the refresh token the provider has just rotated (checklist D4).
                Err(error @ (IdTokenError::Jwks(_) | IdTokenError::UnknownKey)) => {
                    tracing::warn!(target: "bff_gateway::auth", error = %error_chain(&error), "refreshed ID token could not be checked; the previous one is kept");
                }
                Err(error) => {
                    tracing::warn!(target: "bff_gateway::auth", error = %error_chain(&error), "refreshed ID token rejected; session ended");
                    return Err(GatewayError::Unauthenticated);
                }
            }
        }
        Ok(next)
    }
}

/// How many rotated refresh tokens a request follows through remembered results.
const MAX_ROTATION_HOPS: usize = 4;

/// The `Authorization` value a route sends for `session`.
fn bearer(kind: TokenKind, session: &Session) -> Option<HeaderValue> {
    let token = match kind {
        TokenKind::AccessToken => Some(session.at.as_str()),
        TokenKind::IdToken => session.idt.as_deref(),
        TokenKind::None => None,
    }?;
    // One allocation, handed to the header value as it is (`from_str` would copy it again).
    let mut value = Vec::with_capacity(7 + token.len());
    value.extend_from_slice(b"Bearer ");
    value.extend_from_slice(token.as_bytes());
    let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Whether an upstream response says the access token is invalid (RFC 6750 §3.1), the one case
/// that earns a refresh and retry (checklist P7): a `401` or `403` whose `Bearer` challenge has
/// `error="invalid_token"`. RFC 6750 asks for `401`, but resource servers such as the seed
/// scenario's answer `403` for an inactive token. `insufficient_scope` (a refresh grants no new
/// scope), a bare challenge and any other status do not.
pub fn rejects_token<B>(response: &http::Response<B>) -> bool {
    matches!(
        response.status(),
        http::StatusCode::UNAUTHORIZED | http::StatusCode::FORBIDDEN
    ) && response
        .headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| bearer_error(v) == Some("invalid_token"))
}

/// The `error` parameter of the `Bearer` challenge in one `WWW-Authenticate` value, which may
/// hold several challenges (RFC 9110 §11.6.1: `Basic realm="x", Bearer error="invalid_token"`).
/// A quoted value is returned without its quotes. Only `error` itself is read, so a
/// description that mentions `invalid_token` is no rejection.
fn bearer_error(value: &str) -> Option<&str> {
    let mut in_bearer = false;
    for item in split_outside_quotes(value) {
        let item = item.trim_matches([' ', '\t']);
        if item.is_empty() {
            continue;
        }
        let (first, rest) = item
            .split_once([' ', '\t'])
            .map_or((item, ""), |(first, rest)| (first, rest.trim_start()));
        // `scheme` or `scheme param`, unless it is `name = value` with spaces around `=`.
        let param = if first.contains('=') || rest.starts_with('=') {
            item
        } else {
            in_bearer = first.eq_ignore_ascii_case("bearer");
            rest
        };
        if !in_bearer {
            continue;
        }
        if let Some((name, value)) = param.split_once('=')
            && name.trim_end().eq_ignore_ascii_case("error")
        {
            let value = value.trim_start();
            return Some(
                value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value),
            );
        }
    }
    None
}

/// `value` split at the commas that are not inside a quoted string.
fn split_outside_quotes(value: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    value.split(move |c| {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => return true,
            _ => {}
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn answer(status: StatusCode, challenges: &[&str]) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        for challenge in challenges {
            response.headers_mut().append(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_str(challenge).unwrap(),
            );
        }
        response
    }

    // checklist P7
    #[test]
    fn a_401_invalid_token_is_a_rejection() {
        let response = answer(
            StatusCode::UNAUTHORIZED,
            &[r#"Bearer error="invalid_token""#],
        );
        assert!(rejects_token(&response));
        let response = answer(
            StatusCode::UNAUTHORIZED,
            &[r#"bearer realm="api", error=invalid_token, error_description="expired""#],
        );
        assert!(rejects_token(&response));
    }

    // checklist P7: the seed's resource server answers 403 for an inactive token.
    #[test]
    fn a_403_invalid_token_is_a_rejection() {
        let response = answer(
            StatusCode::FORBIDDEN,
            &[r#"Bearer realm="contacts", error="invalid_token""#],
        );
        assert!(rejects_token(&response));
    }

    // checklist P7: a refresh cannot add a scope the user did not grant.
    #[test]
    fn insufficient_scope_is_no_rejection() {
        for status in [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED] {
            let response = answer(
                status,
                &[r#"Bearer realm="contacts", error="insufficient_scope", scope="contacts""#],
            );
            assert!(!rejects_token(&response), "{status}");
        }
    }

    #[test]
    fn other_statuses_and_challenges_are_no_rejection() {
        let invalid = r#"Bearer error="invalid_token""#;
        for status in [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
        ] {
            assert!(!rejects_token(&answer(status, &[invalid])), "{status}");
        }
        for challenge in [
            "",
            "Bearer",
            r#"Bearer realm="contacts""#,
            r#"Basic realm="invalid_token""#,
            r#"Basic error="invalid_token""#,
            r#"Bearer error_description="not invalid_token", error="invalid_request""#,
            r#"Bearer realm="a, error=\"invalid_token\"""#,
            r#"Bearerx error="invalid_token""#,
        ] {
            for status in [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN] {
                let response = answer(status, &[challenge]);
                assert!(!rejects_token(&response), "{status} {challenge}");
            }
        }
        assert!(!rejects_token(&answer(StatusCode::FORBIDDEN, &[])));
    }

    #[test]
    fn the_bearer_challenge_is_found_among_others() {
        let response = answer(
            StatusCode::FORBIDDEN,
            &[r#"Basic realm="x", Bearer realm="y", error = "invalid_token""#],
        );
        assert!(rejects_token(&response));
        let response = answer(
            StatusCode::UNAUTHORIZED,
            &[r#"Basic realm="x""#, r#"Bearer error="invalid_token""#],
        );
        assert!(rejects_token(&response));
        // The `error` after `Basic` belongs to `Basic`, not to the `Bearer` before it.
        let response = answer(
            StatusCode::FORBIDDEN,
            &[r#"Bearer realm="y", Basic error="invalid_token""#],
        );
        assert!(!rejects_token(&response));
    }
}
