//! `POST /oauth2/consent`: the consent screen's target. Approve issues the code; Deny redirects
//! with `access_denied`. The decision must come from the login session that authenticated.

use super::redirect;
use crate::events::AuthEvent;
use crate::pages;
use crate::state::{SESSION_COOKIE, State};
use crate::store::digest;
use crate::web::{self, Params, Request, Response};
use http::StatusCode;
use subtle::ConstantTimeEq;

fn refused(message: &str) -> Response {
    web::html(StatusCode::BAD_REQUEST, pages::error(message))
}

/// Handles the consent form.
pub fn handle(state: &State, request: &Request) -> Response {
    if !web::is_form(request) {
        return refused("The request is not a form.");
    }
    let params = Params::parse(&request.body);
    let pending = params
        .get_lenient("request")
        .and_then(|id| state.logins.take(id));
    let Some(pending) = pending else {
        return refused(
            "This request expired or was already answered. Go back to the application and sign in again.",
        );
    };
    let Some(user) = pending.user else {
        return refused("You are not signed in.");
    };
    if let Some(bound) = pending.session {
        let cookie = web::cookie(&request.headers, SESSION_COOKIE);
        let same_session = cookie.as_deref().is_some_and(|sid| {
            bool::from(digest(sid).ct_eq(&bound)) && state.logins.session(sid).is_some()
        });
        if !same_session {
            return refused("This consent form belongs to another sign-in session.");
        }
    }
    match params.get_lenient("decision") {
        Some("approve") => {
            let request = pending.request;
            state.emit(|| AuthEvent::ConsentApproved {
                client_id: request.client_id.clone(),
                username: user.username.clone(),
                scopes: request.scopes.clone(),
            });
            state
                .logins
                .remember_consent(&user.username, &request.client_id, &request.scopes);
            redirect::approve(state, request, user)
        }
        Some("deny") => {
            state.emit(|| AuthEvent::ConsentDenied {
                client_id: pending.request.client_id.clone(),
                username: user.username.clone(),
            });
            redirect::refuse(
                state,
                &pending.request,
                "access_denied",
                "the user denied the request",
            )
        }
        _ => refused("Choose Approve or Deny."),
    }
}
