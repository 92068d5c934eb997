//! Authorization responses (RFC 6749 §4.1.2): redirects back to the client with a code or an
//! error, always with `state` (when sent) and `iss` (RFC 9207).

use crate::events::AuthEvent;
use crate::request::{AuthorizationRequest, LoggedIn};
use crate::state::State;
use crate::web::{self, Response};

/// Redirects to `redirect_uri` with `error` (RFC 6749 §4.1.2.1).
pub fn error(
    state: &State,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &'static str,
    description: &str,
) -> Response {
    state.emit(|| AuthEvent::AuthorizationError { error });
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(client_state) = client_state {
        pairs.push(("state", client_state));
    }
    pairs.push(("iss", &state.issuer));
    web::redirect(&web::with_query(redirect_uri, &pairs))
}

/// Redirects `request` back with `error`.
pub fn refuse(
    state: &State,
    request: &AuthorizationRequest,
    code: &'static str,
    description: &str,
) -> Response {
    error(
        state,
        &request.redirect_uri,
        request.state.as_deref(),
        code,
        description,
    )
}

/// Issues a code for `request` approved by `user` and redirects back with it.
pub fn approve(state: &State, request: AuthorizationRequest, user: LoggedIn) -> Response {
    let redirect_uri = request.redirect_uri.clone();
    let client_state = request.state.clone();
    let client_id = request.client_id.clone();
    let username = user.username.clone();
    let Ok(code) = state
        .grants
        .issue_code(request, user, state.config.code_ttl)
    else {
        return web::server_error();
    };
    state.emit(|| AuthEvent::CodeIssued {
        client_id,
        username,
        code_length: code.len(),
    });
    let mut pairs = vec![("code", code.as_str())];
    if let Some(client_state) = client_state.as_deref() {
        pairs.push(("state", client_state));
    }
    pairs.push(("iss", &state.issuer));
    web::redirect(&web::with_query(&redirect_uri, &pairs))
}

/// What to do once the user is known.
pub enum Next {
    /// Consent is not needed: issue the code.
    Approve,
    /// Ask the user.
    AskConsent,
    /// `prompt=none` but consent is needed.
    ConsentRequired,
}

/// Decides whether `user` must still consent to `request`.
pub fn after_login(state: &State, request: &AuthorizationRequest, user: &LoggedIn) -> Next {
    let remembered = !request.prompt.consent
        && state
            .logins
            .has_consent(&user.username, &request.client_id, &request.scopes);
    if state.config.auto_approve || remembered {
        Next::Approve
    } else if request.prompt.none {
        Next::ConsentRequired
    } else {
        Next::AskConsent
    }
}
