//! `GET|POST /oauth2/logout` (OIDC RP-Initiated Logout 1.0): ends the auth server's login
//! session and, if the client registered `post_logout_redirect_uri`, redirects there with
//! `state`. An `id_token_hint` must be one of our ID tokens (expired is fine); a redirect URI
//! that is not registered for the client gets a page, never a redirect.

use crate::events::AuthEvent;
use crate::id_token;
use crate::pages;
use crate::state::{SESSION_COOKIE, State};
use crate::web::{self, Params, Request, Response};
use http::StatusCode;

/// Handles a logout request.
pub fn handle(state: &State, request: &Request) -> Response {
    let params = Params::query_or_form(request);
    let hint = match params.get_lenient("id_token_hint") {
        Some(token) => match id_token::verify_hint(token, &state.issuer, state.keys) {
            Some(hint) => Some(hint),
            None => {
                let page = pages::error("The id_token_hint was not issued by this server.");
                return web::html(StatusCode::BAD_REQUEST, page);
            }
        },
        None => None,
    };
    let client_param = params.get_lenient("client_id");
    let client_id = match (hint.as_ref().map(|h| h.client_id.as_str()), client_param) {
        (Some(from_hint), Some(param)) if from_hint != param => {
            let page = pages::error("The client_id does not match the id_token_hint.");
            return web::html(StatusCode::BAD_REQUEST, page);
        }
        (from_hint, param) => from_hint.or(param),
    };
    let session = web::cookie(&request.headers, SESSION_COOKIE);
    let had_session = session
        .as_deref()
        .is_some_and(|id| state.logins.session(id).is_some());
    if let Some(session) = &session {
        state.logins.end_session(session);
    }
    let mut redirected = false;
    let mut response = match params.get_lenient("post_logout_redirect_uri") {
        None => web::html(StatusCode::OK, pages::logged_out(None)),
        Some(uri) => {
            let registered = client_id
                .and_then(|id| state.config.client(id))
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if registered {
                redirected = true;
                let mut pairs = Vec::new();
                if let Some(client_state) = params.get_lenient("state") {
                    pairs.push(("state", client_state));
                }
                if pairs.is_empty() {
                    web::redirect(uri)
                } else {
                    web::redirect(&web::with_query(uri, &pairs))
                }
            } else {
                let note = "The post_logout_redirect_uri is not registered for this client, so you stay here.";
                web::html(StatusCode::BAD_REQUEST, pages::logged_out(Some(note)))
            }
        }
    };
    state.emit(|| AuthEvent::LoggedOut {
        client_id: client_id.map(str::to_owned),
        had_session,
        redirected,
    });
    web::set_cookie(&mut response, &state.session_cookie(None));
    response
}
