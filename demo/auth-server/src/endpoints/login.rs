//! `POST /oauth2/login`: the login form's target. Checks the password (constant time), starts a
//! login session (cookie) and moves the pending request on to consent or straight to the code.
//! The pending request's unguessable id in the hidden field ties the form to its request.

use super::redirect::{self, Next};
use crate::clock::unix_now;
use crate::config::UserConfig;
use crate::events::AuthEvent;
use crate::pages;
use crate::request::LoggedIn;
use crate::state::State;
use crate::web::{self, Params, Request, Response};
use http::StatusCode;
use subtle::ConstantTimeEq;

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The user with these credentials.
fn check_password<'a>(state: &'a State, username: &str, password: &str) -> Option<&'a UserConfig> {
    let user = state
        .config
        .users
        .iter()
        .find(|u| same(&u.username, username));
    let expected = user.map_or("\u{0}no-such-user", |u| u.password.as_str());
    let ok = same(expected, password);
    user.filter(|_| ok)
}

/// A page telling the user to start again at the application.
fn expired() -> Response {
    web::html(
        StatusCode::BAD_REQUEST,
        pages::error(
            "This sign-in request expired or was already used. Go back to the application and sign in again.",
        ),
    )
}

/// Handles the login form.
pub fn handle(state: &State, request: &Request) -> Response {
    if !web::is_form(request) {
        return web::html(
            StatusCode::BAD_REQUEST,
            pages::error("The request is not a form."),
        );
    }
    let params = Params::parse(&request.body);
    let Some(id) = params.get_lenient("request") else {
        return expired();
    };
    let Some(pending) = state.logins.pending(id) else {
        return expired();
    };
    let username = params.get_lenient("username").unwrap_or("");
    let password = params.get_lenient("password").unwrap_or("");
    let Some(account) = check_password(state, username, password) else {
        state.emit(|| AuthEvent::LoginFailed {
            client_id: pending.request.client_id.clone(),
        });
        if !state.logins.login_failed(id) {
            return web::html(
                StatusCode::BAD_REQUEST,
                pages::error(
                    "Too many failed sign-in attempts. Go back to the application and start again.",
                ),
            );
        }
        let page = pages::login(
            &pending.request.client_id,
            id,
            username,
            Some("Wrong username or password."),
            pages::demo_hint(state),
        );
        return web::html(StatusCode::OK, page);
    };
    let user = LoggedIn {
        username: account.username.clone(),
        auth_time: unix_now(),
    };
    let Ok(session) = state.logins.start_session(user.clone()) else {
        return web::server_error();
    };
    state.emit(|| AuthEvent::LoginSucceeded {
        username: user.username.clone(),
    });
    let mut response = match redirect::after_login(state, &pending.request, &user) {
        Next::Approve => match state.logins.take(id) {
            Some(taken) => redirect::approve(state, taken.request, user),
            None => expired(),
        },
        Next::ConsentRequired => match state.logins.take(id) {
            Some(taken) => redirect::refuse(
                state,
                &taken.request,
                "consent_required",
                "the user has not consented",
            ),
            None => expired(),
        },
        Next::AskConsent => {
            if state.logins.authenticated(id, user, &session) {
                state.emit(|| AuthEvent::ConsentShown {
                    client_id: pending.request.client_id.clone(),
                    username: account.username.clone(),
                    scopes: pending.request.scopes.clone(),
                });
                let page = pages::consent(
                    &pending.request.client_id,
                    &account.name,
                    &pending.request.scopes,
                    id,
                );
                web::html(StatusCode::OK, page)
            } else {
                expired()
            }
        }
    };
    web::set_cookie(&mut response, &state.session_cookie(Some(&session)));
    response
}
