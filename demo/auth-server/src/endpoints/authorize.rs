//! `GET|POST /oauth2/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): validates the request,
//! then logs the user in (session cookie, `auto_login_user`, or the login form) and gets consent
//! (`auto_approve`, a remembered consent, or the consent screen).
//!
//! Parameter validation lives in [`super::authorization_request`].

use super::authorization_request::{self, Refusal, Valid};
use super::redirect::{self, Next};
use crate::clock::unix_now;
use crate::events::AuthEvent;
use crate::pages;
use crate::request::{AuthorizationRequest, LoggedIn};
use crate::state::{SESSION_COOKIE, State};
use crate::store::logins::Pending;
use crate::web::{self, Params, Request, Response};
use http::StatusCode;

/// The user already logged in, and their login session id (none for `auto_login_user`).
fn current_user(
    state: &State,
    request: &Request,
    auth: &AuthorizationRequest,
    max_age: Option<u64>,
) -> Option<(LoggedIn, Option<String>)> {
    if let Some(username) = &state.config.auto_login_user {
        let user = LoggedIn {
            username: username.clone(),
            auth_time: unix_now(),
        };
        return Some((user, None));
    }
    if auth.prompt.login {
        return None;
    }
    let session = web::cookie(&request.headers, SESSION_COOKIE)?;
    let user = state.logins.session(&session)?;
    if max_age.is_some_and(|max| unix_now().saturating_sub(user.auth_time) > max) {
        return None;
    }
    Some((user, Some(session)))
}

/// Handles an authorization request.
pub fn handle(state: &State, request: &Request) -> Response {
    if request.method == http::Method::POST && !web::is_form(request) {
        return web::html(
            StatusCode::BAD_REQUEST,
            pages::error("The request is not a form."),
        );
    }
    let params = Params::query_or_form(request);
    let (auth, max_age) = match authorization_request::validate(state, &params) {
        Ok(Valid { request, max_age }) => (request, max_age),
        Err(Refusal::Page(message)) => {
            return web::html(StatusCode::BAD_REQUEST, pages::error(message));
        }
        Err(Refusal::Redirect {
            redirect_uri,
            state: client_state,
            problem,
        }) => {
            return redirect::error(
                state,
                &redirect_uri,
                client_state.as_deref(),
                problem.error,
                &problem.description,
            );
        }
    };
    state.emit(|| AuthEvent::AuthorizationRequested {
        client_id: auth.client_id.clone(),
        scopes: auth.scopes.clone(),
        pkce_method: auth.code_challenge.as_ref().map(|_| "S256"),
    });
    match current_user(state, request, &auth, max_age) {
        None if auth.prompt.none => {
            redirect::refuse(state, &auth, "login_required", "the user is not logged in")
        }
        None => {
            let client_id = auth.client_id.clone();
            let pending = Pending {
                request: auth,
                user: None,
                session: None,
            };
            match state.logins.park(pending) {
                Ok(id) => {
                    state.emit(|| AuthEvent::LoginFormShown {
                        client_id: client_id.clone(),
                    });
                    web::html(
                        StatusCode::OK,
                        pages::login(&client_id, &id, "", None, pages::demo_hint(state)),
                    )
                }
                Err(_) => web::server_error(),
            }
        }
        Some((user, session)) => {
            if session.is_some() {
                state.emit(|| AuthEvent::LoginSessionReused {
                    username: user.username.clone(),
                });
            }
            after_login(state, auth, user, session.as_deref())
        }
    }
}

/// The user is known: issue the code, refuse, or ask for consent.
fn after_login(
    state: &State,
    auth: AuthorizationRequest,
    user: LoggedIn,
    session: Option<&str>,
) -> Response {
    match redirect::after_login(state, &auth, &user) {
        Next::Approve => redirect::approve(state, auth, user),
        Next::ConsentRequired => redirect::refuse(
            state,
            &auth,
            "consent_required",
            "the user has not consented",
        ),
        Next::AskConsent => ask_consent(state, auth, user, session),
    }
}

/// Parks the request and shows the consent screen.
fn ask_consent(
    state: &State,
    auth: AuthorizationRequest,
    user: LoggedIn,
    session: Option<&str>,
) -> Response {
    let display = state
        .config
        .user(&user.username)
        .map_or(user.username.clone(), |u| u.name.clone());
    let client_id = auth.client_id.clone();
    let scopes = auth.scopes.clone();
    let username = user.username.clone();
    let pending = Pending {
        request: auth,
        user: Some(user),
        session: session.map(crate::store::digest),
    };
    match state.logins.park(pending) {
        Ok(id) => {
            state.emit(|| AuthEvent::ConsentShown {
                client_id: client_id.clone(),
                username,
                scopes: scopes.clone(),
            });
            web::html(
                StatusCode::OK,
                pages::consent(&client_id, &display, &scopes, &id),
            )
        }
        Err(_) => web::server_error(),
    }
}
